"""Checkpointing: keep less for the backward pass, recompute the rest when it is needed.

Reverse mode keeps what its rules read (inputs, outputs of the recorded operations) until
the backward pass, so memory grows with the length of the computation.  The remedies here:

* :func:`checkpoint` — one block of code keeps only its inputs; its internal values are
  recomputed (once, replaying the same random numbers) when backward reaches the block.
* :func:`checkpoint_sequential` — a list of layers cut into segments, each checkpointed
  (``sqrt(n)`` segments by default: Chen et al. 2016, memory ``O(sqrt(n))`` for one extra
  forward pass).
* :func:`checkpoint_chain` — ``n`` applications of a time step ``state -> state`` with at
  most ``s`` snapshots in memory, scheduled with the binomial (Revolve) schedule of
  Griewank & Walther (2000), which recomputes the fewest steps possible for ``s``
  snapshots.  The schedule comes from the ``checkpoint-schedules`` package
  (``pip install "tapegrad[checkpoint]"``).

``tg.autograd.saved_bytes()`` and ``tg.autograd.peak_saved_bytes()`` measure the effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ._tree import tree_flatten
from .autograd import grad_mode
from .autograd.engine import version_key
from .autograd.recompute import Block, _fingerprint
from .errors import InplaceModificationError
from .tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


def _frozen(a: Any) -> Any:
    # NumPy arguments are kept for the recomputation: a read-only copy, so neither the
    # caller nor the function can change them in between.
    if isinstance(a, np.ndarray):
        c = a.copy()
        c.flags.writeable = False
        return c
    if isinstance(a, (list, tuple)) and not hasattr(a, "_fields"):
        items = [_frozen(x) for x in a]
        return items if isinstance(a, list) else tuple(items)
    if isinstance(a, dict):
        return {k: _frozen(v) for k, v in a.items()}
    return a


def checkpoint(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` keeping only its inputs for the backward pass.

    The operations inside are recorded as usual (so hooks, ``inputs=``, ``create_graph``
    and every transform see the same graph), but their saved values are dropped when
    ``fn`` returns.  When a backward pass reaches them, ``fn`` runs again on the same
    inputs, with the random generator (``tg.random``) reset to its state at the first call,
    so dropout masks and other random draws repeat exactly; the recomputed values are
    freed again as the pass goes.  Costs one extra forward pass of ``fn``; saves
    everything ``fn`` would have kept except its inputs.

    Parameters
    ----------
    fn : callable
        A function of tensors (and anything else); it may read tensors from outside
        (closures, module parameters), return any pytree of tensors and other values,
        use forward-mode tangents, or be a ``tg.nn.Module``.
    *args, **kwargs
        Passed to ``fn``.  NumPy arrays among them are passed as read-only copies.

    Returns
    -------
    Whatever ``fn`` returns.

    Raises
    ------
    InplaceModificationError
        If ``fn`` changes one of its tensor arguments in place (the recomputation would see
        the changed value), or if a tensor that ``fn`` used is changed in place before the
        backward pass reaches the block.
    RuntimeError
        In backward, if the recomputation records other operations or gives other outputs
        than the first call (``fn`` must be deterministic given its inputs and the global
        random generator).

    Notes
    -----
    Nesting works (a checkpointed function may call ``checkpoint``); the inner blocks keep
    their own inputs.  A Module's buffers changed by its forward (running statistics of
    batch norm) are changed again by the recomputation: checkpoint such layers in eval
    mode, or accept the second update.

    Examples
    --------
    >>> import tapegrad as tg
    >>> x = tg.tensor([0.5, 1.0], requires_grad=True)
    >>> block = lambda h: tg.tanh(tg.sin(h) * h)
    >>> y = tg.checkpoint(block, x).sum()
    >>> y.backward()
    >>> x2 = tg.tensor([0.5, 1.0], requires_grad=True)
    >>> block(x2).sum().backward()
    >>> bool(tg.all(x.grad == x2.grad))
    True
    """
    if not callable(fn):
        raise TypeError(f"checkpoint needs a function to call first, got {type(fn).__name__}")
    if not grad_mode._state.enabled:
        return fn(*args, **kwargs)  # nothing is recorded, so nothing is saved
    args = tuple(_frozen(a) for a in args)
    kwargs = {k: _frozen(v) for k, v in kwargs.items()}
    block = Block(fn, args, kwargs)
    before = [(t, t.data, version_key(t), t.grad_fn) for t in block.tensor_inputs]
    out = block.run()
    for i, (t, data, key, node) in enumerate(before):
        if t.data is not data or version_key(t) != key or t.grad_fn is not node:
            raise InplaceModificationError(
                f"the function passed to checkpoint changed its tensor argument {i} (shape "
                f"{t.shape}) in place. checkpoint runs the function again during the backward "
                "pass and needs its inputs unchanged: compute out of place (y = x + 1, not "
                "x += 1), or pass a copy (x.clone())"
            )
    if block.nodes:
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, Tensor)]
        block.prints = _fingerprint(outs)
        block.strip()
    return out


