"""The batching engine without HTTP: a request batched with others gets exactly the tokens it gets
alone from minillm.generate (its seed, its settings, its cache rebuilds past block_size), rows
join and leave a running batch, an error stays with its request, and per-row sampling."""

import threading
import time

import numpy as np
import pytest
from serve_util import BLOCK, TIMEOUT_S, tiny_gpt

from minillm.generate import generate, sample_next, sample_rows
from minillm.models import RNNLM, RNNLMConfig
from minillm.serve import Engine, QueueFull, Request, Sampling, ServeConfig, kv_rows
from minillm.tensor import no_grad


def random_requests(n, V, seed=0, max_new=3 * BLOCK):
    """n (prompt, Sampling) pairs: ragged prompts up to block_size, every sampling mode."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        prompt = rng.integers(0, V, int(rng.integers(1, BLOCK + 1))).tolist()
        temperature = float(rng.choice([0.0, 0.6, 1.0, 1.7]))
        top_k = [None, 1, 5][i % 3]
        top_p = [None, 0.9, 0.5, None][i % 4]
        out.append((prompt, Sampling(int(rng.integers(1, max_new)), temperature, top_k, top_p, i)))
    return out


def run_engine(model, requests, config, stagger_s=0.0, stops=None):
    """Submit every request (with a pause between some, so rows join a running batch) and wait
    for all to end; returns the Request objects and the engine's stats."""
    engine = Engine(model, config)
    engine.start()
    ends, handles = [], []
    try:
        for i, (prompt, sampling) in enumerate(requests):
            done = threading.Event()
            ends.append(done)
            emit = lambda kind, v, done=done: done.set() if kind != "token" else None  # noqa: E731
            stop = None if stops is None else stops[i]
            handles.append(engine.submit(Request(prompt, sampling, emit, stop)))
            if stagger_s and i % 3 == 2:
                time.sleep(stagger_s)
        for i, done in enumerate(ends):
            assert done.wait(TIMEOUT_S), f"request {i} did not finish"
    finally:
        engine.stop()
    return handles, dict(engine.stats)


def alone(model, prompt, s: Sampling, stop=None):
    out = generate(model, prompt, s.max_new_tokens, s.temperature, s.top_k, s.top_p, s.seed, stop)
    return out[len(prompt) :].tolist()


@pytest.mark.parametrize("max_batch_size,stagger_s", [(16, 0.0), (4, 0.003), (1, 0.0)])
def test_C5_batched_requests_equal_each_request_alone(max_batch_size, stagger_s):
    model = tiny_gpt()
    requests = random_requests(18, model.config.vocab_size)
    config = ServeConfig(max_batch_size=max_batch_size, max_wait_ms=2)
    handles, stats = run_engine(model, requests, config, stagger_s)
    for i, ((prompt, s), h) in enumerate(zip(requests, handles)):
        assert h.finished == "length", f"request {i}: {h.finished}"
        assert h.new_ids == alone(model, prompt, s), f"request {i} ({len(prompt)} tokens, {s})"
    tokens = sum(s.max_new_tokens for _, s in requests)
    assert stats["tokens"] == tokens and stats["completed"] == len(requests)
    if max_batch_size > 1:  # rows shared steps: fewer steps than tokens
        assert stats["steps"] < tokens / 2, stats
    else:
        assert stats["steps"] == tokens, stats


def test_C5_a_stop_ends_a_row_as_generate_stop_does():
    model = tiny_gpt()
    requests = random_requests(8, model.config.vocab_size, seed=3)
    stops = [(lambda new, t=t: new[-1] == t) for t in range(8)]
    handles, _ = run_engine(model, requests, ServeConfig(max_wait_ms=2), stops=stops)
    for t, ((prompt, s), h) in enumerate(zip(requests, handles)):
        expected = alone(model, prompt, s, stop=t)
        if t in expected:
            expected = expected[: expected.index(t) + 1]
        assert h.new_ids == expected, f"request {t}"
        assert h.finished == ("stop" if expected[-1] == t else "length")


