"""Fused softmax cross-entropy kernels (every backend and version) against
minillm.ops.cross_entropy (F8, F9), reference in float64."""

import numpy as np
import pytest
from kernel_cases import check_cross_entropy
from minillm.kernels import registry
from minillm.kernels.numba import cross_entropy as numba_ce

SIM_SMALL = {"v1_smem_reduce": numba_ce.make_v1(threads=4)}
# 4-thread blocks: vocabularies of 1, 6 and 37 leave threads idle or stride several times
SIM_CASES = [(3, 37, "mean", (1,)), (1, 1, "mean", ()), (4, 6, "sum", (0, 3)), (2, 6, "none", (1,))]


@pytest.mark.cudasim
@pytest.mark.parametrize("N,V,reduction,ignored", SIM_CASES)
@pytest.mark.parametrize("version", sorted(SIM_SMALL))
def test_F8_cross_entropy_numba_simulated(version, N, V, reduction, ignored, numba_sim):
    check_cross_entropy(SIM_SMALL[version], np.random.default_rng(0), N, V, reduction, ignored)


@pytest.mark.cudasim
@pytest.mark.parametrize("version", sorted(registry("numba", "cross_entropy")))
def test_F8_cross_entropy_numba_registered_version_simulated(version, numba_sim):
    pair = registry("numba", "cross_entropy")[version]
    check_cross_entropy(pair, np.random.default_rng(1), 2, 300, "mean", (), ignore_index=5)


@pytest.mark.cudasim
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the simulated 0/0
def test_cross_entropy_all_ignored_mean_is_nan_simulated(numba_sim):
    """No valid row: the mean is 0/0 = nan and the gradient 0 (ignored rows get none), as the
    reference and PyTorch (test_kernels_edge_rows.py holds every version to the reference)."""
    pair = SIM_SMALL["v1_smem_reduce"]
    loss, cache = pair(np.zeros((2, 3), np.float32), np.full(2, -100))
    assert np.isnan(loss.copy_to_host()), "cross_entropy mean over zero valid rows must be nan"
    dlogits = pair.backward(np.float32(1.0), cache).copy_to_host()
    assert not dlogits.any(), f"cross_entropy all-ignored gradient must be 0, got {dlogits}"


@pytest.mark.cudasim
def test_cross_entropy_rejects_bad_targets_simulated(numba_sim):
    pair = SIM_SMALL["v1_smem_reduce"]
    logits = np.zeros((3, 4), np.float32)
    with pytest.raises(IndexError, match=r"id 4 at flat position 2 is out of range \[0, 4\)"):
        pair(logits, np.array([0, -100, 4]))
    with pytest.raises(ValueError, match=r"logits must be \(N, V\) and targets \(N,\)"):
        pair(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="reduction must be"):
        pair(logits, np.array([0, 1, 2]), reduction="avg")


GPU_CASES = [
    (1, 1, "mean", ()),
    (7, 33, "mean", (2, 5)),
    (64, 1000, "sum", (0,)),
    (33, 50257, "mean", (3,)),
    (5, 129, "none", (4,)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("N,V,reduction,ignored", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("cupy", "cross_entropy")))
def test_F8_cross_entropy_cupy_gpu(version, N, V, reduction, ignored, cupy_gpu):
    pair = registry("cupy", "cross_entropy")[version]
    check_cross_entropy(pair, np.random.default_rng(2), N, V, reduction, ignored)


@pytest.mark.gpu
@pytest.mark.parametrize("N,V,reduction,ignored", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("numba", "cross_entropy")))
def test_F8_cross_entropy_numba_gpu(version, N, V, reduction, ignored, numba_gpu):
    pair = registry("numba", "cross_entropy")[version]
    check_cross_entropy(pair, np.random.default_rng(3), N, V, reduction, ignored)
