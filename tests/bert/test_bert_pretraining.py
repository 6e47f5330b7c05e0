"""BERT pre-training (C12): the masked-LM loss over the masked set only (F6, with the erratum that
the source's formula is the causal-LM loss), next-sentence prediction as a cross-entropy on the
pooled [CLS] vector (F7), the packed targets, the tied decoder, gradients by finite differences,
and the overfit-one-batch golden test."""

import numpy as np
import pytest
from bert_tiny import pretraining_batch, tiny_pretraining

from minillm.models import build_model, load_checkpoint, save_checkpoint
from minillm.models.bert_pretraining import BertForPreTraining, pack_targets, unpack_targets
from minillm.optim import AdamW


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_F6_mlm_loss_counts_only_masked_positions(assert_close):
    model = tiny_pretraining()
    x, targets, labels, _ = pretraining_batch()
    out, _ = model(*x, targets)
    full, _ = model(*x)  # no targets: the head at every position, (B, T, V)
    logp = log_softmax(full.mlm_logits.data)  # (B, T, V)
    b, t = np.nonzero(labels != -100)  # the masked set M
    assert_close(out.mlm_loss.data, -logp[b, t, labels[b, t]].mean(), "l_MLM = mean over M")
    assert out.mlm_logits.shape == (len(b), 23), "the head runs on the masked positions only"
    # a label outside M changes nothing: move one masked position out of the set
    fewer = labels.copy()
    fewer[b[-1], t[-1]] = -100
    out2, _ = model(*x, pack_targets(fewer, targets[:, 0]))
    keep = slice(0, len(b) - 1)
    expected = -logp[b[keep], t[keep], labels[b[keep], t[keep]]].mean()
    assert_close(out2.mlm_loss.data, expected, "l_MLM over the smaller set")


def test_F6_erratum_the_masked_lm_loss_is_not_the_causal_lm_loss():
    """The source's -sum_i log p(x_i | x_<i) scores every next token (the GPT's F9); the masked
    loss scores only the masked tokens, each from both sides. On the same logits they differ."""
    model = tiny_pretraining()
    x, targets, labels, _ = pretraining_batch()
    out, _ = model(*x, targets)
    logp = log_softmax(model(*x)[0].mlm_logits.data)  # (B, T, V)
    ids = x[0]
    causal = -np.take_along_axis(logp[:, :-1], ids[:, 1:, None], -1).mean()  # next token
    assert abs(out.mlm_loss.item() - causal) > 1e-3


def test_F7_next_sentence_loss_is_cross_entropy_on_the_pooled_cls_vector(assert_close):
    model = tiny_pretraining()
    x, targets, _, nsp = pretraining_batch()
    out, loss = model(*x, targets)
    h = model.bert(*x)
    pooled = np.tanh(h.data[:, 0] @ model.bert.pooler.W.data + model.bert.pooler.b.data)
    logits = pooled @ model.nsp.classifier.W.data + model.nsp.classifier.b.data  # (B, 2)
    assert_close(out.nsp_logits.data, logits, "NSP logits = pooled W + b")
    expected = -log_softmax(logits)[np.arange(3), nsp].mean()
    assert_close(out.nsp_loss.data, expected, "l_NSP = -(1/B) sum log p(y_b | [CLS])")
    assert_close(loss.data, out.mlm_loss.data + out.nsp_loss.data, "loss = l_MLM + l_NSP")
    flipped, _ = model(*x, pack_targets(unpack_targets(targets)[0], 1 - nsp))
    assert flipped.mlm_loss.item() == out.mlm_loss.item(), "the NSP label moved the MLM loss"
    assert flipped.nsp_loss.item() != out.nsp_loss.item()


def test_pack_targets_puts_the_next_sentence_label_in_the_cls_column():
    _, targets, labels, nsp = pretraining_batch()
    assert targets.shape == labels.shape and np.array_equal(targets[:, 0], nsp)
    mlm, nsp2 = unpack_targets(targets)
    assert np.array_equal(mlm, labels) and np.array_equal(nsp2, nsp)
    bad = labels.copy()
    bad[0, 0] = 7
    with pytest.raises(ValueError, match=r"\[CLS\] is never masked"):
        pack_targets(bad, nsp)
    with pytest.raises(ValueError, match=r"targets shape \(3, 8\) != input_ids shape \(3, 9\)"):
        tiny_pretraining()(*pretraining_batch()[0], targets[:, :8])


def test_a_batch_without_masked_tokens_has_mlm_loss_zero_not_nan():
    model = tiny_pretraining()
    x, _, labels, nsp = pretraining_batch()
    out, loss = model(*x, pack_targets(np.full_like(labels, -100), nsp))
    assert out.mlm_loss.item() == 0.0 and np.isfinite(loss.item())


def test_C2_mlm_decoder_is_tied_to_the_token_embedding():
    model = tiny_pretraining()
    names = set(model.state_dict())
    assert "mlm.decoder.b" in names and not any(n.startswith("mlm.decoder.W") for n in names)
    assert model.mlm.decoder.embedding is model.bert.wte
    x, targets, _, _ = pretraining_batch()
    out, _ = model(*x, targets)
    out.mlm_loss.backward()  # through the decoder and through the embedding lookup
    rows_read = np.unique(x[0])
    unread = np.setdiff1d(np.arange(23), rows_read)
    assert np.abs(model.bert.wte.W.grad[unread]).sum() > 0, "no gradient through the decoder"


