"""tg.nn core: the Module API, the containers, the initializers and the layers.

Layers are checked against the same PyTorch layer with copied weights (values and every
gradient, float32 and float64) and by gradcheck in float64.
"""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import ShapeMismatchError
from tapegrad.nn import init

nn = tg.nn

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4, np.float32))
        self.register_buffer("steps", tg.zeros(()))
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) * self.scale)


def _x(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- Parameter


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros(3, np.float32))
    assert isinstance(p, tg.Tensor) and p.is_leaf and p.requires_grad
    assert p.dtype == np.float32
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.arange(3))


def test_parameter_shares_memory_with_a_tensor_and_copies_arrays():
    t = tg.zeros(2)
    assert nn.Parameter(t).data is t.data
    a = np.zeros(2)
    p = nn.Parameter(a)
    a[0] = 1
    assert p.data[0] == 0


def test_ops_on_parameters_return_plain_tensors():
    p = nn.Parameter(np.ones(2))
    y = p * 2
    assert type(y) is tg.Tensor
    y.sum().backward()
    np.testing.assert_array_equal(p.grad.data, [2.0, 2.0])


# --------------------------------------------------------------------------- Module API


def test_parameters_are_in_registration_order_children_after_parent():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert [n for n, _ in net.named_buffers()] == ["steps"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(net.children())[0] is net.fc1
    assert len(list(net.modules())) == 4
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="m")][0] == "m.scale"


def test_shared_parameters_and_modules_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4


def test_assignment_rules():
    m = nn.Module()
    m.w = nn.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="Parameter"):
        m.w = tg.zeros(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == []
    m.child = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="Module"):
        m.child = 3
    del m.child
    assert list(m.children()) == []
    m.register_buffer("b", np.zeros(2))
    assert isinstance(m.b, tg.Tensor)
    m.register_buffer("b", np.ones(2))  # re-registering a buffer replaces it (PyTorch)
    assert m.b.data[0] == 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("w", np.zeros(2))
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", np.zeros(2))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = m.nope
    assert "w" in dir(m) and "b" in dir(m)


def test_assigning_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net[1].train(False)
    assert net.training and not net[1][0].training


def test_zero_grad_set_to_none_and_to_zeros():
    net = Net()
    net(tg.tensor(_x(5, 3))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad is not None and not p.grad.data.any()
        assert p.grad.dtype == p.dtype
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_requires_grad_freezes_parameters():
    net = Net().requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_state_dict_holds_copies_in_pytorch_order():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == [
        "scale",
        "steps",
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["scale"][0] = 42
    assert net.scale.data[0] == 1


def test_non_persistent_buffers_are_not_saved():
    m = nn.Module()
    m.register_buffer("tmp", np.zeros(1), persistent=False)
    assert list(m.state_dict()) == []
    assert [n for n, _ in m.named_buffers()] == ["tmp"]


def test_state_dict_round_trip_in_place():
    a, b = Net(), Net()
    params_before = list(b.parameters())
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert list(b.parameters()) == params_before  # the same objects, values copied in place
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    x = tg.tensor(_x(4, 3))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_state_dict_through_npz(tmp_path):
    a, b = Net(), Net()
    np.savez(tmp_path / "m.npz", **a.state_dict())
    b.load_state_dict(np.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(a.fc1.weight.data, b.fc1.weight.data)


def test_load_state_dict_missing_and_unexpected_keys():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "missing key(s): fc1.bias" in msg and "unexpected key(s): extra" in msg
    assert "strict=False" in msg
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["extra"]


def test_load_state_dict_shape_mismatch_changes_nothing():
    net = Net()
    before = net.state_dict()
    sd = Net().state_dict()
    sd["fc2.weight"] = np.zeros((3, 4), np.float32)
    with pytest.raises(ShapeMismatchError, match=r"fc2.weight.*\(3, 4\).*\(2, 4\)"):
        net.load_state_dict(sd)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_casts_to_the_parameter_dtype():
    net = Net()
    sd = {k: v.astype(np.float64) for k, v in Net().state_dict().items()}
    net.load_state_dict(sd)
    assert net.fc1.weight.dtype == np.float32
    np.testing.assert_allclose(net.fc1.weight.data, sd["fc1.weight"], rtol=1e-6)


def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(2, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: seen.append(("pre", m)))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append(("post", out.shape)))
    lin(tg.tensor(_x(3, 2)))
    assert seen == [("pre", lin), ("post", (3, 2))]
    h1.remove()
    h2.remove()
    lin(tg.tensor(_x(3, 2)))
    assert len(seen) == 2

    # Return values replace the input / output.
    ident = nn.Identity()
    ident.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
    with ident.register_forward_hook(lambda m, args, out: out * 10):
        assert ident(tg.tensor(1.0)).item() == 20.0
    assert ident(tg.tensor(1.0)).item() == 2.0


def test_repr_prints_the_tree_like_pytorch():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Dropout(0.1)))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.1, inplace=False)\n"
        "  )\n"
        ")"
    )


