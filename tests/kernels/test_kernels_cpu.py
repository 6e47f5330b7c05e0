"""The CPU kernels (kernels/cpu, Numba @njit) against the NumPy reference, and the dispatcher's
CPU path: every (op, version) on ragged shapes and edge cases (one element, empty, all-masked
rows, ignored targets, a nan row), AdamW bitwise equal to Adam's NumPy code, the switch between
the kernels and the readable code, and a GPT trained both ways."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from kernel_cases import check_cross_entropy, check_gelu, check_layer_norm, check_softmax
from kernel_check import assert_close, f64, rand
from minillm.kernels import CPU_OPS, best, registry

import minillm.functional as F
from minillm.models import GPT
from minillm.ops import dispatch
from minillm.ops.attention import attention_backward, attention_forward
from minillm.ops.attention import scaled_dot_product_attention as sdpa
from minillm.ops.layer_norm import layer_norm_forward
from minillm.ops.softmax import softmax_forward
from minillm.optim import AdamW
from minillm.tensor import Tensor
from minillm.tensor import dispatch as core

pytestmark = pytest.mark.skipif(not core.numba_installed(), reason="needs numba (minillm[cpu])")


def versions(op):
    return sorted(registry("cpu", op))


def cases(op, shapes):
    return [(v, s) for v in versions(op) for s in shapes]


# ---- each version against the reference --------------------------------------------------------
@pytest.mark.parametrize("version,shape", cases("softmax", [(1, 1), (5,), (3, 37), (2, 3, 65)]))
def test_F17_softmax_cpu_matches_the_reference(version, shape):
    check_softmax(
        registry("cpu", "softmax")[version], np.random.default_rng(0), shape, neg_inf=True
    )


@pytest.mark.parametrize("version", versions("softmax"))
def test_F17_softmax_cpu_row_of_minus_inf_is_nan_as_the_reference(version):
    x = rand(np.random.default_rng(1), 3, 4)
    x[1] = -np.inf
    s, _ = registry("cpu", "softmax")[version](x)
    with np.errstate(invalid="ignore"):  # the reference's -inf - -inf
        ref, _ = softmax_forward(f64(x))
    assert np.isnan(s[1]).all() and np.isnan(ref[1]).all(), s
    assert_close(s, ref, "softmax", "s", (3, 4))  # nan on both sides passes


LN_CASES = [((1, 1), (True, True)), ((7, 13), (True, False)), ((2, 3, 129), (False, False))]


@pytest.mark.parametrize("version,case", cases("layer_norm", LN_CASES))
@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_C14_layer_norm_cpu_matches_the_reference(version, case, offset):
    shape, affine = case
    pair = registry("cpu", "layer_norm")[version]
    check_layer_norm(pair, np.random.default_rng(2), shape, affine, offset)


CE_CASES = [  # N, V, reduction, ignored rows, ignore_index
    (1, 1, "mean", (), -100),
    (7, 5, "none", (2,), -100),
    (33, 65, "sum", (0, 5, 32), -100),
    (6, 11, "mean", (1, 4), 0),  # ignore_index inside [0, V)
    (0, 4, "sum", (), -100),  # no rows
]


@pytest.mark.parametrize("version,case", cases("cross_entropy", CE_CASES))
def test_F8_cross_entropy_cpu_matches_the_reference(version, case):
    N, V, reduction, ignored, ignore_index = case
    pair = registry("cpu", "cross_entropy")[version]
    check_cross_entropy(pair, np.random.default_rng(3), N, V, reduction, ignored, ignore_index)


@pytest.mark.parametrize("version", versions("cross_entropy"))
def test_F8_cross_entropy_cpu_every_row_ignored_as_the_reference(version):
    """ "mean" over no valid rows: a nan loss, and the reference's gradient."""
    pair = registry("cpu", "cross_entropy")[version]
    with np.errstate(invalid="ignore", divide="ignore"):  # the reference's 0 / 0
        check_cross_entropy(pair, np.random.default_rng(4), 4, 3, "mean", (0, 1, 2, 3))


@pytest.mark.parametrize("version", versions("cross_entropy"))
def test_F8_cross_entropy_cpu_names_an_out_of_range_target(version):
    pair = registry("cpu", "cross_entropy")[version]
    with pytest.raises(IndexError, match=r"id 3 at flat position 1 is out of range \[0, 3\)"):
        pair(np.zeros((2, 3), np.float32), np.array([0, 3]))


@pytest.mark.parametrize("version,shape", cases("gelu", [(), (1,), (37,), (3, 129), (0, 4)]))
@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_C14_gelu_cpu_matches_the_reference(version, shape, approximate):
    check_gelu(registry("cpu", "gelu")[version], np.random.default_rng(5), shape, approximate)


