"""Batched matmul kernels (every backend and version) against
minillm.tensor.primitives.matmul_forward / matmul_backward, reference in float64."""

import numpy as np
import pytest
from kernel_cases import check_matmul
from minillm.kernels import registry
from minillm.kernels.numba import matmul as numba_matmul

# Simulator: the registered versions on one ragged 2-D case (a single block each), and
# small-tile builds that cross tile edges in every direction with a few 16-64-thread blocks.
SIM_SMALL = {
    "v1_naive": numba_matmul.make_v1(block=(8, 4)),
    "v2_smem_tiles": numba_matmul.make_v2(tile=4),
    "v3_reg_block_2d": numba_matmul.make_v3(BM=8, BN=8, BK=4, TM=2, TN=2),
}
SIM_CASES = [((13, 11), (11, 9)), ((2, 5, 7), (2, 7, 6)), ((2, 3, 5), (5, 4)), ((1, 1), (1, 1))]


@pytest.mark.cudasim
@pytest.mark.parametrize("version", sorted(registry("numba", "matmul")))
def test_matmul_numba_registered_version_simulated(version, numba_sim):
    check_matmul(registry("numba", "matmul")[version], np.random.default_rng(0), (13, 11), (11, 9))


@pytest.mark.cudasim
@pytest.mark.parametrize("a_shape,b_shape", SIM_CASES)
@pytest.mark.parametrize("version", sorted(SIM_SMALL))
def test_matmul_numba_small_tiles_simulated(version, a_shape, b_shape, numba_sim):
    check_matmul(SIM_SMALL[version], np.random.default_rng(1), a_shape, b_shape)


@pytest.mark.cudasim
def test_matmul_rejects_bad_shapes_simulated(numba_sim):
    pair = registry("numba", "matmul")["v1_naive"]
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"inner dims differ: \(2, 3\) @ \(4, 5\)"):
        pair(a, np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="equal batch axes"):
        pair(np.ones((2, 2, 3), np.float32), np.ones((3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="ndim >= 2"):
        pair(a, np.ones(3, np.float32))


GPU_CASES = [
    ((1, 1), (1, 1)),
    ((50, 29), (29, 37)),
    ((3, 127, 65), (3, 65, 33)),
    ((2, 64, 128), (128, 96)),
    ((257, 300), (300, 129)),
    ((2, 3, 130, 260), (2, 3, 260, 68)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("a_shape,b_shape", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("cupy", "matmul")))
def test_matmul_cupy_gpu(version, a_shape, b_shape, cupy_gpu):
    check_matmul(registry("cupy", "matmul")[version], np.random.default_rng(2), a_shape, b_shape)


@pytest.mark.gpu
@pytest.mark.parametrize("a_shape,b_shape", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("numba", "matmul")))
def test_matmul_numba_gpu(version, a_shape, b_shape, numba_gpu):
    check_matmul(registry("numba", "matmul")[version], np.random.default_rng(3), a_shape, b_shape)
