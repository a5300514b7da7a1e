"""Op specs for convolution and pooling (see tests/opinfo/__init__.py)."""

SPECS: list = []
