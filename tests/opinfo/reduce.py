"""Op specs for the reduce family (see tests/opinfo/__init__.py)."""

SPECS: list = []