@needs_torch
def test_repr_matches_torch_for_layers():
    pairs = [
        (nn.Linear(3, 2, bias=False), torch.nn.Linear(3, 2, bias=False)),
        (nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)),
        (nn.BatchNorm1d(4, affine=False), torch.nn.BatchNorm1d(4, affine=False)),
        (nn.BatchNorm1d(4, bias=False), torch.nn.BatchNorm1d(4, bias=False)),
        (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3))),
        (nn.RNNCell(2, 3, nonlinearity="relu"), torch.nn.RNNCell(2, 3, nonlinearity="relu")),
        (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
        (nn.GELU(), torch.nn.GELU()),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.ELU(), torch.nn.ELU()),
        (nn.Softplus(), torch.nn.Softplus()),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Embedding(5, 2), torch.nn.Embedding(5, 2)),
        (nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4)),
        (nn.Dropout(), torch.nn.Dropout()),
        (nn.Tanh(), torch.nn.Tanh()),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


def test_apply_visits_children_first():
    order = []
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["Linear", "ReLU", "Sequential"]


def test_astype_keeps_parameter_identity():
    net = Net()
    w = net.fc1.weight
    net(tg.tensor(_x(2, 3))).sum().backward()
    assert net.double() is net
    assert net.fc1.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert net.steps.dtype == np.float64
    assert net(tg.tensor(_x(2, 3, dtype=np.float64))).dtype == np.float64
    net.float()
    assert w.dtype == np.float32
    bn = nn.BatchNorm1d(2).double()
    assert bn.num_batches_tracked.dtype == np.int64
    with pytest.raises(TypeError, match="floating"):
        net.astype(np.int32)


def test_deepcopy_and_pickle():
    net = Net()
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert clone.fc1.weight is not net.fc1.weight
        assert isinstance(clone.fc1.weight, nn.Parameter)
        for k, v in clone.state_dict().items():
            np.testing.assert_array_equal(v, net.state_dict()[k])
        x = tg.tensor(_x(2, 3))
        np.testing.assert_array_equal(clone(x).data, net(x).data)


def test_get_submodule():
    net = nn.Sequential(nn.Sequential(nn.Linear(1, 1)))
    assert net.get_submodule("0.0") is net[0][0]
    assert net.get_submodule("") is net
    with pytest.raises(AttributeError, match="no submodule"):
        net.get_submodule("0.1")


# --------------------------------------------------------------------------- containers


def test_sequential_indexing_len_iteration():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    assert list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    x = tg.tensor(_x(4, 2))
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)
    with pytest.raises(IndexError):
        seq[3]
    seq.append(nn.Tanh())
    assert len(seq) == 4
    del seq[0]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    seq[0] = nn.Identity()
    assert isinstance(seq[0], nn.Identity)
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(lambda x: x)


