"""The GPU backend end to end without a GPU: the Tensor wrappers dispatch the emulator's arrays to
every CuPy kernel version (real .cu sources and host code, run by tests/kernels/cuda_emu.py), and
the outputs, gradients and a whole GPT training step equal the NumPy path."""

import pytest
from gpu_backend_cases import (
    GPT_CONFIG,
    GPT_OPS,
    VERSION_SETS,
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


@pytest.mark.parametrize("versions", VERSION_SETS)
def test_C25_gpt_training_step_on_kernels_equals_numpy(versions, emulated_gpu):
    """Forward, backward and two AdamW steps of a 2-layer GPT with every parameter on the
    (emulated) device equal the NumPy run (losses, gradients, the update), and every hot op of
    the model ran the kernel set for it (none fell back)."""
    batches = gpt_batches(2)
    ref = train_gpt(GPT(GPT_CONFIG, seed=0), batches)
    model = GPT(GPT_CONFIG, seed=0)
    for p in model.parameters():
        p.data = emulated_gpu.to_device(p.data.copy())
    with dispatch.use(**VERSION_SETS[versions]) as chosen, dispatch.trace() as routes:
        run = train_gpt(model, batches)
    assert_gpt_runs_match(run, ref)
    assert set(routes) == {dispatch.Route(op, chosen[op], None) for op in GPT_OPS}, routes
