"""The training loop of `minillm train`: nanoGPT's train.py, with checkpoints that resume exactly.

Any registered causal language model (cfg.model: "gpt", "rnnlm") trains on next-token windows of
cfg.dataset. Each iteration `step` (0-based) sets lr = warmup_cosine_lr(step) (C21), draws
grad_accum_steps micro-batches, and makes one AdamW step with global-norm clipping. Every
eval_interval steps (and at the end) it evaluates train and val loss, writes the checkpoint into
out_dir, and a copy of the weights into out_dir/best when the val loss improved; early stopping
(C22) ends the run after early_stopping_patience evaluations without improvement.

Randomness, all from cfg.seed: the weights and dropout (Model(config, seed)), the training batches
(default_rng([seed, 0]), saved in checkpoints) and the evaluation batches (default_rng([seed, 2,
step]): a function of the step alone, so evaluating never shifts the training batches and a resumed
run evaluates on the same batches as an uninterrupted one).

Safety: a new run refuses a folder that holds another run (unless overwrite); a resumed run keeps
the checkpoint's model, data and batch settings (check_resume states the rule); a non-finite loss
or gradient stops the run with TrainingStopped before any update or checkpoint, as does Ctrl-C.

Scale: with cfg.distributed the run is one rank of an MPI job (distributed.py, C8: each rank
trains on its shard of every batch, rank 0 writes); cfg.dtype "float16"/"bfloat16" computes in
that format with float32 master weights, a float16 run with dynamic loss scaling whose skipped
steps are not divergence (C23); cfg.recompute makes the blocks recompute their activations in
backward (C10).
"""

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data import tokenizer_from_dict
from ..models import get_spec, load_optimizer, load_weights, read_manifest, save_checkpoint
from ..optim import GradScaler, warmup_cosine_lr
from . import distributed
from .config import TrainConfig
from .data import TASK_DATA
from .metrics import MetricsLog, estimate_metrics, plot_losses
from .run_folder import (
    ProgressLines,
    check_resume,
    log_header,
    prepare_out_dir,
    stored_train_config,
)
from .step import configure_optimizer, train_step


class TrainingStopped(RuntimeError):
    """The run stopped before max_iters for a reason the user must act on (divergence, Ctrl-C);
    the last good checkpoint in out_dir is untouched. `step` is the step it stopped at."""

    every_rank = True  # under MPI every rank raises it at the same step (the same numbers decide)

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


@dataclass
class TrainResult:
    """What a run ends with: the last evaluation, the per-step losses of this call, the files."""

    step: int  # optimizer steps done (all runs, with a resume)
    train_loss: float  # the last evaluation's mean train loss
    val_loss: float  # the last evaluation's mean val loss
    best_val_loss: float  # the lowest val loss of any evaluation
    seconds: float  # wall time of this call
    losses: list  # training loss of each step this call made
    stopped_early: bool  # early stopping ended the run
    out_dir: Path  # the checkpoint (latest) lives here
    best_dir: Path  # the weights of the best val loss
    metrics: Path  # metrics.jsonl
    plot: Path  # loss.png
    is_main: bool = True  # False on MPI ranks other than 0, which write and print nothing


def _stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def _quiet(message: str) -> None:
    """The log of ranks other than 0."""


class _NoMetrics:
    """The metrics log of ranks other than 0 (rank 0 alone writes metrics.jsonl)."""

    def write(self, **record) -> None:
        return None


