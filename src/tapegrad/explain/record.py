"""Recording one run for :func:`~tapegrad.explain.explain`: the tape entries, and what each
primitive call received and returned (values and constants, which the tape itself does not
keep).

The recorder is an :class:`~tapegrad.autograd.grad_mode.Observer`; recorded nodes are read
through their read API (``prim``, ``params``, ``inputs``, ``output_meta``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..autograd.grad_mode import Observer, enable_grad, observe
from ..tensor import Tensor


def node_inputs(node: Any) -> tuple[tuple[Any, int], ...]:
    """``(producer, output index)`` per positional input of a recorded node; the producer is
    a node, a leaf Tensor, or None (a constant, or an input no gradient flows to)."""
    return tuple(node.inputs)


def node_output_meta(node: Any) -> Any:
    """The shapes and dtypes of a multi-output node's outputs (None for one output)."""
    return node.output_meta


class _Call:
    """What the explainer saw of one primitive call: the op, its arguments, its outputs."""

    __slots__ = ("node", "prim", "args", "was_tensor", "params", "outputs")

    def __init__(self, node: Any, prim: Any, args: tuple[Any, ...], params: dict[str, Any]):
        self.node = node
        self.prim = prim
        self.args = [np.array(a.data) if isinstance(a, Tensor) else a for a in args]
        self.was_tensor = [isinstance(a, Tensor) for a in args]
        self.params = dict(params)
        self.outputs: dict[int, np.ndarray] = {}


class _Recorder(Observer):
    """Observes the tape entries of one run and what the
    primitive calls received and returned (values and constants, which the tape itself
    does not keep)."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.calls: dict[int, _Call] = {}
        self.seen: dict[tuple[int, int], np.ndarray] = {}  # tensor values met as arguments
        self.keep: list[Any] = []  # keeps every id() above unique while we hold them

    def record(self, node: Any, args: tuple[Any, ...], out: tuple[Any, ...]) -> None:
        """A node was recorded by a call of ``args`` that returned ``out``; keep the node
        and the values and constants of the call, which the tape itself does not keep."""
        self.nodes.append(node)
        for a in args:
            if isinstance(a, Tensor) and a.grad_fn is not None:
                k = (id(a.grad_fn), a._idx)
                if k not in self.seen:
                    self.seen[k] = np.array(a.data)
                    self.keep.append(a.grad_fn)
        if id(node) in self.calls:
            return
        call = _Call(node, node.prim, args, node.params)
        for o in out:
            if isinstance(o, Tensor) and o.grad_fn is node:
                call.outputs[o._idx] = np.array(o.data)
        self.calls[id(node)] = call
        self.keep.append(node)


@contextmanager
def _observe(rec: _Recorder) -> Iterator[None]:
    """Record the tape of the block into ``rec``, an observer of the block."""
    with enable_grad(), observe(rec):
        yield