def test_C5_an_error_in_one_request_fails_it_alone():
    """A forward that raises for one prompt: that request ends with the error, the others of the
    same batch (prefill and decode, before and after) get what they get alone."""
    model = tiny_gpt()
    bad = [7, 7, 7, 7, 7]
    forward = model.forward

    def faulty(idx, *args, **kwargs):
        rows = np.asarray(idx)
        if rows.shape[1] >= len(bad) and (rows[:, -len(bad) :] == bad).all(axis=1).any():
            raise RuntimeError("injected fault")
        return forward(idx, *args, **kwargs)

    model.forward = faulty
    requests = random_requests(9, model.config.vocab_size, seed=5, max_new=BLOCK)
    requests[4] = (bad, Sampling(5, 1.0, None, None, 1))
    handles, stats = run_engine(model, requests, ServeConfig(max_wait_ms=50))
    model.forward = forward
    assert handles[4].finished == "error" and stats["errors"] == 1
    for i, ((prompt, s), h) in enumerate(zip(requests, handles)):
        if i != 4:
            assert h.finished == "length" and h.new_ids == alone(model, prompt, s), f"request {i}"


def test_C5_a_decode_step_that_raises_is_rerun_row_by_row():
    """The batch's one-token step raises because of one row's token: the caches are cut back,
    the rows re-run one at a time, and only that row fails."""
    model = tiny_gpt()
    bad = Sampling(6, 0.0)  # greedy: its first token is the poison, fed at its first decode step
    poison = alone(model, [2, 3], bad)[0]
    requests = [
        r
        for r in random_requests(14, model.config.vocab_size, seed=7, max_new=BLOCK)
        if poison not in alone(model, *r)[:-1]
    ][:8]
    requests.insert(3, ([2, 3], bad))
    forward = model.forward

    def faulty(idx, *args, **kwargs):
        if np.asarray(idx).shape[1] == 1 and (np.asarray(idx) == poison).any():
            raise RuntimeError("injected fault")
        return forward(idx, *args, **kwargs)

    model.forward = faulty
    handles, stats = run_engine(model, requests, ServeConfig(max_wait_ms=50))
    model.forward = forward
    assert handles[3].finished == "error" and handles[3].new_ids == [poison]
    for i, ((prompt, s), h) in enumerate(zip(requests, handles)):
        if i != 3:
            assert h.finished == "length" and h.new_ids == alone(model, prompt, s), f"request {i}"


def test_a_cancelled_request_leaves_the_batch_and_the_others_go_on():
    model = tiny_gpt()
    engine = Engine(model, ServeConfig(max_wait_ms=1))
    events = {0: [], 1: []}
    done = {0: threading.Event(), 1: threading.Event()}

    def emitter(i):
        def emit(kind, value):
            events[i].append(kind if kind != "done" else value)
            if kind != "token":
                done[i].set()

        return emit

    engine.start()
    try:
        long = engine.submit(Request([1, 2, 3], Sampling(10_000), emitter(0)))
        other = engine.submit(Request([4, 5], Sampling(40, seed=2), emitter(1)))
        while len(events[0]) < 3:
            time.sleep(0.001)
        long.cancel()
        assert done[0].wait(TIMEOUT_S) and done[1].wait(TIMEOUT_S)
    finally:
        engine.stop()
    assert events[0][-1] == "cancelled" and len(events[0]) < 10_000
    assert other.new_ids == alone(model, [4, 5], Sampling(40, seed=2))
    assert engine.stats["cancelled"] == 1 and engine.stats["completed"] == 1


def test_the_queue_is_bounded_and_stop_fails_what_is_left():
    engine = Engine(tiny_gpt(), ServeConfig(max_queue=2))  # not started: requests wait
    ends = []
    for _ in range(2):
        engine.submit(Request([1], Sampling(3), lambda kind, v: ends.append((kind, v))))
    with pytest.raises(QueueFull, match="2 requests are waiting"):
        engine.submit(Request([1], Sampling(3), lambda kind, v: None))
    engine.start()
    engine.stop()
    assert not engine.alive
    ends = [kind for kind, _ in ends if kind != "token"]
    assert len(ends) == 2 and set(ends) <= {"done", "error"}, "each request ends exactly once"


