"""tg.clip / Tensor.clamp with tensor bounds that require grad: PyTorch's clamp gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("form", ["function", "method"])
@pytest.mark.parametrize("which", ["both", "min", "max"])
def test_clip_with_tensor_bounds_that_require_grad_matches_torch_clamp(form, which):
    rng = np.random.default_rng(3)
    x0 = rng.normal(size=(4, 5)) * 2
    lo0 = rng.normal(size=(5,)) - 1.0
    hi0 = rng.normal(size=(4, 1)) + 1.0
    g0 = rng.normal(size=(4, 5))
    x = tg.tensor(x0, requires_grad=True)
    lo = tg.tensor(lo0, requires_grad=True) if which in ("both", "min") else None
    hi = tg.tensor(hi0, requires_grad=True) if which in ("both", "max") else None
    out = tg.clip(x, lo, hi) if form == "function" else x.clamp(min=lo, max=hi)
    out.backward(g0)

    tx = torch.tensor(x0, requires_grad=True)
    tlo = torch.tensor(lo0, requires_grad=True) if lo is not None else None
    thi = torch.tensor(hi0, requires_grad=True) if hi is not None else None
    tout = torch.clamp(tx, tlo, thi)
    tout.backward(torch.tensor(g0))

    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    for a, ta in ((lo, tlo), (hi, thi)):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
