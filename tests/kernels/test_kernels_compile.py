"""Every kernel compiles without a GPU: the CuPy sources with NVRTC (the compiler CuPy uses,
with CuPy's own flags) for sm_75 and sm_90, the Numba kernels to PTX for sm_90."""

import importlib

import pytest
from minillm.kernels import OPS
from minillm.kernels.cupy import _module
from minillm.kernels.nvrtc import compile_cubin


@pytest.mark.parametrize("arch", ["sm_75", "sm_90"])
@pytest.mark.parametrize("op", OPS)
def test_cupy_source_compiles_with_nvrtc(op, arch):
    mod = importlib.import_module(f"minillm.kernels.cupy.{op}")
    options = _module.OPTIONS + _module.CUPY_ADDED_OPTIONS + (f"-arch={arch}",)
    ok, log, lowered = compile_cubin(
        _module.source(mod.CU_FILE), mod.CU_FILE, mod.KERNEL_NAMES, options
    )
    assert ok, f"NVRTC failed on kernels/cupy/{mod.CU_FILE} for {arch}:\n{log}"
    assert set(lowered) == set(mod.KERNEL_NAMES), f"{op}: kernels missing from the module"
    assert "warning" not in log.lower(), f"NVRTC warnings on {mod.CU_FILE} for {arch}:\n{log}"


@pytest.mark.parametrize("op", OPS)
def test_numba_kernels_compile_to_ptx(op, ptx_compiler):
    mod = importlib.import_module(f"minillm.kernels.numba.{op}")
    targets = mod.compile_targets()
    assert targets, f"{op}: no Numba kernels listed"
    for name, fn, sig in targets:
        ptx, _ = ptx_compiler(fn, sig)
        assert ".entry" in ptx, f"numba {op}.{name}: no kernel entry in the PTX"


def test_every_cupy_source_is_listed():
    """Each .cu file beside the host modules is compiled by the test above (none forgotten)."""
    from importlib import resources

    files = {
        p.name for p in resources.files("minillm.kernels.cupy").iterdir() if p.name.endswith(".cu")
    }
    listed = {importlib.import_module(f"minillm.kernels.cupy.{op}").CU_FILE for op in OPS}
    assert files == listed, f"unlisted CUDA sources: {sorted(files - listed)}"
