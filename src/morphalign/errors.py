"""The one exception type the pipeline raises for bad input, so the CLIs can print it cleanly."""


class MorphalignError(Exception):
    """Bad input: a config key, a file, a row. The message names what is wrong and where."""
