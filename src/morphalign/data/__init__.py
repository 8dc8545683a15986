"""The data stage: the sources (synthetic, MiraBest, folder) that write the dataset format of `artifacts`."""
