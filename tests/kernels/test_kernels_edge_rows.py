"""The edge rows of tests/edge (issue 9) for the kernels: every version of softmax, layer norm,
attention, cross-entropy and GELU, under Numba's simulator, the CuPy emulator and on the CPU
(kernels/cpu), against the NumPy reference in float64: empty inputs (no rows), rows of -inf and
+inf entries, constant rows, all-masked attention rows (and every row masked), all-ignored and no
targets, nan in an ignored row, +-inf, nan and 1e30 in GELU. nan and infinity positions must equal
the reference's, finite values within minillm.kernels.TOLERANCES. The reference's answers are
PyTorch 2.13's (tests/edge/test_edge_table.py holds them to it).
"""

import numpy as np
import pytest
from kernel_check import f64, rand, to_host
from minillm.kernels import TOLERANCES, registry
from minillm.kernels.numba import attention as numba_attention
from minillm.kernels.numba import cross_entropy as numba_ce
from minillm.kernels.numba import gelu as numba_gelu
from minillm.kernels.numba import layer_norm as numba_ln
from minillm.kernels.numba import softmax as numba_softmax

from minillm.ops.attention import attention_backward, attention_forward
from minillm.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from minillm.ops.gelu import gelu_backward, gelu_forward
from minillm.ops.layer_norm import layer_norm_backward, layer_norm_forward
from minillm.ops.softmax import softmax_backward, softmax_forward
from minillm.tensor import dispatch as core

