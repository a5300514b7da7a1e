"""Reverse-mode transforms in the style of JAX and HIPS autograd: grad, value_and_grad, vjp,
elementwise_grad, jacrev.

They take a function of arrays (or Tensors, or pytrees of them) and return a function.  They
nest: ``grad(grad(f))`` is reverse-over-reverse.  Each transform makes fresh tape inputs for
the arguments it differentiates, so nested transforms never confuse their perturbations: the
inner one differentiates only with respect to its own inputs, and the outer one sees the
inner result as an ordinary recorded function of its inputs.

Return types: at top level with array or number inputs, results are NumPy arrays (0-d ones
as NumPy scalars); with Tensor inputs, or inside another transform, they are Tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tree import tree_flatten, tree_unflatten
from ..autograd import engine
from ..autograd.dual import close_level, make_dual, open_level
from ..autograd.grad_mode import _state as _grad_state
from ..autograd.grad_mode import enable_grad
from ..errors import InvalidTypeError, ShapeMismatchError, complex_error
from ..ops import identity, reshape
from ..tensor import Tensor
from .args import (
    argnums_tuple,
    bind_argnums,
    check_float,
    depth,
    results_as_numpy,
    rev_depth,
    set_name,
    split_aux,
    to_numpy,
    tree_numpy,
)

__all__ = ["grad", "value_and_grad", "vjp", "elementwise_grad", "jacrev"]


class _Inputs:
    """The differentiated leaves of the selected arguments, as fresh tape inputs."""

    def __init__(self, args: tuple, argnums: tuple[int, ...], nested: bool) -> None:
        self.args = list(args)
        self.argnums = argnums
        self.defs = []
        self.tensors: list[Tensor] = []
        self.was_tensor: list[bool] = []
        self.nested = nested
        self.record = rev_depth.value > 1  # this transform has counted itself already
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
        check_float(arr.dtype, "a differentiated argument", " or exclude it from argnums")
        if is_tensor and leaf.requires_grad:
            t = identity(leaf)  # a new tape input, still connected to the outer graph
        else:
            if _grad_state.tracer is not None:
                # Traced by tg.jit: the value itself (the leaf needs no copy, and a copy
                # would be repeated by every call of the compiled program).
                t = Tensor._wrap(arr)
                t.requires_grad = True
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
        return to_numpy(g)


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
        nums = argnums_tuple(argnums, len(args))
        nested = depth.value > 0
        depth.value += 1
        rev_depth.value += 1
        try:
            with enable_grad():
                inp = _Inputs(args, nums, nested)
                res, aux = split_aux(f(*inp.args, **kwargs), has_aux)
                out = _scalar_output(res, "grad")
                one = np.ones(out.shape, out.dtype)
                flat = _backward(inp, [out], [Tensor._wrap(one) if inp.nested else one])
        finally:
            depth.value -= 1
            rev_depth.value -= 1
        grads = inp.structure([inp.convert(g, k) for k, g in enumerate(flat)])
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        value = out if (inp.nested or any(inp.was_tensor)) else to_numpy(out)
        if has_aux:
            return (value, aux), grads
        return value, grads

    set_name(wrapped, f, "value_and_grad", doc=True)
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

    set_name(wrapped, f, "grad", doc=True)
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
    nested = depth.value > 0
    depth.value += 1
    rev_depth.value += 1
    try:
        with enable_grad():
            inp = _Inputs(primals, nums, nested)
            res, aux = split_aux(f(*inp.args), has_aux)
    finally:
        depth.value -= 1
        rev_depth.value -= 1
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
        depth.value += 1
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
            depth.value -= 1
        assert flat is not None
        return tuple(inp.structure([inp.convert(g, k, as_t) for k, g in enumerate(flat)]))

    if not nested and not any(inp.was_tensor):
        res_out = tree_unflatten(out_def, [to_numpy(o) for o in out_leaves])
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
        nums = argnums_tuple(argnums, len(args))
        g, sel = bind_argnums(f, args, nums, kwargs)
        out, pullback = vjp(g, *sel)
        ones = np.ones(np.shape(out.data if isinstance(out, Tensor) else out))
        res = pullback(ones)
        return res[0] if isinstance(argnums, int) else res

    set_name(wrapped, f, "elementwise_grad", doc=True)
    return wrapped


def jacrev(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The Jacobian by reverse mode (result ``out.shape + in.shape``).

    One forward pass, then one backward sweep for all rows at once: the cotangent is a dual
    number whose tangent is the identity basis of the output (a leading batch axis of size
    ``out.size``), and since the pullback is linear in its cotangent, that tangent comes out
    of the sweep as every row of the Jacobian.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.jacrev(lambda x: x[:2] * x[1:])(np.array([1.0, 2.0, 3.0]))
    array([[2., 1., 0.],
           [0., 3., 2.]])
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = argnums_tuple(argnums, len(args))
        g, sel = bind_argnums(f, args, nums, kwargs)
        res = vjp(g, *sel, has_aux=has_aux)
        out, pullback = res[0], res[1]
        aux = res[2] if has_aux else None
        o_leaves, o_def = tree_flatten(out)
        shapes = [tuple(np.shape(o.data if isinstance(o, Tensor) else o)) for o in o_leaves]
        dtypes = [np.result_type(o.data if isinstance(o, Tensor) else o) for o in o_leaves]
        sizes = [int(np.prod(s)) if s else 1 for s in shapes]
        m = sum(sizes)
        level = open_level()
        try:
            cots = []
            start = 0
            for shape, dt, size in zip(shapes, dtypes, sizes):
                basis = np.zeros((m, size), dtype=dt)
                basis[start : start + size] = np.eye(size, dtype=dt)
                start += size
                cots.append(
                    make_dual(
                        Tensor._wrap(np.zeros(shape, dt)),
                        Tensor._wrap(basis.reshape((m,) + shape)),
                        level,
                    )
                )
            grads = pullback(tree_unflatten(o_def, cots))
            results = []
            for x, gx in zip(sel, grads):
                x_leaves, x_def = tree_flatten(x)
                g_leaves, _ = tree_flatten(gx)
                jl = []
                for xl, gl in zip(x_leaves, g_leaves):
                    xs = tuple(np.shape(xl.data if isinstance(xl, Tensor) else xl))
                    rows = gl._fw.get(level) if isinstance(gl, Tensor) and gl._fw else None
                    if rows is None:
                        rows = Tensor._wrap(np.zeros((m,) + xs))
                    jl.append(tree_unflatten(o_def, _split_rows(rows, shapes, sizes, xs)))
                results.append(tree_unflatten(x_def, jl))
        finally:
            close_level(level)
        result = results[0] if isinstance(argnums, int) else tuple(results)
        if results_as_numpy(args):
            result = tree_numpy(result)
        return (result, aux) if has_aux else result

    set_name(wrapped, f, "jacrev", doc=False)
    return wrapped


def _split_rows(
    rows: Any, shapes: list[tuple[int, ...]], sizes: list[int], in_shape: tuple[int, ...]
) -> list[Any]:
    """(m, *in_shape) Jacobian rows -> one out_shape + in_shape block per output leaf."""
    blocks = []
    start = 0
    for shape, size in zip(shapes, sizes):
        blocks.append(reshape(rows[start : start + size], shape + in_shape))
        start += size
    return blocks
