"""Load a user's own data set from a ``.npz`` or ``.csv`` file (``tapegrad train --data``)."""

from __future__ import annotations

import csv
import os
import zipfile
from typing import Any

import numpy as np

from ..errors import TapegradError

__all__ = ["DataFileError", "load_data_file"]


class DataFileError(TapegradError, ValueError):
    """A data file that cannot be used: unreadable, wrong keys or shapes, non-numeric, NaN."""


def _fail(path: str, msg: str) -> DataFileError:
    return DataFileError(f"{path}: {msg}")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_csv(path: str) -> np.ndarray:
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as e:
        raise _fail(path, f"is not a text CSV file ({e.reason})") from None
    if not rows:
        raise _fail(path, "the CSV file is empty; expected rows of features then a label")
    first_line = 1
    if not any(_is_number(c) for c in rows[0]):  # a header line
        rows = rows[1:]
        first_line = 2
    if not rows:
        raise _fail(path, "the CSV file has a header but no data rows")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise _fail(
                path,
                f"row {i + first_line} has {len(r)} columns but the first data row has {width}; "
                "every row needs the same number of columns",
            )
    if width < 2:
        raise _fail(
            path, f"each row has {width} column; need at least one feature and the label (last)"
        )
    out = np.empty((len(rows), width), dtype=np.float64)
    for i, r in enumerate(rows):
        try:
            out[i] = [float(c) for c in r]
        except ValueError:
            bad = next(c for c in r if not _is_number(c))
            raise _fail(
                path,
                f"row {i + first_line} has a non-numeric value {bad.strip()!r}; every column "
                "must be a number (features first, the label last)",
            ) from None
    return out


def _check_x(path: str, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object or x.dtype.kind not in "biuf":
        raise _fail(path, f"x must be numeric, got dtype {x.dtype}")
    if x.ndim < 2:
        raise _fail(
            path,
            f"x must have shape (N, features) or (N, C, H, W), got shape {x.shape}; "
            "put one sample per row",
        )
    if x.shape[0] == 0:
        raise _fail(path, f"x has no samples (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        nbad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        first = np.argwhere(~np.isfinite(x))[0]
        raise _fail(
            path,
            f"x has {nbad} NaN or infinite value(s), the first at index {tuple(first.tolist())}; "
            "remove or impute them first",
        )
    return x


def _check_y(path: str, y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype == object or y.dtype.kind not in "biuf":
        raise _fail(path, f"y must hold numeric class labels, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _fail(path, f"y must have shape (N,) (one label per sample), got shape {y.shape}")
    if y.shape[0] != n:
        raise _fail(path, f"x has {n} samples but y has {y.shape[0]} labels; they must match")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            i = int(np.flatnonzero(~np.isfinite(y))[0])
            raise _fail(path, f"y has a NaN or infinite label at sample {i}")
        if (y != np.round(y)).any():
            i = int(np.flatnonzero(y != np.round(y))[0])
            raise _fail(
                path,
                f"y must hold integer class labels 0..K-1, got {y[i]} at sample {i}",
            )
    y = y.astype(np.int64)
    if (y < 0).any():
        i = int(np.flatnonzero(y < 0)[0])
        raise _fail(path, f"class labels must be >= 0, got {y[i]} at sample {i}")
    return y


def load_data_file(
    path: str | os.PathLike[str], dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Read a classification data set ``(x, y)`` from a ``.npz`` or ``.csv`` file.

    - ``.npz`` (``np.savez``): arrays named ``x`` (shape ``(N, features)`` or
      ``(N, C, H, W)``) and ``y`` (shape ``(N,)``, integer class labels ``0..K-1``).
    - ``.csv``: one sample per row, the features then the label in the last column;
      an optional first line of column names is skipped.

    Parameters
    ----------
    path : str or path-like
        The file; its extension (``.npz`` or ``.csv``) picks the format.
    dtype : dtype, default float32
        Dtype of the returned ``x``.

    Returns
    -------
    x : ndarray of ``dtype``
    y : ndarray of int64

    Raises
    ------
    DataFileError
        (a ``ValueError``) for a missing file, an unknown extension, missing keys, wrong
        shapes, non-numeric values, NaN/inf, or labels that are not integers >= 0. The message
        names the file and says what to fix.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from tapegrad.data import load_data_file
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,label\\n0.5,1.0,0\\n2.0,3.5,1\\n")
    >>> x, y = load_data_file(path)
    >>> x.shape, x.dtype, y.tolist()
    ((2, 2), dtype('float32'), [0, 1])
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise _fail(p, "no such file")
    if os.path.isdir(p):
        raise _fail(p, "is a directory; give a .npz or .csv file")
    ext = os.path.splitext(p)[1].lower()
    if ext == ".npz":
        if not zipfile.is_zipfile(p):
            raise _fail(
                p, "is not a readable .npz file (not a zip archive); write it with np.savez"
            )
        try:
            with np.load(p, allow_pickle=False) as d:
                missing = [k for k in ("x", "y") if k not in d.files]
                if missing:
                    raise _fail(
                        p,
                        f"missing array(s) {', '.join(missing)}; found {sorted(d.files)}. "
                        "Save it with np.savez(path, x=features, y=labels)",
                    )
                x_raw, y_raw = d["x"], d["y"]
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise _fail(p, f"is not a readable .npz file ({e})") from None
        except ValueError as e:
            if isinstance(e, DataFileError):
                raise
            raise _fail(p, f"cannot read the arrays ({e}); save plain numeric arrays") from None
    elif ext == ".csv":
        table = _read_csv(p)
        x_raw, y_raw = table[:, :-1], table[:, -1]
    else:
        raise _fail(p, f"unknown file type {ext or '(none)'!r}; use .npz (arrays x, y) or .csv")
    x = _check_x(p, x_raw)
    y = _check_y(p, y_raw, x.shape[0])
    return x.astype(dtype, copy=False), y
