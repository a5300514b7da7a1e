"""Op specs for the linalg family (see tests/opinfo/__init__.py)."""

SPECS: list = []