def test_sequential_from_ordered_dict():
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"]
    assert isinstance(seq[1], nn.ReLU)


def test_module_list():
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert len(ml) == 5 and isinstance(ml[0], nn.Identity) and isinstance(ml[-1], nn.Tanh)
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert [n for n, _ in ml.named_children()][0] == "0" and isinstance(ml[0], nn.Linear)
    ml += [nn.SiLU()]
    assert len(ml) == 5

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(3))

    assert len(list(Holder().parameters())) == 6


def test_module_dict():
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md) == ["a", "b", "c"] and list(md.keys()) == ["a", "b", "c"]
    assert "a" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and "b" not in md
    with pytest.raises(KeyError, match="keys are"):
        md["zzz"]
    md.update([("d", nn.Identity())])
    assert [k for k, _ in md.items()] == ["a", "c", "d"]


# --------------------------------------------------------------------------- init


@needs_torch
@pytest.mark.parametrize(
    "name,param",
    [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None)]
    + [("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)],
)
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param)
    )


@needs_torch
@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5), (6, 2, 3, 3)])
def test_fans_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(tg.zeros(shape))
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    assert ours == theirs


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(tg.zeros(3))


def _kaiming_bound(shape, a=0.0, mode="fan_in", nonlin="leaky_relu"):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(tg.zeros(shape))
    fan = fan_in if mode == "fan_in" else fan_out
    return init.calculate_gain(nonlin, a) * math.sqrt(3.0 / fan)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_initializers_statistics_and_dtype(dtype):
    shape = (200, 50, 3)
    fan_in, fan_out = 150, 600
    w = tg.zeros(shape, dtype=dtype)

    init.kaiming_uniform_(w, a=0.0, nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.95 * bound
    assert w.dtype == dtype

    init.kaiming_uniform_(w, mode="fan_out")
    assert np.abs(w.data).max() <= _kaiming_bound(shape, mode="fan_out")

    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2.0 / fan_in), rel=0.02)

    init.xavier_uniform_(w, gain=2.0)
    a = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(w.data).max() <= a and np.abs(w.data).max() > 0.95 * a

    init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2.0 / (fan_in + fan_out)), rel=0.02)

    init.normal_(w, mean=3.0, std=0.5)
    assert w.data.mean() == pytest.approx(3.0, abs=0.01)
    assert w.data.std() == pytest.approx(0.5, rel=0.02)

    init.uniform_(w, -2.0, -1.0)
    assert w.data.min() >= -2.0 and w.data.max() < -1.0

    assert init.zeros_(w) is w and not w.data.any()
    assert (init.ones_(w).data == 1).all()
    assert (init.constant_(w, 0.25).data == 0.25).all()
    assert w.dtype == dtype


def test_initializers_are_in_place_and_not_recorded():
    p = nn.Parameter(np.zeros((3, 4), np.float32))
    data = p.data
    init.kaiming_uniform_(p)
    assert p.data is data and p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p._version == 1


def test_initializers_use_the_global_generator_or_the_given_one():
    tg.random.seed(7)
    a = init.normal_(tg.zeros(5)).data.copy()
    tg.random.seed(7)
    b = init.normal_(tg.zeros(5)).data.copy()
    np.testing.assert_array_equal(a, b)
    c = init.uniform_(tg.zeros(5), generator=np.random.default_rng(1)).data
    np.testing.assert_array_equal(c, np.random.default_rng(1).uniform(0, 1, 5))
    with pytest.raises(TypeError, match="Generator"):
        init.normal_(tg.zeros(2), generator=3)
    with pytest.raises(ValueError, match="nonlinearity"):
        init.kaiming_normal_(tg.zeros((2, 2)), nonlinearity="swish")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(tg.zeros((2, 2)), mode="fan")


