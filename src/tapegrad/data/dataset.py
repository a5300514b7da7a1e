"""Datasets: anything with ``__len__`` and ``__getitem__``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AbstractMethodError, InvalidArgumentError, ShapeMismatchError
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset"]


class Dataset:
    """Base class of a map-style dataset: ``len(ds)`` samples, ``ds[i]`` the i-th one.

    Subclass it and define ``__len__`` and ``__getitem__`` (returning one sample: an array, a
    scalar, or a tuple of them). :class:`~tapegrad.data.DataLoader` batches any such object.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> class Squares(tg.data.Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return float(i), i * i
    >>> ds = Squares()
    >>> len(ds), ds[3]
    (4, (3.0, 9))
    """

    def __len__(self) -> int:
        raise AbstractMethodError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise AbstractMethodError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples taken along the first axis of several arrays or tensors of the same length.

    ``ds[i]`` is the tuple ``(a[i], b[i], ...)`` as tensors. The arrays are kept as NumPy
    arrays (a Tensor contributes its ``.data``, without gradient tracking), so that
    :class:`~tapegrad.data.DataLoader` can slice whole batches at once.

    Parameters
    ----------
    *arrays : array_like or Tensor
        At least one; all with the same length along axis 0.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> ds = tg.data.TensorDataset(np.zeros((5, 3), np.float32), np.arange(5))
    >>> len(ds)
    5
    >>> x, y = ds[2]
    >>> x.shape, int(y.item())
    ((3,), 2)
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise InvalidArgumentError(
                "TensorDataset needs at least one array, e.g. TensorDataset(x, y)"
            )
        arrs = []
        for k, a in enumerate(arrays):
            arr = a.data if isinstance(a, Tensor) else np.asarray(a)
            if arr.ndim == 0:
                raise ShapeMismatchError(
                    f"TensorDataset: array {k} is 0-d (a scalar); every array needs a first "
                    "axis that indexes the samples"
                )
            arrs.append(arr)
        n = arrs[0].shape[0]
        bad = [(k, a.shape) for k, a in enumerate(arrs) if a.shape[0] != n]
        if bad:
            shapes = ", ".join(str(a.shape) for a in arrs)
            raise ShapeMismatchError(
                f"TensorDataset: all arrays must have the same length along axis 0, got "
                f"shapes {shapes}; array {bad[0][0]} has {bad[0][1][0]} rows, array 0 has {n}"
            )
        self.arrays: tuple[np.ndarray, ...] = tuple(arrs)

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor._wrap(np.asarray(a[index])) for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({len(self)} samples: {shapes})"
