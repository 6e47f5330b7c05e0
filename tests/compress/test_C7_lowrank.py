"""C7 low-rank factorisation: the factors are the truncated SVD (Eckart-Young error), the energy
kept is the share of squared singular values, LowRankLinear computes (x A) B + b, bad ranks are
clear errors, and a factorised model reloads from its checkpoint."""

import numpy as np
import pytest
from compress_tiny import TOKENIZER, batch, tiny_gpt

from minillm.compress import (
    LowRankLinear,
    energy,
    factorize_model,
    plan_ranks,
    rank_for_energy,
    svd_factors,
)
from minillm.models import load_checkpoint, save_checkpoint
from minillm.nn import Linear
from minillm.tensor import Tensor, no_grad


@pytest.mark.parametrize("shape,rank", [((9, 7), 1), ((9, 7), 4), ((5, 13), 4)])
def test_C7_truncated_svd_error_is_the_dropped_singular_values(shape, rank):
    W = np.random.default_rng(0).normal(size=shape)
    A, B, s = svd_factors(W, rank)
    assert A.shape == (shape[0], rank) and B.shape == (rank, shape[1])
    np.testing.assert_allclose(np.linalg.norm(W - A @ B), np.sqrt((s[rank:] ** 2).sum()),
                               rtol=1e-10)  # fmt: skip
    np.testing.assert_allclose(energy(s, rank), 1 - (s[rank:] ** 2).sum() / (s**2).sum())
    assert np.linalg.matrix_rank(A @ B) == rank


def test_C7_rank_for_energy_is_the_smallest_rank_reaching_it():
    s = np.array([4.0, 2.0, 1.0, 1.0])  # energies 16/22, 20/22, 21/22, 1
    assert [rank_for_energy(s, e) for e in (0.5, 16 / 22, 0.8, 0.95, 1.0)] == [1, 1, 2, 3, 4]


@pytest.mark.parametrize("rank", [0, 7, 9, -1, 2.5, True])
def test_C7_rank_zero_or_at_least_min_in_out_is_a_clear_error(rank):
    lin = Linear(9, 7)
    with pytest.raises(ValueError, match=r"0 < rank < min\(in, out\) = 7"):
        LowRankLinear.from_linear(lin, rank)


def test_C7_lowrank_linear_computes_x_a_b_plus_bias():
    lin = Linear(9, 7, rng=np.random.default_rng(1)).double()
    m = LowRankLinear.from_linear(lin, 3)
    x = np.random.default_rng(2).normal(size=(2, 4, 9))
    A, B, _ = svd_factors(lin.W.data, 3)
    np.testing.assert_allclose(m(Tensor(x)).numpy(), x @ A @ B + lin.b.data, rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    assert m.num_params() == 3 * (9 + 7) + 7


def test_C7_factorised_model_plans_only_saving_layers_and_reloads(tmp_path):
    model = tiny_gpt()  # 18 x 18 attention, 18 x 72 feed-forward
    plan = plan_ranks(model, rank=0.25)  # r = round(0.25 * 18) = 4 everywhere
    assert set(plan.values()) == {4} and len(plan) == 12
    with pytest.raises(ValueError, match="0 < rank < min"):
        plan_ranks(model, rank=18)
    assert plan_ranks(model, energy_kept=1.0) == {}  # full rank saves nothing
    before = model.num_params()
    factorize_model(model, plan)
    assert model.num_params() < before
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    loaded = load_checkpoint(tmp_path)[0]
    x, _ = batch()
    with no_grad():
        assert np.array_equal(loaded(x)[0].numpy(), model.eval()(x)[0].numpy())
    assert isinstance(loaded.blocks[1].ff.W_2, LowRankLinear)
