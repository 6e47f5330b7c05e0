"""Overfitting remedies (C22): span masking and crops keep the label and the special tokens,
augmentation rewrites batches, an ensemble averages probabilities, and the loss/accuracy of a
split are F8's cross-entropy and the argmax's hit rate."""

import numpy as np
import pytest
from peft_tiny import tiny_bert

from minillm.finetune import PlayClassification
from minillm.finetune.remedies import (
    augment,
    classification_metrics,
    ensemble_metrics,
    random_crop,
    span_mask,
)
from minillm.tensor import no_grad


@pytest.fixture(scope="module")
def task(wp_tok):
    return PlayClassification(wp_tok, max_len=24, max_train=24)


def test_C22_span_masking_hides_ordinary_tokens_in_spans(wp_tok):
    ids = wp_tok.encode("now is the winter of our discontent made glorious summer by this sun")
    rng = np.random.default_rng(0)
    masked = span_mask(ids, wp_tok, rng, rate=0.3, span=2)
    hidden = np.flatnonzero(masked != ids)
    assert masked[0] == wp_tok.cls_id and masked[-1] == wp_tok.sep_id and len(hidden) >= 2
    assert (masked[hidden] == wp_tok.mask_id).all()
    assert np.array_equal(span_mask(ids, wp_tok, rng, rate=0.0), ids)


def test_C22_crops_keep_a_contiguous_run_between_cls_and_sep(wp_tok):
    ids = wp_tok.encode("the quality of mercy is not strained it droppeth as the gentle rain")
    rng = np.random.default_rng(1)
    for _ in range(20):
        crop = random_crop(ids, wp_tok, rng, keep=0.5)
        inner, body = crop[1:-1], ids[1:-1]
        assert crop[0] == wp_tok.cls_id and crop[-1] == wp_tok.sep_id
        assert len(inner) >= np.ceil(0.5 * len(body))
        starts = [i for i in range(len(body)) if np.array_equal(body[i : i + len(inner)], inner)]
        assert starts, "a contiguous run of the speech"


def test_C22_augment_rewrites_the_batch_and_keeps_the_labels(task):
    batch = task.batch("train", [0, 1, 2])
    (ids, mask, types), y = augment(task, random_crop, keep=0.5)(batch, np.random.default_rng(2))
    assert ids.shape == mask.shape == types.shape and np.array_equal(y, batch[1])
    assert mask.sum() <= batch[0][1].sum()


def test_F8_C22_metrics_are_the_cross_entropy_and_the_ensemble_averages_probabilities(task, wp_tok):
    def model(seed):
        return task.build_model(tiny_bert(wp_tok, seed=seed).bert, seed=seed).eval()

    a, b = model(1), model(2)
    one = classification_metrics(a, task, "val")
    (ids, mask, types), y = task.batch("val", range(task.size("val")))
    with no_grad():
        loss = a(ids, mask, types, y)[1].item()
        z = [m(ids, mask, types)[0].data for m in (a, b)]
    assert one["loss"] == pytest.approx(loss, rel=1e-9)
    assert one["accuracy"] == pytest.approx((z[0].argmax(1) == y).mean())
    p = [np.exp(v - v.max(1, keepdims=True)) for v in z]
    p = np.mean([q / q.sum(1, keepdims=True) for q in p], axis=0)
    both = ensemble_metrics([a, b], task, "val")
    assert both["loss"] == pytest.approx(-np.log(p[np.arange(len(y)), y]).mean(), rel=1e-9)
    assert ensemble_metrics([a, a], task, "val") == pytest.approx(one)
