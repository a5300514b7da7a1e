"""Datasets and loaders (tg.data): Dataset, TensorDataset, DataLoader, the bundled digits."""

from __future__ import annotations

from .dataset import Dataset, TensorDataset
from .digits import DIGITS_CITATION, load_digits
from .files import DataFileError, load_data_file
from .loader import DataLoader, default_collate

__all__ = [
    "Dataset",
    "TensorDataset",
    "DataLoader",
    "default_collate",
    "load_digits",
    "DIGITS_CITATION",
    "load_data_file",
    "DataFileError",
]
