"""Linear algebra: the matmul family (matmul, einsum and the products built on them) and the
``tg.linalg`` functions (inverse, solve, determinants, decompositions, norms).

matmul and einsum are bilinear: the cotangent of each operand is the same op applied to the
cotangent and the other operands.  The decompositions use the standard formulas, cited by
rule; every rule is written in tapegrad ops, so second derivatives come for free.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from ..errors import (
    InvalidArgumentError,
    InvalidTypeError,
    LinAlgError,
    NotDifferentiableError,
    ShapeMismatchError,
)
from ..tensor import Tensor
from .elementwise import multiply
from .reduce import norm as _rnorm
from .reduce import normalize_axis
from .reduce import sum as _sum
from .registry import Primitive, batch_ndim, defbilinear, defjvp, defvjp, expose
from .shape import broadcast_to, concatenate, matrix_transpose, moveaxis, reshape

__all__ = ["matmul", "dot", "outer", "inner", "tensordot", "einsum"]
# Names exposed as tg.linalg.<name>.
LINALG_ALL: list[str] = [
    "matmul",
    "inv",
    "solve",
    "det",
    "slogdet",
    "cholesky",
    "qr",
    "svd",
    "eigh",
    "norm",
]


# --------------------------------------------------------------------------- helpers


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, (Tensor, np.ndarray)) else np.shape(x)


def _arr(x: Any) -> Any:
    """Tensors and arrays as they are; anything else (lists, scalars) as an array."""
    return x if isinstance(x, (Tensor, np.ndarray)) else np.asarray(x)


_mT = matrix_transpose  # swap the last two axes (the transpose of each matrix)


def _unsq(x: Any, axis: int = -1) -> Any:
    """Insert a size-1 axis at ``-1`` (last) or ``-2`` (before the last)."""
    s = x.shape
    return reshape(x, s + (1,) if axis == -1 else s[:-1] + (1,) + s[-1:])


def _eye(n: int, dtype: Any) -> np.ndarray:
    return np.eye(n, dtype=dtype)


def _diag_embed(v: Any) -> Any:
    """A batch of diagonal matrices with diagonal ``v[..., :]``."""
    return _unsq(v) * _eye(v.shape[-1], v.dtype)


def _tril_mask(n: int, dtype: Any, k: int = 0) -> np.ndarray:
    return np.tri(n, n, k, dtype=dtype)


def _is_zero(t: Any) -> bool:
    """A cotangent that is all zeros and constant (e.g. filled in for an unused output):
    neither recorded nor carrying forward-mode tangents."""
    if isinstance(t, Tensor):
        if t.requires_grad or t._fw is not None:
            return False
        t = t.data
    return not np.any(t)


def _pad(t: Any, nb: int, k: int) -> Any:
    """Insert ``k`` size-1 axes after the first ``nb`` (batch) axes of ``t``."""
    if k <= 0:
        return t
    s = t.shape
    return reshape(t, s[:nb] + (1,) * k + s[nb:])


def _sym(t: Any) -> Any:
    return 0.5 * (t + _mT(t))


def _check_square(name: str, a: Any) -> tuple[int, ...]:
    s = _shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ShapeMismatchError(
            f"{name}: expected a square matrix or a batch of them (shape (..., n, n)), got "
            f"shape {s}"
        )
    return s


def _check_matrix(name: str, a: Any) -> tuple[int, ...]:
    s = _shape(a)
    if len(s) < 2:
        raise ShapeMismatchError(
            f"{name}: expected a matrix or a batch of them (shape (..., m, n)), got shape {s}"
        )
    return s


# --------------------------------------------------------------------------- matmul


def _matmul_vjp_x(g: Any, ans: Any, x: Any, y: Any) -> Any:
    if y.ndim == 1:
        return _unsq(g) * y
    if x.ndim == 1:
        r = matmul(y, _unsq(g))
        return reshape(r, r.shape[:-1])
    return matmul(g, _mT(y))


def _matmul_vjp_y(g: Any, ans: Any, x: Any, y: Any) -> Any:
    if x.ndim == 1:
        if y.ndim == 1:
            return _unsq(g) * x
        return reshape(x, (-1, 1)) * _unsq(g, -2)
    if y.ndim == 1:
        r = matmul(_unsq(g, -2), x)
        return reshape(r, r.shape[:-2] + r.shape[-1:])
    if y.ndim == 2 and x.ndim > 2 and g.ndim == x.ndim:
        # A stack times one matrix (e.g. a linear layer on (batch, seq, features)): fold the
        # batch into the rows, one GEMM instead of a batched product summed afterwards.
        return matmul(_mT(reshape(x, (-1, x.shape[-1]))), reshape(g, (-1, g.shape[-1])))
    if y.ndim == 2 and x.ndim == 2 and _transposed(y):
        # y is a transposed matrix (a linear layer's W.T): give its gradient the same
        # layout, (g^T x)^T, so that W's gradient comes out contiguous like W (an optimizer
        # then reads it without strides; the product is the same GEMM, operands swapped).
        return _mT(matmul(_mT(g), x))
    return matmul(_mT(x), g)


def _transposed(a: Any) -> bool:
    """Whether the 2-D array (or tensor's array) ``a`` is laid out column-major only."""
    f = (a.data if isinstance(a, Tensor) else a).flags
    return f.f_contiguous and not f.c_contiguous


def _matmul_batch(nb: int, k: int, x: Any, y: Any) -> Any:
    """``x @ y`` where operand ``k`` carries ``nb`` leading batch axes: they stay in front
    (a 1-d operand is a vector per batch entry, not a matrix)."""
    if k == 0:
        xd = x.ndim - nb
        if y.ndim == 1:
            return matmul(x, y)
        if xd == 1:  # a batch of row vectors: keep the row axis
            r = matmul(_pad(x, nb, y.ndim - 1), y)
            return reshape(r, r.shape[:-2] + r.shape[-1:])
        return matmul(_pad(x, nb, max(xd, y.ndim) - xd), y)
    yd = y.ndim - nb
    if yd >= 2:
        return matmul(x, _pad(y, nb, max(x.ndim, yd) - yd) if x.ndim >= 2 else y)
    if x.ndim == 1:
        return matmul(y, x)
    r = matmul(x, _unsq(_pad(y, nb, x.ndim - 2)))  # a batch of vectors: as columns
    return reshape(r, r.shape[:-1])


_matmul = defbilinear(
    Primitive(
        "matmul",
        np.matmul,
        save=(0, 1),
        doc="Matrix product (``numpy.matmul``).",
        ufunc=False,
        explain={
            "text": "{0} @ {1}",
            "adjoint": ("{g} @ {1}ᵀ", "{0}ᵀ @ {g}"),
            "tangent": ("{t} @ {1}", "{0} @ {t}"),
        },
    ),
    _matmul_vjp_x,
    _matmul_vjp_y,
    batch=_matmul_batch,
)
_matmul.save_for = {0: (1,), 1: (0,)}  # see multiply


def _matmul_error(x: Any, y: Any) -> ShapeMismatchError:
    sx, sy = _shape(x), _shape(y)
    if len(sx) == 0 or len(sy) == 0:
        return ShapeMismatchError(
            f"matmul: shapes {sx} and {sy}: matmul needs at least 1-D operands; use "
            "multiply (*) to scale by a scalar"
        )
    kx = sx[-1]
    ky = sy[-2] if len(sy) >= 2 else sy[-1]
    if kx != ky:
        return ShapeMismatchError(
            f"matmul: shapes {sx} and {sy} are not aligned: the last axis of the first "
            f"operand ({kx}) must equal the "
            f"{'second-to-last' if len(sy) >= 2 else 'only'} axis of the second ({ky})"
        )
    return ShapeMismatchError(
        f"matmul: shapes {sx} and {sy}: the batch axes {sx[:-2]} and {sy[:-2]} do not "
        "broadcast together"
    )


def matmul(x: Any, y: Any) -> Any:
    """Matrix product with NumPy's ``matmul`` semantics.

    2-D operands multiply as matrices; n-D operands are stacks of matrices in the last two
    axes, with the leading (batch) axes broadcast; a 1-D first operand is treated as a row
    vector and a 1-D second operand as a column vector, and the added axis is removed from
    the result (1-D @ 1-D is the inner product, a 0-d result).

    Parameters
    ----------
    x, y : Tensor or array_like
        At least 1-D.  ``x.shape[-1]`` must equal ``y.shape[-2]`` (``y.shape[0]`` for 1-D y).

    Returns
    -------
    Tensor
        Shape ``broadcast(x.shape[:-2], y.shape[:-2]) + (n, m)`` less the promoted axes.

    Raises
    ------
    ShapeMismatchError
        When the inner dimensions differ or the batch axes do not broadcast (the message
        names both shapes).

    Examples
    --------
    >>> import tapegrad as tg
    >>> a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> tg.matmul(a, tg.tensor([1.0, 1.0]))
    tensor([3., 7.], grad_fn=<matmulBackward>)
    """
    if not isinstance(x, (Tensor, np.ndarray)):
        x = np.asarray(x)
    if not isinstance(y, (Tensor, np.ndarray)):
        y = np.asarray(y)
    try:
        return _matmul(x, y)
    except ValueError as e:
        raise _matmul_error(x, y) from e


# --------------------------------------------------------------------------- einsum

_EINSUM_MAX = 8  # operands per primitive call; longer products are split
_EINSUM_OPT_COST = 1 << 15  # 2-operand contractions above this many terms use BLAS paths
_LETTERS = string.ascii_letters


expose(matmul, ufunc=np.matmul)


def _einsum_impl(*ops: Any, subscripts: str, optimize: bool) -> Any:
    out = np.einsum(subscripts, *ops, optimize=optimize)
    if len(ops) == 1 and np.may_share_memory(out, ops[0]):
        out = out.copy()  # a transpose or diagonal comes back as a view; results never alias
    return out


def _einsum_vjp(k: int) -> Any:
    def rule(g: Any, ans: Any, *ops: Any, subscripts: str, optimize: bool) -> Any:
        lhs, out = subscripts.split("->")
        ins = lhs.split(",")
        x = ops[k]
        sk = ins[k]
        specs = [out]
        args = [g]
        for j, s in enumerate(ins):
            if j != k:
                specs.append(s)
                args.append(ops[j])
        avail = set("".join(specs))
        free = iter(c for c in _LETTERS if c not in subscripts)
        target = []
        seen: set[str] = set()
        for c, d in zip(sk, x.shape):
            if c in seen:  # a repeated index: scatter onto the diagonal with an identity
                f = next(free)
                specs.append(c + f)
                args.append(_eye(d, g.dtype))
                avail.update((c, f))
                target.append(f)
            else:
                seen.add(c)
                target.append(c)
        kept = "".join(c for c in target if c in avail)
        r = _einsum_call(specs, kept, args)
        if len(kept) < len(target):  # indices summed within x alone: broadcast back
            r = reshape(r, tuple(d if c in avail else 1 for c, d in zip(target, x.shape)))
        if any(d < e for d, e in zip(r.shape, x.shape)):  # also size-1 axes of the others
            r = broadcast_to(r, np.broadcast_shapes(r.shape, x.shape))
        return r

    return rule


def _einsum_batch(nb: int, k: int, *ops: Any, subscripts: str, optimize: bool) -> Any:
    """The product where operand ``k`` carries ``nb`` leading batch axes: fresh indices for
    them, kept in front of the output."""
    lhs, out = subscripts.split("->")
    ins = lhs.split(",")
    bl = "".join([c for c in _LETTERS if c not in subscripts][:nb])
    ins[k] = bl + ins[k]
    return _einsum_call(ins, bl + out, list(ops))


# Multilinear: linear in each operand given the others.
_einsum = defbilinear(
    Primitive(
        "einsum",
        _einsum_impl,
        save=tuple(range(_EINSUM_MAX)),
        doc="Einstein summation over explicit subscripts (``numpy.einsum``).",
    ),
    *[_einsum_vjp(k) for k in range(_EINSUM_MAX)],
    batch=_einsum_batch,
)


def _einsum_call(in_specs: list[str], out_spec: str, operands: list[Any]) -> Any:
    """Call the primitive on canonical (explicit, ellipsis-free) subscripts."""
    n = len(operands)
    if n > _EINSUM_MAX:
        # Contract the first operands into one intermediate that keeps every index still
        # needed, then recurse.
        head, rest = in_specs[: _EINSUM_MAX - 1], in_specs[_EINSUM_MAX - 1 :]
        needed = set(out_spec).union(*rest)
        inter = "".join(dict.fromkeys(c for s in head for c in s if c in needed))
        t = _einsum_call(head, inter, operands[: _EINSUM_MAX - 1])
        return _einsum_call([inter, *rest], out_spec, [t, *operands[_EINSUM_MAX - 1 :]])
    optimize = n > 2
    if n == 2:
        sizes: dict[str, int] = {}
        for s, op in zip(in_specs, operands):
            for c, d in zip(s, op.shape):
                if d > sizes.get(c, 1):
                    sizes[c] = d
        cost = 1
        for d in sizes.values():
            cost *= d
        optimize = cost > _EINSUM_OPT_COST
    subs = ",".join(in_specs) + "->" + out_spec
    return _einsum(*operands, subscripts=subs, optimize=optimize)


def _parse_einsum(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Explicit subscripts with ``...`` expanded into letters of their own."""
    if not isinstance(subscripts, str):
        raise InvalidTypeError(
            "einsum: subscripts must be a string such as 'ij,jk->ik' (the interleaved "
            f"operand/sublist form is not supported), got {type(subscripts).__name__}"
        )
    s = subscripts.replace(" ", "")
    lhs, arrow, out = s.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise InvalidArgumentError(
            f"einsum: subscripts {subscripts!r} name {len(ins)} operand(s) but "
            f"{len(shapes)} were given"
        )
    for part in (*ins, out):
        body = part.replace("...", "", 1)
        bad = [c for c in body if c not in _LETTERS]
        if bad:
            raise InvalidArgumentError(
                f"einsum: invalid character {bad[0]!r} in subscripts {subscripts!r}; use "
                "letters a-z, A-Z, ',' between operands, '->' before the output and '...' "
                "for broadcast axes"
            )
    parsed = []
    for i, (spec, shape) in enumerate(zip(ins, shapes)):
        pre, dots, post = spec.partition("...")
        nexp = len(pre) + len(post)
        if (dots and nexp > len(shape)) or (not dots and nexp != len(shape)):
            raise ShapeMismatchError(
                f"einsum: operand {i} has shape {shape} ({len(shape)} axes) but its "
                f"subscript {spec!r} names {nexp}"
                + ("" if dots else "; add '...' to broadcast over extra leading axes")
            )
        parsed.append((pre, post, len(shape) - nexp if dots else 0))
    nell = max(e for _, _, e in parsed)
    used = set(s)
    free = [c for c in _LETTERS if c not in used]
    if nell > len(free):
        raise InvalidArgumentError(
            f"einsum: too many axes for subscripts {subscripts!r} (52 at most)"
        )
    ell = "".join(free[:nell])
    in_specs = [pre + ell[nell - e :] + post for pre, post, e in parsed]
    if arrow:
        if "..." in out:
            out_spec = out.replace("...", ell)
        elif nell:
            raise ShapeMismatchError(
                f"einsum: the operands have broadcast ('...') axes but the output "
                f"{out!r} has no '...'; write '->...{out}' to keep them"
            )
        else:
            out_spec = out
        inset = set("".join(in_specs))
        for c in out_spec:
            if c not in inset:
                raise InvalidArgumentError(
                    f"einsum: output index {c!r} in {subscripts!r} appears in no operand"
                )
        if len(set(out_spec)) != len(out_spec):
            raise InvalidArgumentError(f"einsum: an output index is repeated in {subscripts!r}")
    else:
        counts: dict[str, int] = {}
        for spec in in_specs:
            for c in spec:
                counts[c] = counts.get(c, 0) + 1
        out_spec = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return in_specs, out_spec


def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation, as ``numpy.einsum``.

    Any subscripts NumPy accepts in the string form: explicit (``"ij,jk->ik"``) or implicit
    output (``"ij,jk"``: the indices appearing once, in alphabetical order), repeated indices
    within one operand (``"ii->i"`` is the diagonal, ``"ii"`` the trace) and ``...`` for
    broadcast leading axes.  Size-1 axes broadcast against the same index elsewhere.

    The cotangent of each operand is another einsum (of the cotangent and the other
    operands); indices summed within one operand alone are broadcast back and repeated
    indices are scattered onto the diagonal.

    Parameters
    ----------
    subscripts : str
        The subscripts, e.g. ``"bij,bjk->bik"``.
    *operands : Tensor or array_like
        One per comma-separated term of ``subscripts``.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import tapegrad as tg
    >>> a = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tg.einsum("ii", a)
    tensor(5.)
    >>> tg.einsum("ij->ji", a)
    tensor([[1., 3.],
            [2., 4.]])
    """
    ops = [_arr(o) for o in operands]
    if not ops:
        raise InvalidArgumentError("einsum: no operands given; pass one array per subscript term")
    shapes = [o.shape for o in ops]
    in_specs, out_spec = _parse_einsum(subscripts, shapes)
    sizes: dict[str, int] = {}
    for spec, shape in zip(in_specs, shapes):
        for c, d in zip(spec, shape):
            prev = sizes.get(c, 1)
            if d != prev and d != 1 and prev != 1:
                raise ShapeMismatchError(
                    f"einsum: index {c!r} has size {prev} in one operand and {d} in another "
                    f"(subscripts {subscripts!r}, operand shapes "
                    f"{', '.join(str(s) for s in shapes)})"
                )
            sizes[c] = max(prev, d)
    return _einsum_call(in_specs, out_spec, ops)


# --------------------------------------------------------------------------- products


def tensordot(x: Any, y: Any, axes: Any = 2) -> Any:
    """Sum products over the given axes, as ``numpy.tensordot``.

    Parameters
    ----------
    x, y : Tensor or array_like
    axes : int or (sequence, sequence)
        An int ``N`` contracts the last ``N`` axes of ``x`` with the first ``N`` of ``y``;
        a pair lists the axes of ``x`` and of ``y`` to contract, in matching order.

    Returns
    -------
    Tensor
        The free axes of ``x`` followed by the free axes of ``y``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.tensordot(tg.ones((2, 3)), tg.ones((3, 4)), axes=1).shape
    (2, 4)
    """
    x, y = _arr(x), _arr(y)
    sx, sy = x.shape, y.shape
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > len(sx) or n > len(sy):
            raise ShapeMismatchError(
                f"tensordot: axes={n} is invalid for shapes {sx} and {sy}; it must be "
                "between 0 and the number of axes of each operand"
            )
        ax, ay = list(range(len(sx) - n, len(sx))), list(range(n))
    else:
        try:
            ax, ay = axes
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}"
            ) from None
        ax = [int(ax)] if isinstance(ax, (int, np.integer)) else [int(a) for a in ax]
        ay = [int(ay)] if isinstance(ay, (int, np.integer)) else [int(a) for a in ay]
        if len(ax) != len(ay):
            raise ShapeMismatchError(
                f"tensordot: {len(ax)} axes of x but {len(ay)} axes of y given; contract "
                "the same number of axes of each"
            )
        ax = [a + len(sx) if a < 0 else a for a in ax]
        ay = [a + len(sy) if a < 0 else a for a in ay]
    for a, b in zip(ax, ay):
        if not (0 <= a < len(sx) and 0 <= b < len(sy)):
            raise ShapeMismatchError(
                f"tensordot: axis out of range for shapes {sx} and {sy} (axes {axes!r})"
            )
        if sx[a] != sy[b]:
            raise ShapeMismatchError(
                f"tensordot: shapes {sx} and {sy} are not aligned: axis {a} of x has size "
                f"{sx[a]} but axis {b} of y has size {sy[b]}"
            )
    letters = iter(_LETTERS)
    spec_x = [next(letters) for _ in sx]
    spec_y = [next(letters) for _ in sy]
    for a, b in zip(ax, ay):
        spec_y[b] = spec_x[a]
    out = [c for i, c in enumerate(spec_x) if i not in ax]
    out += [c for i, c in enumerate(spec_y) if i not in ay]
    return _einsum_call(["".join(spec_x), "".join(spec_y)], "".join(out), [x, y])