def test_pretraining_gradients_match_finite_differences():
    """d(l_MLM + l_NSP)/d theta by central differences (float64, eps 1e-6) at entries of every
    kind of parameter: embeddings, attention, feed-forward, layer norms, pooler, both heads."""
    model = tiny_pretraining()
    x, targets, _, _ = pretraining_batch()
    model(*x, targets)[1].backward()
    rng = np.random.default_rng(0)
    for name, p in model.named_parameters():
        flat = p.data.reshape(-1)
        for i in rng.choice(flat.size, size=min(2, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + 1e-6
            up = model(*x, targets)[1].item()
            flat[i] = old - 1e-6
            down = model(*x, targets)[1].item()
            flat[i] = old
            numeric = (up - down) / 2e-6
            analytic = p.grad.reshape(-1)[i]
            assert abs(analytic - numeric) <= 1e-5 + 1e-3 * abs(numeric), (
                f"{name}[{i}]: analytic {analytic} vs numeric {numeric}"
            )


def test_bert_overfits_one_batch():
    model = tiny_pretraining(np.float32, d_model=16, d_ff=32)
    x, targets, labels, nsp = pretraining_batch(B=4, T=10)
    opt = AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(150):
        out, loss = model(*x, targets)
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    out, loss = model(*x, targets)
    metrics = model.batch_metrics(out, targets)
    assert loss.item() < 0.05 * first, f"loss {first} -> {loss.item()}"
    assert metrics["mlm_acc"] == 1.0 and metrics["nsp_acc"] == 1.0, metrics


def test_batch_metrics_counts_argmax_hits_over_the_masked_set():
    model = tiny_pretraining()
    x, targets, labels, nsp = pretraining_batch()
    out, _ = model(*x, targets)
    m = model.batch_metrics(out, targets)
    y = labels[labels != -100]
    assert m["mlm_acc"] == np.mean(out.mlm_logits.data.argmax(-1) == y)
    assert m["nsp_acc"] == np.mean(out.nsp_logits.data.argmax(-1) == nsp)
    assert m["mlm_loss"] == out.mlm_loss.item() and m["nsp_loss"] == out.nsp_loss.item()


def test_bert_is_registered_as_masked_lm_and_round_trips_a_checkpoint(tmp_path):
    model = build_model("bert", tiny_pretraining().config, seed=3)
    assert isinstance(model, BertForPreTraining)
    save_checkpoint(tmp_path, model, None, {})
    loaded, _, manifest = load_checkpoint(tmp_path)
    assert manifest["model"] == "bert" and not loaded.training
    for k, v in model.state_dict().items():
        assert np.array_equal(loaded.state_dict()[k], v), k
    x, targets, _, _ = pretraining_batch()
    model.eval()
    assert model(*x, targets)[1].item() == loaded(*x, targets)[1].item()


def test_mlm_bias_starts_at_the_log_unigram_prior(assert_close):
    """A zero bias left the prior to the encoder, which fit it by collapsing every hidden state
    onto one vector (bert-small: [CLS] independent of the input, NSP at chance): with the prior
    in the bias, the untrained model's masked-LM loss is the unigram cross-entropy already."""
    model = tiny_pretraining()
    x, targets, labels, _ = pretraining_batch()
    V = model.config.vocab_size
    counts = np.bincount(labels[labels != -100], minlength=V) * 5 + np.arange(V) % 3  # (V,)
    model.init_mlm_bias(counts)
    log_p = np.log((counts + 1.0) / (counts + 1.0).sum())
    assert_close(model.mlm.decoder.b.data, log_p - log_p.mean(), "the bias")
    out, _ = model(*x, targets)
    unigram = -log_p[labels[labels != -100]].mean()  # the prior's cross-entropy on M
    assert abs(out.mlm_loss.item() - unigram) < 0.05, (out.mlm_loss.item(), unigram)
    with pytest.raises(ValueError, match="counts must be"):
        model.init_mlm_bias(counts[:-1])


def test_a_fresh_bert_run_sets_the_mlm_bias_from_its_training_tokens(tmp_path):
    from minillm.data import load_text
    from minillm.models.bert_task import prepare_masked_lm
    from minillm.train import config_from_args, train

    text = tmp_path / "plays.txt"
    text.write_text(load_text("shakespeare")[:20_000])
    args = [f"--dataset={text}", "--model=bert", "--bpe_vocab_size=300", "--model.n_layers=1",
            "--model.n_heads=2", "--model.d_model=16", "--model.d_ff=32", "--model.block_size=32",
            "--batch_size=4", "--max_iters=1", "--eval_iters=1", "--eval_interval=1", "--lr=1e-9",
            "--min_lr=0", f"--out_dir={tmp_path / 'run'}", "--progress=false"]  # fmt: skip
    result = train(config_from_args(args), log=lambda *a: None)
    model, tok, _ = load_checkpoint(result.out_dir)
    _, task = prepare_masked_lm(str(text), 300, 0.9, tok)
    counts = task.token_counts(tok.vocab_size)
    log_p = np.log((counts + 1.0) / (counts + 1.0).sum())
    np.testing.assert_allclose(model.mlm.decoder.b.data, log_p - log_p.mean(), atol=1e-5)
