"""Fixtures of the GPU-backend tests: the dispatcher (minillm.tensor.dispatch, minillm.ops.dispatch)
run on the CUDA emulator of tests/kernels, or on a real GPU.

- unmarked tests run in `make test` without a GPU: `emulated_gpu` points the CuPy kernels' host
  modules at tests/kernels/cuda_emu.py (the real .cu sources, compiled by g++ with one coroutine
  per CUDA thread) and tells the dispatcher that the emulator's arrays are "on the device", so the
  Tensor wrappers route them to the kernel versions exactly as they route CuPy arrays;
- `gpu` tests need CuPy with a CUDA GPU and are skipped, with the reason, without one.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from gpu_backend_cases import kernel_test_module

from minillm.tensor import dispatch as core


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    """Every test starts from the default versions and leaves no setting behind."""
    monkeypatch.setattr(core, "_settings", {})


@pytest.fixture
def emulated_gpu(monkeypatch):
    """The emulated device: .to_device(array) views a NumPy array as an emulator array, which the
    dispatcher treats as a CuPy array; .launches lists the name of every kernel launched."""
    emu = kernel_test_module("cuda_emu")
    reason = emu.compiler_missing()
    if reason:
        pytest.skip(reason)
    emu.emulated_cupy(monkeypatch)
    monkeypatch.setattr(core, "is_device_array", lambda x: isinstance(x, emu.EmuArray))
    launches = []
    launch = emu.EmuKernel.__call__

    def counted(self, *args, **kwargs):
        launches.append(self.name)
        return launch(self, *args, **kwargs)

    monkeypatch.setattr(emu.EmuKernel, "__call__", counted)
    return SimpleNamespace(
        to_device=lambda a: np.asarray(a).view(emu.EmuArray),
        to_host=np.asarray,
        launches=launches,
    )


def _cupy_gpu():
    try:
        import cupy  # optional: only the gpu tests need it

        return cupy if cupy.is_available() else None
    except Exception:  # no CUDA driver, or a broken install: no GPU for us either way
        return None


@pytest.fixture
def real_gpu():
    """The CUDA device through CuPy; skips without one."""
    cupy = _cupy_gpu()
    if cupy is None:
        pytest.skip("needs CuPy and a CUDA GPU (cupy.is_available() is False or CuPy is missing)")
    return SimpleNamespace(to_device=cupy.asarray, to_host=cupy.asnumpy, cupy=cupy)
