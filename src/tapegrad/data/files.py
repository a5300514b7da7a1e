"""Load a user's own data set from a ``.npz`` or ``.csv`` file (``tapegrad train --data``)."""

from __future__ import annotations

import csv
import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, TapegradError

__all__ = ["DataFileError", "load_data_file", "MAX_ARRAY_BYTES"]

#: The largest array (in bytes, once loaded) that :func:`load_data_file` reads from a ``.npz``:
#: 2 GiB, far more than ``tapegrad train`` can train on in reasonable time.
MAX_ARRAY_BYTES = 2**31

# deflate cannot expand data by more than about 1032:1, so a compressed member that claims
# more than this many bytes per compressed byte lies about its size
_MAX_DEFLATE_RATIO = 1100


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
    # utf-8-sig: a byte-order mark (as spreadsheet programs write) is skipped
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [r for r in reader if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as e:
        raise _fail(path, f"is not a UTF-8 text CSV file ({e.reason})") from None
    except csv.Error as e:
        line = reader.line_num
        if "field larger than field limit" in str(e):
            raise _fail(
                path,
                f"line {line} has a field longer than {csv.field_size_limit()} characters "
                "(the CSV reader's limit); a CSV of numbers has short fields: check that this "
                "is the right file and that its quotes are balanced",
            ) from None
        raise _fail(path, f"is not a readable CSV file (line {line}: {e})") from None
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


def _header(path: str, zf: zipfile.ZipFile, member: str, key: str) -> tuple[Any, np.dtype]:
    """Shape and dtype of one ``.npy`` member, from its header alone (nothing is allocated)."""
    info = zf.getinfo(member)
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise InvalidArgumentError(f"unsupported .npy format version {version}")
        except ValueError as e:
            raise _fail(
                path, f"array {key!r} has no valid .npy header ({e}); write it with np.savez"
            ) from None
        offset = f.tell()
    if dtype.hasobject or dtype.kind not in "biuf":
        raise _fail(
            path,
            f"{'x must be numeric' if key == 'x' else 'y must hold numeric class labels'}, "
            f"got dtype {dtype}; save plain numeric arrays "
            "(object arrays are never unpickled)",
        )
    nbytes = math.prod(shape) * dtype.itemsize
    available = info.file_size - offset
    if info.compress_type != zipfile.ZIP_STORED:
        available = min(available, _MAX_DEFLATE_RATIO * info.compress_size)
    if nbytes > available:
        raise _fail(
            path,
            f"array {key!r} claims shape {shape} of {dtype} ({nbytes:,} bytes) but the file "
            f"holds at most {max(available, 0):,} bytes for it; the file is truncated or "
            "corrupt: write it again with np.savez",
        )
    if nbytes > MAX_ARRAY_BYTES:
        raise _fail(
            path,
            f"array {key!r} has shape {shape} of {dtype} ({nbytes:,} bytes), more than the "
            f"{MAX_ARRAY_BYTES:,} bytes load_data_file reads; use a smaller data set",
        )
    return shape, dtype


def _read_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {}
            for name in zf.namelist():
                members[name[:-4] if name.endswith(".npy") else name] = name
            missing = [k for k in ("x", "y") if k not in members]
            if missing:
                raise _fail(
                    path,
                    f"missing array(s) {', '.join(missing)}; found {sorted(members)}. "
                    "Save it with np.savez(path, x=features, y=labels)",
                )
            out = []
            for key in ("x", "y"):
                _header(path, zf, members[key], key)  # sizes checked before reading
                with zf.open(members[key]) as f:
                    out.append(np.lib.format.read_array(f, allow_pickle=False))
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise _fail(path, f"is not a readable .npz file ({e})") from None
    except ValueError as e:
        if isinstance(e, DataFileError):
            raise
        raise _fail(path, f"cannot read the arrays ({e}); save plain numeric arrays") from None
    return out[0], out[1]


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
    if x.size == 0:
        raise _fail(path, f"x has no features (shape {x.shape}); each sample needs at least one")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        nbad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        first = np.argwhere(~np.isfinite(x))[0]
        raise _fail(
            path,
            f"x has {nbad} NaN or infinite value(s), the first at index {tuple(first.tolist())}; "
            "remove or impute them first",
        )
    return x


def _show(v: Any) -> str:
    """A label as the user means it: ``3e+19``, ``1.5``, ``-2`` (for -2.0), ``7``."""
    if isinstance(v, np.floating):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    return str(int(v))


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
                f"y must hold integer class labels 0..K-1, got {_show(y[i])} at sample {i}",
            )
    # Range checks on the values as read: a cast to int64 first would wrap 3e19 to a negative.
    if (y < 0).any():
        i = int(np.flatnonzero(y < 0)[0])
        raise _fail(path, f"class labels must be >= 0, got {_show(y[i])} at sample {i}")
    if y.dtype.kind in "fu" and (y >= 2.0**63).any():
        i = int(np.flatnonzero(y >= 2.0**63)[0])
        raise _fail(
            path,
            f"class labels must be integers 0..K-1, got {_show(y[i])} at sample {i}, too "
            "large for a class index",
        )
    y = y.astype(np.int64)
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
        x_raw, y_raw = _read_npz(p)
    elif ext == ".csv":
        table = _read_csv(p)
        x_raw, y_raw = table[:, :-1], table[:, -1]
    else:
        raise _fail(p, f"unknown file type {ext or '(none)'!r}; use .npz (arrays x, y) or .csv")
    x = _check_x(p, x_raw)
    y = _check_y(p, y_raw, x.shape[0])
    with np.errstate(over="ignore"):  # reported below, with the value
        out = x.astype(dtype, copy=False)
    if out.dtype.kind == "f" and x.dtype.kind in "biuf" and not np.isfinite(out).all():
        first = np.argwhere(~np.isfinite(out))[0]
        value = float(x[tuple(first)])
        raise _fail(
            p,
            f"x has values too large for {out.dtype} (the first, {value!r}, at index "
            f"{tuple(first.tolist())}); rescale the features",
        )
    return out, y
