"""Softmax kernels (every backend and version) against minillm.ops.softmax (F17), float64."""

import numpy as np
import pytest
from kernel_cases import check_softmax
from minillm.kernels import registry
from minillm.kernels.numba import softmax as numba_softmax

# 4-thread blocks: rows of 1, 5, 10 and 37 leave blocks partly idle or stride several times
SIM_CASES = [(3, 37), (1, 1), (2, 2, 5), (1, 10)]
SIM_SMALL = {"v1_smem_reduce": numba_softmax.make_v1(4), "v2_online_smem": numba_softmax.make_v2(4)}


@pytest.mark.cudasim
@pytest.mark.parametrize("shape", SIM_CASES)
@pytest.mark.parametrize("version", sorted(SIM_SMALL))
def test_F17_softmax_numba_simulated(version, shape, numba_sim):
    check_softmax(SIM_SMALL[version], np.random.default_rng(0), shape)


@pytest.mark.cudasim
@pytest.mark.parametrize("version", sorted(registry("numba", "softmax")))
def test_F17_softmax_numba_registered_version_simulated(version, numba_sim):
    """The registered block size (128 threads) on one row, with a -inf logit."""
    check_softmax(
        registry("numba", "softmax")[version], np.random.default_rng(1), (1, 150), neg_inf=True
    )


@pytest.mark.cudasim
def test_softmax_rejects_other_axes_simulated(numba_sim):
    pair = registry("numba", "softmax")["v1_smem_reduce"]
    with pytest.raises(ValueError, match="last axis only; got axis=0"):
        pair(np.ones((2, 3), np.float32), axis=0)
    s, _ = pair(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\), expected s's \(2, 3\)"):
        pair.backward(np.ones((3, 2), np.float32), s)


GPU_CASES = [(1, 1), (7, 33), (4, 97, 50), (64, 1024), (8, 50257), (3, 2049)]


@pytest.mark.gpu
@pytest.mark.parametrize("shape", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("cupy", "softmax")))
def test_F17_softmax_cupy_gpu(version, shape, cupy_gpu):
    check_softmax(
        registry("cupy", "softmax")[version], np.random.default_rng(2), shape, neg_inf=True
    )


@pytest.mark.gpu
@pytest.mark.parametrize("shape", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("numba", "softmax")))
def test_F17_softmax_numba_gpu(version, shape, numba_gpu):
    check_softmax(
        registry("numba", "softmax")[version], np.random.default_rng(3), shape, neg_inf=True
    )
