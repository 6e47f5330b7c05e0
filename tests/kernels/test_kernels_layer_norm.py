"""Layer-norm kernels (every backend and version) against minillm.ops.layer_norm, float64."""

import numpy as np
import pytest
from kernel_cases import check_layer_norm
from minillm.kernels import registry
from minillm.kernels.numba import layer_norm as numba_ln

SIM_SMALL = {
    "v1_two_pass": numba_ln.make_v1(threads=4, cols=4, rows_per=2),
    "v2_welford": numba_ln.make_v2(threads=4, cols=4, rows_per=2),
}
# 4-thread rows and 4 x 2 column blocks: C of 1, 6 and 13 cross the block edges
SIM_CASES = [
    ((3, 13), (True, True)),
    ((1, 1), (True, True)),
    ((2, 3, 6), (False, True)),
    ((5, 6), (True, False)),
]


@pytest.mark.cudasim
@pytest.mark.parametrize("shape,affine", SIM_CASES)
@pytest.mark.parametrize("version", sorted(SIM_SMALL))
def test_layer_norm_numba_simulated(version, shape, affine, numba_sim):
    check_layer_norm(SIM_SMALL[version], np.random.default_rng(0), shape, affine)


@pytest.mark.cudasim
@pytest.mark.parametrize("version", sorted(registry("numba", "layer_norm")))
def test_layer_norm_numba_registered_version_simulated(version, numba_sim):
    """The registered block sizes, on one row of x offset by 100: E[x^2] - mu^2 would lose ~1e-3
    of the variance to cancellation in float32 (rstd off by ~5e-4 > rtol); the two-pass and
    Welford forms must not. No gamma: y = xhat, whose error is the float32 mean's (~1e-6)."""
    pair = registry("numba", "layer_norm")[version]
    check_layer_norm(pair, np.random.default_rng(1), (1, 131), (False, False), offset=100.0)


@pytest.mark.cudasim
def test_layer_norm_rejects_bad_gamma_simulated(numba_sim):
    pair = registry("numba", "layer_norm")["v1_two_pass"]
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"gamma has shape \(4,\), expected \(C,\)'s \(3,\)"):
        pair(x, np.ones(4, np.float32), None)


GPU_CASES = [
    ((1, 1), (True, True)),
    ((7, 33), (True, True)),
    ((4, 50, 768), (True, True)),
    ((9, 1000), (False, True)),
    ((300, 4099), (True, False)),
    ((2, 3, 2048), (False, False)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("shape,affine", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("cupy", "layer_norm")))
def test_layer_norm_cupy_gpu(version, shape, affine, cupy_gpu):
    check_layer_norm(
        registry("cupy", "layer_norm")[version], np.random.default_rng(2), shape, affine
    )


@pytest.mark.gpu
@pytest.mark.parametrize("shape,affine", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("numba", "layer_norm")))
def test_layer_norm_numba_gpu(version, shape, affine, numba_gpu):
    check_layer_norm(
        registry("numba", "layer_norm")[version], np.random.default_rng(3), shape, affine
    )
