"""Grad mode per thread, generation that holds no process state across a yield, padding masks,
and the KV cache's position kept apart from its rows (prefix tuning's path)."""

import threading

import numpy as np
import pytest

from minillm import nn
from minillm.generate import generate, iter_generate
from minillm.models import GPT, GPTConfig
from minillm.ops.attention import causal_mask
from minillm.tensor import Tensor, is_grad_enabled, no_grad
from minillm.train import configure_optimizer, train_step

CONFIG = GPTConfig(vocab_size=13, block_size=12, n_layers=2, n_heads=2, d_model=16)


def gpt(seed=0, dtype=np.float64):
    return GPT(CONFIG, seed=seed).to(dtype).eval()


def test_grad_mode_is_thread_local():
    inside, release, seen = threading.Event(), threading.Event(), {}

    def worker():
        with no_grad():
            seen["worker"] = is_grad_enabled()
            inside.set()
            release.wait(10)

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(10)
    x = Tensor(np.ones(3), requires_grad=True)
    seen["main"] = is_grad_enabled()
    seen["graph"] = (x * 2).sum().requires_grad
    release.set()
    t.join(10)
    assert seen == {"worker": False, "main": True, "graph": True}, seen
    fresh = {}
    t = threading.Thread(target=lambda: fresh.setdefault("on", is_grad_enabled()))
    with no_grad():
        t.start()
        t.join(10)
    assert fresh["on"], "a new thread starts with grad mode on"


def test_no_grad_decorator_shared_by_two_threads_restores_each_threads_mode():
    @no_grad()
    def inner(barrier):
        barrier.wait(10)
        return is_grad_enabled()

    barrier, results = threading.Barrier(2), []

    def run():
        results.append(inner(barrier))
        results.append(is_grad_enabled())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [False, False, True, True], results


def test_suspended_generation_leaves_grad_mode_alone():
    model = gpt(dtype=np.float32).train()
    steps = iter_generate(model, [1, 2], 5, seed=0)
    next(steps)
    assert is_grad_enabled() and model.training, "a suspended generator changed process state"
    opt = configure_optimizer(model, 1e-3, 0.0, (0.9, 0.99))
    x = np.arange(16).reshape(2, 8) % 13
    loss, norm = train_step(model, opt, [(x, x)], 1e-3, 1.0)  # trains while the generator waits
    assert np.isfinite(loss) and norm > 0, "no graph was built while generation was suspended"
    next(steps)
    del steps  # abandoned, never closed: nothing to restore
    assert is_grad_enabled() and model.training


def test_two_threads_generate_while_a_third_trains():
    model = gpt()
    expected = generate(model, [[3, 4, 5]], 6, temperature=0).tolist()
    out, errors = {}, []

    def sample(i):
        try:
            out[i] = generate(model, [[3, 4, 5]], 6, temperature=0).tolist()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=sample, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    grads_built = [(x * k).sum().requires_grad for k in range(200)]
    for t in threads:
        t.join(30)
    assert not errors and out == {0: expected, 1: expected}, (errors, out)
    assert all(grads_built), "a generating thread turned graph recording off in another"


def test_generate_does_not_change_the_training_flag_and_warns_about_dropout():
    model = GPT(GPTConfig(vocab_size=13, block_size=12, n_layers=1, n_heads=2, d_model=16,
                          dropout=0.2))  # fmt: skip
    with pytest.warns(UserWarning, match="call model.eval"):
        generate(model, [1, 2], 2, seed=0)
    assert model.training
    generate(model.eval(), [1, 2], 2, seed=0)
    assert not model.training