def test_layers_are_reproducible_with_seed():
    tg.random.seed(3)
    a = nn.Linear(4, 3).state_dict()
    tg.random.seed(3)
    b = nn.Linear(4, 3).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_linear_default_init_bounds():
    lin = nn.Linear(100, 300)
    bound = 1 / math.sqrt(100)
    assert lin.weight.dtype == np.float32 and lin.weight.shape == (300, 100)
    assert np.abs(lin.weight.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.95 * bound
    assert np.abs(lin.bias.data).max() <= bound
    assert np.abs(lin.bias.data).max() > 0.9 * bound


def test_recurrent_cells_default_init_bounds():
    k = 1 / math.sqrt(20)
    for cell in (nn.RNNCell(5, 20), nn.LSTMCell(5, 20)):
        for p in cell.parameters():
            assert np.abs(p.data).max() <= k
    assert nn.LSTMCell(5, 20).weight_ih.shape == (80, 5)


def test_embedding_default_init_and_padding_row():
    emb = nn.Embedding(1000, 20, padding_idx=3)
    assert emb.weight.data.std() == pytest.approx(1.0, rel=0.03)
    assert not emb.weight.data[3].any()


# --------------------------------------------------------------------------- layers vs torch


def _copy_params(ours, theirs, dtype):
    tdict = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(tdict), (names, list(tdict))
    for name, p in ours.named_parameters():
        p.data = tdict[name].detach().numpy().astype(dtype).copy()


def _torch_dtype(dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


def _compare(ours, theirs, inputs, dtype, grad_inputs=True, n_out=1):
    """Forward both layers, backward a random cotangent, compare values and gradients."""
    ours.astype(dtype)
    theirs.to(_torch_dtype(dtype))
    _copy_params(ours, theirs, dtype)
    tol = TOL[dtype]
    tg_in, th_in = [], []
    for a in inputs:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            a = a.astype(dtype)
            tg_in.append(tg.tensor(a, requires_grad=grad_inputs))
            th_in.append(torch.tensor(a, requires_grad=grad_inputs))
        elif isinstance(a, tuple):
            tg_in.append(tuple(tg.tensor(v.astype(dtype), requires_grad=True) for v in a))
            th_in.append(tuple(torch.tensor(v.astype(dtype), requires_grad=True) for v in a))
        else:
            tg_in.append(tg.tensor(a))
            th_in.append(torch.tensor(a))
    out = ours(*tg_in)
    ref = theirs(*th_in)
    outs = out if isinstance(out, tuple) else (out,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(refs) == n_out
    rng = np.random.default_rng(1)
    loss_tg, loss_th = 0.0, 0.0
    for o, r in zip(outs, refs):
        assert o.dtype == dtype, (o.dtype, dtype)
        np.testing.assert_allclose(o.data, r.detach().numpy(), **tol)
        g = rng.standard_normal(o.shape).astype(dtype)
        loss_tg = loss_tg + tg.sum(o * g)
        loss_th = loss_th + (r * torch.tensor(g)).sum()
    loss_tg.backward()
    loss_th.backward()
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), **tol, err_msg=name)
    flat_tg = [t for a in tg_in for t in (a if isinstance(a, tuple) else (a,))]
    flat_th = [t for a in th_in for t in (a if isinstance(a, tuple) else (a,))]
    for a, b in zip(flat_tg, flat_th):
        if a.requires_grad:
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), **tol)
    return out, ref


