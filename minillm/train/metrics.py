"""The record of a run: metrics.jsonl (one JSON object per line) and the loss-curve PNG.

Lines have "kind": "train" (step, loss, lr, tokens_per_s, grad_norm; every log_interval steps)
or "eval" (step, train_loss, val_loss, val_ppl = exp(val_loss), F9).
"""

import json
from pathlib import Path


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


def plot_losses(metrics_path, png_path) -> Path:
    """Draw train loss (every logged step) and the evaluated train/val losses against the step."""
    # matplotlib is imported here, not at the top: it costs about a second and 35 MiB, which
    # `minillm generate` and the library's other users should not pay for a plot they never draw.
    from matplotlib.figure import Figure

    records = read_metrics(metrics_path)
    fig = Figure(figsize=(7, 4), dpi=100)  # no pyplot: no global backend is chosen or changed
    ax = fig.add_subplot()
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
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
    fig.tight_layout()
    fig.savefig(png_path)
    return Path(png_path)
