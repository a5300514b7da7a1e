"""The optimizer base class and the first-order optimizers (PyTorch's update rules)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..autograd.grad_mode import enable_grad, no_grad
from ..errors import AbstractMethodError, InvalidArgumentError, InvalidTypeError, ShapeMismatchError
from ..tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def _zero(g: np.ndarray) -> None:
    g[...] = 0


def _apply_update(
    p: np.ndarray, g: np.ndarray, update: Callable[..., None], state: dict, group: dict
) -> None:
    """One parameter's update in place (an effect: ``tg.jit`` repeats it on every call)."""
    update(p, g.astype(p.dtype, copy=False), state, group)


def _lerp_(a: np.ndarray, b: np.ndarray, w: float) -> None:
    # torch.lerp's formula, in place on ``a``.
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (1 - w)


class Optimizer:
    """Base class of the optimizers.

    Parameters
    ----------
    params : iterable of Tensor, or of dict
        The tensors to optimise (each must require grad), or a list of parameter groups:
        dicts with a ``"params"`` entry and per-group options overriding ``defaults``.
    defaults : dict
        Default options of every group (``lr`` and the optimizer's own hyper-parameters).

    Notes
    -----
    Updates happen in place on ``p.data`` under ``tg.no_grad()``.  ``state`` maps each
    parameter to its per-parameter buffers (NumPy arrays).

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = tg.optim.SGD([w], lr=0.1)
    >>> tg.sum(w * w).backward(); opt.step(); w.data
    array([0.8, 1.6])
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise InvalidTypeError(
                f"{type(self).__name__}: params must be an iterable of tensors or of dicts, got a "
                "single Tensor; pass a list, e.g. SGD([w], lr=0.1) or SGD(model.parameters(), "
                "lr=0.1)"
            )
        groups = list(params)
        if not groups:
            raise InvalidArgumentError(
                f"{type(self).__name__}: optimizer got an empty parameter list; pass the tensors "
                "to optimise"
            )
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults).

        Examples
        --------
        >>> import tapegrad as tg
        >>> a = tg.tensor([1.0], requires_grad=True); b = tg.tensor([1.0], requires_grad=True)
        >>> opt = tg.optim.SGD([a], lr=0.1); opt.add_param_group({"params": [b], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise InvalidTypeError(
                f"{type(self).__name__}: a parameter group must be a dict, got "
                f"{type(param_group).__name__}"
            )
        group = dict(param_group)
        ps = group.get("params")
        if ps is None:
            raise InvalidArgumentError(
                f"{type(self).__name__}: a parameter group needs a 'params' entry (a list of "
                "tensors)"
            )
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Tensor):
                raise InvalidTypeError(
                    f"{type(self).__name__}: optimizer can only optimise Tensors, got "
                    f"{type(p).__name__}"
                )
            if not p.requires_grad:
                raise InvalidArgumentError(
                    f"{type(self).__name__}: optimizer got a tensor that does not require grad; "
                    "create it with requires_grad=True (or leave it out)"
                )
            if not p.is_leaf:
                raise InvalidArgumentError(
                    f"{type(self).__name__}: optimizer can only optimise leaf tensors (not "
                    "computed results)"
                )
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in ps) or len({id(p) for p in ps}) != len(ps):
            raise InvalidArgumentError(
                f"{type(self).__name__}: some parameters appear in more than one parameter group "
                "(or twice)"
            )
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None, or to zeros in place)."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.data.flags.writeable:
                    grad_mode.effect(_zero, p.grad.data)
                else:
                    p.grad.data = np.zeros_like(p.grad.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (run with grad enabled).

        Returns
        -------
        The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = np.asarray(p.grad.data if isinstance(p.grad, Tensor) else p.grad)
                    if grad.shape != p.shape:
                        raise ShapeMismatchError(
                            f"{type(self).__name__}: gradient shape {grad.shape} does not match "
                            f"parameter shape {p.shape}"
                        )
                    state = self.state.setdefault(p, {})
                    grad_mode.effect(_apply_update, p.data, grad, self._update, state, group)
                    p._bump()
        return loss

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict) -> None:
        raise AbstractMethodError(
            f"{type(self).__name__} must define _update(p, g, state, group) or override step()"
        )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: ``{"state": {...}, "param_groups": [...]}``.

        Parameters are replaced by their index (in group order); arrays are copied.

        Examples
        --------
        >>> import tapegrad as tg
        >>> w = tg.tensor([1.0], requires_grad=True)
        >>> sorted(tg.optim.Adam([w]).state_dict())
        ['param_groups', 'state']
        """
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            d = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            d["params"] = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                d["params"].append(index[id(p)])
            groups.append(d)
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state produced by :meth:`state_dict` of an optimizer with the same groups."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise InvalidArgumentError(
                f"{type(self).__name__}: state_dict must be a dict with 'state' and 'param_groups' "
                "entries"
            )
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise InvalidArgumentError(
                f"{type(self).__name__}: loaded state has {len(saved)} parameter groups, this "
                f"optimizer has {len(self.param_groups)}"
            )
        for i, (s, g) in enumerate(zip(saved, self.param_groups)):
            if len(s["params"]) != len(g["params"]):
                raise InvalidArgumentError(
                    f"{type(self).__name__}: parameter group {i} has {len(g['params'])} "
                    f"parameters but the loaded state has {len(s['params'])}"
                )
        new_state: dict[Tensor, dict[str, Any]] = {}
        for s, g in zip(saved, self.param_groups):
            for idx, p in zip(s["params"], g["params"]):
                if idx in state_dict["state"]:
                    st = copy.deepcopy(state_dict["state"][idx])
                    for k, v in st.items():
                        if isinstance(v, np.ndarray) and v.shape == p.shape:
                            st[k] = v.astype(p.dtype, copy=False)
                    new_state[p] = st
        for s, g in zip(saved, self.param_groups):
            for k, v in s.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)
        self.state = new_state


