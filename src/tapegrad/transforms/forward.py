"""Forward-mode transforms: jvp, linearize, jacfwd.

Forward mode pushes tangents through the primitives' jvp rules (see
:mod:`tapegrad.autograd.dual`).  A whole basis of tangents goes through one pass as a
leading batch axis, so ``jacfwd`` of an R^n -> R^m map costs one forward pass of batched
NumPy calls, not n passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tree import tree_flatten, tree_unflatten
from ..autograd.dual import close_level, make_dual, open_level
from ..errors import InvalidArgumentError, ShapeMismatchError, complex_error
from ..ops import identity, moveaxis, reshape
from ..tensor import Tensor
from .args import (
    argnums_tuple,
    as_float_tensor,
    depth,
    raw_inputs,
    results_as_numpy,
    set_name,
    split_aux,
    to_numpy,
    tree_numpy,
)

__all__ = ["jvp", "linearize", "jacfwd"]


def _push_forward(
    f: Callable[..., Any],
    primals: Sequence[Any],
    tangents: Sequence[Any],
    batch: tuple[int, ...],
    kwargs: dict[str, Any] | None = None,
) -> tuple[Any, list[Any], int, bool]:
    """Run ``f`` on duals; returns (raw result, the dual arguments, the level, nested).

    The level is open: the caller closes it (:func:`close_level`) once it has read the
    tangents out, so that no tensor made by ``f`` keeps one afterwards."""
    level = open_level()
    try:
        return _run_on_duals(f, primals, tangents, batch, kwargs, level)
    except BaseException:
        close_level(level)
        raise


def _run_on_duals(
    f: Callable[..., Any],
    primals: Sequence[Any],
    tangents: Sequence[Any],
    batch: tuple[int, ...],
    kwargs: dict[str, Any] | None,
    level: int,
) -> tuple[Any, list[Any], int, bool]:
    nested = depth.value > 0
    duals = []
    for p, t in zip(primals, tangents):
        if t is None:  # an argument that is not differentiated: passed as it is
            duals.append(p)
            continue
        p_leaves, p_def = tree_flatten(p)
        t_leaves = _leaves_like(t, p)
        new = []
        for pl, tl in zip(p_leaves, t_leaves):
            pt = as_float_tensor(pl, "each primal")
            if isinstance(pl, Tensor) and (pl.requires_grad or pl._fw is not None):
                nested = True
            if tl is None:
                new.append(pt)
                continue
            if not isinstance(tl, Tensor) and np.iscomplexobj(tl):
                raise complex_error("each tangent")
            tt = tl if isinstance(tl, Tensor) else Tensor._wrap(np.asarray(tl, dtype=pt.dtype))
            if tuple(tt.shape) != batch + pt.shape:
                raise ShapeMismatchError(
                    f"tangent shape {tuple(tt.shape)} does not match its primal's shape "
                    f"{pt.shape}" + (f" with batch {batch}" if batch else "")
                )
            new.append(make_dual(pt, tt, level))
        duals.append(tree_unflatten(p_def, new))
    depth.value += 1
    try:
        res = f(*duals, **(kwargs or {}))
    finally:
        depth.value -= 1
    return res, duals, level, nested


def _leaves_like(t: Any, p: Any) -> list[Any]:
    """The leaves of tangent tree ``t`` in the order of primal tree ``p``'s leaves; a ``None``
    stands for zero tangents of a whole subtree."""
    if p is None:
        return []
    if isinstance(p, dict):
        if t is not None and (not isinstance(t, dict) or set(t) != set(p)):
            raise ShapeMismatchError(
                f"the tangent {t!r:.80} does not have the primal's structure (dict with keys "
                f"{sorted(p)}); give one tangent per primal, same nesting"
            )
        return [x for k in p for x in _leaves_like(None if t is None else t[k], p[k])]
    if isinstance(p, (tuple, list)) and not hasattr(p, "_fields"):
        if t is not None and (not isinstance(t, (tuple, list)) or len(t) != len(p)):
            raise ShapeMismatchError(
                f"the tangent {t!r:.80} does not have the primal's structure (a sequence of "
                f"{len(p)}); give one tangent per primal, same nesting"
            )
        return [x for i, pi in enumerate(p) for x in _leaves_like(None if t is None else t[i], pi)]
    return [t]


def _split(
    res: Any, level: int, batch: tuple[int, ...], nested: bool, as_numpy: bool
) -> tuple[Any, Any]:
    """Output pytree -> (primal outputs without the level, tangent outputs)."""
    leaves, d = tree_flatten(res)
    prim_out, tan_out = [], []
    for o in leaves:
        if not isinstance(o, Tensor):
            o = Tensor._wrap(np.asarray(o))
        t = o._fw.get(level) if o._fw else None
        if t is None:
            t = Tensor._wrap(np.zeros(batch + o.shape, o.dtype))
        p = o
        if o._fw and level in o._fw:
            p = identity(o) if o.requires_grad else Tensor._wrap(o.data)
            rest = {k: v for k, v in o._fw.items() if k != level}
            p._fw = rest or None
        if as_numpy and not nested:
            prim_out.append(to_numpy(p))
            tan_out.append(to_numpy(t))
        else:
            prim_out.append(p)
            tan_out.append(t)
    return tree_unflatten(d, prim_out), tree_unflatten(d, tan_out)


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple:
    """Forward mode: ``(f(*primals), J_f(primals) @ tangents)`` in one pass.

    ``primals`` and ``tangents`` are tuples (one entry per argument of ``f``, each a pytree
    of arrays or Tensors, tangents shaped like their primals).

    Examples
    --------
    >>> import tapegrad as tg
    >>> f = lambda x, y: (x + y) * (x - y)
    >>> tg.jvp(f, (3.0, 2.0), (1.0, 0.0))   # df/dx = 2x
    (np.float64(5.0), np.float64(6.0))
    >>> tg.jvp(f, (3.0, 2.0), (0.0, 1.0))[1]   # df/dy = -2y
    np.float64(-4.0)
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise InvalidArgumentError(
            f"jvp got {len(primals)} primals but {len(tangents)} tangents; give one each"
        )
    res, _, level, nested = _push_forward(f, primals, tangents, ())
    try:
        res, aux = split_aux(res, has_aux)
        out, t_out = _split(res, level, (), nested, raw_inputs(primals))
    finally:
        close_level(level)
    return (out, t_out, aux) if has_aux else (out, t_out)