ATTENTION_CASES = [  # B, H, T, S, D, causal, mask shape, fully masked row
    (1, 2, 5, 7, 3, False, None, None),
    (1, 1, 6, 6, 4, True, None, None),
    (1, 1, 1, 5, 2, True, None, None),  # T = 1: one query, the last, sees every key
    (1, 1, 4, 6, 3, True, (4, 6), (2,)),  # bottom-right causal with S > T; query 2 sees nothing
    (1, 1, 6, 4, 3, True, None, None),  # T > S: the first two queries see no key at all
    (2, 1, 3, 5, 2, False, (2, 1, 1, 5), (1, 0, 0)),  # padding mask, batch 1 fully padded
    (1, 2, 3, 4, 5, False, (1, 2, 3, 4), (0, 1, 2)),  # a full (B, H, T, S) mask
]


@pytest.mark.parametrize("version,case", cases("attention", ATTENTION_CASES))
def test_F5_attention_cpu_matches_the_reference(version, case):
    """Same arguments as the reference, is_causal included (both align it bottom-right)."""
    B, H, T, S, D, causal, mask_shape, dead_row = case
    rng = np.random.default_rng(6)
    q, k, v = rand(rng, B, H, T, D), rand(rng, B, H, S, D), rand(rng, B, H, S, D)
    mask = None if mask_shape is None else rng.random(mask_shape) > 0.3
    if dead_row is not None:
        mask[dead_row] = False
    pair = registry("cpu", "attention")[version]
    o, cache = pair(q, k, v, attn_mask=mask, is_causal=causal)
    ref_o, ref_cache = attention_forward(f64(q), f64(k), f64(v), mask, causal)
    what = f"q {q.shape} k {k.shape} causal={causal} mask={mask_shape}"
    assert_close(o, ref_o, "attention", "o", what)
    do = rand(rng, B, H, T, D)
    grads = pair.backward(do, cache)
    for name, got, ref in zip(("dq", "dk", "dv"), grads, attention_backward(f64(do), ref_cache)):
        assert_close(got, ref, "attention", name, what)


def _params(rng):
    shapes = [(7, 5), (13,), (1,), (3, 4, 2)]
    return [Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]


@pytest.mark.parametrize("version", versions("adamw"))
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_C21_adamw_cpu_is_bitwise_adams_numpy_update(version, weight_decay):
    """Three steps; one parameter has no gradient at step 2 (skipped, its step count lags)."""
    runs = []
    for setting in (version, dispatch.REFERENCE):
        rng = np.random.default_rng(7)
        params = _params(rng)
        opt = AdamW(params, lr=3e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay)
        with dispatch.use_cpu(adamw=setting):
            for step in range(3):
                for i, p in enumerate(params):
                    has_grad = not (step == 1 and i == 1)
                    p.grad = rng.standard_normal(p.shape).astype(np.float32) if has_grad else None
                opt.step()
        runs.append((params, opt))
    (params, opt), (ref_params, ref_opt) = runs
    for p, r in zip(params, ref_params, strict=True):
        np.testing.assert_array_equal(p.data, r.data, err_msg=f"adamw {version} p {p.shape}")
        for key in ("exp_avg", "exp_avg_sq", "step"):
            got, want = opt.state[p][key], ref_opt.state[r][key]
            np.testing.assert_array_equal(got, want, err_msg=f"adamw {version} {key} {p.shape}")


# ---- the dispatcher: which code runs on NumPy arrays ---------------------------------------------
def test_the_default_on_numpy_is_the_best_cpu_version():
    assert dispatch.cpu_versions() == {op: best("cpu", op) for op in CPU_OPS}
    x = Tensor(rand(np.random.default_rng(8), 3, 37), requires_grad=True)
    with dispatch.trace(cpu=True) as routes:
        F.gelu(F.softmax(x, -1), "tanh").sum().backward()
    cpu = [(r.op, r.version, r.reason, r.device) for r in routes]
    assert cpu == [("softmax", best("cpu", "softmax"), None, "cpu"),
                   ("gelu", best("cpu", "gelu"), None, "cpu")]  # fmt: skip
    with dispatch.trace() as routes:  # without cpu=True, trace() records GPU choices only
        F.gelu(x, "tanh")
    assert routes == []


