"""Cases shared by the emulated and the real-GPU runs: each hot op through its Tensor wrapper, and a
tiny GPT training step, run once on NumPy arrays and once on device arrays, then compared.

A device is any namespace with to_device(array) and to_host(array) (conftest.py's emulated_gpu
and real_gpu). The tolerances are the kernel tests' table (tests/kernels/kernel_check.py)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

import minillm.functional as F
from minillm.models import GPT, GPTConfig
from minillm.ops.attention import scaled_dot_product_attention
from minillm.ops.layer_norm import layer_norm
from minillm.tensor import Tensor
from minillm.train import configure_optimizer

KERNEL_TESTS = Path(__file__).resolve().parents[1] / "kernels"


def kernel_test_module(name: str):
    """tests/kernels/<name>.py, loaded by path (that folder is not a package, and is on sys.path
    only when pytest collects it). Registered under its own name, as its tests import it."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, KERNEL_TESTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


check = kernel_test_module("kernel_check")
TOLERANCES = check.TOLERANCES
assert_close = check.assert_close

_T, _S = 5, 7
PAD_MASK = np.ones((2, 1, 1, _S), dtype=bool)  # (B, 1, 1, S) padding: batch 1 sees 4 keys
PAD_MASK[1, ..., 4:] = False
TARGETS = np.array([3, -100, 0, 10, 7, 7, 1])  # (N,) one ignored row

# op -> [(case id, fn(dev, *tensors) -> Tensor, input shapes)]; dev(array) moves a constant
# (a mask, targets) to the inputs' device. Shapes are ragged and cross the kernels' tile edges.
CASES = {
    "matmul": [
        ("folded-2x5x7@7x9", lambda dev, a, b: a @ b, [(2, 5, 7), (7, 9)]),
        ("batched-2x3x4@2x4x6", lambda dev, a, b: a @ b, [(2, 3, 4), (2, 4, 6)]),
        ("one-element", lambda dev, a, b: a @ b, [(1, 1), (1, 1)]),
    ],
    "softmax": [
        ("rows-3x37", lambda dev, x: F.softmax(x, -1), [(3, 37)]),
        ("one-element", lambda dev, x: F.softmax(x, -1), [(1, 1)]),
    ],
    "layer_norm": [
        ("affine-2x3x13", lambda dev, x, g, b: layer_norm(x, g, b), [(2, 3, 13), (13,), (13,)]),
        ("no-bias-4x9", lambda dev, x, g: layer_norm(x, g, None), [(4, 9), (9,)]),
    ],
    "attention": [
        (
            "causal-B1H2T5S7D8",
            lambda dev, q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
            [(1, 2, _T, 8), (1, 2, _S, 8), (1, 2, _S, 8)],
        ),
        (
            "padding-mask-B2H1T5S7D5",
            lambda dev, q, k, v: scaled_dot_product_attention(q, k, v, dev(PAD_MASK)),
            [(2, 1, _T, 5), (2, 1, _S, 5), (2, 1, _S, 5)],
        ),
    ],
    "cross_entropy": [
        ("mean-ignored-7x11", lambda dev, z: F.cross_entropy(z, dev(TARGETS)), [(7, 11)]),
        (
            "none-7x11",
            lambda dev, z: F.cross_entropy(z, dev(TARGETS), reduction="none"),
            [(7, 11)],
        ),
    ],
    "gelu": [
        ("tanh-3x37", lambda dev, x: F.gelu(x, "tanh"), [(3, 37)]),
        ("erf-37", lambda dev, x: F.gelu(x, "none"), [(37,)]),
    ],
}


def all_cases(versions_of):
    """(op, version, case id, fn, shapes) for every op, every version and every case."""
    return [
        (op, v, cid, fn, shapes)
        for op, cases in CASES.items()
        for v in sorted(versions_of(op))
        for cid, fn, shapes in cases
    ]


def run_op(fn, shapes, to_device=None, to_host=np.asarray, dtype=np.float32, seed=0):
    """fn on inputs of `dtype` (moved by to_device when given), backward from a fixed upstream
    gradient; returns host copies of the output and of every input's gradient."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    dev = to_device or (lambda a: a)
    inputs = [Tensor(dev(a), requires_grad=True) for a in arrays]
    out = fn(dev, *inputs)
    dout = rng.standard_normal(out.shape).astype(dtype)  # (same as out)
    out.backward(dev(dout))
    return to_host(out.data), [to_host(t.grad) for t in inputs]


def assert_op_matches_numpy(op, fn, shapes, device, what=""):
    """The op on the device equals the NumPy path: output and every input's gradient."""
    ref_out, ref_grads = run_op(fn, shapes)
    out, grads = run_op(fn, shapes, device.to_device, device.to_host)
    assert_close(out, ref_out, op, f"{what} output", shapes)
    for i, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
        assert_close(g, r, op, f"{what} gradient of input {i}", shapes)


