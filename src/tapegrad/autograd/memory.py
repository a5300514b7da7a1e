"""How much memory the tape holds: ``saved_bytes()`` now, ``peak_saved_bytes()`` over a block.

What counts
-----------
The arrays that tape entries keep for the backward pass: saved inputs and outputs of the
primitives, a custom Function's saved tensors, forward-mode tangents kept for
forward-over-reverse, the inputs a :func:`tapegrad.checkpoint` block keeps to recompute
itself, and the snapshots of :func:`tapegrad.checkpoint_chain`.  An array is counted once
however many entries share it (views count as the array they view).  The data of leaf
tensors that require grad (parameters, inputs made with ``requires_grad=True``) is not
counted: it lives whether or not a tape exists.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from .grad_mode import Observer, observe
from .node import Node

__all__ = ["saved_bytes", "peak_saved_bytes", "SavedBytes"]

_ndarray = np.ndarray


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    b = a.base
    while isinstance(b, _ndarray):
        a = b
        b = a.base
    return a


def _tensor_arrays(t: Any) -> Iterator[np.ndarray]:
    d = getattr(t, "data", None)
    if isinstance(d, _ndarray):
        yield d


def owner_arrays(owner: Any) -> Iterator[np.ndarray]:
    """The arrays a tape entry (a Node) or another holder of saved values keeps alive."""
    if owner.__class__ is not Node:
        yield from owner._saved_arrays()
        return
    args = owner.args
    if args.__class__ is list:
        for v in args:
            if v.__class__ is _ndarray:
                yield v
    else:
        sa = getattr(args, "_saved_arrays", None)  # a pending checkpoint block
        if sa is not None:
            yield from sa()
    ans = owner.ans
    if ans is not None:
        if ans.__class__ is tuple:
            for a in ans:
                if a.__class__ is _ndarray:
                    yield a
        elif ans.__class__ is _ndarray:
            yield ans
    sa = getattr(owner.prim, "_saved_arrays", None)  # custom Functions, checkpoint_chain
    if sa is not None:
        yield from sa()
    fw = owner.fw
    if fw is not None:
        for dicts in fw:
            for d in dicts:
                if d:
                    for t in d.values():
                        yield from _tensor_arrays(t)


def _leaf_data(node: Node) -> Iterator[np.ndarray]:
    """The memory of the leaf tensors among ``node``'s inputs (not counted as saved)."""
    for p in node.parents:
        if p is not None and p.__class__ is not Node:
            d = getattr(p, "data", None)
            if isinstance(d, _ndarray):
                yield _root(d)


def _live_nodes() -> list[Node]:
    return [o for o in gc.get_objects() if type(o) is Node]


def saved_bytes() -> int:
    """Bytes of the values that the live tapes hold for backward passes.

    Counts every array kept by a recorded entry (see the module docstring for what
    counts), each once; leaf tensors' own data is not counted.  It looks at every live
    object, so it costs a few milliseconds in a large program: call it between steps, not
    inside a loop over operations.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> before = tg.autograd.saved_bytes()
    >>> x = tg.tensor(np.ones(1000), requires_grad=True)
    >>> y = tg.sin(x)                     # sin keeps its input: x's own data, not counted
    >>> z = tg.exp(y)                     # exp keeps its output: 8000 bytes
    >>> tg.autograd.saved_bytes() - before
    8000
    >>> del y, z
    >>> tg.autograd.saved_bytes() - before
    0
    """
    nodes = _live_nodes()
    leaves = {id(r) for n in nodes for r in _leaf_data(n)}
    seen: set[int] = set()
    total = 0
    for n in nodes:
        for a in owner_arrays(n):
            r = _root(a)
            k = id(r)
            if k not in seen and k not in leaves:
                seen.add(k)
                total += r.nbytes
    return total


