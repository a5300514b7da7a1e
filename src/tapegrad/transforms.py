"""Functional transforms in the style of JAX and HIPS autograd.

``grad``, ``value_and_grad``, ``vjp`` and ``elementwise_grad`` take a function of arrays (or
Tensors, or pytrees of them) and return a function.  They nest: ``grad(grad(f))`` is
reverse-over-reverse.  Each transform makes fresh tape inputs for the arguments it
differentiates, so nested transforms never confuse their perturbations: the inner one
differentiates only with respect to its own inputs, and the outer one sees the inner result
as an ordinary recorded function of its inputs.

Return types: at top level with array or number inputs, results are NumPy arrays (0-d ones
as NumPy scalars); with Tensor inputs, or inside another transform, they are Tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._tree import tree_flatten, tree_unflatten
from .autograd import engine
from .autograd.grad_mode import enable_grad
from .errors import (
    InvalidArgumentError,
    InvalidTypeError,
    NotDifferentiableError,
    ShapeMismatchError,
    complex_error,
)
from .ops.elementwise import identity
from .tensor import Tensor

__all__ = ["grad", "value_and_grad", "vjp", "elementwise_grad"]


class _Depth(threading.local):
    value = 0


# How many transforms enclose the current call (results are tensors inside one), and how
# many of them are reverse mode (then an inner backward pass must be recorded, to be
# differentiated again; inside forward mode only, its rules run on tensors unrecorded).
_depth = _Depth()
_rev_depth = _Depth()


def _argnums_tuple(argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise InvalidArgumentError(
                f"argnums={argnums!r} refers to argument {a}, but the function was called with "
                f"{nargs} positional arguments"
            )
    return tuple(a % nargs for a in nums)


class _Inputs:
    """The differentiated leaves of the selected arguments, as fresh tape inputs."""

    def __init__(self, args: tuple, argnums: tuple[int, ...], nested: bool) -> None:
        self.args = list(args)
        self.argnums = argnums
        self.defs = []
        self.tensors: list[Tensor] = []
        self.was_tensor: list[bool] = []
        self.nested = nested
        self.record = _rev_depth.value > 1  # this transform has counted itself already
        for a in argnums:
            leaves, d = tree_flatten(args[a])
            for leaf in leaves:
                if isinstance(leaf, Tensor) and leaf.requires_grad:
                    self.nested = self.record = True
                elif isinstance(leaf, Tensor) and leaf._fw is not None:
                    self.nested = True
            self.defs.append((d, len(leaves)))
        for a in argnums:
            leaves, d = tree_flatten(args[a])
            new = [self._wrap(leaf) for leaf in leaves]
            self.args[a] = tree_unflatten(d, new)

    def _wrap(self, leaf: Any) -> Tensor:
        is_tensor = isinstance(leaf, Tensor)
        arr = leaf.data if is_tensor else np.asarray(leaf)
        if arr.dtype.kind == "c":
            raise complex_error("a differentiated argument")
        if arr.dtype.kind != "f":
            raise NotDifferentiableError(
                f"can only differentiate with respect to floating-point inputs, got dtype "
                f"{arr.dtype}; pass floats (e.g. 1.0 instead of 1) or exclude the argument "
                "from argnums"
            )
        if is_tensor and leaf.requires_grad:
            t = identity(leaf)  # a new tape input, still connected to the outer graph
        else:
            t = Tensor(arr, requires_grad=True)
            if is_tensor and leaf._fw is not None:
                t._fw = leaf._fw  # forward-mode tangents ride along (jvp of grad)
        self.tensors.append(t)
        self.was_tensor.append(is_tensor)
        return t

    def structure(self, flat: list[Any]) -> Any:
        out = []
        k = 0
        for d, n in self.defs:
            out.append(tree_unflatten(d, flat[k : k + n]))
            k += n
        return out

    def convert(self, g: Any, k: int, as_tensor: bool = False) -> Any:
        t = self.tensors[k]
        if g is None:
            g = np.zeros(t.shape, t.dtype)
        if as_tensor or self.nested or self.was_tensor[k]:
            return g if isinstance(g, Tensor) else Tensor._wrap(g)
        return _to_numpy(g)


def _to_numpy(v: Any) -> Any:
    arr = v.data if isinstance(v, Tensor) else np.asarray(v)
    return arr[()] if arr.ndim == 0 else arr


def _scalar_output(out: Any, what: str) -> Tensor:
    if not isinstance(out, Tensor):
        if np.ndim(out) == 0 and np.asarray(out).dtype.kind in "fiu":
            return Tensor._wrap(np.asarray(out, dtype=float))
        raise InvalidTypeError(
            f"{what} needs the function to return a scalar Tensor, got {type(out).__name__}; "
            "for a non-scalar output use tg.vjp or tg.elementwise_grad"
        )
    if out.size != 1:
        raise ShapeMismatchError(
            f"{what} needs a scalar output, the function returned shape {out.shape}; reduce it "
            "(e.g. tg.sum) or use tg.vjp / tg.elementwise_grad"
        )
    return out


def _backward(inp: _Inputs, outs: list[Tensor], cots: list[Any]) -> list[Any]:
    roots, grads = [], []
    for o, c in zip(outs, cots):
        if isinstance(o, Tensor) and o.requires_grad:
            roots.append(o)
            grads.append(c)
    if not roots:
        return [None] * len(inp.tensors)
    res = engine.run_backward(
        roots,
        grads,
        retain_graph=inp.record,
        create_graph=inp.record,
        inputs=inp.tensors,
        accumulate=False,
        tensors=inp.nested,
    )
    assert res is not None
    return res


def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning ``(f(*args), grad)`` (``((value, aux), grad)`` with ``has_aux``).

    Examples
    --------
    >>> import tapegrad as tg
    >>> v, g = tg.value_and_grad(lambda x: tg.sum(x ** 2))(tg.tensor([1.0, 2.0]))
    >>> v.item(), g
    (5.0, tensor([2., 4.]))
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args))
        nested = _depth.value > 0
        _depth.value += 1
        _rev_depth.value += 1
        try:
            with enable_grad():
                inp = _Inputs(args, nums, nested)
                res = f(*inp.args, **kwargs)
                if has_aux:
                    if not (isinstance(res, (tuple, list)) and len(res) == 2):
                        raise InvalidTypeError(
                            "has_aux=True needs the function to return (output, aux)"
                        )
                    res, aux = res
                out = _scalar_output(res, "grad")
                one = np.ones(out.shape, out.dtype)
                flat = _backward(inp, [out], [Tensor._wrap(one) if inp.nested else one])
        finally:
            _depth.value -= 1
            _rev_depth.value -= 1
        grads = inp.structure([inp.convert(g, k) for k, g in enumerate(flat)])
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        value = out if (inp.nested or any(inp.was_tensor)) else _to_numpy(out)
        if has_aux:
            return (value, aux), grads
        return value, grads

    _name(wrapped, f, "value_and_grad")
    return wrapped


def grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The gradient of a scalar function, as a function (``(grad, aux)`` with ``has_aux``).

    ``argnums`` selects the differentiated positional arguments (an int gives one gradient,
    a tuple a tuple of them); each may be a pytree of arrays, giving a pytree of gradients.

    Examples
    --------
    >>> import tapegrad as tg
    >>> df = tg.grad(lambda x, y: tg.sin(x) + x * y, argnums=(0, 1))
    >>> [round(float(g), 6) for g in df(1.0, 2.0)]
    [2.540302, 1.0]
    >>> tg.grad(tg.grad(lambda x: x ** 3))(2.0)
    np.float64(12.0)
    """
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        res, g = vg(*args, **kwargs)
        if has_aux:
            return g, res[1]
        return g

    _name(wrapped, f, "grad")
    return wrapped


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """Run ``f(*primals)`` and return ``(out, vjp_fn)`` (plus ``aux`` with ``has_aux``).

    ``vjp_fn(cotangent)`` (a cotangent of ``out``'s structure) returns a tuple with one
    cotangent per primal.  It may be called many times (the tape is kept until ``vjp_fn``
    is dropped).

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> out, pullback = tg.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]))
    >>> pullback(np.array([1.0, 10.0]))
    (array([ 3., 30.]),)
    """
    nums = tuple(range(len(primals)))
    nested = _depth.value > 0
    _depth.value += 1
    _rev_depth.value += 1
    try:
        with enable_grad():
            inp = _Inputs(primals, nums, nested)
            res = f(*inp.args)
            if has_aux:
                res, aux = res
    finally:
        _depth.value -= 1
        _rev_depth.value -= 1
    out_leaves, out_def = tree_flatten(res)
    for o in out_leaves:
        if not isinstance(o, Tensor):
            raise InvalidTypeError(f"vjp needs f to return Tensors, got {type(o).__name__}")
    nested = inp.nested

    def vjp_fn(cotangent: Any) -> tuple:
        cot_leaves, cot_def = tree_flatten(cotangent)
        if len(cot_leaves) != len(out_leaves):
            raise ShapeMismatchError(
                f"the cotangent has {len(cot_leaves)} leaves but the output has "
                f"{len(out_leaves)}; give one cotangent per output, same structure"
            )
        # Cotangents carrying forward-mode tangents (a batch of them: jacrev) need the rules
        # to run on tensors, so that the tangents flow through the sweep.
        as_t = nested or any(isinstance(c, Tensor) and c._fw is not None for c in cot_leaves)
        cots = []
        for o, c in zip(out_leaves, cot_leaves):
            if np.iscomplexobj(c):
                raise complex_error("vjp cotangent")
            c_arr = c if isinstance(c, Tensor) else np.asarray(c, dtype=o.dtype)
            if tuple(c_arr.shape) != o.shape:
                raise ShapeMismatchError(
                    f"cotangent shape {tuple(c_arr.shape)} does not match output shape {o.shape}"
                )
            if as_t and not isinstance(c_arr, Tensor):
                c_arr = Tensor._wrap(c_arr)
            elif not as_t and isinstance(c_arr, Tensor):
                c_arr = c_arr.data
            cots.append(c_arr)
        _depth.value += 1
        try:
            roots = [(o, c) for o, c in zip(out_leaves, cots) if o.requires_grad]
            if roots:
                flat = engine.run_backward(
                    [r for r, _ in roots],
                    [c for _, c in roots],
                    retain_graph=True,
                    create_graph=inp.record,
                    inputs=inp.tensors,
                    accumulate=False,
                    tensors=as_t,
                )
            else:
                flat = [None] * len(inp.tensors)
        finally:
            _depth.value -= 1
        assert flat is not None
        return tuple(inp.structure([inp.convert(g, k, as_t) for k, g in enumerate(flat)]))

    if not nested and not any(inp.was_tensor):
        res_out = tree_unflatten(out_def, [_to_numpy(o) for o in out_leaves])
    else:
        res_out = res
    if has_aux:
        return res_out, vjp_fn, aux
    return res_out, vjp_fn