DTYPES = [np.float32, np.float64]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, shape, bias):
    _compare(nn.Linear(3, 4, bias=bias), torch.nn.Linear(3, 4, bias=bias), [_x(*shape)], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.ReLU(),
        lambda m: m.Tanh(),
        lambda m: m.Sigmoid(),
        lambda m: m.GELU(),
        lambda m: m.GELU(approximate="tanh"),
        lambda m: m.SiLU(),
        lambda m: m.LeakyReLU(0.2),
        lambda m: m.ELU(alpha=0.7),
        lambda m: m.Softplus(beta=2.0, threshold=5.0),
        lambda m: m.Softmax(dim=1),
        lambda m: m.LogSoftmax(dim=-1),
        lambda m: m.Identity(),
        lambda m: m.Flatten(),
        lambda m: m.Flatten(0, 1),
    ],
)
def test_parameter_free_layers_match_torch(dtype, make):
    _compare(make(nn), make(torch.nn), [_x(4, 3, 5)], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,norm", [((4, 6), 6), ((2, 3, 4, 5), (4, 5)), ((3, 5), 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(dtype, shape, norm, affine):
    ours = nn.LayerNorm(norm, eps=1e-4, elementwise_affine=affine)
    theirs = torch.nn.LayerNorm(norm, eps=1e-4, elementwise_affine=affine)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape))
    _compare(ours, theirs, [_x(*shape) * 3 + 1], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch_with_repeated_indices(dtype):
    idx = np.array([[1, 2, 1], [0, 9, 1]])
    _compare(nn.Embedding(10, 3), torch.nn.Embedding(10, 3), [idx], dtype)


@needs_torch
def test_embedding_padding_idx_gets_no_gradient():
    ours, theirs = nn.Embedding(5, 2, padding_idx=0), torch.nn.Embedding(5, 2, padding_idx=0)
    _compare(ours, theirs, [np.array([0, 1, 0, 4])], np.float64)
    assert not ours.weight.grad.data[0].any()


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        emb(tg.tensor([0, 4]))
    with pytest.raises(TypeError, match="integer"):
        emb(tg.tensor([0.0, 1.0]))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "cls,shape",
    [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 2, 5))],
)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_torch(dtype, cls, shape, affine):
    ours = getattr(nn, cls)(3, affine=affine)
    theirs = getattr(torch.nn, cls)(3, affine=affine)
    if affine:
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape))
    _compare(ours, theirs, [_x(*shape) * 2 + 0.5], dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), **tol)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), **tol)
    assert ours.running_mean.dtype == dtype
    assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked) == 1


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (8, 4)), ("BatchNorm2d", (5, 4, 3, 3))])
def test_batch_norm_running_stats_over_steps_and_eval(dtype, momentum, cls, shape):
    ours = getattr(nn, cls)(4, momentum=momentum).astype(dtype)
    theirs = getattr(torch.nn, cls)(4, momentum=momentum).to(_torch_dtype(dtype))
    tol = TOL[dtype]
    for step in range(4):
        x = _x(*shape, dtype=dtype, seed=step) * (step + 1) + step
        np.testing.assert_allclose(
            ours(tg.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), **tol
        )
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), **tol)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), **tol)
    assert int(ours.num_batches_tracked.item()) == 4
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())
    ours.eval()
    theirs.eval()
    _compare(ours, theirs, [_x(*shape, seed=9)], dtype)
    assert int(ours.num_batches_tracked.item()) == 4  # eval does not update


@needs_torch
def test_batch_norm_without_running_stats_matches_torch():
    ours = nn.BatchNorm1d(3, track_running_stats=False)
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=False)
    assert list(ours.state_dict()) == ["weight", "bias"] == list(theirs.state_dict())
    ours.eval()
    theirs.eval()
    _compare(ours, theirs, [_x(5, 3)], np.float64)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tg.zeros((1, 3), dtype="float32"))
    with pytest.raises(ShapeMismatchError, match="expects"):
        nn.BatchNorm2d(3)(tg.zeros((2, 3, 4), dtype="float32"))
    with pytest.raises(ShapeMismatchError, match="expects"):
        nn.BatchNorm1d(3)(tg.zeros((2, 4), dtype="float32"))
    nn.BatchNorm1d(3).eval()(tg.zeros((1, 3), dtype="float32"))  # fine in eval mode


