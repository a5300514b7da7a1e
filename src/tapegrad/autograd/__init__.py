"""Reverse-mode machinery: grad mode and the Observer protocol, the tape's nodes, the engine,
custom functions, memory accounting."""

from ..errors import InvalidAttributeError
from .grad_mode import (
    Observer,
    Scope,
    current_scope,
    detect_anomaly,
    enable_grad,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    is_strong_zeros_enabled,
    no_grad,
    observe,
    observe_everywhere,
    scope,
    set_detect_anomaly,
    set_grad_enabled,
    set_strong_zeros,
    strong_zeros,
)

__all__ = [
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "strong_zeros",
    "set_strong_zeros",
    "is_strong_zeros_enabled",
    "Observer",
    "observe",
    "observe_everywhere",
    "scope",
    "Scope",
    "current_scope",
    "backward",
    "grad",
    "Function",
    "FunctionCtx",
    "saved_bytes",
    "peak_saved_bytes",
]


def __getattr__(name: str):  # the engine imports Tensor, which imports this package
    if name in ("backward", "grad"):
        from . import engine

        return getattr(engine, name)
    if name in ("saved_bytes", "peak_saved_bytes", "SavedBytes"):
        from . import memory

        return getattr(memory, name)
    if name == "forward_ad":
        import importlib

        return importlib.import_module(__name__ + ".forward_ad")
    if name in ("Function", "FunctionCtx", "custom_vjp", "custom_jvp"):
        from . import function

        return getattr(function, name)
    raise InvalidAttributeError(f"module {__name__!r} has no attribute {name!r}")
