"""The GPT model: shapes, loss (F9), tied head (C2), GPT-2 init (C1), causality, the KV-cache
forward, the name table, the PyTorch fixture and the overfit-one-batch golden test."""

import math
from pathlib import Path

import numpy as np
import pytest
from lm_tiny import TINY, tiny_gpt

from minillm.models import GPT, GPTConfig, gpt_names
from minillm.optim import AdamW, warmup_cosine_lr
from minillm.tensor import Tensor
from minillm.train import configure_optimizer, train_step

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gpt.npz"


def batch(V=11, B=3, T=7, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))


def test_F9_gpt_loss_is_mean_cross_entropy_over_all_positions(assert_close):
    model = tiny_gpt(np.float64)
    x, y = batch()
    logits, loss = model(x, y)
    assert logits.shape == (3, 7, 11), f"GPT logits shape {logits.shape}"
    z = logits.data - logits.data.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))  # (B, T, V)
    b, t = np.meshgrid(np.arange(3), np.arange(7), indexing="ij")
    assert_close(np.asarray(loss.data), np.asarray(-logp[b, t, y].mean()), "GPT loss (F9)")
    assert model(x)[1] is None, "GPT: a loss without targets"
    # at init the softmax is near uniform: the loss (nats) is near ln V, perplexity near V
    assert abs(math.exp(loss.item()) - 11) < 1.0, f"GPT init perplexity {math.exp(loss.item())}"


def test_gpt_ignores_targets_of_minus_100(assert_close):
    model = tiny_gpt(np.float64)
    x, y = batch()
    masked = y.copy()
    masked[:, :3] = -100
    _, loss = model(x, masked)
    _, loss_tail = model(x, y)  # recompute the mean over the unmasked positions by hand
    logits = model(x)[0].data[:, 3:]  # (B, 4, V)
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    b, t = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    assert_close(np.asarray(loss.data), np.asarray(-logp[b, t, y[:, 3:]].mean()), "masked loss")
    assert loss.item() != loss_tail.item(), "GPT: -100 targets were not ignored"


@pytest.mark.parametrize(
    "bad",
    [
        dict(d_model=15),
        dict(n_heads=0),
        dict(vocab_size=0),
        dict(block_size=2.5),
        dict(dropout=1.0),
    ],
)
def test_gpt_config_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if "d_model" not in bad else "divisible"):
        GPTConfig(**{**TINY, **bad})


