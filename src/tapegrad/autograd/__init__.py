"""Reverse-mode machinery: grad mode, the tape's nodes, the engine, custom functions."""

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = [
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
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
    raise AttributeError(name)
