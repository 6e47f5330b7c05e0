"""The classification report (C20) against values computed by hand from a small confusion
matrix, the entity-level scores of BIO tags, and the report's text and PNG."""

import numpy as np
import pytest

from minillm.finetune import (
    bio_spans,
    classification_report,
    confusion_matrix,
    entity_report,
    format_report,
    plot_confusion_matrix,
)

# 10 examples, 4 classes; class 3 occurs once and is never predicted (a zero division)
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
Y_PRED = [0, 1, 0, 1, 1, 2, 2, 0, 1, 1]
NAMES = ["a", "b", "c", "d"]


def test_C20_confusion_matrix_counts_true_rows_and_predicted_columns():
    N = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert N.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 1, 2, 0], [0, 1, 0, 0]]


def test_C20_report_matches_hand_computed_values():
    r = classification_report(Y_TRUE, Y_PRED, NAMES)
    # by hand: column sums 3, 5, 2, 0; row sums (support) 3, 2, 4, 1; diagonal 2, 2, 2, 0
    hand = {
        "a": (2 / 3, 2 / 3, 2 / 3, 3),
        "b": (2 / 5, 1.0, 2 * 0.4 / 1.4, 2),  # F1 = 2PR / (P + R) = 4/7
        "c": (1.0, 1 / 2, 2 * 0.5 / 1.5, 4),
        "d": (0.0, 0.0, 0.0, 1),  # never predicted: precision 0 (zero_division=0)
    }
    for name, (p, rec, f1, support) in hand.items():
        got = r["classes"][name]
        assert got["support"] == support
        np.testing.assert_allclose(
            [got["precision"], got["recall"], got["f1"]], [p, rec, f1], rtol=1e-12, err_msg=name
        )
    macro = r["macro avg"]
    np.testing.assert_allclose(
        [macro["precision"], macro["recall"], macro["f1"]], [31 / 60, 13 / 24, 10 / 21], rtol=1e-12
    )
    weighted = r["weighted avg"]  # weights 3, 2, 4, 1 over 10
    np.testing.assert_allclose(
        [weighted["precision"], weighted["recall"], weighted["f1"]], [0.68, 0.6, 61 / 105],
        rtol=1e-12,
    )  # fmt: skip
    assert r["accuracy"] == 0.6 and r["support"] == 10  # weighted recall = accuracy, always


def test_C20_perfect_predictions_score_one_everywhere():
    r = classification_report([0, 1, 2, 2], [0, 1, 2, 2], ["x", "y", "z"])
    assert r["accuracy"] == 1.0 and r["macro avg"]["f1"] == 1.0


def test_a_label_outside_the_classes_is_named():
    with pytest.raises(ValueError, match=r"label 4 is outside the classes \[0, 4\)"):
        confusion_matrix([0, 4], [0, 1], 4)
    with pytest.raises(ValueError, match=r"prediction -1 is outside"):
        confusion_matrix([0, 1], [0, -1], 4)
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        confusion_matrix([0, 1, 2], [0, 1], 4)


def test_format_report_prints_every_class_and_both_averages():
    text = format_report(classification_report(Y_TRUE, Y_PRED, NAMES))
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["a", "0.667", "0.667", "0.667", "3"]
    assert lines[3].split() == ["b", "0.400", "1.000", "0.571", "2"]
    assert text.splitlines()[-3].split() == ["accuracy", "0.600", "10"]
    assert lines[-2].split()[:2] == ["macro", "avg"] and lines[-1].split()[-1] == "10"


def test_confusion_matrix_png_is_written(tmp_path):
    path = plot_confusion_matrix(confusion_matrix(Y_TRUE, Y_PRED, 4), NAMES, tmp_path / "cm.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


TAGS = ["O", "B-PER", "I-PER"]


def test_bio_spans_read_entities_as_conlleval_does():
    #        O  B  I  O  B  I  I  B  O  I  I
    tags = [0, 1, 2, 0, 1, 2, 2, 1, 0, 2, 2]
    assert bio_spans(tags, TAGS) == {(1, 3, "PER"), (4, 7, "PER"), (7, 8, "PER"), (9, 11, "PER")}
    assert bio_spans([0, 0], TAGS) == set() and bio_spans([1, 2], TAGS) == {(0, 2, "PER")}


def test_entity_report_counts_exact_spans_only():
    true = [np.array([1, 2, 0, 1]), np.array([0, 1])]  # entities (0,2) (3,4) | (1,2)
    pred = [np.array([1, 0, 0, 1]), np.array([0, 0])]  # (0,1) (3,4)       | none
    r = entity_report(true, pred, TAGS)["micro avg"]
    assert (r["precision"], r["recall"], r["support"]) == (0.5, 1 / 3, 3)
    np.testing.assert_allclose(r["f1"], 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    with pytest.raises(ValueError, match="sequence 0 has 4 tags but 3 predicted"):
        entity_report(true, [pred[0][:3], pred[1]], TAGS)