def test_use_cpu_reference_runs_the_readable_code_then_restores():
    x = rand(np.random.default_rng(9), 4, 6)
    with dispatch.use_cpu("reference") as chosen, dispatch.trace(cpu=True) as routes:
        y = F.layer_norm(Tensor(x), (6,))
    assert chosen == dict.fromkeys(CPU_OPS, "reference")
    assert routes == [dispatch.Route("layer_norm", "reference", "set to reference", "cpu")]
    assert dispatch.cpu_versions()["layer_norm"] == best("cpu", "layer_norm")
    np.testing.assert_array_equal(y.data, layer_norm_forward(x, None, None)[0])


FALLBACKS = [  # (op, fn on a float32 (3, 5) tensor x or a float64 one, dtype, reason)
    ("softmax", lambda x: F.softmax(x, 0), np.float32, "last axis"),
    ("gelu", lambda x: F.gelu(x, "tanh"), np.float64, "float32 only"),
    ("attention", lambda x: sdpa(x[None], x[None], x[None], dropout_p=0.5), np.float32, "dropout"),
    ("attention", lambda x: sdpa(x[None], x[None], x[None], x[0, :3] * 0), np.float32, "float"),
]


@pytest.mark.parametrize("op,fn,dtype,reason", FALLBACKS)
def test_calls_the_kernels_cannot_take_run_the_reference(op, fn, dtype, reason):
    x = Tensor(np.random.default_rng(10).standard_normal((3, 5)).astype(dtype))
    with dispatch.trace(cpu=True) as routes:
        fn(x)
    assert [(r.op, r.version) for r in routes] == [(op, "reference")], routes
    assert reason in routes[0].reason, routes


@pytest.mark.parametrize(
    "args,kwargs,error,match",
    [
        ((), {"gelu": "v9_avx512"}, ValueError, r"no CPU kernel version 'v9_avx512'"),
        ((), {"matmul": "reference"}, ValueError, "unknown CPU op 'matmul'"),
        (("reference",), {"gelu": "v1_libm"}, TypeError, "one version for every op"),
    ],
)
def test_bad_cpu_settings_raise_naming_what_was_wrong(args, kwargs, error, match):
    for setter in (
        dispatch.set_cpu_versions,
        lambda *a, **k: dispatch.use_cpu(*a, **k).__enter__(),
    ):
        with pytest.raises(error, match=match):
            setter(*args, **kwargs)
    assert dispatch.cpu_versions() == {op: best("cpu", op) for op in CPU_OPS}


def test_reference_as_a_gpu_op_name_points_to_use_cpu():
    with pytest.raises(ValueError, match=r"use_cpu\('reference'\)"):
        dispatch.use("reference").__enter__()


def test_without_numba_every_op_runs_the_reference(monkeypatch):
    """Numba absent: the defaults say "reference", nothing is imported, and naming a kernel says
    what to install. A Numba that fails to import is bypassed the same way."""
    monkeypatch.setattr(core, "numba_installed", lambda: False)
    monkeypatch.setattr(core, "_cpu_tables", {})
    assert dispatch.cpu_versions() == dict.fromkeys(CPU_OPS, "reference")
    with pytest.raises(RuntimeError, match=r"pip install 'minillm\[cpu\]'"):
        dispatch.set_cpu_versions(gelu="v2_vector")
    monkeypatch.setattr(core, "numba_installed", lambda: True)
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    for name in [m for m in sys.modules if m.startswith("minillm.kernels.cpu")]:
        monkeypatch.delitem(sys.modules, name)
    with dispatch.trace(cpu=True) as routes:
        F.gelu(Tensor(np.ones(3, np.float32)), "tanh")
    assert routes == [dispatch.Route("gelu", "reference", "Numba failed to import", "cpu")]


def _gpu_backend_cases():
    """tests/gpu_backend/gpu_backend_cases.py: its GPT training run and comparison, shared."""
    name = "gpu_backend_cases"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "gpu_backend" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_F6_gpt_training_with_the_cpu_kernels_matches_the_readable_code():
    """Three AdamW steps of a tiny GPT: every hot op ran a kernel (trace), and the losses, the
    gradients and the update equal the reference run's within the kernels' tolerance."""
    cases = _gpu_backend_cases()
    batches = cases.gpt_batches(3)
    with dispatch.trace(cpu=True) as routes:
        run = cases.train_gpt(GPT(cases.GPT_CONFIG, seed=0), batches)
    ran = {(r.op, r.version) for r in routes}
    hot = ("layer_norm", "attention", "cross_entropy", "gelu", "adamw")
    assert ran == {(op, best("cpu", op)) for op in hot}, ran
    with dispatch.use_cpu("reference"):
        ref = cases.train_gpt(GPT(cases.GPT_CONFIG, seed=0), batches)
    cases.assert_gpt_runs_match(run, ref)
