"""Data: datasets, the DataLoader, transforms, the embedded digits and an IDX reader."""

from .datasets import digits, load_digits, mnist, read_idx
from .loader import ArrayDataset, DataLoader, Dataset, RandomShift, train_test_split

__all__ = ["ArrayDataset", "DataLoader", "Dataset", "RandomShift", "digits", "load_digits", "mnist", "read_idx",
           "train_test_split"]