def linearize(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``(f(*primals), f_jvp)`` where ``f_jvp(*tangents)`` is the Jacobian-vector product
    at ``primals`` (each call runs a forward pass with tangents)."""
    out, _ = jvp(f, primals, tuple(_zeros_like_tree(p) for p in primals))

    def f_jvp(*tangents: Any) -> Any:
        if len(tangents) != len(primals):
            raise InvalidArgumentError(
                f"f_jvp takes {len(primals)} tangents (one per primal), got {len(tangents)}"
            )
        return jvp(f, primals, tangents)[1]

    return out, f_jvp


def _zeros_like_tree(p: Any) -> Any:
    leaves, d = tree_flatten(p)
    return tree_unflatten(
        d, [np.zeros(np.shape(x.data if isinstance(x, Tensor) else x)) for x in leaves]
    )


def _basis(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    return np.eye(n, dtype=dtype).reshape((n,) + shape)


def _jac_from_batched(
    t: Any, out_shape: tuple[int, ...], in_shape: tuple[int, ...], nested: bool
) -> Any:
    """(n_in, *out_shape) batched tangents -> Jacobian of shape out_shape + in_shape."""
    nd = len(out_shape)
    j = moveaxis(t, 0, -1) if nd else t
    return reshape(j, out_shape + in_shape)


def jacfwd(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The Jacobian by forward mode, one batched pass per differentiated input.

    For ``f: R^n -> R^m`` the basis of n tangents goes through ``f`` at once (a leading batch
    axis), so the cost is one forward pass of NumPy calls on n-times larger arrays.  The
    result has shape ``out.shape + in.shape`` (a pytree/tuple like JAX's when ``f`` has
    several outputs or ``argnums`` is a tuple).

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = argnums_tuple(argnums, len(args))
        per_arg = []
        aux = None
        for a in nums:
            leaves, d = tree_flatten(args[a])
            jac_leaves = []
            for k, leaf in enumerate(leaves):
                x = as_float_tensor(leaf, "each differentiated input")
                basis = _basis(x.shape, x.dtype)
                n = basis.shape[0]
                tangents = []
                for b, arg in enumerate(args):
                    if b != a:
                        tangents.append(_none_tree(arg))
                        continue
                    tl: list[Any] = [None] * len(leaves)
                    tl[k] = basis
                    tangents.append(tree_unflatten(d, tl))
                res, _, level, nested = _push_forward_partial(f, args, tangents, (n,), kwargs)
                try:
                    res, aux = split_aux(res, has_aux)
                    out, t_out = _split(res, level, (n,), nested, False)
                finally:
                    close_level(level)
                o_leaves, o_def = tree_flatten(out)
                t_leaves, _ = tree_flatten(t_out)
                js = [
                    _jac_from_batched(t, tuple(o.shape), x.shape, nested)
                    for o, t in zip(o_leaves, t_leaves)
                ]
                jac_leaves.append(tree_unflatten(o_def, js))
            per_arg.append(tree_unflatten(d, jac_leaves))
        result = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)
        if results_as_numpy(args):
            result = tree_numpy(result)
        return (result, aux) if has_aux else result

    set_name(wrapped, f, "jacfwd", doc=False)
    return wrapped


def _none_tree(arg: Any) -> Any:
    leaves, d = tree_flatten(arg)
    return tree_unflatten(d, [None] * len(leaves))


def _push_forward_partial(
    f: Callable[..., Any],
    args: Sequence[Any],
    tangents: Sequence[Any],
    batch: tuple[int, ...],
    kwargs: dict[str, Any],
) -> tuple:
    """Like :func:`_push_forward`; arguments whose tangents are all ``None`` pass through
    unchanged (they may be non-float, e.g. indices)."""
    tans = [None if all(t is None for t in tree_flatten(tan)[0]) else tan for tan in tangents]
    return _push_forward(f, args, tans, batch, kwargs)
