"""C25, block-wise computation: the tiled matmul and the tiled online-softmax (flash) attention
give the untiled results when the shapes span several tiles. Run by the CUDA emulator (the real
CUDA C sources), against the NumPy reference."""

import numpy as np
import pytest
from kernel_cases import check_attention, check_matmul


@pytest.mark.parametrize("version", ["v2_smem_tiles", "v3_reg_block_2d"])
def test_C25_tiled_matmul_over_several_tiles_equals_one_product(version, cupy_emu):
    """Each output tile sums K in tile-sized slices from shared memory; 150 x 70 x 140 crosses
    tile edges in all three dimensions, with ragged remainders."""
    check_matmul(cupy_emu("matmul")[version], np.random.default_rng(25), (150, 70), (70, 140))


@pytest.mark.parametrize("causal", [False, True])
def test_C25_online_softmax_attention_over_key_tiles_equals_full_softmax(causal, cupy_emu):
    """v2_flash never forms the (T, S) score matrix: it walks key tiles keeping a running max m
    and sum l (m' = max(m, max_j s_j), l' = l e^(m - m') + sum_j e^(s_j - m')). With 70 queries
    and 75 keys that is several query and key tiles; the result equals softmax(QK^T/sqrt d) V."""
    pair = cupy_emu("attention")["v2_flash"]
    check_attention(pair, np.random.default_rng(26), 1, 2, 70, 75, 16, causal)
