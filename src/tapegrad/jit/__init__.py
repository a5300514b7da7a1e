"""``tg.jit``: compile a traced function, its gradient or a training step to NumPy code.

See the guide "Compiling with jit".  :func:`jit` traces the function once per input
signature through the tape's observer protocol (:mod:`tapegrad.jit.trace`), into the
intermediate representation of :mod:`tapegrad.jit.ir`; :mod:`tapegrad.jit.passes` optimises
it; :mod:`tapegrad.jit.codegen` writes Python source that calls NumPy directly.
"""

from __future__ import annotations

from ..errors import ConcretizationError
from .api import Jitted, Lowered, jit

__all__ = ["jit", "Jitted", "Lowered", "ConcretizationError"]
