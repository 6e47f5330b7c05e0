"""Classification evaluation (C20): the confusion matrix, and precision, recall and F1 per class
read off it, with support, macro and weighted averages; a text table and a PNG.

With N[i, j] = the number of examples of true class i predicted as class j:

    precision_c = N[c, c] / sum_i N[i, c]      of the examples predicted c, the share that are c
    recall_c    = N[c, c] / sum_j N[c, j]      of the examples that are c, the share found
    F1_c        = 2 P_c R_c / (P_c + R_c)      their harmonic mean
    support_c   = sum_j N[c, j]                examples of class c
    macro       = the plain mean over classes; weighted = the mean weighted by support
    accuracy    = trace(N) / sum(N)

A ratio whose denominator is 0 (a class never predicted, or absent) is 0, as scikit-learn's
zero_division=0. The same function serves sequence classification (a class per text) and token
classification at the tag level (a class per token); entities.py scores whole entities.
"""

import json

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """N (n_classes, n_classes) int64: N[i, j] = #{n : y_true_n = i and y_pred_n = j}.
    ValueError naming a label outside [0, n_classes)."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"confusion_matrix: {y_true.shape[0]} labels but {y_pred.shape[0]} predictions"
        )
    for name, y in (("label", y_true), ("prediction", y_pred)):
        bad = (y < 0) | (y >= n_classes)
        if bad.any():
            raise ValueError(
                f"confusion_matrix: {name} {int(y[bad][0])} is outside the classes [0, {n_classes})"
            )
    N = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(N, (y_true, y_pred), 1)
    return N


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def report_from_confusion(N: np.ndarray, class_names) -> dict:
    """The report of a confusion matrix: {"classes": {name: {precision, recall, f1, support}},
    "macro avg": {...}, "weighted avg": {...}, "accuracy": a, "support": n, "confusion": N}."""
    N = np.asarray(N, dtype=np.int64)
    if N.ndim != 2 or N.shape[0] != N.shape[1] or N.shape[0] != len(class_names):
        raise ValueError(
            f"report: confusion matrix {N.shape} does not fit {len(class_names)} class names"
        )
    tp = np.diag(N)  # (K,)
    support = N.sum(axis=1)  # (K,) true examples per class
    precision = _ratio(tp, N.sum(axis=0))  # (K,) over the predicted
    recall = _ratio(tp, support)  # (K,)
    f1 = _ratio(2 * precision * recall, precision + recall)  # (K,)
    total = int(support.sum())
    w = support / total if total else np.zeros(len(support))
    classes = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    }
    columns = {"precision": precision, "recall": recall, "f1": f1}
    return {
        "classes": classes,
        "macro avg": {**{k: float(v.mean()) for k, v in columns.items()}, "support": total},
        "weighted avg": {**{k: float((v * w).sum()) for k, v in columns.items()}, "support": total},
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "support": total,
        "confusion": N.tolist(),
    }


def classification_report(y_true, y_pred, class_names) -> dict:
    """report_from_confusion(confusion_matrix(y_true, y_pred, K), class_names)."""
    return report_from_confusion(confusion_matrix(y_true, y_pred, len(class_names)), class_names)


def format_report(report: dict, digits: int = 3) -> str:
    """The report as a text table, as scikit-learn prints it:

                   precision  recall  f1-score  support
    Hamlet             0.812   0.765     0.788       17
    ...
    accuracy                             0.741      177
    macro avg          0.745   0.739     0.737      177
    weighted avg       0.748   0.741     0.740      177
    """
    width = max([len(n) for n in report["classes"]] + [len("weighted avg")])
    head = f"{'':<{width}}  {'precision':>9}  {'recall':>9}  {'f1-score':>9}  {'support':>8}"
    lines = [head, ""]

    def row(name, r):
        return (
            f"{name:<{width}}  {r['precision']:>9.{digits}f}  {r['recall']:>9.{digits}f}  "
            f"{r['f1']:>9.{digits}f}  {r['support']:>8d}"
        )

    lines += [row(name, r) for name, r in report["classes"].items()]
    lines.append("")
    acc = f"{report['accuracy']:.{digits}f}"
    lines.append(f"{'accuracy':<{width}}  {'':>9}  {'':>9}  {acc:>9}  {report['support']:>8d}")
    lines += [row(name, report[name]) for name in ("macro avg", "weighted avg")]
    return "\n".join(lines)


def save_report(report: dict, path) -> None:
    """The report as JSON (confusion matrix included)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)


def plot_confusion_matrix(N, class_names, path, title: str = "confusion matrix", normalize=True):
    """Draw N as a heat map (rows: true class, columns: predicted), each row divided by its
    support when normalize (the diagonal is then the recall), counts written in the cells."""
    from matplotlib.figure import Figure  # imported here: matplotlib costs a second to import

    N = np.asarray(N)
    shown = _ratio(N, N.sum(axis=1, keepdims=True)) if normalize else N.astype(float)
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(N.shape[0]):
        for j in range(N.shape[1]):
            dark = shown[i, j] > 0.6 * (shown.max() or 1)
            ax.text(j, i, str(N[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, label="share of the true class" if normalize else "count")
    fig.tight_layout()
    fig.savefig(path)
    return path
