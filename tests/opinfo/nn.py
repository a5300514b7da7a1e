"""Op specs for the nn family (see tests/opinfo/__init__.py)."""

SPECS: list = []
