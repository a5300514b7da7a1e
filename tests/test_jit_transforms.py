"""tg.jit nested with the transforms, both ways round, compared with eager mode.

``jit(T(f))`` compiles a transform; ``T(jit(f))`` differentiates through a compiled call
(one tape entry whose backward is the compiled vector-Jacobian product, or, with
forward-mode tangents, the function run as written).  Every case runs the trace call, a
cached call and a call on new values (a trace that baked a value in fails the last), and
compares with eager mode bit for bit: the compiled program calls the same NumPy functions
in the same order.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

from .jitutil import assert_same

RNG = np.random.default_rng(1)
XS = [RNG.standard_normal(4) for _ in range(3)]
V = RNG.standard_normal(4)
T = tg.tensor


def scalar_f(x):
    return tg.sum(tg.sin(x) * tg.exp(x) + x * x * x)


def vector_f(x):
    return tg.tanh(x) * x + tg.cos(x)


TRANSFORMS = {
    "grad": tg.grad(scalar_f),
    "value_and_grad": tg.value_and_grad(scalar_f),
    "vjp": lambda x: tg.vjp(vector_f, x)[1](T(V))[0],
    "vjp-primal": lambda x: tg.vjp(vector_f, x)[0],
    "jvp": lambda x: tg.jvp(vector_f, (x,), (T(V),)),
    "jacfwd": tg.jacfwd(vector_f),
    "jacrev": tg.jacrev(vector_f),
    "elementwise_grad": tg.elementwise_grad(vector_f),
    "grad-of-grad": tg.grad(lambda x: tg.sum(tg.grad(scalar_f)(x) * T(V))),
    "linearize": lambda x: tg.linearize(vector_f, x)[1](T(V)),
}


def _np(r):
    if isinstance(r, tuple):
        return tuple(_np(x) for x in r)
    return r.data if isinstance(r, tg.Tensor) else r


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize("as_tensor", [False, True])
def test_jit_of_transform_equals_eager(name, as_tensor):
    fn = TRANSFORMS[name]
    j = tg.jit(fn)
    for k, x in enumerate([XS[0], XS[0], XS[1], XS[2]]):
        want = _np(fn(T(x)))
        got = j(T(x) if as_tensor else x)
        assert_same(_np(got), want, f"{name}, call {k}")
    assert j.trace_count == 1


def test_jit_of_value_and_grad_with_argnums_and_pytrees():
    def loss(params, x):
        return tg.sum((x @ params["w"] + params["b"]) ** 2)

    vg = tg.value_and_grad(loss)
    j = tg.jit(vg)
    x = RNG.standard_normal((5, 3))
    for k in range(3):
        p = {"w": RNG.standard_normal((3, 2)), "b": RNG.standard_normal(2)}
        (v, g), (ve, ge) = j(p, x), vg(p, x)
        assert_same(v, _np(ve), f"value {k}")
        assert_same(g["w"], _np(ge["w"]), f"w {k}")
        assert_same(g["b"], _np(ge["b"]), f"b {k}")
    assert j.trace_count == 1


# ---------------------------------------------------------------------- through a compiled call


def test_grad_of_jit_equals_eager():
    jf = tg.jit(scalar_f)
    g, ge = tg.grad(jf), tg.grad(scalar_f)
    for k, x in enumerate([XS[0], XS[0], XS[1]]):
        assert_same(_np(g(T(x))), _np(ge(T(x))), f"tensor {k}")
        assert_same(g(x), ge(x), f"array {k}")
    assert jf.trace_count == 1


def test_backward_through_a_jitted_call_records_one_node():
    jf = tg.jit(scalar_f)
    for k, x in enumerate([XS[0], XS[0], XS[1]]):
        xt = T(x, requires_grad=True)
        y = jf(xt)
        assert y.grad_fn is not None and type(y.grad_fn).__name__ == "Node"
        assert [p for p in y.grad_fn.parents if p is not None] == [xt]  # one node, on x
        y.backward()
        xe = T(x, requires_grad=True)
        scalar_f(xe).backward()
        assert_same(xt.grad, xe.grad, f"call {k}")
        assert_same(y, scalar_f(xe).data)
    assert jf.trace_count == 1


def test_backward_reaches_captured_parameters():
    w = T(XS[1], requires_grad=True)
    jf = tg.jit(lambda x: tg.sum(tg.sin(x * w) * w))
    we = T(XS[1], requires_grad=True)
    for k, x in enumerate([XS[0], XS[2]]):
        w.grad = we.grad = None
        jf(T(x)).backward()
        tg.sum(tg.sin(T(x) * we) * we).backward()
        assert_same(w.grad, we.grad, f"call {k}")


def test_backward_with_mixed_array_and_tensor_arguments():
    jf = tg.jit(lambda x, c: tg.sum(x * x * c))
    for k, c in enumerate([XS[1], XS[2]]):
        xt, xe = T(XS[0], requires_grad=True), T(XS[0], requires_grad=True)
        jf(xt, c).backward()
        tg.sum(xe * xe * T(c)).backward()
        assert_same(xt.grad, xe.grad, f"call {k}")


def test_autograd_grad_through_a_jitted_call():
    jf = tg.jit(vector_f)
    for x in (XS[0], XS[1]):
        xt, xe = T(x, requires_grad=True), T(x, requires_grad=True)
        (g,) = tg.autograd.grad(jf(xt), [xt], grad_outputs=[T(V)])
        (ge,) = tg.autograd.grad(vector_f(xe), [xe], grad_outputs=[T(V)])
        assert_same(g, ge)


def test_grad_of_grad_of_jit_goes_through_the_compiled_node_twice():
    jf = tg.jit(scalar_f)
    h = tg.grad(lambda x: tg.sum(tg.grad(jf)(x) * T(V)))
    he = tg.grad(lambda x: tg.sum(tg.grad(scalar_f)(x) * T(V)))
    for k, x in enumerate([XS[0], XS[0], XS[1]]):
        assert_same(_np(h(T(x))), _np(he(T(x))), f"call {k}")
    assert jf.trace_count == 1


def test_create_graph_through_a_jitted_call():
    jf = tg.jit(lambda x: tg.sum(x * x * x))
    for x in (XS[0], XS[1]):
        xt = T(x, requires_grad=True)
        (g,) = tg.autograd.grad(jf(xt), [xt], create_graph=True)
        assert g.grad_fn is not None
        (h,) = tg.autograd.grad(tg.sum(g * T(V)), [xt])
        xe = T(x, requires_grad=True)
        (ge,) = tg.autograd.grad(tg.sum(xe * xe * xe), [xe], create_graph=True)
        (he,) = tg.autograd.grad(tg.sum(ge * T(V)), [xe])
        assert_same(g, ge.data)
        assert_same(h, he)


def test_jit_of_grad_of_jit_inlines_the_inner_one():
    inner = tg.jit(scalar_f)
    outer = tg.jit(tg.grad(inner))
    for k, x in enumerate([XS[0], XS[0], XS[1]]):
        assert_same(outer(x), tg.grad(scalar_f)(x), f"call {k}")
    assert outer.trace_count == 1
    assert inner.trace_count == 0  # traced as part of the outer program
    assert "sin" in str(outer.lower(XS[0])) and "cos" in str(outer.lower(XS[0]))


def test_jvp_of_jit_equals_eager():
    jv = tg.jit(vector_f)
    for k, x in enumerate([XS[0], XS[0], XS[1]]):
        p, t = tg.jvp(jv, (T(x),), (T(V),))
        pe, te = tg.jvp(vector_f, (T(x),), (T(V),))
        assert_same(p, pe.data, f"primal {k}")
        assert_same(t, te.data, f"tangent {k}")
    # a call without tangents is compiled as usual afterwards
    assert_same(jv(XS[2]), vector_f(T(XS[2])).data)


def test_jacfwd_of_jit_equals_eager():
    jv = tg.jit(vector_f)
    for x in (XS[0], XS[1]):
        assert_same(_np(tg.jacfwd(jv)(T(x))), _np(tg.jacfwd(vector_f)(T(x))))


def test_jacrev_of_jit_equals_eager():
    jv = tg.jit(vector_f)
    for x in (XS[0], XS[1]):
        assert_same(_np(tg.jacrev(jv)(T(x))), _np(tg.jacrev(vector_f)(T(x))))


def test_jit_of_a_function_calling_checkpoint():
    def f(x):
        return tg.sum(tg.checkpoint(lambda y: tg.sin(y) * y, x) * x)

    for fn in (f, tg.grad(f)):
        j = tg.jit(fn)
        for k, x in enumerate([XS[0], XS[0], XS[1]]):
            assert_same(_np(j(x)), _np(fn(T(x))), f"{fn}, call {k}")
        assert j.trace_count == 1


def test_backward_through_jit_of_checkpoint():
    def f(x):
        return tg.sum(tg.checkpoint(lambda y: tg.exp(y) * y, x))

    jf = tg.jit(f)
    for x in (XS[0], XS[1]):
        xt, xe = T(x, requires_grad=True), T(x, requires_grad=True)
        jf(xt).backward()
        f(xe).backward()
        assert_same(xt.grad, xe.grad)


def test_grad_of_jit_of_grad_equals_eager():
    jg = tg.jit(tg.grad(scalar_f))
    h = tg.grad(lambda x: tg.sum(jg(x) * T(V)))
    he = tg.grad(lambda x: tg.sum(tg.grad(scalar_f)(x) * T(V)))
    for k, x in enumerate([XS[0], XS[0], XS[1]]):
        assert_same(_np(h(T(x))), _np(he(T(x))), f"call {k}")


def test_jit_of_grad_of_value_branching_rules_on_a_tensor_requiring_grad():
    # std's rules branch on the values: compiled to first order, which is all this needs
    g = tg.grad(lambda x: tg.std(x) * tg.sum(x))
    j = tg.jit(g)
    for x in (XS[0], XS[1]):
        got = j(T(x, requires_grad=True))
        assert got.grad_fn is not None
        assert_same(got, g(T(x)).data)


def test_no_grad_call_records_nothing():
    jf = tg.jit(scalar_f)
    xt = T(XS[0], requires_grad=True)
    with tg.no_grad():
        for _ in range(2):
            y = jf(xt)
            assert y.grad_fn is None and not y.requires_grad
            assert_same(y, scalar_f(T(XS[0])).data)
    assert jf(xt).grad_fn is not None
    assert jf.trace_count == 2  # grad mode is part of the key


def test_backward_through_jit_with_pytree_static_and_keyword_arguments():
    def f(p, n, *, scale, b):
        out = p["w"]
        for _ in range(n):
            out = tg.sin(out) * scale
        return tg.sum(out * b)

    j = tg.jit(f, static_argnums=1)
    for k in range(3):
        w, b = T(XS[k], requires_grad=True), T(V, requires_grad=True)
        we, be = T(XS[k], requires_grad=True), T(V, requires_grad=True)
        j({"w": w}, 2, scale=1.5, b=b).backward()
        f({"w": we}, 2, scale=1.5, b=be).backward()
        assert_same(w.grad, we.grad, f"w, call {k}")
        assert_same(b.grad, be.grad, f"b, call {k}")
    assert j.trace_count == 1
