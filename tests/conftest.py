"""Shared test configuration.

Unit tests run in float64 where they check identities; the default dtype is restored
after each test so that one test cannot leak a dtype change into another.
"""
import os

import pytest
import torch

os.environ.setdefault("SAVLIB_QUICK", "1")


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)
