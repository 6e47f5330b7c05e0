"""Autoregressive generation: sample a token, append it, repeat (F1, C19).

A language model gives p(y_t | y_<t) (F1). Generation draws y_t from it, appends y_t to the
context, and asks again. Without a cache every step runs the model over the whole context; with a
KV cache (use_cache=True, the default) each step runs only the new token, and attention reads the
keys and values of the earlier positions from the cache.

Context longer than block_size (a learned position table has block_size rows):
- uncached: each step sees the last block_size tokens (nanoGPT's crop), so every token moves to a
  new position each step;
- cached: the prompt is cropped to its last block_size tokens and fed once. When the cache is full,
  it is rebuilt from the last ceil(block_size / 2) tokens (positions restart at 0), which leaves
  room for block_size // 2 cheap steps before the next rebuild.
So cached and uncached generation agree exactly while the sequence fits in block_size; after that
the cached model sees between ceil(block_size / 2) and block_size tokens of context instead of
always block_size (exactness would need a full recomputation every step, the uncached cost).
"""

import inspect
import math

import numpy as np

from ..tensor import Tensor, no_grad
from ..tensor.backend import to_device
from .sampling import sample_next


def check_arguments(idx, max_new_tokens, temperature, top_k, top_p, stop):
    """Raise ValueError/TypeError for a bad generation argument; return idx as (B, T) int64."""
    ids = _as_numpy(idx)
    if ids.ndim not in (1, 2) or ids.shape[-1] == 0:
        raise ValueError(
            f"generate: the prompt must be (T,) or (B, T) with T >= 1, got {ids.shape}"
        )
    if ids.dtype.kind not in "iu":
        raise TypeError(f"generate: the prompt must hold integer token ids, got {ids.dtype}")
    _check_int("max_new_tokens", max_new_tokens, 0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"generate: temperature must be a number, got {temperature!r}")
    if not temperature >= 0 or math.isinf(temperature):
        raise ValueError(f"generate: temperature must be finite and >= 0, got {temperature}")
    if top_k is not None:
        _check_int("top_k", top_k, 1)
    if top_p is not None and (isinstance(top_p, bool) or not 0.0 < top_p <= 1.0):
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p!r}")
    if stop is not None:
        for s in np.atleast_1d(np.asarray(stop)).tolist():
            _check_int("a stop id", s, 0)
    return ids.reshape(-1, ids.shape[-1]).astype(np.int64)  # (B, T)


def _as_numpy(idx):
    """A prompt given as a list, a NumPy/CuPy array or a Tensor, as a NumPy array."""
    return np.asarray(to_device(idx.data if isinstance(idx, Tensor) else idx, "cpu"))


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"generate: {name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"generate: {name} must be >= {low}, got {value}")


def iter_generate(
    model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None, use_cache=True
):
    """Yield (next_ids (B,), logits (B, V)) for each new token: the logits the model gave at that
    step (before temperature and filtering) and the token drawn from them.

    The model runs in eval mode under no_grad; its training flag is restored afterwards.
    Models: a GPT (KV cache through `new_caches()` and `caches=`), or a recurrent model whose
    forward takes `h0=` and `return_state=` (its "cache" is the hidden state, so cached RNN
    generation reads each token once). A model without `config.block_size` gets its whole
    context."""
    ids = check_arguments(idx, max_new_tokens, temperature, top_k, top_p, None)  # (B, T)
    kind = _cache_kind(model) if use_cache else "none"
    block = getattr(getattr(model, "config", None), "block_size", None)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            sampling = (temperature, top_k, top_p)
            yield from _steps(model, ids, max_new_tokens, block, rng, sampling, kind)
    finally:
        model.train(was_training)


def _cache_kind(model):
    """ "kv" (a GPT), "rnn" (hidden state carried), or TypeError when the model has neither."""
    if hasattr(model, "new_caches"):
        return "kv"
    if "return_state" in inspect.signature(model.forward).parameters:
        return "rnn"
    raise TypeError(f"generate: {type(model).__name__} has no cache; pass use_cache=False")


def _crop(ids, n):
    return ids if n is None else ids[:, -n:]  # (B, <= n) the last n tokens


def _steps(model, ids, n_new, block, rng, sampling, kind):
    keep = None if block is None else (block + 1) // 2  # tokens kept when a KV cache is rebuilt
    state = None  # the KV caches, or the RNN's hidden state
    last_only = "last_only" in inspect.signature(model.forward).parameters
    for step in range(n_new):
        feed = _crop(ids, block) if step == 0 or kind == "none" else ids[:, -1:]  # (B, T')
        if kind == "kv" and (step == 0 or len(state[0]) + 1 > block):
            state = model.new_caches()  # the prompt, or a full cache rebuilt (module docstring)
            feed = feed if step == 0 else _crop(ids, keep)  # (B, <= block)
        if kind == "kv":
            logits, _ = model(feed, caches=state, last_only=True)  # (B, 1, V)
        elif kind == "rnn":
            logits, _, state = model(feed, h0=state, return_state=True)  # (B, T', V)
        else:
            logits, _ = model(feed, last_only=True) if last_only else model(feed)  # (B, T', V)
        logits = to_device(logits.data[:, -1, :], "cpu")  # (B, V)
        nxt = sample_next(logits, rng, *sampling)  # (B,)
        ids = np.concatenate([ids, nxt[:, None]], axis=1)  # (B, T + 1)
        yield nxt, logits


def generate(
    model,
    idx,
    max_new_tokens,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    stop=None,
    use_cache=True,
):
    """Extend the prompt idx by up to max_new_tokens sampled tokens; return prompt + new tokens.

    idx: (T,) or (B, T) token ids; the result has the same rank, (T + n,) or (B, T + n), int64.
    temperature: 0 = greedy (argmax); otherwise logits / temperature before the softmax.
    top_k: keep the k most likely tokens; top_p: keep the smallest set with mass >= top_p (C19).
    seed: seeds the sampling generator (same seed, same text). stop: a token id or a list of ids;
    a row ends when it draws one (the stop id is kept), later positions of that row repeat it,
    and generation ends when every row has stopped.
    use_cache: KV cache (see the module docstring for contexts longer than block_size)."""
    one_row = _as_numpy(idx).ndim == 1
    ids = check_arguments(idx, max_new_tokens, temperature, top_k, top_p, stop)  # (B, T)
    stop_ids = None if stop is None else np.atleast_1d(np.asarray(stop, dtype=np.int64))
    done = np.zeros(ids.shape[0], dtype=bool)  # (B,)
    new = []
    steps = iter_generate(model, ids, max_new_tokens, temperature, top_k, top_p, seed, use_cache)
    for nxt, _ in steps:
        if stop_ids is not None:
            nxt = np.where(done, stop_ids[0], nxt)  # (B,) finished rows repeat a stop id
            done |= np.isin(nxt, stop_ids)
        new.append(nxt)
        if done.all():
            steps.close()  # restores the model's training flag
            break
    out = np.concatenate([ids] + [n[:, None] for n in new], axis=1)  # (B, T + n)
    return out[0] if one_row else out
