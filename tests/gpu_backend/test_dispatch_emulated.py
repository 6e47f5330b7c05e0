"""The GPU backend end to end without a GPU: the Tensor wrappers dispatch the emulator's arrays to
every CuPy kernel version (real .cu sources and host code, run by tests/kernels/cuda_emu.py), and
the outputs, gradients and a whole GPT training step equal the NumPy path."""

import numpy as np
import pytest
from gpu_backend_cases import (
    GPT_CONFIG,
    all_cases,
    assert_gpt_runs_match,
    assert_op_matches_numpy,
    gpt_batches,
    train_gpt,
)
from minillm.kernels import registry

from minillm.models import GPT
from minillm.ops import dispatch

CASES = all_cases(lambda op: registry("cupy", op))


@pytest.mark.parametrize(
    "op,version,case,fn,shapes", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES]
)
def test_each_kernel_version_through_its_tensor_wrapper_equals_numpy(
    op, version, case, fn, shapes, emulated_gpu
):
    with dispatch.use(op=op, version=version), dispatch.trace() as routes:
        assert_op_matches_numpy(op, fn, shapes, emulated_gpu, f"{version} {case}")
    assert [r for r in routes if r.op == op] == [dispatch.Route(op, version, None)], routes
    launched = emulated_gpu.launches  # the kernels' names carry their version
    others = set(registry("cupy", op)) - {version}
    assert any(version in name for name in launched), f"{op} {version}: launched {launched}"
    assert not any(o in name for o in others for name in launched), f"{op}: launched {launched}"


V1 = {
    "matmul": "v1_naive",
    "softmax": "v1_smem_reduce",
    "layer_norm": "v1_two_pass",
    "attention": "v1_naive",
    "cross_entropy": "v1_smem_reduce",
    "gelu": "v1_elementwise",
}


@pytest.mark.parametrize("versions", [None, V1], ids=["best", "v1"])
def test_C25_gpt_training_step_on_kernels_equals_numpy(versions, emulated_gpu):
    """Forward, backward and two AdamW steps of a 2-layer GPT with every parameter on the
    (emulated) device: the loss, each gradient and each updated parameter equal the NumPy run,
    and every hot op of the model ran a kernel (none fell back)."""
    batches = gpt_batches(2)
    ref = train_gpt(GPT(GPT_CONFIG, seed=0), batches)
    model = GPT(GPT_CONFIG, seed=0)
    for p in model.parameters():
        p.data = emulated_gpu.to_device(p.data.copy())
    with dispatch.use(**(versions or {})) as chosen, dispatch.trace() as routes:
        run = train_gpt(model, batches)
    assert_gpt_runs_match(run, ref)
    ran = {(r.op, r.version) for r in routes}
    expected = {(op, chosen[op]) for op in ("matmul", "layer_norm", "attention", "gelu")}
    expected.add(("cross_entropy", chosen["cross_entropy"]))
    assert ran == expected, f"routes taken: {sorted(ran)}"
    assert all(r.reason is None for r in routes), [r for r in routes if r.reason]
    # the GPT has no standalone softmax (attention fuses it): test_each_kernel_version covers it
    assert np.isfinite(run[0]).all()
