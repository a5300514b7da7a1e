"""Forward-mode AD by hand (PyTorch's ``torch.autograd.forward_ad``).

>>> import tapegrad as tg
>>> from tapegrad.autograd import forward_ad as fwad
>>> with fwad.dual_level():
...     x = fwad.make_dual(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 0.0]))
...     fwad.unpack_dual(tg.sin(x) * x).tangent
tensor([1.38177329, 0.        ])
"""

from .dual import UnpackedDual, dual_level, make_dual, unpack_dual

__all__ = ["dual_level", "make_dual", "unpack_dual", "UnpackedDual"]