class SavedBytes(Observer):
    """Running account of the bytes held by tape entries, kept while a
    :func:`peak_saved_bytes` block is active: an :class:`~tapegrad.autograd.grad_mode.Observer`
    that counts what each recorded node keeps, and recounts an owner of saved values when
    it is released or updated.

    Attributes
    ----------
    start : bytes held when the block began.
    peak : the largest amount held at any moment inside the block.
    end : bytes held when the block ended (``current`` while it runs).
    """

    def __init__(self) -> None:
        self._counts: dict[int, list[int]] = {}  # root array id -> [users, nbytes]
        self._owners: dict[int, tuple[list[int], Any]] = {}  # owner id -> (root ids, ref)
        self._leaves: dict[int, Any] = {}  # root id of leaves' data -> weak reference
        self.current = 0
        self.start = 0
        self.peak = 0
        self.end: int | None = None
        self._scope: Any = None

    # -- observer events
    def record(self, node: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        self.add(node)

    def update(self, owner: Any) -> None:
        self.add(owner)

    def add(self, owner: Any) -> None:
        """Start (or refresh) counting what ``owner`` holds."""
        key = id(owner)
        entry = self._owners.get(key)
        if entry is not None:
            self._drop(entry[0])
            ref = entry[1]
        else:
            forget = self._forget

            def gone(_ref: Any, k: int = key) -> None:
                forget(k)

            ref = weakref.ref(owner, gone)
        leaves = self._leaves
        if owner.__class__ is Node:
            for r in _leaf_data(owner):
                leaves[id(r)] = weakref.ref(r)
        ids: list[int] = []
        counts = self._counts
        for a in owner_arrays(owner):
            r = _root(a)
            k = id(r)
            w = leaves.get(k)
            if w is not None and w() is r:  # a leaf's own data
                continue
            c = counts.get(k)
            if c is None:
                counts[k] = [1, r.nbytes]
                self.current += r.nbytes
            else:
                c[0] += 1
            ids.append(k)
        self._owners[key] = (ids, ref)
        if self.current > self.peak:
            self.peak = self.current

    def release(self, owner: Any) -> None:
        """Stop counting what ``owner`` holds (it was freed or emptied)."""
        entry = self._owners.pop(id(owner), None)
        if entry is not None:
            self._drop(entry[0])

    def _forget(self, key: int) -> None:
        entry = self._owners.pop(key, None)
        if entry is not None:
            self._drop(entry[0])

    def _drop(self, ids: list[int]) -> None:
        counts = self._counts
        for k in ids:
            c = counts[k]
            if c[0] == 1:
                del counts[k]
                self.current -= c[1]
            else:
                c[0] -= 1

    def __enter__(self) -> SavedBytes:
        for n in _live_nodes():
            self.add(n)
        self.start = self.peak = self.current
        self._scope = observe(self)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._scope.__exit__()
        self.end = self.current
        self._owners.clear()  # drops the weak references: no callbacks after the block
        self._counts.clear()

    def __repr__(self) -> str:
        end = self.current if self.end is None else self.end
        return f"SavedBytes(start={self.start}, peak={self.peak}, end={end})"


def peak_saved_bytes() -> SavedBytes:
    """Context manager: the most bytes the tapes held at any moment inside the block.

    Counts what :func:`saved_bytes` counts, incrementally: entries recorded, entries freed
    by backward passes, checkpointed blocks recomputed and released, and snapshots of
    :func:`tapegrad.checkpoint_chain`.  ``peak`` includes what was already held when the
    block began (``start``).

    Examples
    --------
    >>> import gc
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> _ = gc.collect()  # (tapes in unreachable cycles would be released inside the block)
    >>> x = tg.tensor(np.ones(1000), requires_grad=True)
    >>> with tg.autograd.peak_saved_bytes() as mem:
    ...     y = tg.exp(tg.exp(x)).sum()   # two saved outputs of 8000 bytes
    ...     y.backward()                  # frees them
    >>> mem.peak - mem.start, mem.end - mem.start
    (16000, 0)
    """
    return SavedBytes()
