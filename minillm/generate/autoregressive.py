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

Models: any registered causal language model (models/registry.py): forward(idx, caches=...,
last_only=..., attention_mask=...) -> (logits, loss), `context_length`, and `new_caches()` for
cached generation (a GPT's KV caches, an RNN's hidden state). Grad mode is entered around each
model call only, never across a `yield`, and model.training is never changed here: call
model.eval() first, as in PyTorch (load_checkpoint returns an eval-mode model).
"""

import math
import warnings

import numpy as np

from ..nn import Dropout
from ..tensor import Tensor, no_grad
from ..tensor.backend import to_device
from .sampling import sample_next, sample_rows


def check_arguments(idx, max_new_tokens, temperature, top_k, top_p, stop):
    """Raise ValueError/TypeError for a bad generation argument; return idx as (B, T) int64."""
    if isinstance(idx, str):
        raise TypeError(
            f"generate: the prompt must be token ids, got the string {idx[:30]!r}; encode it "
            "first: generate(model, tokenizer.encode(text), ...)"
        )
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
        if np.size(stop) == 0:  # a finished row repeats stop[0]: there must be one
            raise ValueError(
                "generate: stop must be a token id or a non-empty list of them, got []"
            )
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
    model,
    idx,
    max_new_tokens,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    use_cache=True,
    attention_mask=None,
    row_seeds=None,
):
    """Yield (next_ids (B,), logits (B, V)) for each new token: the logits the model gave at that
    step (before temperature and filtering) and the token drawn from them.

    attention_mask (B, T) of 1/0 marks left padding of prompts of different lengths (see
    GPT.forward); each row then samples as it would alone. row_seeds (B seeds, instead of seed):
    one generator per row, so row b draws what the prompt alone draws with seed row_seeds[b]
    (batched requests of different seeds, minillm.serve). Each model call runs under no_grad
    (this thread only); between yields nothing of the process's state is changed, so a suspended
    or abandoned generator leaves grad mode and model.training as they were."""
    ids = check_arguments(idx, max_new_tokens, temperature, top_k, top_p, None)  # (B, T)
    mask = _check_mask(attention_mask, ids)  # (B, T) or None
    if use_cache and not callable(getattr(model, "new_caches", None)):
        raise TypeError(
            f"generate: {type(model).__name__} has no new_caches(); pass use_cache=False"
        )
    if model.training and any(isinstance(m, Dropout) and m.p > 0 for m in model.modules()):
        warnings.warn(
            "generate: the model is in training mode, so dropout is active while sampling; call "
            "model.eval() first",
            stacklevel=2,
        )
    block = getattr(model, "context_length", None)
    rng = _generators(seed, row_seeds, ids.shape[0])
    return _steps(
        model, ids, mask, max_new_tokens, block, rng, (temperature, top_k, top_p), use_cache
    )


def _generators(seed, row_seeds, B):
    """One generator for the batch, or one per row (a list) from row_seeds."""
    if row_seeds is None:
        return np.random.default_rng(seed)
    if seed is not None or len(row_seeds) != B:
        raise ValueError(
            f"generate: give seed or row_seeds (one per row: {B}), not both; got seed={seed!r}, "
            f"{len(row_seeds)} row_seeds"
        )
    return [np.random.default_rng(s) for s in row_seeds]


def _check_mask(attention_mask, ids):
    if attention_mask is None:
        return None
    mask = _as_numpy(attention_mask).astype(np.int64)
    if mask.shape != ids.shape or not np.isin(mask, (0, 1)).all():
        raise ValueError(
            f"generate: attention_mask must be 0/1 of the prompt's shape {ids.shape}, got "
            f"{mask.shape}"
        )
    if not mask[:, -1].all():
        raise ValueError("generate: pad prompts on the left (attention_mask[:, -1] must be 1)")
    return mask


def _crop(a, n):
    return a if a is None or n is None else a[:, -n:]  # (B, <= n) the last n tokens


def _call(model, feed, **kwargs):
    """One forward under no_grad: (B, V) logits of the last position, as a NumPy array."""
    with no_grad():
        logits, _ = model(feed, last_only=True, **kwargs)  # (B, 1, V)
    logits = to_device(logits.data[:, -1, :], "cpu")  # (B, V)
    if not np.isfinite(logits).all():
        bad = np.argwhere(~np.isfinite(logits))[0].tolist()
        raise ValueError(
            f"generate: the model gave non-finite logits (row {bad[0]}, token {bad[1]}: "
            f"{logits[bad[0], bad[1]]}); its weights hold NaN or inf (a diverged checkpoint?)"
        )
    return logits


def _steps(model, ids, mask, n_new, block, rng, sampling, use_cache):
    keep = None if block is None else (block + 1) // 2  # tokens kept when a KV cache is rebuilt
    caches = None
    for step in range(n_new):
        extra = {}
        if not use_cache:
            feed, m = _crop(ids, block), _crop(mask, block)  # (B, <= block)
        elif step == 0 or (block is not None and caches[0].position + 1 > block):
            n = block if step == 0 else keep  # the prompt, or a full cache rebuilt (docstring)
            caches = model.new_caches()
            feed, m = _crop(ids, n), _crop(mask, n)  # (B, <= block)
        else:
            feed, m = ids[:, -1:], _crop(mask, caches[0].position + 1)  # (B, 1)
        if use_cache:
            extra["caches"] = caches
        if m is not None:
            extra["attention_mask"] = m
        logits = _call(model, feed, **extra)  # (B, V)
        if isinstance(rng, list):  # (B,) each row with its own generator
            nxt = sample_rows(logits, rng, [sampling] * len(rng))
        else:
            nxt = sample_next(logits, rng, *sampling)  # (B,)
        ids = np.concatenate([ids, nxt[:, None]], axis=1)  # (B, T + 1)
        if mask is not None:
            mask = np.concatenate([mask, np.ones_like(nxt)[:, None]], axis=1)  # (B, T + 1)
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
    attention_mask=None,
    row_seeds=None,
):
    """Extend the prompt idx by up to max_new_tokens sampled tokens; return prompt + new tokens.

    idx: (T,) or (B, T) token ids; the result has the same rank, (T + n,) or (B, T + n), int64.
    temperature: 0 = greedy (argmax); otherwise logits / temperature before the softmax.
    top_k: keep the k most likely tokens; top_p: keep the smallest set with mass >= top_p (C19).
    seed: seeds the sampling generator (same seed, same text). stop: a token id or a list of ids;
    a row ends when it draws one (the stop id is kept), later positions of that row repeat it,
    and generation ends when every row has stopped.
    use_cache: KV cache (see the module docstring for contexts longer than block_size).
    attention_mask (B, T): 1 for prompt tokens, 0 for left padding (batched prompts of different
    lengths); each row is generated as it would be alone. row_seeds: one seed per row instead
    of seed, so row b gets the tokens its prompt gets alone with seed row_seeds[b]."""
    one_row = _as_numpy(idx).ndim == 1
    ids = check_arguments(idx, max_new_tokens, temperature, top_k, top_p, stop)  # (B, T)
    stop_ids = None if stop is None else np.atleast_1d(np.asarray(stop, dtype=np.int64))
    done = np.zeros(ids.shape[0], dtype=bool)  # (B,)
    new = []
    steps = iter_generate(
        model,
        ids,
        max_new_tokens,
        temperature,
        top_k,
        top_p,
        seed,
        use_cache,
        attention_mask,
        row_seeds,
    )
    for nxt, _ in steps:
        if stop_ids is not None:
            nxt = np.where(done, stop_ids[0], nxt)  # (B,) finished rows repeat a stop id
            done |= np.isin(nxt, stop_ids)
        new.append(nxt)
        if done.all():
            steps.close()
            break
    out = np.concatenate([ids] + [n[:, None] for n in new], axis=1)  # (B, T + n)
    return out[0] if one_row else out