def _check(opt: Optimizer, cond: bool, what: str) -> None:
    if not cond:
        raise InvalidArgumentError(f"{type(opt).__name__}: {what}")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``).

    Parameters
    ----------
    params : iterable
        Tensors or parameter groups.
    lr : float
        Learning rate.
    momentum, dampening : float
        Momentum factor and dampening of the momentum.
    weight_decay : float
        L2 penalty added to the gradient.
    nesterov : bool
        Nesterov momentum (needs momentum > 0 and dampening == 0).
    maximize : bool
        Ascend instead of descend.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> tg.sum(w * w).backward(); opt.step(); w.data
    array([0.8])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check(self, lr >= 0.0, f"invalid learning rate {lr}: it must be >= 0")
        _check(self, momentum >= 0.0, f"invalid momentum {momentum}: it must be >= 0")
        _check(self, weight_decay >= 0.0, f"invalid weight_decay {weight_decay}: it must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidArgumentError(
                "SGD: Nesterov momentum requires a momentum > 0 and zero dampening"
            )
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict) -> None:
        if group["maximize"]:
            g = -g
        wd, mom = group["weight_decay"], group["momentum"]
        if wd != 0:
            g = g + wd * p
        if mom != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mom
                buf += (1 - group["dampening"]) * g
            g = g + mom * buf if group["nesterov"] else buf
        p += -group["lr"] * g


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``), with optional AMSGrad.

    Parameters
    ----------
    params : iterable
        Tensors or parameter groups.
    lr : float
        Learning rate.
    betas : (float, float)
        Decay rates of the first and second moment averages.
    eps : float
        Added to the denominator.
    weight_decay : float
        L2 penalty added to the gradient (see :class:`AdamW` for the decoupled form).
    amsgrad : bool
        Use the running maximum of the second moment.
    maximize : bool
        Ascend instead of descend.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.Adam([w], lr=0.1)
    >>> tg.sum(w * w).backward(); opt.step(); w.data.round(6)
    array([0.9])
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check(self, lr >= 0.0, f"invalid learning rate {lr}: it must be >= 0")
        _check(self, eps >= 0.0, f"invalid eps {eps}: it must be >= 0")
        for i in (0, 1):
            ok = 0.0 <= betas[i] < 1.0
            _check(self, ok, f"invalid beta at index {i}: {betas[i]} (need [0, 1))")
        _check(self, weight_decay >= 0.0, f"invalid weight_decay {weight_decay}: it must be >= 0")
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
            ),
        )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        if group["maximize"]:
            g = -g
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        state["step"] += 1
        step = state["step"]
        if wd != 0:
            if self._decoupled:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(m, g, 1 - beta1)
        v *= beta2
        v += (1 - beta2) * g * g
        bc1 = 1 - beta1**step
        bc2_sqrt = (1 - beta2**step) ** 0.5
        step_size = lr / bc1
        if group["amsgrad"]:
            vmax = state.setdefault("max_exp_avg_sq", np.zeros_like(p))
            np.maximum(vmax, v, out=vmax)
            denom = np.sqrt(vmax) / bc2_sqrt
        else:
            denom = np.sqrt(v) / bc2_sqrt
        denom += group["eps"]
        p += (-step_size * m) / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``).

    The parameter is scaled by ``1 - lr * weight_decay`` before the Adam update, instead of
    adding the L2 term to the gradient.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.AdamW([w], lr=0.1, weight_decay=0.1)
    >>> tg.sum(w * w).backward(); opt.step(); w.data.round(6)
    array([0.89])
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop (PyTorch's ``torch.optim.RMSprop``), optionally centered and with momentum.

    Parameters
    ----------
    params : iterable
        Tensors or parameter groups.
    lr, alpha, eps : float
        Learning rate, smoothing constant of the squared-gradient average, denominator term.
    weight_decay, momentum : float
        L2 penalty added to the gradient; momentum factor.
    centered : bool
        Normalise by the estimated variance (subtract the squared mean gradient).

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.RMSprop([w], lr=0.01)
    >>> tg.sum(w * w).backward(); opt.step(); w.data.round(4)
    array([0.9])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check(self, lr >= 0.0, f"invalid learning rate {lr}: it must be >= 0")
        _check(self, eps >= 0.0, f"invalid eps {eps}: it must be >= 0")
        _check(self, momentum >= 0.0, f"invalid momentum {momentum}: it must be >= 0")
        _check(self, weight_decay >= 0.0, f"invalid weight_decay {weight_decay}: it must be >= 0")
        _check(self, alpha >= 0.0, f"invalid alpha {alpha}: it must be >= 0")
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
            ),
        )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        if group["maximize"]:
            g = -g
        alpha, wd = group["alpha"], group["weight_decay"]
        state["step"] += 1
        if wd != 0:
            g = g + wd * p
        sq = state["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * g * g
        if group["centered"]:
            ga = state.setdefault("grad_avg", np.zeros_like(p))
            _lerp_(ga, g, 1 - alpha)
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(p))
            buf *= group["momentum"]
            buf += g / avg
            p += -group["lr"] * buf
        else:
            p += (-group["lr"] * g) / avg


