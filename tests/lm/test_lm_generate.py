"""Generation: the autoregressive factorisation (F1), KV cache = no cache, top-k / top-p (C19),
greedy and seeded sampling, cropping to block_size, stop tokens and argument errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lm_tiny import tiny_gpt

from minillm.generate import (
    generate,
    iter_generate,
    sample_next,
    softmax,
    top_k_filter,
    top_p_filter,
)
from minillm.models import RNNLM, RNNLMConfig


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_F1_full_forward_equals_stepwise_logprobs(dtype, assert_close):
    """log p(y) = sum_t log p(y_t | y_<t): one full forward gives every conditional; decoding
    step by step (full prefix each time, or one token at a time with the KV cache) gives the same
    per-step log-probabilities."""
    model = tiny_gpt(dtype, seed=2)
    seq = np.random.default_rng(3).integers(0, 11, (2, 8))  # (B, T) ragged batch of 2
    full = log_softmax(model(seq)[0].data.astype(np.float64))  # (B, T, V)
    caches = model.new_caches()
    for t in range(8):
        prefix = log_softmax(model(seq[:, : t + 1])[0].data[:, -1].astype(np.float64))
        cached = log_softmax(model(seq[:, t : t + 1], caches=caches)[0].data[:, -1])
        assert_close(prefix, full[:, t], f"F1 uncached step {t}", dtype)
        assert_close(cached.astype(np.float64), full[:, t], f"F1 cached step {t}", dtype)
    total = full[:, :-1][np.arange(2)[:, None], np.arange(7), seq[:, 1:]].sum(-1)  # (B,)
    assert np.all(total < 0), f"F1 sequence log-likelihood must be negative: {total}"


@pytest.mark.parametrize("sampling", [dict(temperature=0.0), dict(temperature=0.9, top_k=5),
                                      dict(temperature=1.3, top_p=0.8)])  # fmt: skip
def test_cached_and_uncached_generation_give_the_same_logits_and_tokens(sampling, assert_close):
    model = tiny_gpt(np.float64, seed=1)
    prompt = np.array([[3, 1, 4], [1, 5, 9]])  # (B, T)
    runs = [list(iter_generate(model, prompt, 5, seed=7, use_cache=c, **sampling)) for c in (1, 0)]
    for t, ((ids_c, lg_c), (ids_u, lg_u)) in enumerate(zip(*runs)):
        assert_close(lg_c, lg_u, f"cached vs uncached logits, step {t}")
        assert np.array_equal(ids_c, ids_u), f"step {t}: cached {ids_c} vs uncached {ids_u}"
    a = generate(model, prompt, 5, seed=7, **sampling)
    b = generate(model, prompt, 5, seed=7, use_cache=False, **sampling)
    assert a.shape == (2, 8) and np.array_equal(a, b), f"generate: {a} vs {b}"


def test_cached_generation_past_block_size_rebuilds_from_the_last_half_window(assert_close):
    """The documented policy: once the cache holds block_size tokens it is rebuilt from the last
    ceil(block_size / 2) tokens, so each step's logits are those of a full forward over a window
    of between ceil(8/2) = 4 and 8 tokens ending at the current token."""
    model = tiny_gpt(np.float64, seed=6)
    prompt = np.array([[2, 7, 1, 8, 2, 8]])  # 6 of 8 positions
    steps = list(iter_generate(model, prompt, 12, temperature=0.0))
    seq = np.concatenate([prompt] + [ids[:, None] for ids, _ in steps], axis=1)  # (1, 18)
    window = 0
    for t, (_, logits) in enumerate(steps):
        end = 6 + t  # tokens known before step t
        window = 6 if t == 0 else (window + 1 if window + 1 <= 8 else 4)  # 4 = after a rebuild
        ref = model(seq[:, end - window : end])[0].data[:, -1]
        assert_close(logits, ref, f"cached step {t} (window {window})")


def test_prompt_longer_than_block_size_is_cropped_to_the_last_block():
    model = tiny_gpt(seed=3)
    long = np.random.default_rng(0).integers(0, 11, 20)
    for cache in (True, False):
        a = generate(model, long, 4, seed=1, use_cache=cache)
        b = generate(model, long[-8:], 4, seed=1, use_cache=cache)
        assert np.array_equal(a[:20], long), "generate changed the prompt"
        assert np.array_equal(a[20:], b[8:]), f"use_cache={cache}: cropping differs"


def test_greedy_generation_follows_the_argmax():
    model = tiny_gpt(seed=4)
    out = generate(model, [5], 6, temperature=0)
    for t in range(1, 7):
        assert out[t] == model(out[None, :t])[0].data[0, -1].argmax(), f"greedy step {t}"


def test_sampling_is_seeded():
    model = tiny_gpt(seed=4)
    a, b = generate(model, [1, 2], 30, seed=11), generate(model, [1, 2], 30, seed=11)
    c = generate(model, [1, 2], 30, seed=12)
    assert np.array_equal(a, b), "the same seed gave different samples"
    assert not np.array_equal(a, c), "seeds 11 and 12 gave the same 30 tokens"


def test_sample_next_draws_from_the_softmax():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    rng = np.random.default_rng(0)
    draws = np.concatenate([sample_next(logits, rng) for _ in range(20000)])
    freq = np.bincount(draws, minlength=4) / draws.size
    # binomial std of a frequency near 0.4 over 20,000 draws is 0.0035; 0.015 is > 4 sigma
    assert np.abs(freq - [0.1, 0.2, 0.3, 0.4]).max() < 0.015, f"sample frequencies {freq}"


def test_C19_top_p_keeps_smallest_set():
    logits = np.log(np.array([[0.15, 0.5, 0.05, 0.3]]))  # ranked: 1 (.5), 3 (.3), 0 (.15), 2
    # p between two cumulative masses (0.5, 0.8, 0.95, 1): exact boundaries are left to rounding
    cases = {0.3: [1], 0.49: [1], 0.51: [1, 3], 0.79: [1, 3], 0.81: [1, 3, 0], 0.96: [0, 1, 2, 3]}
    cases[1.0] = [0, 1, 2, 3]
    for p, kept in cases.items():
        got = np.flatnonzero(np.isfinite(top_p_filter(logits, p)[0])).tolist()
        assert got == sorted(kept), f"top_p={p}: kept {got}, expected {sorted(kept)}"


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.floats(0.01, 1.0), st.integers(0, 2**31))
def test_C19_top_p_set_is_minimal_and_most_likely(V, p, seed):
    logits = np.random.default_rng(seed).normal(0, 2, (1, V))
    probs = softmax(logits)[0]
    kept = np.isfinite(top_p_filter(logits, p)[0])
    mass = probs[kept].sum()
    assert mass >= p - 1e-12, f"top_p={p}, V={V}: kept mass {mass} < p"
    assert probs[kept].min() >= probs[~kept].max(initial=0), f"top_p={p}: a likelier token cut"
    assert mass - probs[kept].min() < p, f"top_p={p}, V={V}: the set is not the smallest"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 35), st.integers(0, 2**31))
def test_C19_top_k_keeps_k(V, k, seed):
    logits = np.random.default_rng(seed).normal(0, 1, (2, V))  # distinct values (a.s.)
    out = top_k_filter(logits, k)
    kept = np.isfinite(out)
    assert np.all(kept.sum(-1) == min(k, V)), f"top_k={k}, V={V}: kept {kept.sum(-1)}"
    for b in range(2):
        assert logits[b][kept[b]].min() >= logits[b][~kept[b]].max(initial=-np.inf), "top_k"
    assert np.array_equal(out[kept], logits[kept]), "top_k changed a kept logit"


def test_top_k_one_is_greedy():
    model = tiny_gpt(seed=8)
    a = generate(model, [3], 8, temperature=1.5, top_k=1, seed=0)
    assert np.array_equal(a, generate(model, [3], 8, temperature=0)), "top_k=1 != greedy"


def test_generate_stops_at_a_stop_token():
    model = tiny_gpt(seed=4)
    prompt = [[1, 2], [2, 1]]
    free = generate(model, prompt, 20, seed=3)  # (2, 22)
    stop = int(free[0, 4])  # the third token the first row draws
    out = generate(model, prompt, 20, seed=3, stop=[stop, 99])
    first = [int(np.flatnonzero(row[2:] == stop)[0]) if stop in row[2:] else None for row in free]
    length = 22 if None in first else 2 + max(first) + 1  # ends when every row has stopped
    assert out.shape == (2, length), f"stop={stop}: shape {out.shape}, first stops {first}"
    for r, n in enumerate(first):
        upto = length if n is None else 2 + n + 1
        assert np.array_equal(out[r, :upto], free[r, :upto]), f"row {r} differs before its stop"
        assert np.all(out[r, upto:] == stop), f"row {r} continued after its stop token"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(idx=[]), ValueError, "T >= 1"),
        (dict(idx=np.zeros((1, 0), dtype=np.int64)), ValueError, "T >= 1"),
        (dict(idx=[1.5]), TypeError, "integer"),
        (dict(temperature=-0.1), ValueError, "temperature"),
        (dict(top_p=0.0), ValueError, "top_p"),
        (dict(top_p=1.5), ValueError, "top_p"),
        (dict(top_k=0), ValueError, "top_k"),
        (dict(top_k=2.0), TypeError, "top_k"),
        (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
        (dict(stop=-3), ValueError, "stop"),
    ],
)
def test_generate_rejects_bad_arguments(kwargs, error, match):
    args = dict(idx=[1, 2], max_new_tokens=3) | kwargs
    with pytest.raises(error, match=match):
        generate(tiny_gpt(), **args)


def test_generate_zero_tokens_returns_the_prompt_and_restores_training_mode():
    model = tiny_gpt()
    assert generate(model, [4, 2], 0).tolist() == [4, 2], "max_new_tokens=0"
    generate(model, [4, 2], 3, seed=0)
    assert model.training, "generate left the model in eval mode"


def test_rnnlm_generation_with_carried_state_equals_recomputation():
    rnn = RNNLM(RNNLMConfig(vocab_size=11, d_model=12, n_layers=2, cell="gru")).double()
    a = generate(rnn, [[1, 2, 3]], 10, seed=5)
    b = generate(rnn, [[1, 2, 3]], 10, seed=5, use_cache=False)
    assert np.array_equal(a, b), f"RNNLM cached {a} vs uncached {b}"
