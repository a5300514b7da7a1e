"""Gradient checking by central finite differences (public API).

:func:`gradcheck` compares the reverse-mode derivatives of ``f`` with central finite
differences in float64; :func:`gradgradcheck` does the same for the derivatives of a
vector-Jacobian product (second order).  On failure a :class:`GradientCheckError` reports
the worst entry: which input, which element, the analytic and the numerical value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import engine
from .errors import GradientCheckError, InvalidArgumentError, InvalidTypeError
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "numerical_jacobian"]

# Above this many output elements the check uses random cotangents instead of a basis.
_FULL_JACOBIAN_MAX_OUT = 64


def _outputs(res: Any) -> list[Tensor]:
    if isinstance(res, Tensor):
        return [res]
    if isinstance(res, (tuple, list)):
        out = []
        for r in res:
            out.extend(_outputs(r))
        return out
    raise InvalidTypeError(
        "gradcheck: the checked function must return a Tensor or a tuple of Tensors, got "
        f"{type(res).__name__}"
    )


def _float_outputs(res: Any) -> list[Tensor]:
    return [o for o in _outputs(res) if o.dtype.kind == "f"]


def _prepare(inputs: Any) -> tuple[list[Any], list[int]]:
    if isinstance(inputs, (Tensor, np.ndarray, float, int)):
        inputs = (inputs,)
    args: list[Any] = []
    diff: list[int] = []
    for i, a in enumerate(inputs):
        if isinstance(a, Tensor):
            if a.dtype.kind == "f":
                args.append(np.array(a.data, dtype=np.float64))
                diff.append(i)
            else:
                args.append(a.data)
        elif isinstance(a, (np.ndarray, float)) and np.asarray(a).dtype.kind == "f":
            args.append(np.array(a, dtype=np.float64))
            diff.append(i)
        else:
            args.append(a)
    return args, diff


def _call(f: Callable[..., Any], args: list[Any], diff: list[int], grad: bool) -> tuple:
    targs = []
    for i, a in enumerate(args):
        if i in diff:
            targs.append(Tensor(a, requires_grad=grad))
        else:
            targs.append(Tensor._wrap(np.asarray(a)) if isinstance(a, np.ndarray) else a)
    return f(*targs), targs


def numerical_jacobian(
    f: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central-difference Jacobians, one ``(out_size, in_size)`` matrix per float input
    (all outputs concatenated)."""
    args, diff = _prepare(inputs)
    return _numerical(f, args, diff, eps)


def _flat_out(f: Callable[..., Any], args: list[Any], diff: list[int]) -> np.ndarray:
    # Inputs require grad here too: f may itself differentiate (gradgradcheck).
    res, _ = _call(f, args, diff, grad=True)
    outs = _float_outputs(res)
    if not outs:
        return np.zeros(0)
    return np.concatenate([np.asarray(o.data, dtype=np.float64).ravel() for o in outs])


