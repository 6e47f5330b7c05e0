"""The GPU backend on a real CUDA GPU (`pytest -m gpu tests/gpu_backend`); every test skips, with
the reason, without CuPy and a GPU. The same cases as the emulated run, plus a GPT at the
shakespeare-char preset's shape, where the kernels run at their real sizes."""

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

from minillm.models import GPT, GPTConfig
from minillm.ops import dispatch
from minillm.tensor import Tensor

pytestmark = pytest.mark.gpu
CASES = all_cases(lambda op: registry("cupy", op))
# shakespeare-char's model (nanoGPT's CPU baby GPT): D = 32, T = 64, V = 65
BABY = GPTConfig(vocab_size=65, block_size=64, n_layers=4, n_heads=4, d_model=128)


@pytest.mark.parametrize(
    "op,version,case,fn,shapes", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES]
)
def test_each_kernel_version_on_the_gpu_equals_numpy(op, version, case, fn, shapes, real_gpu):
    with dispatch.use(op=op, version=version), dispatch.trace() as routes:
        assert_op_matches_numpy(op, fn, shapes, real_gpu, f"{version} {case}")
    assert [r for r in routes if r.op == op] == [dispatch.Route(op, version, None)], routes


@pytest.mark.parametrize("versions", [*VERSION_SETS, "builtin"])
@pytest.mark.parametrize("config,B,T", [(GPT_CONFIG, 2, 7), (BABY, 12, 64)], ids=["tiny", "baby"])
def test_C25_gpt_training_on_the_gpu_equals_the_cpu(config, B, T, versions, real_gpu):
    """Two AdamW steps of the same GPT on the CPU (NumPy) and on the GPU (Module.to("cuda")):
    losses, gradients and the update agree, and every hot op ran the code set for it."""
    batches = gpt_batches(2, B, T, V=config.vocab_size)
    ref = train_gpt(GPT(config, seed=0), batches)
    model = GPT(config, seed=0).to("cuda")
    assert {p.device for p in model.parameters()} == {"cuda"}
    setting = {"version": "builtin"} if versions == "builtin" else VERSION_SETS[versions]
    with dispatch.use(**setting) as chosen, dispatch.trace() as routes:
        run = train_gpt(model, batches, real_gpu.to_host)
    assert_gpt_runs_match(run, ref, config)
    reason = "set to builtin" if versions == "builtin" else None
    assert set(routes) == {dispatch.Route(op, chosen[op], reason) for op in GPT_OPS}, routes


def test_tensor_device_round_trip(real_gpu):
    t = Tensor([[1.0, 2.0, 3.0]], device="cuda")
    assert t.device == "cuda" and type(t.data).__module__.startswith("cupy")
    back = t.to("cpu")
    assert back.device == "cpu" and back.numpy().tolist() == [[1.0, 2.0, 3.0]]
