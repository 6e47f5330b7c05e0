"""Language-model fine-tuning as a task (F10 with the text as its own label, F11), the step loop
the comparisons share (C21's schedule, lr > 0), and the comparison's step cost."""

import math

import numpy as np
import pytest
from peft_tiny import TEXT, tiny_gpt

from minillm.finetune import (
    FinetuneConfig,
    LanguageModelling,
    cycle_batches,
    finetune,
    get_method,
    play_texts,
    pretraining_text,
    text_nll,
    train_steps,
    with_model_dropout,
)
from minillm.finetune.compare import step_cost, subsample
from minillm.train.text_eval import text_loss


def test_play_texts_cut_the_corpus_into_its_eight_plays():
    texts = play_texts()
    assert len(texts) == 8 and list(texts)[-1] == "A Midsummer Night's Dream"
    assert all(t.split("\n")[2].strip() == "by William Shakespeare" for t in texts.values())
    text, fraction, tails = pretraining_text("A Midsummer Night's Dream")
    n = int(len(text) * fraction)
    assert text[n:] == tails and "THESEUS" not in text


def test_text_nll_predicts_every_token_once_as_minillm_eval_does(char_tok):
    model = tiny_gpt(char_tok)
    ids = np.asarray(char_tok.encode(TEXT * 2))
    loss, n = text_nll(model, ids, 16, batch_size=3)
    assert n == len(ids) - 1
    assert loss == pytest.approx(text_loss(model, ids, 16, 3)[0], rel=1e-12)


def test_F10_lm_task_batches_are_windows_shifted_by_one_and_splits_are_80_10_10(char_tok):
    task = LanguageModelling(char_tok, TEXT * 8, 16)
    n = sum(len(task.ids[s]) for s in ("train", "val", "test"))
    assert len(task.ids["train"]) == int(0.8 * n) and task.size("val") == len(task.ids["val"]) - 1
    (x,), y = next(task.batches("train", 4, np.random.default_rng(0)))
    assert x.shape == y.shape == (4, 16)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="too short"):
        LanguageModelling(char_tok, TEXT[:20], 16)


def test_F10_F11_lm_finetune_lowers_the_held_out_loss_with_lora(char_tok):
    task = LanguageModelling(char_tok, TEXT * 30, 16)
    model = tiny_gpt(char_tok, dtype=np.float32)
    before = task.evaluate(model, "val")["loss"]
    cfg = FinetuneConfig(task="lm", method="lora", lr=1e-2, epochs=3, batch_size=8, dropout=None)
    result = finetune(model, task, cfg, log=lambda s: None, method_options={"lora_r": 4})
    assert result.val["loss"] < before and result.test["perplexity"] == pytest.approx(
        math.exp(result.test["loss"])
    )
    assert result.parameters["trainable"] == 2 * 2 * 4 * (12 + 12)


def test_with_model_dropout_keeps_the_weights(char_tok):
    model = tiny_gpt(char_tok)
    again = with_model_dropout(model, 0.1)
    assert again.config.dropout == 0.1 and with_model_dropout(model, None) is model
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v)


def test_C21_train_steps_follows_warmup_then_cosine_and_rejects_lr_at_or_below_0(char_tok):
    model = tiny_gpt(char_tok)
    task = LanguageModelling(char_tok, TEXT * 8, 16)
    history = train_steps(model, cycle_batches(task, 4), 10, 1e-3, warmup=2,
                          evaluate=lambda m: {"val": task.evaluate(m, "val")["loss"]},
                          eval_every=5)  # fmt: skip
    lrs = [h["lr"] for h in history if "lr" in h]
    assert lrs[0] == pytest.approx(1e-3 / 3) and max(lrs) == pytest.approx(1e-3)
    assert lrs[-1] < lrs[5] < lrs[2] and [h["step"] for h in history if "eval" in h] == [0, 5, 10]
    for lr in (0, -1e-3):
        with pytest.raises(ValueError, match=f"lr must be a number > 0, got {lr}"):
            train_steps(model, cycle_batches(task, 4), 1, lr)


def test_step_cost_leaves_the_model_untouched_and_peft_needs_less_memory(char_tok):
    task = LanguageModelling(char_tok, TEXT * 8, 16)
    full = tiny_gpt(char_tok, dtype=np.float32, d_model=48, n_heads=4)
    lora = get_method("lora").apply(tiny_gpt(char_tok, dtype=np.float32, d_model=48, n_heads=4))
    before = {k: v.copy() for k, v in full.state_dict().items()}
    a = step_cost(full, cycle_batches(task, 4), 1e-3)
    b = step_cost(lora, cycle_batches(task, 4), 1e-3)
    assert all(np.array_equal(full.state_dict()[k], v) for k, v in before.items())
    assert a["step_ms"] > 0 and b["peak_mib"] < a["peak_mib"]


def test_subsample_keeps_n_per_class():
    data = {"classes": ["a", "b"], "train": {"text": list("pqrstuvw"),
            "label": np.array([0, 0, 0, 1, 1, 1, 1, 0])}, "val": {}}  # fmt: skip
    small = subsample(data, 2, seed=3)
    assert np.bincount(small["train"]["label"]).tolist() == [2, 2]
    assert all(t in data["train"]["text"] for t in small["train"]["text"])
