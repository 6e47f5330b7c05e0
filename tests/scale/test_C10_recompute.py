"""C10, computation-graph optimisation for memory: activation checkpointing (a block's forward run
without a graph and run again in backward) gives the recorded path's gradients bit for bit and
keeps less; the graph statistics that measure it agree with tracemalloc."""

import gc
import tracemalloc

import numpy as np
import pytest
from scale_tiny import tiny_run_config

from minillm.models import GPT, GPTConfig
from minillm.nn import Linear
from minillm.tensor import Tensor, no_grad
from minillm.tensor.graph_stats import MemoryTimeline, graph_nodes, held_bytes
from minillm.tensor.recompute import checkpoint
from minillm.train import train


def _gpt(recompute, dropout=0.0, T=12, seed=3):
    config = GPTConfig(vocab_size=13, block_size=T, n_layers=3, n_heads=2, d_model=16)
    model = GPT(config.__class__(**{**config.to_dict(), "dropout": dropout}), seed=seed)
    model.recompute = recompute
    return model


def _batch(T=12, B=3):
    rng = np.random.default_rng(0)
    return rng.integers(0, 13, (B, T)), rng.integers(0, 13, (B, T))


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_C10_checkpoint_gradients_equal_the_normal_path(dropout):
    """Bit for bit, dropout included: the second forward rewinds the blocks' generators."""
    x, y = _batch()
    runs = []
    for recompute in (False, True):
        model = _gpt(recompute, dropout)
        _, loss = model(x, y)
        loss.backward()
        runs.append((loss.item(), dict(model.named_parameters()), model.rng_states()))
    (loss_a, params_a, rng_a), (loss_b, params_b, rng_b) = runs
    assert loss_a == loss_b, f"C10 loss {loss_a} vs recomputed {loss_b}"
    for name, p in params_a.items():
        q = params_b[name]
        assert np.array_equal(p.grad, q.grad), f"C10 gradient of {name} differs when recomputed"
    assert rng_a == rng_b, "C10: the recomputation left the dropout generators elsewhere"


def test_C10_checkpoint_gives_parameters_gradients_when_no_input_requires_grad():
    """A frozen layer below the block: its output needs no grad, the block's weights still do."""
    layer = Linear(5, 4, rng=np.random.default_rng(1))
    x = Tensor(np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32))
    layer(x).sum().backward()
    expected = {n: p.grad.copy() for n, p in layer.named_parameters()}
    layer.zero_grad()
    checkpoint(layer, x).sum().backward()
    for name, p in layer.named_parameters():
        assert np.array_equal(p.grad, expected[name]), f"C10 gradient of {name} through checkpoint"


def test_C10_checkpoint_under_no_grad_just_runs():
    model = _gpt(True)
    x, _ = _batch()
    with no_grad():
        logits, _ = model(x)
    assert not logits.requires_grad and logits._parents == ()
    np.testing.assert_array_equal(logits.data, _gpt(False)(x)[0].data)


def test_C10_recompute_keeps_less_in_the_graph_and_peaks_lower():
    """The graph of a recomputed model holds the block inputs, not the blocks' insides; the
    measured peak of forward + backward falls with it."""
    x, y = _batch(T=64, B=4)
    held, peaks = {}, {}
    for recompute in (False, True):
        model = GPT(GPTConfig(vocab_size=13, block_size=64, n_layers=4, n_heads=2, d_model=32))
        model.recompute = recompute
        model(x, y)[1].backward()  # warm-up: first calls load kernels
        model.zero_grad()
        gc.collect()
        with MemoryTimeline() as tl:
            _, loss = model(x, y)
            held[recompute] = held_bytes(loss)
            loss.backward()
            tl.mark("backward done")
        peaks[recompute] = tl.peak
    # 4 blocks: the recorded graph keeps every block's ~20 activations, the recomputed one a
    # (B, T, C) input per block
    assert held[True] * 4 < held[False], f"C10 held bytes: {held}"
    assert peaks[True] < 0.75 * peaks[False], f"C10 peak bytes of one step: {peaks}"


def test_C10_held_bytes_match_the_memory_traced_during_the_forward():
    """graph_stats' count of what the graph keeps equals what tracemalloc sees the forward leave
    allocated, within the small Python objects (nodes, closures) it does not count."""
    model = GPT(GPTConfig(vocab_size=13, block_size=64, n_layers=2, n_heads=2, d_model=32))
    x, y = _batch(T=64, B=4)
    model(x, y)  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _, loss = model(x, y)
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    held = held_bytes(loss)
    assert held <= traced <= 1.05 * held, f"C10 held {held} bytes, traced {traced}"


def test_C10_graph_nodes_count_saved_and_output_bytes_by_hand():
    """y = sum(tanh(x @ W)): matmul keeps x and W (leaves, alive anyway: not counted), tanh
    keeps its output, sum keeps nothing but a shape."""
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((5, 7)), requires_grad=True)  # float64
    W = Tensor(rng.standard_normal((7, 3)), requires_grad=True)
    a = x @ W
    b = a.tanh()
    s = b.sum()
    nodes = graph_nodes(s)
    assert [n.op for n in nodes] == ["matmul", "tanh", "sum"], [n.op for n in nodes]
    assert [n.depth for n in nodes] == [0, 1, 2] and [n.parents for n in nodes] == [[], [0], [1]]
    assert [n.out_bytes for n in nodes] == [5 * 3 * 8, 5 * 3 * 8, 8]
    assert [n.saved_bytes for n in nodes] == [0, 5 * 3 * 8, 0], [n.saved_bytes for n in nodes]
    assert held_bytes(s) == 5 * 3 * 8 * 2 + 8


def test_C10_memory_timeline_marks_modules_and_backward_nodes():
    model = _gpt(False, T=32)
    x, y = _batch(T=32)
    model(x, y)  # warm-up
    with MemoryTimeline() as tl:
        tl.watch_modules(model)
        _, loss = model(x, y)
        tl.watch_backward(loss)
        n_nodes = len(graph_nodes(loss))
        loss.backward()
        tl.mark("after the backward")
        del loss
        gc.collect()
        tl.mark("graph released")
    labels = [e.label for e in tl.events]
    assert "forward blocks.0.self_attn.W_q" in labels and "forward GPT" in labels, labels[:5]
    assert sum(label.startswith("backward ") for label in labels) == n_nodes
    forward_end = labels.index("forward GPT")
    after = tl.events[-1].current
    assert after < tl.events[forward_end].current / 4, "C10: the graph's memory was not released"
    assert tl.peak >= max(e.current for e in tl.events)
    # hooks are gone after the block
    with MemoryTimeline() as again:
        model(x, y)
    assert again.events == []


def test_C10_recompute_switch_trains_the_same_losses(corpus_file, tmp_path):
    plain = train(tiny_run_config(corpus_file, tmp_path / "a", max_iters=4), log=lambda m: None)
    recomputed = train(
        tiny_run_config(corpus_file, tmp_path / "b", max_iters=4, recompute=True),
        log=lambda m: None,
    )
    assert plain.losses == recomputed.losses, (plain.losses, recomputed.losses)


def test_C10_recompute_needs_a_model_with_blocks(corpus_file, tmp_path):
    cfg = tiny_run_config(corpus_file, tmp_path, model="rnnlm", model_config=None, recompute=True)
    with pytest.raises(ValueError, match="recompute=true: model 'rnnlm' has no blocks"):
        train(cfg, log=lambda m: None)