def test_gpt_rejects_idx_longer_than_block_size_naming_both():
    model = tiny_gpt()
    with pytest.raises(ValueError, match=r"sequence length 9 .*block_size=8"):
        model(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(np.zeros(5, dtype=np.int64))
    with pytest.raises(IndexError, match="11"):
        model(np.array([[1, 11]]))


def test_C2_tied_head_is_the_token_embedding_and_gets_both_gradients(assert_close):
    tied = tiny_gpt(np.float64, seed=3)
    untied = tiny_gpt(np.float64, seed=3, tie_weights=False)
    names = [n for n, _ in tied.named_parameters()]
    assert "lm_head.W" not in names, f"tied GPT has a separate head: {names}"
    assert tied.num_params(False) + 16 * 11 == untied.num_params(False), "untied head size"
    state = dict(tied.state_dict())
    state["lm_head.W"] = tied.wte.W.data.T.copy()  # (C, V): the untied head starts as wte^T
    untied.load_state_dict(state)
    x, y = batch()
    (lt, loss_t), (lu, loss_u) = tied(x, y), untied(x, y)
    assert_close(lt.data, lu.data, "tied vs untied logits")
    loss_t.backward()
    loss_u.backward()
    # d/d wte of the tied model = embedding gradient + head gradient (transposed)
    expected = untied.wte.W.grad + untied.lm_head.W.grad.T
    assert_close(tied.wte.W.grad, expected, "tied wte gradient (C2)")


def test_C1_gpt2_init_scales_residual_projections():
    cfg = GPTConfig(vocab_size=50, block_size=32, n_layers=6, n_heads=4, d_model=96)
    model = GPT(cfg, seed=0)
    resid = 0.02 / math.sqrt(2 * cfg.n_layers)
    for name, p in model.named_parameters():
        a = p.data
        if name.endswith((".W_o.W", ".W_2.W")):
            expected_std = resid
        elif name.endswith(".W"):
            expected_std = 0.02
        elif name.endswith(".gamma"):
            assert np.all(a == 1), f"C1 init: {name} is not all ones"
            continue
        else:
            assert np.all(a == 0), f"C1 init: {name} is not all zeros"
            continue
        # the sample std of n normal draws is within 5 % of sigma with probability ~1 - 1e-9 for
        # n >= 4,608 (the smallest matrix here: wpe, 32 x 96 = 3,072, gets 6 %)
        rel = abs(a.std() / expected_std - 1)
        assert rel < 0.06, f"C1 init: {name} std {a.std():.5f} vs {expected_std:.5f}"
        assert abs(a.mean()) < 4 * expected_std / math.sqrt(a.size), f"C1 init: {name} mean"


def test_gpt_num_params_counts_like_nanogpt():
    cfg = GPTConfig(vocab_size=76, block_size=64, n_layers=4, n_heads=4, d_model=128, bias=False)
    model = GPT(cfg)
    V, T, L, C = 76, 64, 4, 128
    per_block = 4 * C * C + 2 * 4 * C * C + 2 * C  # W_q,k,v,o + W_1, W_2 + two LayerNorm gains
    assert model.num_params() == V * C + L * per_block + C, "GPT.num_params() (no wpe)"
    assert model.num_params(non_embedding=False) == model.num_params() + T * C, "with wpe"
    assert round(model.num_params() / 1e6, 2) == 0.80, "docs/baselines.md: 0.80 M parameters"


def test_gpt_same_seed_same_weights_other_seed_other_weights():
    a, b, c = tiny_gpt(seed=4), tiny_gpt(seed=4), tiny_gpt(seed=5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert np.array_equal(pa.data, pb.data), f"seed 4 twice: {name} differs"
    assert not np.array_equal(a.wte.W.data, c.wte.W.data), "seeds 4 and 5 gave the same wte"


def test_F1_gpt_is_causal_logits_at_t_ignore_later_tokens(assert_close):
    model = tiny_gpt(np.float64)
    x, _ = batch(T=8)
    changed = x.copy()
    changed[:, 5:] = (changed[:, 5:] + 3) % 11
    a, b = model(x)[0].data, model(changed)[0].data
    assert_close(a[:, :5], b[:, :5], "GPT logits before the changed position")
    assert not np.allclose(a[:, 5:], b[:, 5:]), "GPT: later logits did not see the change"


@pytest.mark.parametrize("chunks", [(8,), (1,) * 8, (3, 1, 4), (5, 3)])
def test_gpt_kv_cache_forward_matches_full_forward(chunks, assert_close):
    model = tiny_gpt(np.float64)
    x, _ = batch(B=2, T=8)
    full = model(x)[0].data
    caches = model.new_caches()
    pieces, start = [], 0
    for n in chunks:
        pieces.append(model(x[:, start : start + n], caches=caches)[0].data)
        start += n
    assert len(caches[0]) == 8, f"cache length {len(caches[0])}"
    assert_close(np.concatenate(pieces, axis=1), full, f"GPT cached logits, chunks {chunks}")
    with pytest.raises(ValueError, match=r"cached 8 \+ new 1"):
        model(x[:, :1], caches=caches)


def test_gpt_last_only_gives_the_last_position(assert_close):
    model = tiny_gpt(np.float64)
    x, y = batch()
    assert_close(model(x, last_only=True)[0].data, model(x)[0].data[:, -1:], "last_only logits")
    with pytest.raises(ValueError, match="last_only"):
        model(x, y, last_only=True)


@pytest.mark.parametrize("tie, bias", [(True, True), (False, False)])
def test_gpt_names_round_trip_through_nanogpt_layout(tie, bias):
    model = tiny_gpt(tie_weights=tie, bias=bias, n_layers=3)
    state = model.state_dict()
    theirs = gpt_names.to_nanogpt(state, 3)
    C = TINY["d_model"]
    assert theirs["transformer.h.1.attn.c_attn.weight"].shape == (3 * C, C), "c_attn layout"
    assert theirs["lm_head.weight"].shape == (11, C), "lm_head layout"
    assert ("transformer.h.0.ln_1.bias" in theirs) == bias, "LayerNorm bias presence"
    back = gpt_names.from_nanogpt(theirs, 3, tie)
    assert sorted(back) == sorted(state), f"names lost: {set(state) ^ set(back)}"
    for k in state:
        assert np.array_equal(back[k], state[k]), f"gpt_names round trip changed {k}"


@pytest.mark.parametrize("name", ["tied_bias", "untied_nobias"])
def test_gpt_matches_pytorch_20_adamw_steps(name, assert_close):
    """tests/fixtures/make_gpt_fixtures.py: nanoGPT's model and update in PyTorch 2.13."""
    fx = np.load(FIXTURE)
    g = lambda key: fx[f"{name}/{key}"]  # noqa: E731
    w0 = {k.split("/w0/")[1]: fx[k] for k in fx.files if k.startswith(f"{name}/w0/")}
    lr, min_lr, warmup, decay, wd, beta1, beta2, clip = g("hparams").tolist()
    V, block, n_layer, n_head, C, bias, tie = g("config").tolist()
    model = GPT(GPTConfig(V, block, n_layer, n_head, C, bias=bool(bias), tie_weights=bool(tie)))
    model.load_state_dict(w0)
    x, y = g("x"), g("y")
    logits, loss = model(x[0], y[0])
    loss.backward()
    assert_close(logits.data, g("logits0"), f"{name}: logits at step 0", np.float32)
    for k, p in model.named_parameters():
        # a gradient is a sum over B*T positions: float32 rounding grows with it, so compare
        # against the largest entry of the tensor (atol = 1e-5 x max |grad|)
        ref = g(f"grad0/{k}")
        err = np.abs(p.grad - ref).max()
        assert err <= 1e-5 * np.abs(ref).max() + 1e-8, f"{name}: grad of {k} {ref.shape}: {err}"
    model.zero_grad()
    opt = configure_optimizer(model, lr, wd, (beta1, beta2))
    assert isinstance(opt, AdamW)
    losses = []
    for it in range(len(x)):
        step_lr = warmup_cosine_lr(it, lr, min_lr, int(warmup), int(decay))
        losses.append(train_step(model, opt, [(x[it], y[it])], step_lr, clip)[0])
    diff = np.abs(np.array(losses) - g("losses"))
    assert diff.max() < 1e-4, f"{name}: 20 AdamW steps, worst step {diff.argmax()}: {diff.max()}"


def test_gpt_overfits_one_batch():
    """Golden test: 150 AdamW steps on one batch drive the loss from ln 11 = 2.40 to < 0.05."""
    model = tiny_gpt(seed=0)
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 11, (4, 9))
    seq[:, 0] = [0, 1, 2, 3]  # distinct first tokens: every target is fixed by its prefix
    x, y = seq[:, :-1], seq[:, 1:]
    opt = configure_optimizer(model, 1e-2, 0.0, (0.9, 0.99))
    losses = [train_step(model, opt, [(x, y)], 1e-2, 1.0)[0] for _ in range(150)]
    assert losses[0] > 2.0, f"initial loss {losses[0]}"
    assert losses[-1] < 0.05, f"GPT did not overfit one batch: loss {losses[-1]:.4f} at step 150"


def test_gpt_dropout_is_seeded_and_off_in_eval():
    a, b = tiny_gpt(seed=1, dropout=0.2), tiny_gpt(seed=1, dropout=0.2)
    x, _ = batch()
    la, lb = a(x)[0].data, b(x)[0].data
    assert np.array_equal(la, lb), "GPT with the same seed: different dropout masks"
    assert not np.array_equal(la, a(x)[0].data), "GPT dropout: the same mask twice"
    a.eval()
    assert np.array_equal(a(x)[0].data, a(x)[0].data), "GPT in eval mode is not deterministic"
    assert isinstance(a(Tensor(x))[0], Tensor), "GPT accepts a Tensor of ids"