# ---- a whole GPT training step ----------------------------------------------------------------
GPT_CONFIG = GPTConfig(vocab_size=11, block_size=8, n_layers=2, n_heads=2, d_model=16)  # D = 8
GPT_TOL = TOLERANCES["matmul"]  # the step is matmuls, and the loosest op row is theirs
# dispatch.use() arguments that, between them, run every version of the GPT's five hot ops
VERSION_SETS = {
    "best": {},
    "v1": {
        "matmul": "v1_naive",
        "layer_norm": "v1_two_pass",
        "attention": "v1_naive",
        "cross_entropy": "v1_smem_reduce",
        "gelu": "v1_elementwise",
    },
    "v2": {"matmul": "v2_smem_tiles", "layer_norm": "v2_welford"},
    "v3": {"matmul": "v3_reg_block_2d"},
}
GPT_OPS = ("matmul", "layer_norm", "attention", "cross_entropy", "gelu")  # attention fuses softmax


def gpt_batches(n, B=2, T=7, seed=1, V=GPT_CONFIG.vocab_size):
    """n (x, y) pairs of (B, T) random token ids below V."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))) for _ in range(n)]


def _optimizer(model):
    return configure_optimizer(model, 1e-2, 0.1, (0.9, 0.95))


def train_gpt(model, batches, to_host=np.asarray):
    """AdamW steps of `model` (already on its device) on `batches`. Returns the losses and, of
    the first step, the parameters before it, the gradients and the parameters after it, each a
    {name: host array}."""
    opt = _optimizer(model)
    losses, first = [], None
    for x, y in batches:
        _, loss = model(x, y)
        loss.backward()
        named = list(model.named_parameters())
        if first is None:
            first = ({n: to_host(p.data).copy() for n, p in named},)
            first += ({n: to_host(p.grad).copy() for n, p in named},)
        opt.step()
        if len(first) == 2:
            first += ({n: to_host(p.data).copy() for n, p in named},)
        opt.zero_grad()
        losses.append(loss.item())
    return (losses, *first)


def assert_gpt_runs_match(run, ref, config=GPT_CONFIG):
    """A device run of train_gpt equals the NumPy run: the losses of every step, every gradient of
    the first step, and its AdamW update.

    The update is checked by replaying it on the CPU from the device's own gradients, not against
    the NumPy run's parameters: Adam moves a coordinate by lr * g / (|g| + eps) on its first step,
    so wherever |g| is ~1e-7 (many coordinates at the baby size) float32 rounding in g alone moves
    the result by more than any tolerance. The key biases W_k.b get no whole-tensor check: q.(k_j
    + b) shifts all of a query's scores by the same q.b and softmax ignores shifts (F17), so their
    exact gradient is 0 and both runs hold rounding noise there (checked: |g| <= atol)."""
    losses, before, grads, after = run
    ref_losses, _, ref_grads, _ = ref
    assert grads.keys() == ref_grads.keys() == after.keys()
    for name in ref_grads:
        if name.endswith("self_attn.W_k.b"):
            for g in (grads[name], ref_grads[name]):
                assert np.abs(g).max() <= GPT_TOL[0], f"{name}: gradient {g} is not ~0 (F17)"
        else:
            _close(grads[name], ref_grads[name], f"GPT gradient {name}")
    replay = GPT(config)
    replay.load_state_dict(before)
    for name, p in replay.named_parameters():
        p.grad = grads[name]
    _optimizer(replay).step()
    for name, p in replay.named_parameters():
        _close(after[name], p.data, f"GPT parameter {name} after AdamW")
    _close(np.array(losses), np.array(ref_losses), "GPT losses")


def _close(out, ref, what):
    """Elementwise |out - ref| <= atol + rtol |ref|, and, since gradients of 1e-4 would pass any
    atol of 1e-5, the whole tensor too: ||out - ref|| <= rtol ||ref||."""
    atol, rtol = GPT_TOL
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    err = np.abs(out - ref) - (atol + rtol * np.abs(ref))
    i = np.unravel_index(int(np.argmax(err)), err.shape)
    assert err.max() <= 0, (
        f"{what} {ref.shape}: at index {tuple(int(j) for j in i)} got {out[i]!r}, NumPy "
        f"{ref[i]!r} (atol {atol}, rtol {rtol})"
    )
    rel = np.linalg.norm(out - ref) / max(np.linalg.norm(ref), np.finfo(np.float64).tiny)
    assert rel <= rtol, f"{what} {ref.shape}: relative error {rel:.2e} of the whole > {rtol}"
