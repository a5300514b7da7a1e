"""Helpers of the tg.jit tests: bit-for-bit comparison of results (pytrees of arrays,
NumPy scalars, tensors and Python constants)."""

from __future__ import annotations

from typing import Any

import numpy as np

import tapegrad as tg


def raw(x: Any) -> Any:
    """The NumPy value of a tensor, else ``x`` itself."""
    return x.data if isinstance(x, tg.Tensor) else x


def assert_same(got: Any, want: Any, what: str = "") -> None:
    """``got`` equals ``want`` bit for bit: the same structure (dict keys, list or tuple),
    for each array the same dtype, shape, values (NaN where NaN) and signs of zero; Python
    constants equal and of the same type."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (what, got, want)
        for k in want:
            assert_same(got[k], want[k], f"{what}[{k!r}]")
        return
    if isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), (what, got, want)
        for k, (a, b) in enumerate(zip(got, want)):
            assert_same(a, b, f"{what}[{k}]")
        return
    if (
        want is None
        or isinstance(want, (bool, int, float, str))
        and not isinstance(want, np.generic)
    ):
        assert type(got) is type(want) and got == want, (what, got, want)
        return
    a, b = np.asarray(raw(got)), np.asarray(raw(want))
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), (what, a, b)
    if a.dtype.kind == "f":
        assert np.array_equal(np.signbit(a[a == 0]), np.signbit(b[b == 0])), what
