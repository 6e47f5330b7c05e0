"""Fixtures of the kernel tests: the backend gates. `minillm.kernels` is the top-level kernels/
directory, shipped under that name by pyproject's package-dir mapping (pip install -e .).

Three kinds of test live here, chosen by marker:
- unmarked: compile checks (NVRTC for the CuPy sources, compile_ptx for the Numba kernels),
  the CuPy versions run by the CPU emulator (cuda_emu.py), registry and shape checks; run in
  the normal `pytest -m "not cudasim"`;
- cudasim: Numba kernels against the NumPy reference under NUMBA_ENABLE_CUDASIM=1 (own run);
- gpu: CuPy and Numba kernels on a real GPU, skipped with the reason when there is none.
"""

import os
import sys
from types import SimpleNamespace

import pytest
from cuda_emu import compiler_missing, emulated_cupy
from minillm.kernels import registry

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    # the simulator runs each CUDA thread as a Python thread and its barriers wait on GIL
    # hand-overs (5 ms apart by default): switching 50x more often makes barrier-heavy kernels
    # several times faster and changes no result
    sys.setswitchinterval(1e-4)


def _simulator_on() -> bool:
    import numba

    return bool(numba.config.ENABLE_CUDASIM)


def _real_numba_gpu() -> bool:
    from numba import cuda

    return not _simulator_on() and cuda.is_available()


def _cupy_gpu() -> bool:
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # no CUDA driver, or a broken install: there is no GPU for us either way
        return False


@pytest.fixture
def numba_sim():
    """Skip unless Numba's CUDA simulator is on (the `make kernels-sim` run)."""
    if not _simulator_on():
        pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 set before numba is imported (make kernels-sim)")


@pytest.fixture
def numba_gpu():
    if not _real_numba_gpu():
        pytest.skip("needs a CUDA GPU for Numba (and the simulator off)")


@pytest.fixture
def cupy_gpu():
    if not _cupy_gpu():
        pytest.skip("needs a CUDA GPU for CuPy (cupy.is_available() is False)")


@pytest.fixture
def ptx_compiler(monkeypatch):
    """numba.cuda.compile_ptx, usable without a GPU (and skipped under the simulator).

    numba 0.68 compiles every device function a kernel calls (the builtin max too) through a
    dispatcher that asks the driver for the current device's compute capability, even inside
    compile_ptx(cc=...). Without a driver, answer (9, 0), the cc the PTX is built for.
    """
    if _simulator_on():
        pytest.skip("compile_ptx is unavailable under NUMBA_ENABLE_CUDASIM=1")
    import numba.cuda.dispatcher
    from numba import cuda

    if not cuda.is_available():
        device = SimpleNamespace(compute_capability=(9, 0))
        monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: device)
    return lambda fn, sig: cuda.compile_ptx(fn, sig, cc=(9, 0))


@pytest.fixture
def cupy_emu(monkeypatch):
    """registry("cupy", op) with CuPy replaced by the CPU emulator of cuda_emu.py (the real .cu
    sources and host code); skips, with the reason, where g++ is missing."""
    reason = compiler_missing()
    if reason:
        pytest.skip(reason)
    emulated_cupy(monkeypatch)
    return lambda op: registry("cupy", op)
