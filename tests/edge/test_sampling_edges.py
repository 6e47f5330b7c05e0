"""Filters that could empty a distribution (C19): temperature, top-k, top-p, stop ids, and any
combination of them, in the public sample_next / top_k_filter / top_p_filter and in generate.
The argmax always survives, or the call is a clear error naming the argument."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.generate import generate, sample_next, top_k_filter, top_p_filter
from minillm.models import GPT, GPTConfig


def tiny_gpt(seed=0):
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layers=1, n_heads=2, d_model=16), seed)


LOGITS = np.array([[0.0, 5.0, 1.0], [-np.inf, 2.0, 2.5]])  # argmax 1, then 2 (with a -inf)


def draws(n=10, **kwargs):
    return {tuple(sample_next(LOGITS, np.random.default_rng(s), **kwargs)) for s in range(n)}


@pytest.mark.parametrize("temperature", [1e-300, 1e-310, 5e-324])
def test_C19_a_tiny_temperature_is_greedy_not_nan(temperature):
    """logits / T overflows to inf - inf = nan; (logits - max) / T keeps the argmax at 0."""
    assert draws(temperature=temperature) == {(1, 2)}


def test_C19_a_tiny_temperature_keeps_every_tied_maximum():
    logits = np.array([[5.0, -1.0, 5.0]])
    got = {int(sample_next(logits, np.random.default_rng(s), 1e-310)[0]) for s in range(40)}
    assert got == {0, 2}, got


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(top_p=0.0),
        dict(top_k=1),
        dict(top_k=1, top_p=0.0),
        dict(temperature=1e-310, top_k=1, top_p=0.0),
        dict(temperature=50.0, top_k=1),
        dict(temperature=0.0, top_k=3, top_p=0.0),
    ],
)
def test_C19_every_filter_and_combination_keeps_the_argmax(kwargs):
    assert draws(**kwargs) == {(1, 2)}


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(0, 2**31),
    st.floats(1e-300, 100.0),
    st.one_of(st.none(), st.integers(1, 15)),
    st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_C19_no_combination_of_filters_empties_a_row(V, seed, temperature, top_k, top_p):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (2, V))
    logits[rng.random((2, V)) < 0.4] = -np.inf  # masked tokens
    logits[np.arange(2), rng.integers(0, V, 2)] = 1.0  # each row keeps a finite logit
    z = logits - logits.max(axis=-1, keepdims=True)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    best = logits.argmax(axis=-1)
    assert np.isfinite(z[np.arange(2), best]).all(), f"the argmax was filtered out: {z}"
    ids = sample_next(logits, rng, temperature, top_k, top_p)
    assert np.isfinite(logits[np.arange(2), ids]).all(), f"drew a -inf token: {ids} of {logits}"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(temperature=-1.0), ValueError, "temperature must be finite and >= 0, got -1.0"),
        (dict(temperature=float("nan")), ValueError, "temperature must be finite"),
        (dict(temperature=float("inf")), ValueError, "temperature must be finite"),
        (dict(temperature="0.7"), TypeError, "temperature must be a number"),
        (dict(top_k=0), ValueError, "top_k must be >= 1 .*, got 0"),
        (dict(top_k=-2), ValueError, "top_k must be >= 1"),
        (dict(top_k=2.5), TypeError, "top_k must be an int"),
        (dict(top_p=-0.1), ValueError, r"top_p must be in \[0, 1\], got -0.1"),
        (dict(top_p=1.5), ValueError, r"top_p must be in \[0, 1\]"),
        (dict(top_p=float("nan")), ValueError, "top_p must be in"),
        (dict(top_p="0.9"), TypeError, "top_p must be a number"),
    ],
)
def test_sample_next_names_a_bad_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        sample_next(LOGITS, np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize(
    "logits, match",
    [
        (np.array([[-np.inf, -np.inf], [0.0, 1.0]]), "row 0 of logits"),
        (np.array([[0.0, np.nan]]), "row 0 of logits .* nan"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), "row 1 of logits"),
        (np.array([0.0, 1.0]), r"\(B, V\).* got shape \(2,\)"),
        (np.zeros((2, 0)), "V >= 1"),
    ],
)
@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_sample_next_refuses_logits_no_token_can_be_drawn_from(logits, match, temperature):
    """greedy included: the argmax of a row of nan or -inf would be id 0, silently"""
    with pytest.raises(ValueError, match=match):
        sample_next(logits, np.random.default_rng(0), temperature)


def test_the_public_filters_name_a_bad_argument():
    with pytest.raises(ValueError, match="top_k_filter: k must be >= 1"):
        top_k_filter(LOGITS, 0)
    with pytest.raises(ValueError, match=r"top_p_filter: p must be in \[0, 1\], got 1.5"):
        top_p_filter(LOGITS, 1.5)
    np.testing.assert_array_equal(top_k_filter(LOGITS, 7), LOGITS)  # k >= V keeps every token


def test_generate_with_an_empty_stop_list_says_so():
    """stop=[] gave an IndexError (a finished row repeats stop[0])"""
    with pytest.raises(ValueError, match=r"stop must be a token id or a non-empty list"):
        generate(tiny_gpt(), [1, 2], 3, stop=[])


def test_generate_with_a_tiny_temperature_is_greedy():
    model = tiny_gpt(seed=3)
    model.eval()
    greedy = generate(model, [1, 2], 6, temperature=0)
    np.testing.assert_array_equal(generate(model, [1, 2], 6, temperature=1e-310, seed=1), greedy)
    np.testing.assert_array_equal(
        generate(model, [1, 2], 6, temperature=0.8, top_k=1, stop=[int(greedy[2])]),
        greedy[:3],  # top_k=1 is greedy too, and stops at its first token
    )
