"""The op library: every primitive, grouped by family, and the functions built on them."""

from __future__ import annotations

from .conv import *  # noqa: F403
from .conv import __all__ as _conv_all
from .elementwise import *  # noqa: F403
from .elementwise import __all__ as _ew_all
from .indexing import *  # noqa: F403
from .indexing import __all__ as _indexing_all
from .linalg import *  # noqa: F403
from .linalg import __all__ as _linalg_all
from .nn import *  # noqa: F403
from .nn import __all__ as _nn_all
from .reduce import *  # noqa: F403
from .reduce import __all__ as _red_all
from .registry import (
    METHODS,
    REGISTRY,
    UFUNCS,
    Primitive,
    defbilinear,
    defjvp,
    deflinear,
    defvjp,
    expose,
    primitive,
    withdraw,
)
from .shape import *  # noqa: F403
from .shape import __all__ as _shape_all

__all__ = [
    *_conv_all,
    *_ew_all,
    *_red_all,
    *_shape_all,
    *_indexing_all,
    *_linalg_all,
    *_nn_all,
    "REGISTRY",
    "Primitive",
    "defvjp",
    "defjvp",
    "deflinear",
    "defbilinear",
    "expose",
    "primitive",
]

# Attach Tensor's operators and methods and hand autograd its ops (imports point down: the
# tensor and autograd never import this package).
from .install import install as _install  # noqa: E402

_install()
