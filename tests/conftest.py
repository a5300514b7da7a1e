from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import tapegrad as tg

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _grad_mode_is_restored():
    """Fail any test that leaves grad mode switched off."""
    assert tg.is_grad_enabled()
    yield
    assert tg.is_grad_enabled(), "the test left grad mode off"


@pytest.fixture(autouse=True)
def _default_dtype_is_restored():
    """Give every test float32 layers, whatever an earlier (failed) test set."""
    tg.set_default_dtype("float32")
    yield
    tg.set_default_dtype("float32")


@pytest.fixture
def float64_layers():
    """Layers made in the test create float64 parameters (for float64 inputs)."""
    tg.set_default_dtype("float64")
    yield
