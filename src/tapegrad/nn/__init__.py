"""Neural networks: ``tg.nn.functional`` (softmax, losses, ...)."""

from . import functional

__all__ = ["functional"]
