"""The kernel registry and the pure-Python shape logic (no GPU, no simulator needed)."""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import minillm.kernels as kernels
import pytest
from minillm.kernels import BACKENDS, OPS, KernelPair, best, registry
from minillm.kernels._shapes import attention_dims, check_grid_y, matmul_dims, rows


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_every_op_has_numbered_versions_with_forward_and_backward(backend, op):
    versions = registry(backend, op)
    assert versions, f"{backend}.{op}: no versions"
    for name, pair in versions.items():
        assert re.fullmatch(r"v\d+_[a-z0-9_]+", name), f"{backend}.{op}: unnumbered {name!r}"
        assert isinstance(pair, KernelPair) and callable(pair.backward), f"{backend}.{op}.{name}"
    assert best(backend, op) in versions, f"best({backend!r}, {op!r}) names no registered version"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_module_header_lists_every_version(backend, op):
    """Each kernel file's header names all its versions (llm.c dev/cuda style)."""
    mod = importlib.import_module(f"minillm.kernels.{backend}.{op}")
    header = mod.__doc__
    if backend == "cupy":
        header += Path(mod.__file__).with_name(mod.CU_FILE).read_text().split("#include")[0]
    for name in registry(backend, op):
        assert name in header, f"kernels/{backend}/{op}: header does not mention {name}"


def test_registry_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown kernel backend 'triton'"):
        registry("triton", "matmul")
    with pytest.raises(ValueError, match="unknown kernel op 'conv'"):
        best("cupy", "conv")


def test_import_is_cheap_and_kernels_import_nothing_of_minillm():
    """import minillm.kernels loads neither cupy nor numba; no kernel file imports minillm."""
    root = Path(kernels.__file__).parent
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('k', {str(root / '__init__.py')!r},"
        f" submodule_search_locations=[{str(root)!r}])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['k'] = m\n"
        "spec.loader.exec_module(m)\n"
        "assert 'cupy' not in sys.modules and 'numba' not in sys.modules, sorted(sys.modules)\n"
        "assert not any(n.startswith('minillm') for n in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            assert not any(n.split(".")[0] == "minillm" for n in names), f"{path} imports {names}"


def test_matmul_dims_fold_and_batch():
    assert matmul_dims((2, 3, 5), (5, 4)) == (1, 6, 5, 4, True)  # (..., K) @ (K, N): one GEMM
    assert matmul_dims((2, 3, 4, 5), (2, 3, 5, 6)) == (6, 4, 5, 6, False)
    with pytest.raises(
        ValueError, match=r"equal batch axes or a 2-D b; got \(4, 5\) @ \(2, 5, 6\)"
    ):
        matmul_dims((4, 5), (2, 5, 6))


def test_check_grid_y_names_the_rows():
    check_grid_y(65535, 65535 * 8, "matmul")
    with pytest.raises(ValueError, match="matmul: 600000 rows need 75000 row tiles"):
        check_grid_y(75000, 600000, "matmul")


def test_rows_rejects_an_empty_last_axis():
    assert rows((2, 3, 7), "softmax") == (6, 7)
    with pytest.raises(
        ValueError, match=r"softmax kernels need a non-empty last axis; got shape \(3, 0\)"
    ):
        rows((3, 0), "softmax")


@pytest.mark.parametrize(
    "mask_shape",
    [(5, 7), (2, 1, 1, 7), (2, 3, 5, 7), (1, 3, 1, 7), (7,), (), (2, 3, 5, 1)],
)
def test_attention_mask_strides_read_the_broadcast_mask(mask_shape):
    """mask[b*sB + h*sH + t*sT + s*sS] of the flat mask equals np.broadcast_to(mask)[b, h, t, s]."""
    import numpy as np

    B, H, T, S = 2, 3, 5, 7
    mask = np.random.default_rng(0).random(mask_shape) > 0.5
    BH, T_, S_, D, (mH, sB, sH, sT, sS) = attention_dims(
        (B, H, T, 4), (B, H, S, 4), (B, H, S, 4), mask_shape
    )
    assert (BH, T_, S_, D, mH) == (B * H, T, S, 4, H)
    full = np.broadcast_to(mask, (B, H, T, S))
    flat = mask.reshape(-1)
    got = np.array(
        [
            [
                [[flat[b * sB + h * sH + t * sT + s * sS] for s in range(S)] for t in range(T)]
                for h in range(H)
            ]
            for b in range(B)
        ]
    )
    np.testing.assert_array_equal(got, full, err_msg=f"mask strides for {mask_shape}")


def test_attention_dims_rejects_mixed_leading_broadcast():
    with pytest.raises(ValueError, match="axes before H to be all 1 or all present"):
        attention_dims((2, 3, 4, 5, 8), (2, 3, 4, 6, 8), (2, 3, 4, 6, 8), (2, 1, 1, 5, 6))
    with pytest.raises(ValueError, match="need T, S, D > 0"):
        attention_dims((1, 0, 8), (1, 3, 8), (1, 3, 8), None)
