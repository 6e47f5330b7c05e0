"""The CuPy backend's CUDA C kernels and host code, run on the CPU by the test emulator
(cuda_emu.py: one coroutine per CUDA thread, real __syncthreads and warp shuffles), against the
NumPy reference. Sizes cross every tile edge at the versions' real block sizes."""

import numpy as np
import pytest
from cuda_emu import EmuKernel, build
from kernel_cases import (
    check_attention,
    check_cross_entropy,
    check_gelu,
    check_layer_norm,
    check_matmul,
    check_softmax,
)
from minillm.kernels import registry

MATMUL_CASES = [
    ((1, 1), (1, 1)),
    ((37, 19), (19, 45)),  # ragged: scalar loads in v4
    ((2, 33, 36), (2, 36, 40)),  # K, N multiples of 4: v4's float4 path, batched
    ((2, 3, 9), (9, 130)),  # (..., K) @ (K, N) folded into one GEMM; N crosses a 128 tile
    ((130, 12), (12, 5)),  # M crosses a 128 tile
]


@pytest.mark.parametrize("a_shape,b_shape", MATMUL_CASES)
@pytest.mark.parametrize("version", sorted(registry("cupy", "matmul")))
def test_matmul_cupy_emulated(version, a_shape, b_shape, cupy_emu):
    check_matmul(cupy_emu("matmul")[version], np.random.default_rng(0), a_shape, b_shape)


@pytest.mark.parametrize("shape", [(3, 37), (1, 1), (2, 2, 300)])
@pytest.mark.parametrize("version", sorted(registry("cupy", "softmax")))
def test_F17_softmax_cupy_emulated(version, shape, cupy_emu):
    check_softmax(cupy_emu("softmax")[version], np.random.default_rng(1), shape, neg_inf=True)


@pytest.mark.parametrize(
    "shape,affine", [((3, 13), (True, True)), ((1, 1), (True, False)), ((11, 300), (False, True))]
)
@pytest.mark.parametrize("version", sorted(registry("cupy", "layer_norm")))
def test_layer_norm_cupy_emulated(version, shape, affine, cupy_emu):
    check_layer_norm(cupy_emu("layer_norm")[version], np.random.default_rng(2), shape, affine)


@pytest.mark.parametrize(
    "N,V,reduction,ignored", [(3, 37, "mean", (1,)), (1, 1, "sum", ()), (4, 300, "none", (0, 3))]
)
@pytest.mark.parametrize("version", sorted(registry("cupy", "cross_entropy")))
def test_F8_cross_entropy_cupy_emulated(version, N, V, reduction, ignored, cupy_emu):
    pair = cupy_emu("cross_entropy")[version]
    check_cross_entropy(pair, np.random.default_rng(3), N, V, reduction, ignored)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(1,), (37,), (4, 9)])
@pytest.mark.parametrize("version", sorted(registry("cupy", "gelu")))
def test_gelu_cupy_emulated(version, shape, approximate, cupy_emu):
    check_gelu(cupy_emu("gelu")[version], np.random.default_rng(4), shape, approximate)


ATTENTION_CASES = [
    (1, 2, 5, 7, 3, False, None, None),
    (1, 1, 70, 75, 13, True, None, None),  # two 64-query tiles, three 32-key tiles
    (1, 1, 1, 40, 16, False, None, None),  # T = 1
    (1, 1, 4, 6, 33, True, (4, 6), (2,)),  # causal, S > T, one query with no key
    (2, 2, 3, 5, 64, False, (2, 1, 1, 5), (1, 0, 0)),  # padding mask, batch 1 fully padded
]


@pytest.mark.parametrize(
    "case", ATTENTION_CASES, ids=lambda c: "B{}H{}T{}S{}D{}-causal{}-mask{}".format(*c[:7])
)
@pytest.mark.parametrize("version", sorted(registry("cupy", "attention")))
def test_F5_attention_cupy_emulated(version, case, cupy_emu):
    check_attention(cupy_emu("attention")[version], np.random.default_rng(5), *case)


_BROKEN = """
extern "C" __global__ void divergent_barrier(float* x) {
    if (threadIdx.x < 16) __syncthreads();  // half the block never arrives
    x[threadIdx.x] = 1.f;
}
extern "C" __global__ void reverse_in_smem(const float* x, float* y, int sync) {
    __shared__ float buf[64];
    buf[threadIdx.x] = x[threadIdx.x];
    if (sync) __syncthreads();
    y[threadIdx.x] = buf[63 - threadIdx.x];  // reads another thread's write
}
"""


def test_emulator_catches_barrier_bugs(cupy_emu):
    """The emulator fails a barrier inside divergent code, and a missing __syncthreads gives a
    wrong answer (threads run in order up to their next barrier), so these bug classes, which
    Numba's simulator lets pass, are caught here."""
    lib = build(_BROKEN, ("divergent_barrier", "reverse_in_smem"), "broken")
    x = np.arange(64, dtype=np.float32)
    with pytest.raises(RuntimeError, match="deadlock in block"):
        EmuKernel(lib, "divergent_barrier")((1,), (32,), (np.zeros(32, np.float32),))
    y = np.zeros(64, np.float32)
    EmuKernel(lib, "reverse_in_smem")((1,), (64,), (x, y, np.int32(1)))
    np.testing.assert_array_equal(y, x[::-1])
    x2 = x + 100  # new data: shared memory still holds x from the launch before
    EmuKernel(lib, "reverse_in_smem")((1,), (64,), (x2, y, np.int32(0)))
    assert not np.array_equal(y, x2[::-1]), "a missing __syncthreads went unnoticed"
    with pytest.raises(TypeError, match="pass a NumPy int32/int64/float32 scalar"):
        EmuKernel(lib, "reverse_in_smem")((1,), (64,), (x, y, 1))
    with pytest.raises(RuntimeError, match="takes 3 arguments, got 2"):
        EmuKernel(lib, "reverse_in_smem")((1,), (64,), (x, y))
