"""C3 pruning: magnitude masks (global and per layer) prune exactly round(s N) weights, the masks
are buffers that keep pruned weights at zero through training, and structured pruning of heads
and feed-forward neurons computes what masking them computes, with smaller matrices."""

import numpy as np
import pytest
from compress_tiny import TOKENIZER, batch, copy_of, corpus, tiny_gpt

from minillm.compress import (
    FitConfig,
    HeadPrunedAttention,
    MaskedLinear,
    ffn_importance,
    fit,
    head_importance,
    magnitude_masks,
    prune_ffn,
    prune_heads,
    prune_model,
    sparsity_report,
    top_k,
)
from minillm.generate import generate
from minillm.models import load_checkpoint, save_checkpoint
from minillm.tensor import no_grad


def test_C3_magnitude_masks_prune_exactly_the_smallest_weights():
    rng = np.random.default_rng(0)
    w = {"a": rng.normal(size=(7, 5)), "b": 3 * rng.normal(size=(4, 9))}
    for scope in ("global", "layer"):
        masks = magnitude_masks(w, 0.4, scope)
        if scope == "global":
            pruned = np.concatenate([np.abs(w[k])[~masks[k]] for k in w])
            kept = np.concatenate([np.abs(w[k])[masks[k]] for k in w])
            assert pruned.size == round(0.4 * 71) and pruned.max() <= kept.min()
        else:
            for k in w:
                assert (~masks[k]).sum() == round(0.4 * w[k].size)
                assert np.abs(w[k])[~masks[k]].max() <= np.abs(w[k])[masks[k]].min()
    glob = magnitude_masks(w, 0.4, "global")
    assert (~glob["a"]).mean() > (~glob["b"]).mean()  # global takes more from the small layer


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, "half", None])
def test_C3_sparsity_outside_0_1_is_a_clear_error(sparsity):
    with pytest.raises(ValueError, match=r"sparsity must be .*\[0, 1\)"):
        prune_model(tiny_gpt(), sparsity)


def test_C3_pruned_weights_stay_zero_through_further_training():
    model = tiny_gpt()
    opt_params = [id(p) for p in model.parameters()]
    prune_model(model, 0.6, "layer")
    assert [id(p) for p in model.parameters()] == opt_params  # the same Parameters, same order
    report = sparsity_report(model)
    assert abs(report["sparsity"] - 0.6) < 1e-3
    fit(model, corpus(), FitConfig(steps=6, batch_size=4, lr=1e-2, warmup=0))
    for path, m in model.named_modules():
        if isinstance(m, MaskedLinear):
            assert np.all(m.W.data[m.mask == 0] == 0), path
            assert np.any(m.W.data[m.mask == 1] != 0), path
    assert sparsity_report(model)["zeros"] == report["zeros"]


def test_C3_pruned_model_equals_the_dense_model_with_zeroed_weights_and_reloads(tmp_path):
    model = tiny_gpt()
    dense = copy_of(model)
    prune_model(model, 0.5)
    for path, m in model.named_modules():
        if isinstance(m, MaskedLinear):
            dense.get_submodule(path).W.data[...] = m.W.data * m.mask
    x, _ = batch()
    with no_grad():
        np.testing.assert_allclose(model(x)[0].numpy(), dense(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    loaded = load_checkpoint(tmp_path)[0]
    with no_grad():
        assert np.array_equal(loaded(x)[0].numpy(), model(x)[0].numpy())


def test_C3_sparsity_report_counts_storage_honestly():
    model = tiny_gpt(bias=False)
    prune_model(model, 0.5)
    r = sparsity_report(model)
    n = r["weights"]
    assert r["dense_bytes"] == 4 * n and r["bitmap_bytes"] == 4 * (n - r["zeros"]) + -(-n // 8)
    assert r["csr_bytes"] > r["dense_bytes"]  # at 50 %, values + int32 columns cost more


def test_C3_head_pruned_attention_equals_masking_those_heads():
    model = tiny_gpt()
    x, y = batch()
    keep = {"blocks.0.self_attn": [0, 2], "blocks.1.self_attn": [1]}
    masked = copy_of(model)
    D = model.config.d_model // model.config.n_heads
    for path, kept in keep.items():
        W_o = masked.get_submodule(path).W_o.W.data  # (C, C): rows = head outputs
        for h in set(range(3)) - set(kept):
            W_o[h * D : (h + 1) * D] = 0
    prune_heads(model, keep)
    attn = model.get_submodule("blocks.1.self_attn")
    assert isinstance(attn, HeadPrunedAttention) and attn.W_q.W.shape == (18, 6)
    with no_grad():
        np.testing.assert_allclose(model(x, y)[0].numpy(), masked(x, y)[0].numpy(), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip
    model.eval()
    cached = generate(model, x[:1, :3], 6, temperature=0, use_cache=True)
    uncached = generate(model, x[:1, :3], 6, temperature=0, use_cache=False)
    assert np.array_equal(cached, uncached)


def test_C3_head_importance_is_the_loss_change_when_a_head_is_masked():
    model = tiny_gpt()
    fit(model, corpus(), FitConfig(steps=15, batch_size=4, lr=1e-2, warmup=0))
    batches = [batch(1), batch(2)]
    scores = head_importance(model, batches)
    with no_grad():
        base = np.mean([model(x, y)[1].item() for x, y in batches])
    ablated = copy_of(model)
    ablated.blocks[1].self_attn.W_o.W.data[6:12] = 0  # head 1 of block 1
    with no_grad():
        loss = np.mean([ablated(x, y)[1].item() for x, y in batches])
    assert scores["blocks.1.self_attn"].shape == (3,)
    np.testing.assert_allclose(scores["blocks.1.self_attn"][1], loss - base, rtol=1e-4, atol=1e-6)


def test_C3_ffn_pruning_equals_zeroing_those_neurons_and_shrinks_the_matrices(tmp_path):
    model = tiny_gpt()
    x, y = batch()
    scores = ffn_importance(model, [batch(3)])
    keep = top_k(scores, 0.75)
    assert all(len(k) == 18 for k in keep.values())  # 72 -> 18 neurons
    zeroed = copy_of(model)
    for path, kept in keep.items():
        gone = np.setdiff1d(np.arange(72), kept)
        zeroed.get_submodule(path).W_2.W.data[gone] = 0
    prune_ffn(model, keep)
    assert model.blocks[0].ff.W_1.W.shape == (18, 18) and model.blocks[0].ff.W_2.W.shape == (18, 18)
    with no_grad():
        np.testing.assert_allclose(model(x)[0].numpy(), zeroed(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    prune_heads(model, {"blocks.0.self_attn": [1]})
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    loaded, _, manifest = load_checkpoint(tmp_path)
    assert [r["name"] for r in manifest["surgery"]] == ["prune_ffn", "prune_heads"]
    with no_grad():
        assert np.array_equal(loaded(x)[0].numpy(), model(x)[0].numpy())
    assert loaded.num_params() < tiny_gpt().num_params()


def test_C3_structured_pruning_rejects_keeping_no_head_or_an_unknown_one():
    with pytest.raises(ValueError, match="must keep 1..3 distinct heads"):
        prune_heads(tiny_gpt(), {"blocks.0.self_attn": []})
    with pytest.raises(ValueError, match="must keep 1..3 distinct heads"):
        prune_heads(tiny_gpt(), {"blocks.0.self_attn": [0, 3]})
    with pytest.raises(ValueError, match="must keep 1..72 distinct neurons"):
        prune_ffn(tiny_gpt(), {"blocks.0.ff": [72]})