def test_batch_norm_state_dict_round_trip():
    a = nn.BatchNorm2d(2)
    a(tg.tensor(_x(3, 2, 2, 2)))
    b = nn.BatchNorm2d(2)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.running_var.data, b.running_var.data)
    assert int(b.num_batches_tracked.item()) == 1


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batch", [(4,), ()])
def test_rnn_cell_matches_torch(dtype, nonlinearity, with_state, batch):
    ours = nn.RNNCell(3, 5, nonlinearity=nonlinearity)
    theirs = torch.nn.RNNCell(3, 5, nonlinearity=nonlinearity)
    inputs = [_x(*batch, 3)] + ([_x(*batch, 5, seed=2)] if with_state else [])
    _compare(ours, theirs, inputs, dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_matches_torch(dtype, with_state, bias):
    ours, theirs = nn.LSTMCell(3, 4, bias=bias), torch.nn.LSTMCell(3, 4, bias=bias)
    inputs = [_x(2, 3)]
    if with_state:
        inputs.append((_x(2, 4, seed=2), _x(2, 4, seed=3)))
    _compare(ours, theirs, inputs, dtype, n_out=2)


@needs_torch
def test_lstm_cell_unrolled_over_a_sequence_matches_torch():
    ours, theirs = nn.LSTMCell(2, 3, dtype="float64"), torch.nn.LSTMCell(2, 3).double()
    _copy_params(ours, theirs, np.float64)
    xs = _x(5, 4, 2, dtype=np.float64)
    h = c = None
    th = None
    for t in range(5):
        h, c = ours(tg.tensor(xs[t]), None if h is None else (h, c))
        th = theirs(torch.tensor(xs[t]), th)
    np.testing.assert_allclose(h.data, th[0].detach().numpy(), rtol=1e-10)
    (h.sum() + c.sum()).backward()
    (th[0].sum() + th[1].sum()).backward()
    np.testing.assert_allclose(ours.weight_hh.grad.data, theirs.weight_hh.grad.numpy(), rtol=1e-9)


def test_recurrent_cell_shape_errors():
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(ShapeMismatchError, match="last dimension"):
        cell(tg.zeros((2, 5), dtype="float32"))
    with pytest.raises(ShapeMismatchError, match="expected"):
        cell(tg.zeros((2, 3), dtype="float32"), (tg.zeros((2, 3)), tg.zeros((2, 4))))
    with pytest.raises(TypeError, match="pair"):
        cell(tg.zeros((2, 3), dtype="float32"), tg.zeros((2, 4)))


def test_linear_shape_error():
    with pytest.raises(ShapeMismatchError, match="last dimension has 3 features"):
        nn.Linear(3, 2)(tg.zeros((4, 2)))


def test_layer_norm_shape_error():
    with pytest.raises(ShapeMismatchError, match="trailing shape"):
        nn.LayerNorm((4, 5))(tg.zeros((4, 4)))


# --------------------------------------------------------------------------- gradcheck


def _functional(module, names):
    """f(x, *params) that runs ``module`` with ``params`` in place of its own (for gradcheck)."""

    def f(*args):
        x, params = args[0], args[1:]
        saved = {}
        for name, p in zip(names, params):
            owner, _, leaf = name.rpartition(".")
            mod = module.get_submodule(owner)
            saved[name] = mod._parameters[leaf]
            mod._parameters[leaf] = p
        try:
            out = module(*x) if isinstance(x, tuple) else module(x)
        finally:
            for name in names:
                owner, _, leaf = name.rpartition(".")
                module.get_submodule(owner)._parameters[leaf] = saved[name]
        return out

    return f


GRADCHECK_LAYERS = [
    ("linear", lambda: nn.Linear(3, 2, dtype="float64"), (4, 3)),
    ("layernorm", lambda: nn.LayerNorm(3, dtype="float64"), (2, 3)),
    ("batchnorm1d", lambda: nn.BatchNorm1d(3, dtype="float64"), (4, 3)),
    ("batchnorm2d", lambda: nn.BatchNorm2d(2, dtype="float64"), (3, 2, 2, 2)),
    ("batchnorm_eval", lambda: nn.BatchNorm1d(3, dtype="float64").eval(), (4, 3)),
    ("rnncell", lambda: nn.RNNCell(3, 2, dtype="float64"), (2, 3)),
    ("lstmcell", lambda: nn.LSTMCell(3, 2, dtype="float64"), (2, 3)),
    ("gelu", lambda: nn.GELU(), (2, 3)),
    ("softmax", lambda: nn.Softmax(dim=1), (2, 3)),
    ("logsoftmax", lambda: nn.LogSoftmax(dim=0), (2, 3)),
    ("seq", lambda: nn.Sequential(nn.Linear(3, 3, dtype="float64"), nn.Tanh()), (2, 3)),
]


@pytest.mark.parametrize("name,make,shape", GRADCHECK_LAYERS, ids=[g[0] for g in GRADCHECK_LAYERS])
def test_gradcheck_layers(name, make, shape):
    tg.random.seed(0)
    module = make()
    names = [n for n, _ in module.named_parameters()]
    params = [p.data.copy() for _, p in module.named_parameters()]
    # Perturb affine parameters away from ones/zeros so that every term matters.
    params = [
        p + 0.1 * np.random.default_rng(i).standard_normal(p.shape) for i, p in enumerate(params)
    ]
    x = _x(*shape, dtype=np.float64)
    assert tg.testing.gradcheck(_functional(module, names), [x, *params])


def test_gradcheck_embedding():
    emb = nn.Embedding(5, 3, dtype="float64")
    idx = np.array([[0, 3], [3, 3]])

    def f(w):
        emb._parameters["weight"] = w
        return emb(idx)

    assert tg.testing.gradcheck(f, [emb.weight.data.copy()])


# --------------------------------------------------------------------------- dropout


def test_dropout_statistics_and_scaling():
    tg.random.seed(0)
    p = 0.3
    drop = nn.Dropout(p)
    x = tg.ones(200_000, dtype="float32", requires_grad=True)
    y = drop(x)
    assert y.dtype == np.float32
    kept = y.data != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.005)
    np.testing.assert_allclose(y.data[kept], 1 / (1 - p), rtol=1e-6)
    assert y.data.mean() == pytest.approx(1.0, abs=0.01)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # gradient flows through the mask