def test_a_model_without_kv_caches_is_served_one_request_at_a_time():
    model = RNNLM(RNNLMConfig(vocab_size=11, d_model=8), seed=1).eval()
    engine = Engine(model, ServeConfig())
    assert not engine.batched and engine.max_rows == 1
    requests = random_requests(4, 11, seed=2, max_new=20)
    handles, stats = run_engine(model, requests, ServeConfig())
    for (prompt, s), h in zip(requests, handles):
        assert h.new_ids == alone(model, prompt, s)
    assert stats["steps"] == sum(s.max_new_tokens for _, s in requests)


def test_C5_row_seeds_give_each_row_of_a_padded_batch_its_own_draws():
    model = tiny_gpt()
    prompts = [[1, 2, 3, 4, 5], [6], [7, 8, 9]]
    T = max(map(len, prompts))
    ids = np.array([[0] * (T - len(p)) + p for p in prompts])  # (3, 5) left-padded
    mask = np.array([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    out = generate(model, ids, 8, 0.9, top_k=6, attention_mask=mask, row_seeds=[11, 12, 13])
    for b, p in enumerate(prompts):
        assert out[b, T:].tolist() == generate(model, p, 8, 0.9, 6, seed=11 + b)[len(p) :].tolist()
    with pytest.raises(ValueError, match="give seed or row_seeds"):
        generate(model, ids, 2, seed=1, attention_mask=mask, row_seeds=[1, 2, 3])


def test_sample_rows_draws_each_row_as_sample_next_alone():
    logits = np.random.default_rng(0).normal(size=(4, 9))
    settings = [(0.0, None, None), (1.0, 3, None), (0.7, None, 0.8), (1.3, 4, 0.9)]
    rows = sample_rows(logits, [np.random.default_rng(s) for s in range(4)], settings)
    for b in range(4):
        one = sample_next(logits[b : b + 1], np.random.default_rng(b), *settings[b])
        assert rows[b] == one[0], f"row {b}"
    with pytest.raises(ValueError, match="4 rows of logits, 3 generators"):
        sample_rows(logits, [np.random.default_rng(0)] * 3, settings)


def test_kv_rows_stack_take_and_trim_keep_each_row_as_it_is_alone():
    """Two groups of cached rows of different widths, stacked, then one decoding step: each row's
    logits equal that row's step alone; take_rows + trim drop a row and its padding."""
    model = tiny_gpt()
    prompts = [[1, 2, 3, 4, 5, 6, 7], [8, 9], [10, 11, 12]]

    def prefill(rows):
        T = max(map(len, rows))
        ids = np.array([[0] * (T - len(p)) + p for p in rows])
        mask = np.array([[0] * (T - len(p)) + [1] * len(p) for p in rows])
        caches = model.new_caches()
        with no_grad():
            model(ids, caches=caches, last_only=True, attention_mask=mask)
        return caches, mask

    def step(caches, mask, tokens):
        mask = np.pad(mask, ((0, 0), (0, 1)), constant_values=1)
        with no_grad():
            out, _ = model(np.array(tokens)[:, None], caches=caches, attention_mask=mask)
        return out.data[:, -1], mask

    caches, mask = kv_rows.stack([prefill(prompts[:1]), prefill(prompts[1:])])
    assert mask.shape == (3, 7) and mask.sum(axis=1).tolist() == [7, 2, 3]
    batch, mask = step(caches, mask, [3, 3, 3])
    for b, p in enumerate(prompts):
        c, m = prefill([p])
        np.testing.assert_allclose(batch[b], step(c, m, [3])[0][0], rtol=1e-10, atol=1e-12)
    caches, mask = kv_rows.take_rows(caches, mask, [1, 2])  # the 8-token row leaves
    assert mask.shape == (2, 4) and caches[0].k.shape[2] == 4 and caches[0].position == 4
