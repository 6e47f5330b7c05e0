"""Attention kernels (every backend and version; naive and flash) against
minillm.ops.attention (F5, F16-F18), reference in float64. Causal masking is top-left aligned;
a query whose keys are all masked must give output 0 and zero gradients."""

import numpy as np
import pytest
from kernel_cases import check_attention
from minillm.kernels import registry
from minillm.kernels.numba import attention as numba_attention

# B, H, T, S, D, causal, mask shape, fully masked row
CASES = [
    (1, 2, 5, 7, 3, False, None, None),
    (1, 1, 6, 6, 4, True, None, None),
    (1, 1, 1, 5, 2, False, None, None),  # T = 1: a single query (decoding)
    (1, 1, 4, 6, 3, True, (4, 6), (2,)),  # causal with S > T, and query 2 sees nothing
    (2, 1, 3, 5, 2, False, (2, 1, 1, 5), (1, 0, 0)),  # padding mask, batch 1 fully padded
    (1, 2, 3, 4, 5, False, (1, 2, 3, 4), (0, 1, 2)),  # a full (B, H, T, S) mask
]
SIM_SMALL = {
    "v1_naive": numba_attention.make_v1(threads=4, mm_block=(4, 4)),
    "v2_flash": numba_attention.make_v2(BR=4, BC=4),  # T, S up to 7: two query and key tiles
}


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: "B{}H{}T{}S{}D{}-causal{}-mask{}".format(*c[:7])
)
@pytest.mark.parametrize("version", sorted(SIM_SMALL))
def test_F5_attention_numba_simulated(version, case, numba_sim):
    check_attention(SIM_SMALL[version], np.random.default_rng(0), *case)


@pytest.mark.cudasim
@pytest.mark.parametrize("version", sorted(registry("numba", "attention")))
def test_F5_attention_numba_registered_version_simulated(version, numba_sim):
    """The registered block sizes (64-query, 32-key tiles), causal, with a dead row."""
    pair = registry("numba", "attention")[version]
    check_attention(pair, np.random.default_rng(1), 1, 1, 5, 7, 3, True, (5, 7), (1,))


@pytest.mark.cudasim
def test_attention_rejects_bad_inputs_simulated(numba_sim):
    pair = SIM_SMALL["v2_flash"]
    q = np.ones((1, 2, 3, 4), np.float32)
    k = np.ones((1, 2, 5, 4), np.float32)
    with pytest.raises(TypeError, match="boolean attn_mask; got float32"):
        pair(q, k, k, attn_mask=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"attn_mask \(3, 4\) does not broadcast"):
        pair(q, k, k, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="do not match"):
        pair(q, k, np.ones((1, 2, 5, 3), np.float32))


GPU_CASES = [
    (1, 1, 1, 1, 1, False, None, None),
    (2, 3, 64, 64, 64, True, None, None),
    (1, 2, 1, 100, 32, False, None, None),
    (2, 4, 257, 300, 64, False, (2, 1, 1, 300), (1, 0, 0)),
    (1, 2, 130, 130, 13, True, (130, 130), (5,)),
    (1, 2, 1024, 1024, 64, True, None, None),
]


@pytest.mark.gpu
@pytest.mark.parametrize(
    "case", GPU_CASES, ids=lambda c: "B{}H{}T{}S{}D{}-causal{}-mask{}".format(*c[:7])
)
@pytest.mark.parametrize("version", sorted(registry("cupy", "attention")))
def test_F5_attention_cupy_gpu(version, case, cupy_gpu):
    check_attention(registry("cupy", "attention")[version], np.random.default_rng(2), *case)


@pytest.mark.gpu
@pytest.mark.parametrize(
    "case", GPU_CASES, ids=lambda c: "B{}H{}T{}S{}D{}-causal{}-mask{}".format(*c[:7])
)
@pytest.mark.parametrize("version", sorted(registry("numba", "attention")))
def test_F5_attention_numba_gpu(version, case, numba_gpu):
    check_attention(registry("numba", "attention")[version], np.random.default_rng(3), *case)


@pytest.mark.gpu
def test_attention_cupy_flash_rejects_large_head_dim(cupy_gpu):
    x = np.ones((1, 1, 2, 65), np.float32)
    with pytest.raises(ValueError, match="head dim D <= 64; got D=65"):
        registry("cupy", "attention")["v2_flash"](x, x, x)