class Adagrad(Optimizer):
    """Adagrad (PyTorch's ``torch.optim.Adagrad``).

    Parameters
    ----------
    params : iterable
        Tensors or parameter groups.
    lr, lr_decay : float
        Learning rate and its decay: step ``k`` uses ``lr / (1 + (k - 1) * lr_decay)``.
    weight_decay : float
        L2 penalty added to the gradient.
    initial_accumulator_value : float
        Start value of the sum of squared gradients.
    eps : float
        Added to the denominator.

    Examples
    --------
    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.Adagrad([w], lr=0.1)
    >>> tg.sum(w * w).backward(); opt.step(); w.data.round(6)
    array([0.9])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        _check(self, lr >= 0.0, f"invalid learning rate {lr}: it must be >= 0")
        _check(self, lr_decay >= 0.0, f"invalid lr_decay {lr_decay}: it must be >= 0")
        _check(self, weight_decay >= 0.0, f"invalid weight_decay {weight_decay}: it must be >= 0")
        _check(
            self,
            initial_accumulator_value >= 0.0,
            f"invalid initial_accumulator_value {initial_accumulator_value}: it must be >= 0",
        )
        _check(self, eps >= 0.0, f"invalid eps {eps}: it must be >= 0")
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
        )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p, group["initial_accumulator_value"])
        if group["maximize"]:
            g = -g
        state["step"] += 1
        step = state["step"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        std = np.sqrt(s)
        std += group["eps"]
        p += (-clr * g) / std
