import os

# Pin every test process to one thread: two busy 2-thread processes on this 2-core machine run ~6x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def f64():
    """Run a test with float64 as the default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _register(name: str) -> None:
    """tests/ is not a package and pytest imports with --import-mode=importlib: make a helper module of tests/
    importable by its name (``import hub_support``)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


for _helper in ("hub_support", "hub_faults"):
    _register(_helper)


@pytest.fixture(scope="module")
def olah(tmp_path_factory):
    """A running olah (offline, 127.0.0.1, free port) serving the git repos under ``olah.mirrors``."""
    import hub_support

    yield from hub_support.running_olah(tmp_path_factory.mktemp("olah"))