def left_pad(prompts, pad_id=0):
    T = max(len(p) for p in prompts)
    ids = np.full((len(prompts), T), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros((len(prompts), T), dtype=np.int64)  # (B, T)
    for b, p in enumerate(prompts):
        ids[b, T - len(p) :], mask[b, T - len(p) :] = p, 1
    return ids, mask


PROMPTS = [[5, 1, 7, 2, 9], [4], [8, 8, 3]]


def test_left_padded_batch_equals_each_prompt_alone():
    model = gpt()
    ids, mask = left_pad(PROMPTS)
    logits = model(ids, attention_mask=mask)[0].data[:, -1]  # (B, V)
    for b, p in enumerate(PROMPTS):
        alone = model(np.array([p]))[0].data[0, -1]  # (V,)
        np.testing.assert_allclose(logits[b], alone, rtol=1e-10, atol=1e-12, err_msg=f"row {b}")
    for use_cache in (True, False):
        batch = generate(model, ids, 9, temperature=0, attention_mask=mask, use_cache=use_cache)
        for b, p in enumerate(PROMPTS):
            alone = generate(model, p, 9, temperature=0, use_cache=use_cache)
            assert batch[b, -9:].tolist() == alone[-9:].tolist(), f"row {b}, cache={use_cache}"


def test_padding_masks_are_checked():
    model = gpt()
    ids, mask = left_pad(PROMPTS)
    with pytest.raises(ValueError, match=r"attention_mask must be \(B, cached \+ new\)"):
        model(ids, attention_mask=mask[:, 1:])
    with pytest.raises(ValueError, match="pad prompts on the left"):
        generate(model, ids, 2, attention_mask=mask[:, ::-1].copy())
    with pytest.raises(ValueError, match="attention_mask must be 0/1 of the prompt's shape"):
        generate(model, ids, 2, attention_mask=mask * 2)


def test_non_finite_logits_raise_instead_of_sampling():
    model = gpt()
    model.wte.W.data[3] = np.nan
    with pytest.raises(ValueError, match="non-finite logits"):
        generate(model, [3, 1], 4, seed=0)


def test_causal_mask_is_bottom_right_aligned():
    m = causal_mask(2, 5, np)
    assert m.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], "the last query sees every key"
    assert causal_mask(3, 3, np).tolist() == np.tril(np.ones((3, 3), bool)).tolist()


def test_kv_cache_keeps_its_position_apart_from_its_rows_and_prefix_rows_carry_gradients():
    model = gpt()
    H, D, P = CONFIG.n_heads, CONFIG.d_model // CONFIG.n_heads, 3
    rng = np.random.default_rng(0)
    prefix = [
        tuple(Tensor(rng.standard_normal((1, H, P, D)), requires_grad=True) for _ in "kv")
        for _ in model.blocks
    ]
    caches = model.new_caches(prefix)
    assert (len(caches[0]), caches[0].position) == (P, 0)
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])  # (B, T)
    logits, loss = model(x, x, caches=caches)
    assert (len(caches[0]), caches[0].position) == (P + 4, 4), "prefix rows moved the position"
    loss.backward()
    assert all(k.grad is not None and v.grad is not None for k, v in prefix), "no gradient"
    assert prefix[0][0].grad.shape == (1, H, P, D), "the batch-1 prefix's gradient summed back"
    plain = model(x)[0].data
    assert not np.allclose(logits.data, plain), "the prefix rows were not attended to"
    # the same prefix given per call (extra_kv) instead of through the caches: same output
    block = model.blocks[0]
    h = Tensor(rng.standard_normal((2, 4, CONFIG.d_model)))
    with no_grad():
        a = block.self_attn(h, is_causal=True, extra_kv=prefix[0])
        c = nn.KVCache(prefix[0])
        b = block.self_attn(h, is_causal=True, cache=c)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_cached_generation_with_a_full_cache_keeps_positions_within_block_size():
    model = gpt()
    long = generate(model, [1, 2, 3], 20, temperature=0)  # 23 > block_size 12: rebuilds
    assert len(long) == 23
    uncached = generate(model, [1, 2, 3], 9, temperature=0, use_cache=False)
    assert long[:12].tolist() == uncached.tolist(), "cached == uncached within block_size"


def test_recording_attention_does_not_change_the_output():
    from minillm.nn import TransformerDecoderLayer, record_attention

    layer = TransformerDecoderLayer(16, 2, 32)  # float32: the fast CPU path when it is there
    rng = np.random.default_rng(4)
    x, mem = (
        Tensor(rng.standard_normal((2, 5, 16)).astype(np.float32)),
        Tensor(rng.standard_normal((2, 3, 16)).astype(np.float32)),
    )
    plain = layer(x, mem, tgt_is_causal=True).data
    with record_attention(layer) as maps:
        recorded = layer(x, mem, tgt_is_causal=True).data
    assert np.array_equal(plain, recorded), "watching the model changed its output"
    assert maps["self_attn"][0].shape == (2, 2, 5, 5)