def train(cfg: TrainConfig, log=_stderr) -> TrainResult:
    """Run (or, with cfg.resume, continue) training; see the module docstring.

    Raises ValueError for a run folder that holds another run (see prepare_out_dir) or a resume
    that changes a fixed setting, and TrainingStopped when the loss or the gradient turns
    non-finite (no update is applied and no checkpoint written from that step) or on Ctrl-C."""
    start = time.perf_counter()
    spec = get_spec(cfg.model)
    if spec.task not in TASK_DATA:
        raise ValueError(f"train: no training data for {spec.task} models like {cfg.model!r}")
    dp = distributed.start(cfg.distributed, cfg.bucket_mb)  # the one process, or an MPI rank
    log = log if dp.is_main else _quiet
    out = dp.on_main(prepare_out_dir, cfg, log)  # rank 0 prepares the folder, all see errors
    manifest = read_manifest(out) if cfg.resume else None
    if manifest is not None:
        check_resume(cfg, stored_train_config(manifest), log)
    stored = tokenizer_from_dict(manifest["tokenizer"]) if manifest else None
    tokenizer, data = TASK_DATA[spec.task](cfg, stored)
    corpus = dp.shard_data(data)  # C8: this rank's rows of every (size x batch_size) batch
    model = spec.build(cfg.model_config_for(tokenizer.vocab_size), seed=cfg.seed).to(cfg.device)
    if cfg.recompute and not hasattr(model, "recompute"):
        raise ValueError(f"recompute=true: model {cfg.model!r} has no blocks to recompute")
    model.recompute = cfg.recompute  # C10
    optimizer = configure_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
    scaler = GradScaler(enabled=cfg.dtype == "float16")  # C23: bfloat16 needs no loss scaling
    rng = np.random.default_rng([cfg.seed, 0])  # training batches
    run = {
        "step": 0,
        "best_val_loss": None,
        "bad_evals": 0,
        "last_eval_step": None,
        "last_losses": None,
    }
    if manifest is not None:
        load_weights(model, out, manifest)
        load_optimizer(optimizer, out, manifest)
        run = dict(manifest["state"]["run"])
        rng.bit_generator.state = manifest["state"]["rng"]
        dp.resume_rng_states(model, manifest["state"])  # dropout; ValueError for another R
        if "scaler" in manifest["state"]:
            scaler.load_state_dict(manifest["state"]["scaler"])
        log(f"resumed from {out} at step {run['step']}")
    else:
        dp.seed_rngs(model, cfg.seed)  # each rank's own dropout masks
        if hasattr(model, "init_from_data"):  # e.g. BERT's MLM bias from the token counts
            model.init_from_data(data)
        log_header(cfg, model, tokenizer, corpus, log)
    dp.broadcast_parameters(model)  # every rank starts from rank 0's weights
    if dp.size > 1:
        log(f"data parallel: {dp.size} ranks x {cfg.batch_size} sequences a step, gradients "
            f"averaged in buckets of <= {cfg.bucket_mb:g} MiB")  # fmt: skip
    metrics = (
        MetricsLog(out / "metrics.jsonl", run["step"] if manifest else None)
        if dp.is_main
        else _NoMetrics()
    )
    step, losses, stopped = run["step"], [], False
    bar = tqdm(
        total=cfg.max_iters,
        initial=step,
        desc="train",
        disable=None if cfg.progress and dp.is_main else True,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    lines = ProgressLines(cfg, step, log) if cfg.progress and bar.disable and dp.is_main else None
    try:
        while True:
            due = step % cfg.eval_interval == 0 or step == cfg.max_iters
            if due and run["last_eval_step"] != step:
                _evaluate(cfg, model, corpus, step, run, metrics, log, dp)
                if not all(math.isfinite(v) for v in run["last_losses"].values()):
                    raise TrainingStopped(
                        f"training diverged: the evaluated losses at step {step} are "
                        f"{run['last_losses']}; the checkpoint in {out} was not overwritten",
                        step,
                    )
                state = {
                    "step": step,
                    "run": run,
                    "rng": rng.bit_generator.state,
                    **dp.rng_states(model),  # "dropout" (and every rank's, under MPI)
                    **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {}),
                }
                dp.on_main(save_checkpoint, out, model, tokenizer, cfg.to_dict(), optimizer, state)
                if run["bad_evals"] == 0:
                    dp.on_main(save_checkpoint, out / "best", model, tokenizer, cfg.to_dict(), None,
                               state)  # fmt: skip
            patience = cfg.early_stopping_patience
            if run["last_eval_step"] == step and patience and run["bad_evals"] >= patience:
                stopped = True
                log(f"early stopping at step {step}: no better val loss in {patience} evaluations")
                break
            if step >= cfg.max_iters:
                break
            lr = warmup_cosine_lr(step, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters)
            batches = [
                corpus.get_batch("train", cfg.batch_size, cfg.block_size, rng)
                for _ in range(cfg.grad_accum_steps)
            ]
            t0 = time.perf_counter()
            scale = scaler.get_scale()
            loss, norm = train_step(
                model, optimizer, batches, lr, cfg.grad_clip, dp.average_gradients, cfg.dtype,
                scaler,
            )  # fmt: skip
            skipped = scaler.get_scale() < scale  # C23: an overflow; the scaler skipped the step
            if not math.isfinite(loss) or not (math.isfinite(norm) or skipped):
                raise TrainingStopped(
                    f"training diverged at step {step}: loss {loss}, gradient norm {norm} (lr "
                    f"{lr:.3g}); no update was applied and the last checkpoint in {out} is from "
                    f"step {run['last_eval_step']}. Lower --lr or set --grad_clip",
                    step,
                )
            tokens = sum(y.size for _, y in batches) * dp.size  # predicted positions this step
            tokens_per_s = tokens / (time.perf_counter() - t0)
            losses.append(loss)
            if step % cfg.log_interval == 0:
                metrics.write(
                    kind="train", step=step, loss=loss, lr=lr, tokens_per_s=tokens_per_s,
                    grad_norm=norm,
                    **({"loss_scale": scale, "skipped": skipped} if scaler.is_enabled() else {}),
                )  # fmt: skip
            bar.set_postfix(
                loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_s:.0f}", refresh=False
            )
            bar.update(1)
            step += 1
            if lines is not None:
                lines.update(step, loss, lr, tokens_per_s)
    except KeyboardInterrupt:
        raise TrainingStopped(
            f"interrupted at step {step}; the checkpoint in {out} is from step "
            f"{run['last_eval_step']}: continue with `minillm train --out_dir={out} "
            "--resume=true`",
            step,
        ) from None
    except Exception as e:
        dp.abort_unless_shared(e)  # C8: an error on one rank alone would leave the others waiting
        raise
    finally:
        bar.close()
    last = run["last_losses"]
    plot = plot_losses(out / "metrics.jsonl", out / "loss.png") if dp.is_main else out / "loss.png"
    return TrainResult(
        step=step,
        train_loss=last["train"],
        val_loss=last["val"],
        best_val_loss=run["best_val_loss"],
        seconds=time.perf_counter() - start,
        losses=losses,
        stopped_early=stopped,
        out_dir=out,
        best_dir=out / "best",
        metrics=out / "metrics.jsonl",
        plot=plot,
        is_main=dp.is_main,
    )


def _evaluate(cfg, model, corpus, step, run, metrics, log, dp) -> None:
    """Estimate the losses at `step` (and the model's batch_metrics, e.g. BERT's accuracies),
    update the early-stopping counters in run, log them."""
    rng = np.random.default_rng([cfg.seed, 2, step])  # a function of the step alone
    losses = estimate_metrics(model, corpus, cfg.batch_size, cfg.block_size, cfg.eval_iters, rng)
    losses = dp.average(losses)  # over the ranks' shards: the whole batches' numbers (C8)
    extra = {k: v for k, v in losses.items() if k not in ("train", "val")}
    best = run["best_val_loss"]
    if best is None or losses["val"] < best:
        run["best_val_loss"], run["bad_evals"] = losses["val"], 0
    else:
        run["bad_evals"] += 1
    run["step"] = run["last_eval_step"] = step
    run["last_losses"] = losses
    metrics.write(
        kind="eval",
        step=step,
        train_loss=losses["train"],
        val_loss=losses["val"],
        val_ppl=math.exp(losses["val"]),
        **extra,
    )
    shown = "".join(f", {k.replace('_', ' ')} {v:.4f}" for k, v in extra.items() if "val" in k)
    log(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}{shown}")