def elementwise_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The vjp of ``f`` with a cotangent of ones: the derivative of each output element
    w.r.t. the matching input element, for elementwise ``f`` (HIPS autograd's helper).

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.elementwise_grad(tg.sin)(np.array([0.0, np.pi]))
    array([ 1., -1.])
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args))
        g, sel = bind_argnums(f, args, nums, kwargs)
        out, pullback = vjp(g, *sel)
        ones = np.ones(np.shape(out.data if isinstance(out, Tensor) else out))
        res = pullback(ones)
        return res[0] if isinstance(argnums, int) else res

    _name(wrapped, f, "elementwise_grad")
    return wrapped


def bind_argnums(
    f: Callable[..., Any], args: tuple, nums: tuple[int, ...], kwargs: dict[str, Any]
) -> tuple[Callable[..., Any], tuple]:
    """``(g, selected)``: ``g(*xs)`` calls ``f`` with the arguments at ``nums`` replaced by
    ``xs`` (the others and ``kwargs`` fixed), and the arguments it replaces."""

    def g(*xs: Any) -> Any:
        full = list(args)
        for i, x in zip(nums, xs):
            full[i] = x
        return f(*full, **kwargs)

    return g, tuple(args[i] for i in nums)


def _name(wrapped: Callable[..., Any], f: Callable[..., Any], what: str) -> None:
    wrapped.__name__ = f"{what}({getattr(f, '__name__', 'f')})"
    wrapped.__doc__ = getattr(f, "__doc__", None)
