"""GELU kernels (every backend and version, erf and tanh forms) against minillm.ops.gelu."""

import numpy as np
import pytest
from kernel_cases import check_gelu
from minillm.kernels import registry
from minillm.kernels.numba import gelu as numba_gelu

# 8 threads x at most 2 blocks: 37 elements run the grid-stride loop more than once
SIM_SMALL = {"v1_elementwise": numba_gelu.make_v1(threads=8, max_blocks=2)}


@pytest.mark.cudasim
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(37,), (1,), (2, 3, 5)])
@pytest.mark.parametrize("version", sorted(SIM_SMALL))
def test_gelu_numba_simulated(version, shape, approximate, numba_sim):
    check_gelu(SIM_SMALL[version], np.random.default_rng(0), shape, approximate)


@pytest.mark.cudasim
@pytest.mark.parametrize("version", sorted(registry("numba", "gelu")))
def test_gelu_numba_registered_version_simulated(version, numba_sim):
    check_gelu(registry("numba", "gelu")[version], np.random.default_rng(1), (3, 7), "tanh")


@pytest.mark.cudasim
def test_gelu_rejects_unknown_form_simulated(numba_sim):
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'; got 'erf'"):
        SIM_SMALL["v1_elementwise"](np.ones(3, np.float32), approximate="erf")


GPU_CASES = [(1,), (3,), (1023,), (4, 1024, 3072), (7, 13, 5)]


@pytest.mark.gpu
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("cupy", "gelu")))
def test_gelu_cupy_gpu(version, shape, approximate, cupy_gpu):
    check_gelu(registry("cupy", "gelu")[version], np.random.default_rng(2), shape, approximate)


@pytest.mark.gpu
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", GPU_CASES)
@pytest.mark.parametrize("version", sorted(registry("numba", "gelu")))
def test_gelu_numba_gpu(version, shape, approximate, numba_gpu):
    check_gelu(registry("numba", "gelu")[version], np.random.default_rng(3), shape, approximate)
