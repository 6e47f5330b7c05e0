"""Continual learning (C18): the empirical Fisher's diagonal, the EWC penalty and its gradient by
hand, rehearsal batches, and on a toy pair of tasks: naive sequential fine-tuning forgets A,
rehearsal and EWC forget less."""

import copy

import numpy as np
import pytest
from peft_tiny import tiny_gpt

from minillm.data import CharTokenizer
from minillm.finetune import LanguageModelling, cycle_batches, train_steps
from minillm.finetune.continual import EWC, fisher_diagonal, replay_batches, single_examples

TOK = CharTokenizer.from_text("abcdxyz \n")


def tasks():
    rng = np.random.default_rng(0)
    a = "".join(rng.choice(["abc ", "abd ", "acb "], 400))
    b = "".join(rng.choice(["xyz ", "xzy ", "yxz "], 400))
    return LanguageModelling(TOK, a, 16), LanguageModelling(TOK, b, 16)


def test_C18_fisher_is_the_mean_squared_gradient_of_each_example(assert_close):
    a, _ = tasks()
    model = tiny_gpt(TOK)
    examples = single_examples(a, 3)
    fisher = fisher_diagonal(model, examples)
    for name in ("wte.W", "blocks.1.ff.W_2.W"):
        squares = []
        for x, y in examples:  # by hand, one example at a time
            model.zero_grad()
            model(*x, y)[1].backward()
            squares.append(model.get_parameter(name).grad ** 2)
        assert_close(fisher[name], np.mean(squares, axis=0), f"Fisher diagonal of {name}")


def test_C18_ewc_penalty_and_its_gradient_by_hand(assert_close):
    model = tiny_gpt(TOK)
    rng = np.random.default_rng(1)
    fisher = {n: rng.random(p.shape) for n, p in model.named_parameters()}
    ewc = EWC(model, fisher, lam=3.0)
    star = {n: p.data.copy() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.data += rng.normal(0, 0.1, p.shape)
    penalty = ewc(model)
    d = {n: p.data - star[n] for n, p in model.named_parameters()}
    assert penalty.item() == pytest.approx(1.5 * sum((fisher[n] * d[n] ** 2).sum() for n in d))
    penalty.backward()
    for n, p in model.named_parameters():
        assert_close(p.grad, 3.0 * fisher[n] * d[n], f"EWC gradient of {n}")
    with pytest.raises(ValueError, match="lambda must be a number >= 0"):
        EWC(model, fisher, lam=-1)


def test_C18_rehearsal_appends_rows_of_A_to_each_batch_of_B():
    a, b = tasks()
    buffer = single_examples(a, 8)
    (x,), y = next(replay_batches(cycle_batches(b, 8), buffer, 0.25))
    assert x.shape == (10, 16) and y.shape == (10, 16)
    rows_a = {tuple(r[0][0][0]) for r in buffer}
    assert all(tuple(row) in rows_a for row in x[8:]) and not any(tuple(r) in rows_a for r in x[:8])


def test_C18_rehearsal_and_ewc_forget_A_less_than_naive_fine_tuning():
    a, b = tasks()
    model = tiny_gpt(TOK, dtype=np.float32)
    train_steps(model, cycle_batches(a, 8), 40, 1e-2, warmup=2)
    after_a = a.evaluate(model, "val")["loss"]
    b_before = b.evaluate(model, "val")["loss"]
    loss_a, loss_b = {}, {}
    for mode in ("naive", "rehearsal", "ewc"):
        m, penalty, batches = copy.deepcopy(model), None, cycle_batches(b, 8, seed=1)
        if mode == "rehearsal":
            batches = replay_batches(batches, single_examples(a, 32), 0.25)
        if mode == "ewc":
            penalty = EWC(m, fisher_diagonal(m, single_examples(a, 16, seed=1)), 1e4)
        train_steps(m, batches, 40, 1e-2, warmup=2, penalty=penalty)
        loss_a[mode], loss_b[mode] = a.evaluate(m, "val")["loss"], b.evaluate(m, "val")["loss"]
    assert loss_a["naive"] > after_a + 2, f"naive fine-tuning on B forgets A: {loss_a}"
    assert loss_a["rehearsal"] < loss_a["naive"] - 2 and loss_a["ewc"] < loss_a["naive"] - 1
    assert all(v < b_before - 1 for v in loss_b.values()), f"every run learns B: {loss_b}"
