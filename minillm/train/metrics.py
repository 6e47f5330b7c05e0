"""The record of a run: metrics.jsonl (one JSON object per line) and the loss-curve PNG.

Lines have "kind": "train" (step, loss, lr, tokens_per_s, grad_norm; every log_interval steps)
or "eval" (step, train_loss, val_loss, val_ppl = exp(val_loss), F9). A model that defines
`batch_metrics(logits, targets) -> {name: value}` (BERT: mlm_loss, nsp_loss, mlm_acc, nsp_acc)
adds "train_<name>" and "val_<name>" to each eval line, averaged over the evaluated batches;
the plot draws the accuracies ("*_acc") in a second panel.
"""

import json
from pathlib import Path

import numpy as np

from ..tensor import no_grad
from .step import _inputs, estimate_loss


class MetricsLog:
    """Appends records to out_dir/metrics.jsonl. On resume from step s, the lines a crashed run
    wrote after its checkpoint (train records at steps >= s, eval records after s) are dropped
    first, so the file reads as one uninterrupted run."""

    def __init__(self, path, resume_step=None):
        self.path = Path(path)
        kept = []
        if resume_step is not None and self.path.is_file():
            for rec in read_metrics(self.path):
                late = rec["step"] > resume_step or (
                    rec["kind"] == "train" and rec["step"] >= resume_step
                )
                if not late:
                    kept.append(rec)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")

    def write(self, **record) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path) -> list:
    """All records of a metrics.jsonl file, in order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def estimate_metrics(model, corpus, batch_size, block_size, eval_iters, rng) -> dict:
    """estimate_loss's {"train", "val"} mean losses; for a model with batch_metrics, also the
    mean of each of its per-batch metrics on each split ("val_mlm_acc", ...), from the same
    forward passes on the same batches (so the losses equal estimate_loss's)."""
    if not hasattr(model, "batch_metrics"):
        return estimate_loss(model, corpus, batch_size, block_size, eval_iters, rng)
    was_training = model.training
    model.eval()
    out = {}
    try:
        with no_grad():
            for split in ("train", "val"):
                losses, extra = [], {}
                for _ in range(eval_iters):
                    x, y = corpus.get_batch(split, batch_size, block_size, rng)
                    logits, loss = model(*_inputs(x), y)
                    losses.append(loss.item())
                    for name, value in model.batch_metrics(logits, y).items():
                        extra.setdefault(name, []).append(value)
                out[split] = float(np.mean(losses))
                out.update({f"{split}_{k}": float(np.mean(v)) for k, v in extra.items()})
    finally:
        model.train(was_training)
    return out


def plot_losses(metrics_path, png_path) -> Path:
    """Draw train loss (every logged step) and the evaluated train/val losses against the step."""
    # matplotlib is imported here, not at the top: it costs about a second and 35 MiB, which
    # `minillm generate` and the library's other users should not pay for a plot they never draw.
    from matplotlib.figure import Figure

    records = read_metrics(metrics_path)
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    accuracies = sorted({k for r in evals for k in r if k.endswith("_acc")})
    fig = Figure(figsize=(11 if accuracies else 7, 4), dpi=100)  # no pyplot: no global backend
    ax = fig.add_subplot(1, 2 if accuracies else 1, 1)
    if train:
        ax.plot(
            [r["step"] for r in train],
            [r["loss"] for r in train],
            lw=0.8,
            alpha=0.6,
            label="train (batch)",
        )
    for key, style in (("train_loss", "o-"), ("val_loss", "s-")):
        if evals:
            ax.plot(
                [r["step"] for r in evals],
                [r[key] for r in evals],
                style,
                ms=4,
                label=key.replace("_", " ") + " (eval)",
            )
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.grid(alpha=0.3)
    ax.legend()
    if accuracies:
        ax2 = fig.add_subplot(1, 2, 2)
        for key in accuracies:
            ax2.plot([r["step"] for r in evals], [r[key] for r in evals], "o-", ms=4, label=key)
        ax2.set_xlabel("step")
        ax2.set_ylabel("accuracy (eval)")
        ax2.grid(alpha=0.3)
        ax2.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    return Path(png_path)