def _segments(n: int, segments: int | None) -> list[tuple[int, int]]:
    if segments is None:
        segments = max(1, round(math.sqrt(n)))
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)):
        raise TypeError(f"segments must be an int or None, got {type(segments).__name__}")
    if not 1 <= segments <= n:
        raise ValueError(
            f"segments must be between 1 and the number of functions ({n}), got {segments}"
        )
    bounds = np.linspace(0, n, int(segments) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def checkpoint_sequential(
    functions: Iterable[Callable[..., Any]], segments: int | None, *inputs: Any
) -> Any:
    """Run ``functions`` one after the other on ``inputs``, checkpointing each segment.

    The list (or a ``tg.nn.Sequential``) is cut into ``segments`` runs of consecutive
    functions of nearly equal length; every run but the last is a :func:`checkpoint`
    block, so only the segment boundaries are kept, plus the last segment's values (which
    the backward pass needs first).  ``segments=None`` picks ``round(sqrt(n))``: the
    memory then grows like ``2 sqrt(n)`` layers instead of ``n``, for one extra forward
    pass (Chen et al., 2016, "Training deep nets with sublinear memory cost").

    Parameters
    ----------
    functions : iterable of callables, or a Sequential
        ``functions[0](*inputs)``, then each next one on the previous output.
    segments : int or None
        Number of segments, between 1 and ``len(functions)``; None for ``sqrt(n)``.
    *inputs
        The inputs of the first function.

    Returns
    -------
    The output of the last function.

    Examples
    --------
    >>> import tapegrad as tg
    >>> _ = tg.random.seed(0)
    >>> net = tg.nn.Sequential(*[tg.nn.Sequential(tg.nn.Linear(8, 8), tg.nn.Tanh())
    ...                          for _ in range(16)])
    >>> x = tg.randn(4, 8)
    >>> loss = tg.checkpoint_sequential(net, None, x).sum()   # 4 segments of 4 layers
    >>> loss.backward()
    >>> net[0][0].weight.grad.shape
    (8, 8)
    """
    fns = list(functions)
    if not fns:
        raise ValueError("checkpoint_sequential needs at least one function")
    for i, f in enumerate(fns):
        if not callable(f):
            raise TypeError(f"functions[{i}] is a {type(f).__name__}, not callable")
    if not inputs:
        raise TypeError(
            "checkpoint_sequential(functions, segments, *inputs) needs the inputs of the first "
            "function after segments"
        )
    spans = _segments(len(fns), segments)

    def run(start: int, stop: int) -> Callable[..., Any]:
        def segment(*xs: Any) -> Any:
            out = fns[start](*xs)
            for f in fns[start + 1 : stop]:
                out = f(out)
            return out

        return segment

    xs: tuple[Any, ...] = inputs
    for k, (a, b) in enumerate(spans):
        seg = run(a, b)
        out = seg(*xs) if k == len(spans) - 1 else checkpoint(seg, *xs)
        xs = (out,)
    return out
