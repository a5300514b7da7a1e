"""Neural networks: modules, layers, losses, initializers, and ``tg.nn.functional``."""

from . import functional, init, utils
from .conv import *  # noqa: F403
from .layers import *  # noqa: F403
from .loss import *  # noqa: F403
from .module import *  # noqa: F403
