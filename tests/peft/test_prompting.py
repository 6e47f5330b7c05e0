"""Prompting (C17): each label scored by its log-likelihood after the prompt (F1), k solved
examples drawn afresh per draw; fine-tuning on the labels (F10) puts the loss on the label's
tokens only, and a tiny GPT so tuned classifies by the same scoring (F11)."""

import numpy as np
import pytest
from peft_tiny import tiny_gpt

from minillm.data import CharTokenizer
from minillm.finetune import cycle_batches, get_method, train_steps
from minillm.finetune.prompting import (
    LabelTask,
    build_prompt,
    classify,
    few_shot_accuracy,
    label_only_examples,
    label_scores,
    label_subset,
    shorten,
)
from minillm.tensor import no_grad

ALPHABET = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz =\n")


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_C17_label_scores_are_each_labels_log_likelihood_after_the_prompt():
    model = tiny_gpt(ALPHABET, n_heads=2, block_size=40)
    prompt = build_prompt([("abc", "yes"), ("xyz", "no")], "abd")
    assert prompt == "abc\n= yes\n\nxyz\n= no\n\nabd\n= "
    scores, cropped = label_scores(model, ALPHABET, prompt, ["yes", "no", "maybe"])
    assert not cropped
    p = list(ALPHABET.encode(prompt))
    for label, score in zip(["yes", "no", "maybe"], scores):  # one sequence at a time, by hand
        c = list(ALPHABET.encode(label + "\n"))
        seq = np.array([p + c])
        with no_grad():
            logp = log_softmax(model(seq)[0].data[0])  # (T, V)
        expected = sum(logp[len(p) - 1 + j, t] for j, t in enumerate(c))
        assert score == pytest.approx(expected, rel=1e-10)


def test_C17_a_prompt_longer_than_the_context_keeps_its_end():
    model = tiny_gpt(ALPHABET, block_size=16)
    scores, cropped = label_scores(model, ALPHABET, "ab" * 20 + "\n= ", ["yes", "no"])
    assert cropped and np.isfinite(scores).all()


def test_C17_draws_are_seeded_and_zero_shot_needs_one():
    model = tiny_gpt(ALPHABET, block_size=40)
    train = (["aaa", "bbb", "ccc", "ddd"], np.array([0, 1, 0, 1]))
    test = (["aab", "bba"], np.array([0, 1]))
    one = few_shot_accuracy(model, ALPHABET, train, test, ["x", "y"], 2, draws=3, seed=4)
    assert one == few_shot_accuracy(model, ALPHABET, train, test, ["x", "y"], 2, draws=3, seed=4)
    assert len(one["per_draw"]) == 3 and one["mean"] == pytest.approx(np.mean(one["per_draw"]))
    zero = few_shot_accuracy(model, ALPHABET, train, test, ["x", "y"], 0, draws=3)
    assert len(zero["per_draw"]) == 1
    with pytest.raises(ValueError, match="k must be an int >= 0"):
        few_shot_accuracy(model, ALPHABET, train, test, ["x", "y"], -1)


def test_F10_label_only_loss_is_minus_log_p_of_the_label_tokens():
    model = tiny_gpt(ALPHABET, block_size=40)
    [(ids, targets)] = label_only_examples(ALPHABET, ["abc"], [1], ["no", "yes"], 40)
    assert ALPHABET.decode(ids) == "abc\n= yes"  # the last token is only a target
    scored = targets != -100
    assert ALPHABET.decode(targets[scored]) == "yes\n"
    _, loss = model(ids[None], targets[None])
    with no_grad():
        logp = log_softmax(model(ids[None])[0].data[0])
    expected = -logp[np.flatnonzero(scored), targets[scored]].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_F10_F11_a_tiny_gpt_fine_tuned_on_the_labels_scores_them_highest():
    texts = ["aaaa", "aaab", "baaa", "zzzz", "zzzy", "yzzz"] * 4
    labels = np.array([0, 0, 0, 1, 1, 1] * 4)
    model = get_method("full").apply(tiny_gpt(ALPHABET, dtype=np.float32, block_size=24))
    examples = label_only_examples(ALPHABET, texts, labels, ["ab", "yz"], 24)
    train_steps(model, cycle_batches(LabelTask(examples), 8), 60, 1e-2, warmup=5)
    predicted, _ = classify(model, ALPHABET, [], ["aaab", "zzzy", "baaa", "yzzz"], ["ab", "yz"])
    assert predicted.tolist() == [0, 1, 0, 1]


def test_label_subset_and_shorten():
    assert shorten("to be or\nnot to be", 12) == "to be or not"
    data = {"classes": ["A", "B", "C"], "test": {"text": ["one", "two two", "three", "four"],
            "label": np.array([0, 2, 1, 2])}}  # fmt: skip
    texts, y = label_subset(data, ["C", "A"], "test", 5)
    assert texts == ["one", "two", "four"] and y.tolist() == [1, 0, 0]
    _, y = label_subset(data, ["C", "A"], "test", 5, per_class=1)
    assert sorted(y.tolist()) == [0, 1]