def _numerical(
    f: Callable[..., Any], args: list[Any], diff: list[int], eps: float
) -> list[np.ndarray]:
    base = _flat_out(f, args, diff)
    jacs = []
    for i in diff:
        x = args[i]
        jac = np.zeros((base.size, x.size))
        flat = x.reshape(-1)
        for k in range(x.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = _flat_out(f, args, diff)
            flat[k] = orig - eps
            minus = _flat_out(f, args, diff)
            flat[k] = orig
            jac[:, k] = (plus - minus) / (2 * eps)
        jacs.append(jac)
    return jacs


def _analytic_vjps(
    f: Callable[..., Any], args: list[Any], diff: list[int], cotangents: np.ndarray
) -> list[np.ndarray]:
    """For each row v of ``cotangents``: the vjp w.r.t. each float input, stacked."""
    rows: list[list[np.ndarray]] = [[] for _ in diff]
    for v in cotangents:
        res, targs = _call(f, args, diff, grad=True)
        outs = _float_outputs(res)
        roots, grads, off = [], [], 0
        for o in outs:
            n = o.size
            if o.requires_grad:
                roots.append(o)
                grads.append(v[off : off + n].reshape(o.shape).astype(o.dtype))
            off += n
        ins = [targs[i] for i in diff]
        if roots:
            gs = engine.run_backward(
                roots, grads, retain_graph=False, create_graph=False, inputs=ins, accumulate=False
            )
        else:
            gs = [None] * len(ins)
        assert gs is not None
        for j, (g, t) in enumerate(zip(gs, ins)):
            if g is None:
                g = np.zeros(t.shape)
            g = g.data if isinstance(g, Tensor) else g
            if np.shape(g) != t.shape:
                raise GradientCheckError(
                    f"gradient for input {diff[j]} has shape {np.shape(g)}, expected {t.shape}"
                )
            rows[j].append(np.asarray(g, dtype=np.float64).ravel())
    return [np.array(r).reshape(len(cotangents), -1) for r in rows]


def gradcheck(
    f: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check the reverse-mode derivatives of ``f`` against central finite differences.

    Parameters
    ----------
    f : callable
        ``f(*inputs)`` returning a Tensor or a (nested) tuple of Tensors.
    inputs : sequence
        Arrays or Tensors; floating ones are differentiated (in float64), others are passed
        through unchanged.
    eps, atol, rtol : float
        Step of the central difference; an entry passes when
        ``|analytic - numerical| <= atol + rtol * |numerical|``.
    raise_exception : bool
        Raise :class:`GradientCheckError` on failure (else return False).

    Returns
    -------
    bool
        True when every entry passes.

    Examples
    --------
    >>> import numpy as np, tapegrad as tg
    >>> tg.testing.gradcheck(lambda x: tg.sin(x) * x, [np.array([0.3, -1.2])])
    True
    """
    args, diff = _prepare(inputs)
    if not diff:
        raise InvalidArgumentError(
            "gradcheck needs at least one floating-point input to differentiate"
        )
    numeric = _numerical(f, args, diff, eps)
    m = numeric[0].shape[0]
    if m == 0:
        return True
    if m <= _FULL_JACOBIAN_MAX_OUT:
        cot = np.eye(m)
    else:
        cot = np.random.default_rng(seed).standard_normal((4, m))
    analytic = _analytic_vjps(f, args, diff, cot)
    worst = None
    for j, (num, ana) in enumerate(zip(numeric, analytic)):
        expected = cot @ num  # rows: v^T J
        err = np.abs(ana - expected)
        tol = atol + rtol * np.abs(expected)
        bad = ~(err <= tol)
        if bad.any():
            excess = np.where(bad, err - tol, -np.inf)
            excess = np.where(np.isnan(excess), np.inf, excess)
            r, c = np.unravel_index(int(np.argmax(excess)), err.shape)
            cand = (float(excess[r, c]), j, r, c, ana[r, c], expected[r, c], int(bad.sum()))
            if worst is None or cand[0] > worst[0]:
                worst = cand
    if worst is None:
        return True
    _, j, r, c, a, e, nbad = worst
    shape = np.shape(args[diff[j]])
    idx = tuple(int(k) for k in np.unravel_index(c, shape)) if shape else ()
    kind = "output element" if m <= _FULL_JACOBIAN_MAX_OUT else "random cotangent"
    msg = (
        f"gradient check failed for input {diff[j]} (shape {shape}) at element {tuple(idx)}, "
        f"{kind} {int(r)}: analytic {float(a)!r} vs numerical {float(e)!r} "
        f"(difference {abs(a - e):.3g}, atol={atol}, rtol={rtol}); {nbad} entries of this "
        "input disagree"
    )
    if raise_exception:
        raise GradientCheckError(msg)
    return False


def gradgradcheck(
    f: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck of ``x -> vjp(f, x)(v)`` with ``create_graph``.

    ``v`` (``grad_outputs``) is random unless given; it is also differentiated, so the
    check covers the vjp's dependence on both the inputs and the cotangent.
    """
    args, diff = _prepare(inputs)
    if not diff:
        raise InvalidArgumentError("gradgradcheck needs at least one floating-point input")
    res, _ = _call(f, args, diff, grad=False)
    outs = _float_outputs(res)
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        vs = [rng.standard_normal(o.shape) for o in outs]
    else:
        vs = [
            np.asarray(v.data if isinstance(v, Tensor) else v, dtype=np.float64)
            for v in (grad_outputs if isinstance(grad_outputs, (list, tuple)) else [grad_outputs])
        ]
    nargs = len(args)

    def first_order(*all_args: Any) -> tuple:
        xs = list(all_args[:nargs])
        cots = all_args[nargs:]
        out = _float_outputs(f(*xs))
        ins = [xs[i] for i in diff]
        roots = [o for o in out if o.requires_grad]
        gv = [c for o, c in zip(out, cots) if o.requires_grad]
        if not roots:
            return tuple(Tensor._wrap(np.zeros(x.shape)) for x in ins)
        gs = engine.run_backward(
            roots, gv, retain_graph=True, create_graph=True, inputs=ins, accumulate=False
        )
        assert gs is not None
        return tuple(
            g if g is not None else Tensor._wrap(np.zeros(x.shape)) for g, x in zip(gs, ins)
        )

    inputs2 = [Tensor(a) if i in diff else a for i, a in enumerate(args)] + vs
    return gradcheck(
        first_order,
        inputs2,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        seed=seed,
    )
