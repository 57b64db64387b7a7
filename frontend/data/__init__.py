"""Data: datasets, the DataLoader, transforms, the embedded digits, an IDX reader, CIFAR-10 and a
word-level text corpus."""

from .cifar import CIFAR10Dataset, cifar10, read_binary_batch, read_python_batch
from .datasets import digits, load_digits, mnist, read_idx
from .loader import ArrayDataset, DataLoader, Dataset, RandomShift, train_test_split
from .needle_datasets import MNISTDataset, NDArrayDataset, parse_mnist
from .text import Corpus, Dictionary, batchify, get_batch
from .transforms import RandomCrop, RandomFlipHorizontal, Transform

__all__ = ["ArrayDataset", "CIFAR10Dataset", "Corpus", "DataLoader", "Dataset", "Dictionary", "MNISTDataset",
           "NDArrayDataset", "parse_mnist", "RandomCrop",
           "RandomFlipHorizontal", "RandomShift", "Transform", "batchify", "cifar10", "digits", "get_batch",
           "load_digits",
           "mnist", "read_binary_batch", "read_idx", "read_python_batch", "train_test_split"]
