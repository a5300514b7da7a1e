"""The bundled 8x8 handwritten digits (UCI, 1,797 images, 10 classes)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = ["load_digits", "DIGITS_CITATION"]

DIGITS_CITATION = (
    "Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits [Dataset]. "
    "UCI Machine Learning Repository. https://doi.org/10.24432/C50P49 (CC BY 4.0)"
)

_cache: dict[str, np.ndarray] = {}


def _raw() -> dict[str, np.ndarray]:
    if not _cache:
        ref = resources.files(__package__).joinpath("digits.npz")
        with ref.open("rb") as f, np.load(f) as d:
            _cache.update({k: d[k] for k in ("x", "y", "test_index")})
    return _cache


def load_digits(
    split: str = "train",
    dtype: Any = np.float32,
    normalize: bool = True,
    images: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 UCI handwritten digits as NumPy arrays ``(x, y)``.

    1,797 grey-level images of the digits 0-9 ship inside the package (``digits.npz``; see
    ``DIGITS_LICENSE.txt`` next to it for the CC BY 4.0 licence and :data:`DIGITS_CITATION`).
    The train/test split is fixed: 1,438 training and 359 test images, 20% of each class in
    the test set, the same on every machine and NumPy version (the test rows are stored in
    the file, not drawn at load time).

    Parameters
    ----------
    split : {"train", "test", "all"}, default "train"
        Which part to return, in the file's order.
    dtype : dtype, default float32
        Dtype of ``x``.
    normalize : bool, default True
        Scale the pixels from 0..16 to [0, 1] (divide by 16). False keeps the raw counts.
    images : bool, default False
        Return ``x`` as images of shape ``(N, 1, 8, 8)`` (channels first, for Conv2d)
        instead of flat rows of shape ``(N, 64)``.

    Returns
    -------
    x : ndarray, shape (N, 64) or (N, 1, 8, 8)
    y : ndarray of int64, shape (N,)
        The digit, 0..9.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x, y = tg.data.load_digits("train")
    >>> x.shape, x.dtype, y.shape, int(y.max())
    ((1438, 64), dtype('float32'), (1438,), 9)
    >>> tg.data.load_digits("test", images=True)[0].shape
    (359, 1, 8, 8)
    """
    raw = _raw()
    n = raw["y"].shape[0]
    if split == "all":
        rows: Any = slice(None)
    elif split in ("train", "test"):
        is_test = np.zeros(n, dtype=bool)
        is_test[raw["test_index"]] = True
        rows = is_test if split == "test" else ~is_test
    else:
        raise InvalidArgumentError(
            f'load_digits: split must be "train", "test" or "all", got {split!r}'
        )
    dt = np.dtype(dtype)
    x = raw["x"][rows].astype(dt)
    if normalize:
        if dt.kind != "f":
            raise InvalidTypeError(
                f"load_digits: normalize=True gives values in [0, 1], which need a float dtype, "
                f"got {dt}; pass normalize=False for integer pixels"
            )
        x /= dt.type(16)
    y = raw["y"][rows].astype(np.int64)
    if images:
        x = x.reshape(-1, 1, 8, 8)
    return x, y
