"""Which code runs where: the settings (a version, "builtin", the default), the fallback to the
reference code for calls the kernels do not support, the errors, and that NumPy arrays never
reach the kernels. Device arrays are the CUDA emulator's (conftest.py), so no GPU is needed."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from gpu_backend_cases import GPT_CONFIG, gpt_batches, run_op
from minillm.kernels import OPS, best, registry

import minillm.functional as F
from minillm.models import GPT
from minillm.nn import Linear
from minillm.ops import dispatch
from minillm.ops.attention import scaled_dot_product_attention as sdpa
from minillm.tensor import Tensor

FLOAT_MASK = np.zeros((5, 7), dtype=np.float32)  # (T, S) additive mask
FLOAT_MASK[:, 5:] = -np.inf
QKV = [(1, 2, 5, 8), (1, 2, 7, 8), (1, 2, 7, 8)]
DROP = 0.25

# (op, case id, fn(dev, *tensors), input shapes, dtype, the reason trace() must give)
FALLBACKS = [
    ("matmul", "1-D-a", lambda dev, a, b: a @ b, [(4,), (4, 3)], np.float32, "ndim >= 2"),
    ("matmul", "broadcast", lambda dev, a, b: a @ b, [(2, 3, 4), (1, 4, 5)], np.float32, "batch"),
    ("matmul", "float64", lambda dev, a, b: a @ b, [(3, 4), (4, 5)], np.float64, "float32 only"),
    ("softmax", "axis0", lambda dev, x: F.softmax(x, 0), [(3, 5)], np.float32, "last axis"),
    ("softmax", "float64", lambda dev, x: F.softmax(x), [(3, 5)], np.float64, "float32 only"),
    (
        "layer_norm",
        "float64",
        lambda dev, x, g: F.layer_norm(x, (6,), g),
        [(2, 6), (6,)],
        np.float64,
        "float32 only",
    ),
    (
        "attention",
        "float-mask",
        lambda dev, q, k, v: sdpa(q, k, v, dev(FLOAT_MASK)),
        QKV,
        np.float32,
        "boolean masks only",
    ),
    (
        "attention",
        "dropout",
        lambda dev, q, k, v: sdpa(q, k, v, dropout_p=DROP, rng=np.random.default_rng(3)),
        QKV,
        np.float32,
        "no dropout",
    ),
    (
        "attention",
        "flash-D72",
        lambda dev, q, k, v: sdpa(q, k, v, is_causal=True),
        [(1, 1, 3, 72)] * 3,
        np.float32,
        "D=72 > 64",
    ),
    (
        "cross_entropy",
        "float64",
        lambda dev, z: F.cross_entropy(z, dev(np.array([1, 0, 2]))),
        [(3, 4)],
        np.float64,
        "float32 only",
    ),
    ("gelu", "float64", lambda dev, x: F.gelu(x, "tanh"), [(3, 5)], np.float64, "float32 only"),
]


@pytest.mark.parametrize(
    "op,case,fn,shapes,dtype,reason", FALLBACKS, ids=[f"{f[0]}-{f[1]}" for f in FALLBACKS]
)
def test_unsupported_calls_run_the_reference(op, case, fn, shapes, dtype, reason, emulated_gpu):
    """No kernel is launched, trace() names the reason, and the result is the NumPy reference's,
    bit for bit (the same reference code ran on the device arrays; on NumPy arrays the CPU
    kernels are set aside with use_cpu("reference"))."""
    with dispatch.trace() as routes:
        out, grads = run_op(fn, shapes, emulated_gpu.to_device, dtype=dtype)
    assert [(r.op, r.version) for r in routes] == [(op, dispatch.BUILTIN)], routes
    assert reason in routes[0].reason, f"{op} {case}: reason {routes[0].reason!r}"
    assert emulated_gpu.launches == [], f"{op} {case}: launched {emulated_gpu.launches}"
    with dispatch.use_cpu("reference"):
        ref_out, ref_grads = run_op(fn, shapes, dtype=dtype)
    np.testing.assert_array_equal(out, ref_out, err_msg=f"{op} {case} output")
    for i, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
        np.testing.assert_array_equal(g, r, err_msg=f"{op} {case} gradient of input {i}")


def test_asking_for_the_weights_keeps_the_kernel_and_computes_them_on_the_side(emulated_gpu):
    """return_weights (record_attention) must not change which code computes the output."""
    fn = lambda dev, q, k, v: sdpa(q, k, v, is_causal=True, return_weights=True)[0]  # noqa: E731
    plain = lambda dev, q, k, v: sdpa(q, k, v, is_causal=True)  # noqa: E731
    with dispatch.trace() as routes:
        out, _ = run_op(fn, QKV[:1] * 3, emulated_gpu.to_device)
    assert [r.reason for r in routes] == [None], routes
    same, _ = run_op(plain, QKV[:1] * 3, emulated_gpu.to_device)
    np.testing.assert_array_equal(out, same)


def test_attention_v1_naive_takes_the_head_dim_v2_flash_does_not(emulated_gpu):
    fn = lambda dev, q, k, v: sdpa(q, k, v, is_causal=True)  # noqa: E731
    with dispatch.use(attention="v1_naive"), dispatch.trace() as routes:
        run_op(fn, [(1, 1, 3, 72)] * 3, emulated_gpu.to_device)
    assert routes == [dispatch.Route("attention", "v1_naive", None)]


def test_invalid_arguments_raise_the_reference_errors_on_the_device(emulated_gpu):
    """Bad arguments fall back to the reference, which raises its usual error."""
    x = Tensor(emulated_gpu.to_device(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(x, "erf")
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        F.cross_entropy(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(IndexError, match="id 3 at flat position 1 is out of range"):
        F.cross_entropy(x, np.array([0, 3]))  # the kernel's own target check
    assert emulated_gpu.launches == []


def test_numpy_arrays_never_reach_the_kernels():
    """Whatever the settings, a NumPy model runs the reference code and records no route."""
    x, y = gpt_batches(1)[0]
    model = GPT(GPT_CONFIG, seed=0)
    with dispatch.use(matmul="v1_naive", attention="v1_naive"), dispatch.trace() as routes:
        model(x, y)[1].backward()
    assert routes == []


def test_builtin_for_every_op_launches_no_kernel(emulated_gpu):
    x, y = gpt_batches(1)[0]
    model = GPT(GPT_CONFIG, seed=0)
    for p in model.parameters():
        p.data = emulated_gpu.to_device(p.data.copy())
    with dispatch.use(version="builtin") as chosen, dispatch.trace() as routes:
        model(x, y)[1].backward()
    assert chosen == {op: dispatch.BUILTIN for op in OPS}
    assert routes and {(r.version, r.reason) for r in routes} == {("builtin", "set to builtin")}
    assert emulated_gpu.launches == []


def test_builtin_for_one_op_keeps_the_kernels_of_the_others(emulated_gpu):
    layer = Linear(5, 3, rng=np.random.default_rng(0))
    for p in layer.parameters():
        p.data = emulated_gpu.to_device(p.data)
    x = Tensor(emulated_gpu.to_device(np.ones((2, 5), np.float32)))
    with dispatch.use(op="matmul", version="builtin"), dispatch.trace() as routes:
        F.gelu(layer(x), "tanh")
    assert routes == [
        dispatch.Route("matmul", "builtin", "set to builtin"),
        dispatch.Route("gelu", best("cupy", "gelu"), None),
    ]
    assert all(name.startswith("gelu_") for name in emulated_gpu.launches)


def test_set_versions_persists_until_reset_and_use_restores_on_error(emulated_gpu):
    default = dispatch.current_versions()
    assert default == {op: best("cupy", op) for op in OPS}
    now = dispatch.set_versions(matmul="v2_smem_tiles", softmax="builtin")
    assert now == {**default, "matmul": "v2_smem_tiles", "softmax": "builtin"}
    a = Tensor(emulated_gpu.to_device(np.ones((3, 4), np.float32)))
    a @ a.T
    assert emulated_gpu.launches == ["matmul_v2_smem_tiles<32>"]
    with pytest.raises(KeyError), dispatch.use(matmul="v1_naive"):
        assert dispatch.current_versions()["matmul"] == "v1_naive"
        raise KeyError("leave the block by an error")
    assert dispatch.current_versions() == now
    assert dispatch.set_versions(matmul=None, softmax=None) == default


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"op": "matmull", "version": "v1_naive"}, ValueError, "unknown op 'matmull'"),
        ({"softmx": "builtin"}, ValueError, "unknown op 'softmx'"),
        ({"matmul": "v9_tensor_cores"}, ValueError, "no CuPy kernel version 'v9_tensor_cores'"),
        ({"op": "gelu", "version": "v1_naive"}, ValueError, r"\['v1_elementwise', 'v2_float4'\]"),
        ({"op": "gelu", "matmul": "builtin"}, TypeError, "not both"),
    ],
)
def test_bad_settings_raise_naming_what_was_wrong(kwargs, error, match):
    for setter in (dispatch.set_versions, lambda **kw: dispatch.use(**kw).__enter__()):
        with pytest.raises(error, match=match):
            setter(**kwargs)
    assert dispatch.current_versions() == {op: best("cupy", op) for op in OPS}


def _without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    for name in [m for m in sys.modules if m.startswith("minillm.kernels.cupy")]:
        monkeypatch.delitem(sys.modules, name)


def test_naming_a_kernel_version_without_cupy_says_what_to_install(monkeypatch):
    _without_cupy(monkeypatch)
    with pytest.raises(RuntimeError, match=r"pip install 'minillm\[cuda\]'"):
        dispatch.set_versions(matmul="v1_naive")
    assert dispatch.set_versions(matmul="builtin")["matmul"] == "builtin"  # needs no CuPy


def test_cuda_device_without_cupy_or_without_a_gpu_raises_runtime_error(monkeypatch):
    x = np.ones((2, 3), np.float32)
    moves = {
        "Tensor(device=)": lambda: Tensor(x, device="cuda"),
        "Tensor.to": lambda: Tensor(x).to("cuda"),
        "Module.to": lambda: Linear(3, 2).to("cuda"),
    }
    _without_cupy(monkeypatch)
    for move in moves.values():
        with pytest.raises(RuntimeError, match=r"needs CuPy and an NVIDIA GPU: pip install"):
            move()
    monkeypatch.setitem(sys.modules, "cupy", SimpleNamespace(is_available=lambda: False))
    for move in moves.values():
        with pytest.raises(RuntimeError, match="needs an NVIDIA GPU, and CuPy found none"):
            move()
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Tensor(x, device="tpu")


def test_cuda_device_on_this_machine():
    """Here, with no patching: without a GPU .to("cuda") raises RuntimeError; with one it moves."""
    try:
        import cupy  # optional dependency

        gpu = bool(cupy.is_available())
    except Exception:  # no CuPy, or no driver
        gpu = False
    t = Tensor(np.arange(3, dtype=np.float32))
    if gpu:
        assert t.to("cuda").device == "cuda"
        np.testing.assert_array_equal(t.to("cuda").numpy(), t.data)
    else:
        with pytest.raises(RuntimeError, match="NVIDIA GPU"):
            t.to("cuda")
    assert Tensor(t.data, device="cpu").device == "cpu"


def test_importing_and_running_minillm_on_numpy_imports_neither_cupy_nor_numba():
    """Importing minillm, and running the readable NumPy code, import neither; the CPU kernels
    (the default on NumPy arrays) import Numba where it is installed, and never CuPy."""
    code = (
        "import sys, numpy as np\n"
        "import minillm, minillm.functional, minillm.ops.dispatch\n"
        "from minillm.models import GPT, GPTConfig\n"
        "loaded = lambda: sorted(k for k in ('cupy', 'numba') if k in sys.modules)\n"
        "print(loaded())\n"
        "m = GPT(GPTConfig(vocab_size=5, block_size=4, n_layers=1, n_heads=1, d_model=4))\n"
        "x = np.zeros((1, 3), int)\n"
        "with minillm.ops.dispatch.use_cpu('reference'):\n"
        "    m(x, x)[1].backward()\n"
        "print(loaded())\n"
        "m(x, x)[1].backward()\n"
        "print(loaded())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after_import, after_reference, after_default = done.stdout.splitlines()[:3]
    assert after_import == after_reference == "[]", f"imported at import/CPU time: {done.stdout}"
    expected = "['numba']" if dispatch.numba_installed() else "[]"
    assert after_default == expected, f"after the CPU kernels ran: {done.stdout}"


def test_registry_is_the_one_the_dispatcher_reads():
    """Every default names a registered CuPy version (best() and VERSIONS agree)."""
    for op, version in dispatch.current_versions().items():
        assert version in registry("cupy", op), f"{op}: default {version!r} is not registered"
