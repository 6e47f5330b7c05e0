"""What surrounds the loop: the run folder (never lost to a new run), the resume rule, the header a
run starts with and the progress lines it prints when stderr is not a terminal."""

import shutil
import time
from pathlib import Path

from ..models import read_manifest
from .config import FIXED_ON_RESUME, TrainConfig
from .overrides import apply_overrides

RUN_FILES = ("checkpoint.json", "metrics.jsonl", "loss.png", "best")  # what marks a run folder


def stored_train_config(manifest: dict) -> TrainConfig:
    """The TrainConfig a checkpoint was trained with (format 1's flat GPT keys converted), with
    overwrite off: it said how that run began (make demo's --overwrite=true), not what a resume
    of it may do."""
    stored = {**manifest["train_config"], "overwrite": False}
    if "model_config" in stored:
        return TrainConfig.from_dict(stored)
    return apply_overrides(TrainConfig(), stored, "checkpoint")


def prepare_out_dir(cfg: TrainConfig, log) -> Path:
    """The run folder, checked: a new run never overwrites another run's files unless
    cfg.overwrite (which deletes them); resume needs a checkpoint there."""
    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} is a file, not a folder")
    found = [name for name in RUN_FILES if (out / name).exists()]
    if cfg.resume:
        read_manifest(out)  # FileNotFoundError naming the folder when there is no checkpoint
    elif found and not cfg.overwrite:
        raise ValueError(
            f"out_dir {str(out)!r} holds another run ({', '.join(found)}); pass --resume=true to "
            "continue it, --overwrite=true to replace it, or another --out_dir"
        )
    elif found:
        for name in found:
            shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink()
        for stale in out.glob("*-*.safetensors"):
            stale.unlink()
        log(f"overwrite: removed the previous run's files in {out}")
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_resume(cfg: TrainConfig, stored: TrainConfig, log) -> None:
    """The rule for a resumed run: the settings in FIXED_ON_RESUME must equal the checkpoint's
    (ValueError naming each difference); any other setting given with a new value applies from
    the resumed step on, and each such change is printed."""
    fixed, changed = [], []
    for name in stored.to_dict():
        old, new = getattr(stored, name), getattr(cfg, name)
        if name in ("resume", "overwrite") or old == new:
            continue
        (fixed if name in FIXED_ON_RESUME else changed).append(f"{name}: {old!r} -> {new!r}")
    if fixed:
        raise ValueError(
            "resume: these settings must stay as the checkpoint has them (a changed model, data "
            f"or batch would not continue the run): {'; '.join(fixed)}"
        )
    for note in changed:
        log(f"resume: {note} (given again; applies from here on)")


class ProgressLines:
    """The progress bar's stand-in when stderr is not a terminal (a pipe, a log file, CI): one
    line every 5 % of the run with the step, loss, learning rate, tokens/s and the time left."""

    def __init__(self, cfg, step, log):
        self.total, self.first, self.log = cfg.max_iters, step, log
        self.every = max(1, cfg.max_iters // 20)
        self.start = time.perf_counter()

    def update(self, step, loss, lr, tokens_per_s):
        if step % self.every and step != self.total:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / (step - self.first) * (self.total - step) if step > self.first else 0.0
        self.log(
            f"step {step}/{self.total} ({100 * step / self.total:.0f} %): loss {loss:.4f}, "
            f"lr {lr:.2e}, {tokens_per_s:,.0f} tok/s, elapsed {_clock(elapsed)}, "
            f"ETA {_clock(eta)}"
        )


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s"


def log_header(cfg, model, tokenizer, corpus, log) -> None:
    """What the run is about to do, before the first step."""
    counts = model.parameter_counts()
    T = cfg.block_size or "whole examples"
    tokens = (
        f"{cfg.batch_size * cfg.block_size * cfg.grad_accum_steps:,} tokens"
        if cfg.block_size
        else "batches"
    )
    log(
        f"model: {cfg.model} {model.config.to_dict()}\n"
        f"parameters: {counts['total']:,} ({counts['trainable']:,} trainable)\n"
        f"data: {cfg.dataset} ({type(tokenizer).__name__}, vocabulary {tokenizer.vocab_size}): "
        f"{corpus!r}\n"
        f"steps: {cfg.max_iters} x {tokens} ({cfg.batch_size} x {T} x "
        f"{cfg.grad_accum_steps}), lr {cfg.lr:g} -> {cfg.min_lr:g} at step {cfg.decay_iters}\n"
        f"device: {cfg.device}; outputs: {cfg.out_dir}"
    )
