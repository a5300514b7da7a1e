"""Op specs for the shape family (see tests/opinfo/__init__.py)."""

SPECS: list = []