def test_dropout_eval_is_identity_and_edge_probabilities():
    x = tg.tensor(_x(3, 4))
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).data.any()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.Dropout(1.5)


def test_dropout_is_reproducible_with_seed_and_generator():
    x = tg.ones((10, 10))
    tg.random.seed(5)
    a = nn.Dropout()(x).data
    tg.random.seed(5)
    b = nn.Dropout()(x).data
    np.testing.assert_array_equal(a, b)
    c = nn.Dropout(generator=np.random.default_rng(1))(x).data
    d = nn.Dropout(generator=np.random.default_rng(1))(x).data
    np.testing.assert_array_equal(c, d)


# --------------------------------------------------------------------------- exports


def test_public_names_are_exported():
    from tapegrad.nn import layers, module

    for mod in (module, layers):
        for name in mod.__all__:
            assert getattr(tg.nn, name) is getattr(mod, name)
    for name in init.__all__:
        assert callable(getattr(tg.nn.init, name))


def test_training_a_small_model_reduces_the_loss():
    tg.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1)).astype(np.float32)).astype(np.float32)
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    xt, yt = tg.tensor(x), tg.tensor(y)
    first = None
    for _ in range(200):
        loss = tg.mean((net(xt) - yt) ** 2)
        first = first if first is not None else loss.item()
        net.zero_grad()
        loss.backward()
        with tg.no_grad():
            for p in net.parameters():
                p -= 0.05 * p.grad
    assert loss.item() < 0.1 * first
    assert all(p.dtype == np.float32 for p in net.parameters())
