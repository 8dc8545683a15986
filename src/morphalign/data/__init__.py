"""Datasets: the on-disk format every source writes, and the sources themselves."""

from morphalign.data.dataset import Dataset, load_dataset, write_dataset

__all__ = ["Dataset", "load_dataset", "write_dataset"]