INF, NAN = np.inf, np.nan
# small blocks under the simulator (each CUDA thread is a Python thread there)
SIM = {
    "softmax": {
        "v1_smem_reduce": numba_softmax.make_v1(4),
        "v2_online_smem": numba_softmax.make_v2(4),
    },
    "layer_norm": {
        "v1_two_pass": numba_ln.make_v1(threads=4, cols=4, rows_per=2),
        "v2_welford": numba_ln.make_v2(threads=4, cols=4, rows_per=2),
    },
    "attention": {
        "v1_naive": numba_attention.make_v1(threads=4, mm_block=(4, 4)),
        "v2_flash": numba_attention.make_v2(BR=4, BC=4),
    },
    "cross_entropy": {"v1_smem_reduce": numba_ce.make_v1(threads=4)},
    "gelu": {"v1_elementwise": numba_gelu.make_v1(threads=8, max_blocks=2)},
}
# NumPy warns on the reference's inf - inf and 0 * inf: these rows are made of them
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def assert_edge(out, ref, op, what):
    """nan, +inf and -inf where the reference has them; finite values within the op's tolerance."""
    out = to_host(out).astype(np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"{op} {what}: shape {out.shape} != reference {ref.shape}"
    for name, test in (("nan", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        differ = test(out) != test(ref)
        if differ.any():
            i = tuple(int(j) for j in np.argwhere(differ)[0])
            raise AssertionError(f"{op} {what}: {name} differs at {i}: {out[i]!r} vs {ref[i]!r}")
    atol, rtol = TOLERANCES[op]
    finite = np.isfinite(ref)
    err = np.abs(out[finite] - ref[finite]) - (atol + rtol * np.abs(ref[finite]))
    assert err.size == 0 or err.max() <= 0, f"{op} {what}: off by {err.max()} beyond tolerance"


def softmax_rows(pair):
    x = np.array(
        [
            [-INF] * 5,
            [0.0, 1.0, INF, 2.0, 3.0],
            [-INF, 0.0, 1.0, 2.0, 3.0],
            [0.5, -1, 2, 0.25, 1e30],
        ],
        np.float32,
    )  # a row of -inf, a +inf entry (both nan), a masked entry, a huge logit
    for what, xi in (("edge rows", x), ("no rows", np.zeros((0, 5), np.float32))):
        s, cache = pair(xi)
        ref, ref_cache = softmax_forward(f64(xi))
        assert_edge(s, ref, "softmax", f"s of {what}")
        dy = rand(np.random.default_rng(0), *xi.shape)
        assert_edge(pair.backward(dy, cache), softmax_backward(f64(dy), ref_cache), "softmax", what)


def layer_norm_rows(pair):
    rng = np.random.default_rng(1)
    x = np.stack(
        [np.full(6, 5.0), [INF, 1, 2, 3, 4, 5], rng.standard_normal(6), np.full(6, 1e-30)]
    ).astype(np.float32)  # a constant row (variance 0), an inf, an ordinary row, tiny values
    gamma, beta = rand(rng, 6), rand(rng, 6)
    for what, xi in (("edge rows", x), ("no rows", np.zeros((0, 6), np.float32))):
        y, cache = pair(xi, gamma, beta, 1e-5)
        ref, ref_cache = layer_norm_forward(f64(xi), f64(gamma), f64(beta), 1e-5)
        assert_edge(y, ref, "layer_norm", f"y of {what}")
        dy = rand(rng, *xi.shape)
        grads = pair.backward(dy, cache)
        for name, got, want in zip(
            ("dx", "dgamma", "dbeta"), grads, layer_norm_backward(f64(dy), ref_cache)
        ):
            assert_edge(got, want, "layer_norm", f"{name} of {what}")


def cross_entropy_rows(pair):
    rng = np.random.default_rng(2)
    z = rand(rng, 3, 5)
    nan_row = z.copy()
    nan_row[0] = NAN
    inf_target = np.array([[-INF, 1.0, 2.0], [0.0, 1.0, 2.0]], np.float32)
    rows = []
    for reduction in ("mean", "sum", "none"):
        rows.append((f"all ignored {reduction}", z, np.full(3, -100), reduction))
        rows.append(
            (f"no rows {reduction}", np.zeros((0, 5), np.float32), np.zeros(0, np.int64), reduction)
        )
    rows.append(("nan in an ignored row", nan_row, np.array([-100, 1, 2]), "mean"))
    rows.append(("-inf at the target", inf_target, np.array([0, 2]), "none"))
    for what, logits, targets, reduction in rows:
        loss, cache = pair(logits, targets, ignore_index=-100, reduction=reduction)
        ref, ref_cache = cross_entropy_forward(f64(logits), targets, -100, reduction)
        assert_edge(loss, ref, "cross_entropy", f"loss, {what}")
        dloss = rand(rng, *np.shape(ref))
        got = pair.backward(dloss, cache)
        want = cross_entropy_backward(f64(dloss), ref_cache)
        assert_edge(got, want, "cross_entropy", f"dlogits, {what}")


def attention_rows(pair):
    rng = np.random.default_rng(3)
    B, H, T, S, D = 2, 1, 3, 4, 2
    q, k, v = rand(rng, B, H, T, D), rand(rng, B, H, S, D), rand(rng, B, H, S, D)
    mask = rng.random((B, 1, T, S)) > 0.3
    mask[0, 0, 1] = False  # one query of batch 0 sees no key
    mask[1] = False  # no query of batch 1 sees a key
    for what, m in (("all-masked rows", mask), ("every row masked", np.zeros((T, S), bool))):
        o, cache = pair(q, k, v, attn_mask=m, is_causal=False)
        ref, ref_cache = attention_forward(f64(q), f64(k), f64(v), m, False)
        assert_edge(o, ref, "attention", f"o, {what}")
        do = rand(rng, B, H, T, D)
        grads = pair.backward(do, cache)
        for name, got, want in zip(
            ("dq", "dk", "dv"), grads, attention_backward(f64(do), ref_cache)
        ):
            assert_edge(got, want, "attention", f"{name}, {what}")


def gelu_rows(pair):
    """Against the reference in float32, the kernels' dtype: at 1e30 the tanh form's x^3
    overflows to a nan derivative in float32 (PyTorch's answer too), not in float64."""
    specials = np.array([0, -0.0, 1, -1, INF, -INF, NAN, 1e30, -1e30, 1e-30, 8, -8], np.float32)
    for approximate in ("none", "tanh"):
        for what, x in (("specials", specials), ("no elements", np.zeros(0, np.float32))):
            y, cache = pair(x, approximate=approximate)
            ref, ref_cache = gelu_forward(x, approximate)
            assert_edge(y, ref, "gelu", f"y of {what} ({approximate})")
            dy = rand(np.random.default_rng(4), *x.shape)
            got = pair.backward(dy, cache, approximate=approximate)
            want = gelu_backward(dy, ref_cache, approximate)
            assert_edge(got, want, "gelu", f"dx of {what} ({approximate})")


ROWS = {
    "softmax": softmax_rows,
    "layer_norm": layer_norm_rows,
    "cross_entropy": cross_entropy_rows,
    "attention": attention_rows,
    "gelu": gelu_rows,
}
CASES = [(op, version) for op in ROWS for version in sorted(SIM[op])]


@pytest.mark.cudasim
@pytest.mark.parametrize("op,version", CASES)
def test_edge_rows_numba_simulated(op, version, numba_sim):
    ROWS[op](SIM[op][version])


@pytest.mark.parametrize(
    "op,version", [(op, v) for op in ROWS for v in sorted(registry("cupy", op))]
)
def test_edge_rows_cupy_emulated(op, version, cupy_emu):
    ROWS[op](cupy_emu(op)[version])


@pytest.mark.skipif(not core.numba_installed(), reason="needs numba (minillm[cpu])")
@pytest.mark.parametrize(
    "op,version", [(op, v) for op in ROWS for v in sorted(registry("cpu", op))]
)
def test_edge_rows_cpu_kernels(op, version):
    """kernels/cpu, the fast path chosen by default on float32 NumPy arrays, on the same rows."""
    ROWS[op](registry("cpu", op)[version])


@pytest.mark.gpu
@pytest.mark.parametrize(
    "op,version", [(op, v) for op in ROWS for v in sorted(registry("cupy", op))]
)
def test_edge_rows_cupy_gpu(op, version, cupy_gpu):
    ROWS[op](registry("cupy", op)[version])


@pytest.mark.gpu
@pytest.mark.parametrize(
    "op,version", [(op, v) for op in ROWS for v in sorted(registry("numba", op))]
)
def test_edge_rows_numba_gpu(op, version, numba_gpu):
    ROWS[op](registry("numba", op)[version])
