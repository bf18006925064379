"""Fixtures for the scheme tests: float64 by default (identities are checked in
float64) and one thread (the machine is shared)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _float64_single_thread():
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)