def dot(x: Any, y: Any) -> Any:
    """Dot product, as ``numpy.dot``.

    1-D with 1-D is the inner product, 2-D with 2-D the matrix product, a 0-d operand
    multiplies, an n-D with a 1-D array sums over the last axis of x; for n-D with m-D
    (m >= 2) it sums over the last axis of x and the second-to-last of y (unlike
    :func:`matmul`, the batch axes are not broadcast but concatenated).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.dot(tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    x, y = _arr(x), _arr(y)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if y.ndim <= 2 and x.ndim <= 2 or y.ndim == 1 or x.ndim == 1:
        if x.shape[-1] != y.shape[-2 if y.ndim >= 2 else -1]:
            raise ShapeMismatchError(
                f"dot: shapes {x.shape} and {y.shape} are not aligned: the last axis of x "
                f"({x.shape[-1]}) must equal the "
                f"{'second-to-last' if y.ndim >= 2 else 'only'} axis of y"
            )
        return matmul(x, y)
    return tensordot(x, y, axes=([-1], [-2]))


def outer(x: Any, y: Any) -> Any:
    """Outer product of the flattened inputs, as ``numpy.outer``: ``out[i, j] = x[i] * y[j]``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.outer(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 10.0]))
    tensor([[ 1., 10.],
            [ 2., 20.]])
    """
    x, y = _arr(x), _arr(y)
    return reshape(x, (-1, 1)) * reshape(y, (1, -1))


def inner(x: Any, y: Any) -> Any:
    """Inner product over the last axes, as ``numpy.inner``.

    The result has shape ``x.shape[:-1] + y.shape[:-1]``; a 0-d operand multiplies.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.inner(tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    x, y = _arr(x), _arr(y)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if x.shape[-1] != y.shape[-1]:
        raise ShapeMismatchError(
            f"inner: shapes {x.shape} and {y.shape} are not aligned: their last axes "
            f"({x.shape[-1]} and {y.shape[-1]}) must have the same size"
        )
    return tensordot(x, y, axes=([-1], [-1]))


# --------------------------------------------------------------------------- inv, solve, det


def _singular(name: str, a: Any, e: Exception) -> LinAlgError:
    return LinAlgError(
        f"{name}: the matrix (shape {_shape(a)}) is singular to working precision ({e}); "
        "it has no inverse. Check the input for linearly dependent rows, or regularise it "
        "(a + eps * I) or use a least-squares method"
    )


_inv = defvjp(
    Primitive("inv", np.linalg.inv, save=("ans",), doc="Matrix inverse (``numpy.linalg.inv``)."),
    lambda g, ans, a: -matmul(matmul(_mT(ans), g), _mT(ans)),
)
defjvp(_inv, lambda t, ans, a: -matmul(matmul(ans, t), ans))


def inv(a: Any) -> Any:
    """Inverse of a square matrix (or of each matrix in a batch ``(..., n, n)``).

    The gradient is ``-A^{-T} g A^{-T}``.

    Raises
    ------
    ShapeMismatchError
        If ``a`` is not ``(..., n, n)``.
    numpy.linalg.LinAlgError
        If a matrix is singular (NumPy's error, re-raised with the shape and what to do).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.linalg.inv(tg.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5 , 0.  ],
            [0.  , 0.25]])
    """
    a = _arr(a)
    _check_square("inv", a)
    try:
        return _inv(a)
    except np.linalg.LinAlgError as e:
        raise _singular("inv", a, e) from e


def _solve_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if ans.ndim < a.ndim:  # b is a vector: solve with it as a column
        r = solve(_mT(a), _unsq(g))
        return reshape(r, r.shape[:-1])
    return solve(_mT(a), g)


def _solve_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    gb = _solve_vjp_b(g, ans, a, b)
    if ans.ndim < a.ndim:
        return -(_unsq(gb) * _unsq(ans, -2))
    return -matmul(gb, _mT(ans))


def _solve_jvp_b(t: Any, ans: Any, a: Any, b: Any) -> Any:
    nb = batch_ndim(t, b)
    if b.ndim > 1:
        return solve(a, _pad(t, nb, ans.ndim - b.ndim))
    if not nb:
        return solve(a, t)
    r = solve(a, _unsq(_pad(t, nb, a.ndim - 2)))  # a batch of vectors: solve them as columns
    return reshape(r, r.shape[:-1])


def _solve_jvp_a(t: Any, ans: Any, a: Any, b: Any) -> Any:
    nb = batch_ndim(t, a)
    if ans.ndim < a.ndim:  # b is a vector
        r = solve(a, matmul(t, _unsq(ans)))
        return -reshape(r, r.shape[:-1])
    return -solve(a, matmul(_pad(t, nb, ans.ndim - a.ndim), ans))


_solve = defvjp(
    Primitive(
        "solve",
        np.linalg.solve,
        save=(0, "ans"),
        doc="Solve ``a @ x = b`` (``numpy.linalg.solve``).",
    ),
    _solve_vjp_a,
    _solve_vjp_b,
)
defjvp(_solve, _solve_jvp_a, _solve_jvp_b)


def solve(a: Any, b: Any) -> Any:
    """Solve ``a @ x = b`` for ``x``, as ``numpy.linalg.solve`` (NumPy 2 semantics).

    Parameters
    ----------
    a : Tensor, shape (..., n, n)
    b : Tensor, shape (n,) or (..., n, k)
        A 1-D ``b`` is one right-hand side vector (broadcast over the batch of ``a``);
        otherwise ``b`` is a (batch of) matrix of ``k`` right-hand sides.

    Returns
    -------
    Tensor
        ``x``, shape ``(..., n)`` or ``(..., n, k)``.  Gradients: ``gb = solve(a.mT, g)``,
        ``ga = -gb @ x.mT``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is singular.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.linalg.solve(tg.tensor([[2.0, 0.0], [0.0, 4.0]]), tg.tensor([1.0, 1.0]))
    tensor([0.5 , 0.25])
    """
    a, b = _arr(a), _arr(b)
    sa = _check_square("solve", a)
    sb = b.shape
    if len(sb) == 0 or sb[0 if len(sb) == 1 else -2] != sa[-1]:
        raise ShapeMismatchError(
            f"solve: a has shape {sa} but b has shape {sb}; b must be (n,) or (..., n, k) "
            f"with n = {sa[-1]}"
        )
    try:
        return _solve(a, b)
    except np.linalg.LinAlgError as e:
        raise _singular("solve", a, e) from e
    except ValueError as e:
        raise ShapeMismatchError(
            f"solve: the batch axes of a {sa} and b {sb} do not broadcast together"
        ) from e


def _unsq2(x: Any) -> Any:
    return reshape(x, x.shape + (1, 1))


def _tr_inv_dot(a: Any, t: Any) -> Any:
    """``trace(inv(a) @ t)`` over the last two axes (the directional derivative of log|det|)."""
    return _sum(_mT(inv(a)) * t, (-2, -1))


_det = defvjp(
    Primitive("det", np.linalg.det, save=(0, "ans"), doc="Determinant (``numpy.linalg.det``)."),
    lambda g, ans, a: _unsq2(g * ans) * _mT(inv(a)),
)
defjvp(_det, lambda t, ans, a: ans * _tr_inv_dot(a, t))


def det(a: Any) -> Any:
    """Determinant of a square matrix (or of each matrix in a batch).

    The gradient is ``g * det(A) * A^{-T}``; at an exactly singular matrix it cannot be
    formed this way and the backward pass raises ``LinAlgError`` (PyTorch returns the
    adjugate there).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.linalg.det(tg.tensor([[2.0, 1.0], [1.0, 3.0]]))
    tensor(5.)
    """
    a = _arr(a)
    _check_square("det", a)
    return _det(a)


def _slogdet_impl(a: Any) -> tuple[Any, Any]:
    sign, logabsdet = np.linalg.slogdet(a)
    return sign, logabsdet


_slogdet = defvjp(
    Primitive(
        "slogdet",
        _slogdet_impl,
        save=(0,),
        nout=2,
        doc="Sign and log-absolute-determinant (``numpy.linalg.slogdet``).",
    ),
    lambda g, ans, a: _unsq2(g[1]) * _mT(inv(a)),
)
defjvp(_slogdet, lambda t, ans, a: (None, _tr_inv_dot(a, t)))


def slogdet(a: Any) -> tuple[Any, Any]:
    """Sign and natural log of the absolute value of the determinant.

    Returns
    -------
    (sign, logabsdet) : tuple of Tensor
        ``sign`` is piecewise constant: its gradient is zero.  ``logabsdet`` has gradient
        ``A^{-T}`` (times the cotangent).  A singular matrix gives ``(0, -inf)`` forward, as
        NumPy; its backward raises ``LinAlgError``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> sign, logdet = tg.linalg.slogdet(tg.tensor([[-2.0, 0.0], [0.0, 1.0]]))
    >>> sign.item(), round(logdet.item(), 4)
    (-1.0, 0.6931)
    """
    a = _arr(a)
    _check_square("slogdet", a)
    return _slogdet(a)


# --------------------------------------------------------------------------- decompositions


def _cholesky_impl(a: Any, *, upper: bool) -> Any:
    L = np.linalg.cholesky(a)
    return np.swapaxes(L, -1, -2).copy() if upper else L


def _cholesky_vjp(g: Any, ans: Any, a: Any, *, upper: bool) -> Any:
    # Murray (2016), as in PyTorch: gA = L^{-T} Phi(L^T gL) L^{-1}, symmetrised.
    L = _mT(ans) if upper else ans
    gL = _mT(g) if upper else g
    n = L.shape[-1]
    T = matmul(_mT(L), gL) * _tril_mask(n, g.dtype)
    P = 0.5 * (T + _mT(T * _tril_mask(n, g.dtype, -1)))
    Linv = inv(L)
    return matmul(matmul(_mT(Linv), P), Linv)


_cholesky = defvjp(
    Primitive(
        "cholesky",
        _cholesky_impl,
        save=("ans",),
        doc="Cholesky factor of a symmetric positive-definite matrix.",
    ),
    _cholesky_vjp,
)


def _cholesky_jvp(t: Any, ans: Any, a: Any, *, upper: bool) -> Any:
    # dL = L Phi(L^{-1} sym(dA) L^{-T}), Phi = lower triangle with the diagonal halved.
    L = _mT(ans) if upper else ans
    n = L.shape[-1]
    Linv = inv(L)
    X = matmul(matmul(Linv, _sym(t)), _mT(Linv))
    dL = matmul(L, X * (_tril_mask(n, X.dtype, -1) + 0.5 * _eye(n, X.dtype)))
    return _mT(dL) if upper else dL


defjvp(_cholesky, _cholesky_jvp)


def cholesky(a: Any, upper: bool = False) -> Any:
    """Cholesky factor ``L`` (lower triangular, ``A = L @ L.T``) of a symmetric
    positive-definite matrix or batch of them.

    Only the lower triangle of ``a`` is read (as NumPy); the input is treated as symmetric,
    and the gradient is the symmetric one (as PyTorch): a perturbation of ``A[i, j]`` is
    taken to move ``A[j, i]`` with it.  To differentiate through a matrix that is not exactly
    symmetric, symmetrise it first: ``cholesky(0.5 * (a + a.mT))``.  Forward mode matches:
    the tangent is symmetrised (``dA -> (dA + dA^T) / 2``) before
    ``dL = L Phi(L^{-1} dA L^{-T})`` (``Phi``: the lower triangle with the diagonal halved).

    Parameters
    ----------
    a : Tensor, shape (..., n, n)
    upper : bool
        Return the upper factor ``U = L.T`` (``A = U.T @ U``) instead.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite.

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.linalg.cholesky(tg.tensor([[4.0, 2.0], [2.0, 5.0]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    a = _arr(a)
    _check_square("cholesky", a)
    try:
        return _cholesky(a, upper=bool(upper))
    except np.linalg.LinAlgError as e:
        raise LinAlgError(
            f"cholesky: the matrix (shape {a.shape}) is not positive definite ({e}); the "
            "Cholesky factor exists only for symmetric positive-definite input. Add a "
            "multiple of the identity or use eigh"
        ) from e


def _qr_impl(a: Any, *, mode: Any) -> tuple[Any, Any]:
    q, r = np.linalg.qr(a, mode=mode)
    return q, r


def _qr_vjp_tall(gQ: Any, gR: Any, Q: Any, R: Any) -> Any:
    # Liao et al. (2019), arXiv:1903.09650: gA = [gQ + Q copyltu(M)] R^{-T},
    # M = R gR^T - gQ^T Q, copyltu(M) = tril(M) + tril(M, -1)^T.
    n = R.shape[-1]
    M = matmul(R, _mT(gR)) - matmul(_mT(gQ), Q)
    M = M * _tril_mask(n, M.dtype) + _mT(M * _tril_mask(n, M.dtype, -1))
    B = gQ + matmul(Q, M)
    return _mT(solve(R, _mT(B)))


def _qr_vjp(g: Any, ans: Any, a: Any, *, mode: str) -> Any:
    gQ, gR = g
    Q, R = ans
    m, n = Q.shape[-2], R.shape[-1]
    if Q.shape[-1] != R.shape[-2] or Q.shape[-1] != min(m, n):
        raise NotDifferentiableError(
            "qr: the complete factorisation of a tall matrix (mode='complete', m > n) is not "
            "differentiable: its extra columns of Q are arbitrary. Use mode='reduced'"
        )
    if m >= n:
        return _qr_vjp_tall(gQ, gR, Q, R)
    # Wide: A = [X | Y] with X = Q U square, Y = Q V (R = [U | V]).  Sliced and joined, not
    # multiplied by columns of the identity: an infinite cotangent in one block would make
    # inf * 0 (NaN) in the other (PyTorch narrows too).
    U, V = R[..., :m], R[..., m:]
    gU, gV = gR[..., :m], gR[..., m:]
    gX = _qr_vjp_tall(gQ + matmul(matmul(Q, V), _mT(gV)), gU, Q, U)
    return concatenate([gX, matmul(Q, gV)], axis=-1)


_qr = defvjp(
    Primitive("qr", _qr_impl, save=("ans",), nout=2, doc="QR decomposition (``numpy.linalg.qr``)."),
    _qr_vjp,
)


def _qr_jvp_tall(dA: Any, Q: Any, R: Any) -> tuple[Any, Any]:
    # C = Q^T dA R^{-1} = Q^T dQ + dR R^{-1}: skew plus upper triangular, so
    # Q^T dQ = Omega = tril(C, -1) - tril(C, -1)^T and dR = (C - Omega) R;
    # dQ = dA R^{-1} - Q (C - Omega).
    n = R.shape[-1]
    dARinv = matmul(dA, inv(R))
    C = matmul(_mT(Q), dARinv)
    low = C * _tril_mask(n, C.dtype, -1)
    CmO = C - low + _mT(low)
    return dARinv - matmul(Q, CmO), matmul(CmO, R)


def _qr_jvp(t: Any, ans: Any, a: Any, *, mode: str) -> tuple[Any, Any]:
    Q, R = ans
    m, n = Q.shape[-2], R.shape[-1]
    if Q.shape[-1] != R.shape[-2] or Q.shape[-1] != min(m, n):
        raise NotDifferentiableError(
            "qr: the complete factorisation of a tall matrix (mode='complete', m > n) is not "
            "differentiable: its extra columns of Q are arbitrary. Use mode='reduced'"
        )
    if m >= n:
        return _qr_jvp_tall(t, Q, R)
    # Wide: A = [X | Y], X = Q U square, Y = Q V: dV = dQ^T Y + Q^T dY.
    eye = _eye(n, R.dtype)
    E1, E2 = eye[:, :m], eye[:, m:]
    dQ, dU = _qr_jvp_tall(matmul(t, E1), Q, matmul(R, E1))
    dV = matmul(_mT(dQ), matmul(a, E2)) + matmul(_mT(Q), matmul(t, E2))
    return dQ, matmul(dU, E1.T) + matmul(dV, E2.T)


defjvp(_qr, _qr_jvp)


def qr(a: Any, mode: str = "reduced") -> tuple[Any, Any]:
    """QR decomposition ``A = Q @ R`` (Householder, as ``numpy.linalg.qr``).

    Parameters
    ----------
    a : Tensor, shape (..., m, n)
    mode : {"reduced", "complete"}
        ``"reduced"``: ``Q`` is ``(m, k)``, ``R`` is ``(k, n)``, ``k = min(m, n)``.
        ``"complete"``: ``Q`` is ``(m, m)``; differentiable only when ``m <= n`` (then it
        equals the reduced one).

    Returns
    -------
    (Q, R) : tuple of Tensor
        Q has orthonormal columns, R is upper triangular.  The signs follow LAPACK (the
        diagonal of R may be negative); the gradient is that of these factors, smooth where
        ``A``'s leading ``k`` columns have full rank.  Gradient: Liao et al. (2019); wide
        matrices are handled by splitting ``A = [X | Y]``.

    Examples
    --------
    >>> import tapegrad as tg
    >>> a = tg.tensor([[3.0, 1.0], [4.0, 2.0]])
    >>> q, r = tg.linalg.qr(a)
    >>> bool(abs(q @ r - a).data.max() < 1e-12)
    True
    """
    if mode not in ("reduced", "complete"):
        raise InvalidArgumentError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
    a = _arr(a)
    _check_matrix("qr", a)
    return _qr(a, mode=mode)


def _svd_impl(a: Any, *, full_matrices: bool) -> tuple[Any, Any, Any]:
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def _svd_vjp(g: Any, ans: Any, a: Any, *, full_matrices: bool) -> Any:
    # Townsend (2016), "Differentiating the singular value decomposition"; as PyTorch:
    # gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] V^T
    #      + (I - U U^T) gU S^{-1} V^T + U S^{-1} gV^T (I - V V^T),  E_jk = s_k^2 - s_j^2.
    gU, gS, gVh = g
    U, S, Vh = ans
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    if U.shape[-1] != k or Vh.shape[-2] != k:
        raise NotDifferentiableError(
            "svd: full_matrices=True is not differentiable for a non-square matrix (the "
            "extra singular vectors are arbitrary); use full_matrices=False"
        )
    J = _diag_embed(gS)
    if _is_zero(gU) and _is_zero(gVh):  # only S used: finite at repeated singular values
        return matmul(matmul(U, J), Vh)
    eye = _eye(k, S.dtype)
    UtgU = matmul(_mT(U), gU)
    VtgV = matmul(Vh, _mT(gVh))
    S2 = S * S
    E = _unsq(S2, -2) - _unsq(S2) + eye
    J = J + ((UtgU - _mT(UtgU)) * _unsq(S, -2) + _unsq(S) * (VtgV - _mT(VtgV))) / E
    if m > k:
        gUSinv = gU / _unsq(S, -2)
        inner_ = matmul(U, J) + gUSinv - matmul(U, matmul(_mT(U), gUSinv))
        return matmul(inner_, Vh)
    if n > k:
        SinvgVh = gVh / _unsq(S)
        inner_ = matmul(J, Vh) + SinvgVh - matmul(matmul(SinvgVh, _mT(Vh)), Vh)
        return matmul(U, inner_)
    return matmul(matmul(U, J), Vh)


_svd = defvjp(
    Primitive(
        "svd",
        _svd_impl,
        save=("ans",),
        nout=3,
        doc="Singular value decomposition (``numpy.linalg.svd``).",
    ),
    _svd_vjp,
)


def _svd_jvp(t: Any, ans: Any, a: Any, *, full_matrices: bool) -> tuple[Any, Any, Any]:
    # With dP = U^T dA V, F_jk = 1 / (s_k^2 - s_j^2) (0 on the diagonal):
    # dS = diag(dP), dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V S^{-1},
    # dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^{-1}.
    U, S, Vh = ans
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    if U.shape[-1] != k or Vh.shape[-2] != k:
        raise NotDifferentiableError(
            "svd: full_matrices=True is not differentiable for a non-square matrix (the "
            "extra singular vectors are arbitrary); use full_matrices=False"
        )
    V = _mT(Vh)
    dAV = matmul(t, V)
    dP = matmul(_mT(U), dAV)
    dS = _sum(U * dAV, -2)
    eye = _eye(k, S.dtype)
    S2 = S * S
    F = (1 - eye) / (_unsq(S2, -2) - _unsq(S2) + eye)
    Sr, Sc = _unsq(S, -2), _unsq(S)
    dPS = dP * Sr
    SdP = Sc * dP
    dU = matmul(U, F * (dPS + _mT(dPS)))
    dV = matmul(V, F * (SdP + _mT(SdP)))
    if m > k:
        dU = dU + (dAV - matmul(U, dP)) / Sr
    if n > k:
        dAtU = matmul(_mT(t), U)
        dV = dV + (dAtU - matmul(V, _mT(dP))) / Sr
    return dU, dS, _mT(dV)


defjvp(_svd, _svd_jvp)


def svd(a: Any, full_matrices: bool = False) -> tuple[Any, Any, Any]:
    """Singular value decomposition ``A = U @ diag(S) @ Vh``.

    Parameters
    ----------
    a : Tensor, shape (..., m, n)
    full_matrices : bool
        False (default): ``U`` is ``(m, k)``, ``Vh`` is ``(k, n)``, ``k = min(m, n)``.
        True: square ``U`` and ``Vh`` (differentiable only for square ``a``).

    Returns
    -------
    (U, S, Vh) : tuple of Tensor
        ``S`` in descending order.

    Notes
    -----
    Gradient: the standard formula (Townsend 2016, as PyTorch).  Limitations, as in every
    framework:

    * The singular vectors are defined up to a sign per pair ``(u_j, v_j)``.  The gradient is
      that of the vectors LAPACK returns, and is only meaningful for losses invariant under
      that sign (``S``, ``U @ diag(f(S)) @ Vh``, ``abs(U)``, ...) when compared across
      libraries.
    * At repeated singular values the vectors are not unique and a cotangent on
      ``U``/``Vh`` meets a division by ``s_k^2 - s_j^2 = 0`` (inf/nan).  A loss of ``S``
      alone (``U`` and ``Vh`` unused) has a finite gradient there, ``U @ diag(gS) @ Vh``.
      A zero singular value makes the ``S^{-1}`` terms of a non-square ``a`` infinite.

    Examples
    --------
    >>> import tapegrad as tg
    >>> u, s, vh = tg.linalg.svd(tg.tensor([[3.0, 0.0], [0.0, -2.0]]))
    >>> s
    tensor([3., 2.])
    """
    a = _arr(a)
    _check_matrix("svd", a)
    return _svd(a, full_matrices=bool(full_matrices))


def _eigh_impl(a: Any, *, UPLO: Any) -> tuple[Any, Any]:
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return w, v


def _eigh_vjp(g: Any, ans: Any, a: Any, *, UPLO: str) -> Any:
    # gA = V (diag(gw) + sym(F o (V^T gV))) V^T, F_ij = 1 / (w_j - w_i) off the diagonal;
    # sym(F o X) = F o (X - X^T) / 2 as F is antisymmetric (symmetric gA, as PyTorch).
    gw, gv = g
    w, v = ans
    n = w.shape[-1]
    inner_ = _diag_embed(gw)
    if not _is_zero(gv):  # (skipped when v is unused: finite at repeated eigenvalues)
        eye = _eye(n, w.dtype)
        E = (_unsq(w, -2) - _unsq(w) + eye) * 2
        X = matmul(_mT(v), gv)
        inner_ = inner_ + (X - _mT(X)) / E * (1 - eye)
    return matmul(matmul(v, inner_), _mT(v))


_eigh = defvjp(
    Primitive(
        "eigh",
        _eigh_impl,
        save=("ans",),
        nout=2,
        doc="Eigen-decomposition of a symmetric matrix (``numpy.linalg.eigh``).",
    ),
    _eigh_vjp,
)


def _eigh_jvp(t: Any, ans: Any, a: Any, *, UPLO: str) -> tuple[Any, Any]:
    # dP = V^T sym(dA) V: dw = diag(dP), dV = V (F o dP), F_ij = 1 / (w_j - w_i), 0 on the
    # diagonal.
    w, v = ans
    n = w.shape[-1]
    eye = _eye(n, w.dtype)
    dAV = matmul(_sym(t), v)
    dP = matmul(_mT(v), dAV)
    F = (1 - eye) / (_unsq(w, -2) - _unsq(w) + eye)
    return _sum(v * dAV, -2), matmul(v, F * dP)


defjvp(_eigh, _eigh_jvp)


def eigh(a: Any, UPLO: str = "L") -> tuple[Any, Any]:
    """Eigenvalues and eigenvectors of a symmetric matrix (or batch), ``A = V diag(w) V^T``.

    Parameters
    ----------
    a : Tensor, shape (..., n, n)
        Treated as symmetric: only the triangle named by ``UPLO`` is read.
    UPLO : {"L", "U"}

    Returns
    -------
    (w, v) : tuple of Tensor
        Eigenvalues in ascending order and the orthonormal eigenvectors (columns of ``v``).

    Notes
    -----
    Gradient: ``V (diag(gw) + sym(F o (V^T gV))) V^T`` with ``F_ij = 1 / (w_j - w_i)`` (0 on
    the diagonal) and ``sym(X) = (X + X^T) / 2``: the symmetric gradient, as PyTorch (a
    perturbation of ``A[i, j]`` is taken to move ``A[j, i]`` with it; differentiate
    ``eigh(0.5 * (a + a.mT))`` for a general input).  Forward mode matches: the tangent is
    symmetrised (``dA -> (dA + dA^T) / 2``), then ``dw = diag(V^T dA V)``,
    ``dV = V (F o (V^T dA V))``.

    Limitations: each eigenvector is defined up to its sign, so only sign-invariant losses
    (``w``, ``V diag(f(w)) V^T``, ``abs(V)``) are comparable across libraries.  At repeated
    eigenvalues the eigenvectors are not unique: a cotangent on ``v`` then meets
    ``1 / (w_j - w_i) = inf`` and gives inf/nan, even for functions such as
    ``V diag(f(w)) V^T`` whose gradient has a finite limit.  A loss of ``w`` alone (``v``
    unused) has a finite gradient there.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w, v = tg.linalg.eigh(tg.tensor([[2.0, 1.0], [1.0, 2.0]]))
    >>> w
    tensor([1., 3.])
    """
    if UPLO not in ("L", "U"):
        raise InvalidArgumentError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    a = _arr(a)
    _check_square("eigh", a)
    return _eigh(a, UPLO=UPLO)


# --------------------------------------------------------------------------- norm


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Matrix or vector norm, as ``numpy.linalg.norm``.

    Matrix norms (``axis`` a pair of axes ``(rows, cols)``, or ``axis=None`` with a 2-D
    ``x``): ``"fro"`` (also ``None``), ``"nuc"`` (sum of singular values), ``2`` / ``-2``
    (largest / smallest singular value), ``1`` / ``-1`` (max / min absolute column sum),
    ``inf`` / ``-inf`` (max / min absolute row sum).  Vector norms: ``axis`` an int, a 1-D
    ``x``, or ``ord=None`` with ``axis=None`` on any ``x`` (the 2-norm of all elements).

    Everything but the singular-value norms is :func:`tapegrad.ops.reduce.norm` (see its
    conventions: gradient 0 at the zero vector/matrix, ties of max/min share the gradient
    evenly).  ``"nuc"``, ``2`` and ``-2`` differentiate through :func:`svd`: the gradient of
    ``2`` is ``u_1 v_1^T`` (valid when the largest singular value is simple), of ``"nuc"``
    ``U @ Vh`` (valid for nonzero, distinct singular values).

    Examples
    --------
    >>> import tapegrad as tg
    >>> tg.linalg.norm(tg.tensor([[3.0, 0.0], [0.0, -4.0]]), ord=2)
    tensor(4.)
    >>> tg.linalg.norm(tg.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    tensor(6.)
    """
    x = _arr(x)
    nd = x.ndim
    if ord == "nuc" if isinstance(ord, str) else ord in (2, -2):
        if axis is None and nd == 2:
            axis = (0, 1)
        if axis is not None and not isinstance(axis, (int, np.integer)) and len(axis) == 2:
            r, c = (
                normalize_axis(axis[0], nd, op="norm")[0],
                normalize_axis(axis[1], nd, op="norm")[0],
            )
            if r == c:
                raise InvalidArgumentError(
                    f"norm: the two axes must differ, got axis={tuple(axis)!r}"
                )
            S = svd(moveaxis(x, (r, c), (-2, -1)))[1]
            k = S.shape[-1]
            if ord == "nuc":
                res = _sum(S, -1)
            else:
                onehot = np.zeros(k, S.dtype)
                onehot[0 if ord == 2 else k - 1] = 1
                res = matmul(S, onehot)
            if keepdims:
                res = reshape(res, tuple(1 if i in (r, c) else d for i, d in enumerate(x.shape)))
            return res
    return _rnorm(x, ord, axis, keepdims)
