"""Jacobians and second derivatives: jacobian (forward or reverse mode, whichever is
cheaper), hessian, hvp, vhp.

``hessian`` and ``hvp`` are forward-over-reverse: the tangents flow through the reverse
sweep of :func:`tapegrad.grad`, a whole basis of them at once for the Hessian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tree import tree_flatten
from ..tensor import Tensor
from .args import argnums_tuple, results_as_numpy, set_name, split_aux, to_numpy
from .forward import jacfwd, jvp
from .reverse import grad, jacrev

__all__ = ["jacobian", "hessian", "hvp", "vhp"]


def jacobian(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The Jacobian, by forward mode when the inputs have fewer elements than the outputs
    (:func:`jacfwd`), else by reverse mode (:func:`jacrev`).  Decided at call time."""

    fwd = jacfwd(f, argnums, has_aux)
    rev = jacrev(f, argnums, has_aux)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = argnums_tuple(argnums, len(args))
        n_in = sum(
            int(np.size(leaf.data if isinstance(leaf, Tensor) else leaf))
            for i in nums
            for leaf in tree_flatten(args[i])[0]
        )
        out, _ = split_aux(f(*args, **kwargs), has_aux)
        n_out = sum(
            int(np.size(o.data if isinstance(o, Tensor) else o)) for o in tree_flatten(out)[0]
        )
        return (fwd if n_in < n_out else rev)(*args, **kwargs)

    set_name(wrapped, f, "jacobian", doc=False)
    return wrapped


def hessian(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The Hessian of a scalar function: ``jacfwd(grad(f))`` (forward-over-reverse; the whole
    basis of tangents goes through one reverse sweep).

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.hessian(lambda x: tg.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    g = grad(f, argnums, has_aux)
    return jacfwd(g, argnums, has_aux)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``(grad f(primals), H(primals) @ tangents)`` by forward-over-reverse: about the cost
    of one gradient with tangents riding along.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> g, hv = tg.hvp(lambda x: tg.sum(x ** 3), (np.array([1.0, 2.0]),), (np.ones(2),))
    >>> hv
    array([ 6., 12.])
    """
    primals, tangents = tuple(primals), tuple(tangents)
    argnums = tuple(range(len(primals)))
    gf = grad(f, argnums=argnums)
    out, t_out = jvp(gf, primals, tangents)
    if len(primals) == 1:
        return out[0], t_out[0]
    return out, t_out


def vhp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``(f(primals), v^T H)``; for a scalar twice-differentiable ``f`` the Hessian is
    symmetric, so this equals :func:`hvp`'s product (PyTorch's ``vhp`` returns the value)."""
    primals = tuple(primals)
    val = f(*primals)
    _, hv = hvp(f, primals, tangents)
    if results_as_numpy(primals):
        val = to_numpy(val)
    return val, hv
