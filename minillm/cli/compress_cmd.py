"""`minillm compress`: a smaller copy of a checkpoint, by quantisation (C4), magnitude pruning
(C3) or truncated SVD (C7), written as a new checkpoint that `minillm eval` and `minillm
generate` load like any other (the manifest records the surgery; load_checkpoint replays it).

    minillm compress --checkpoint DIR --method=int8|int4|prune|svd --out DIR2 [options]
"""

import math
from pathlib import Path

import numpy as np

from .. import compress as C
from ..models import load_checkpoint, save_checkpoint
from ..train import prepare_data, stored_train_config
from .args import Exit, boolean, parse, parser

METHODS = ("int8", "int4", "prune", "svd")


def _parser():
    p = parser("minillm compress", "Quantise, prune or factorise a checkpoint into a new one.")
    p.add_argument("--checkpoint", required=True, help="the checkpoint folder to compress")
    p.add_argument("--method", required=True, choices=METHODS, help="what to do")
    p.add_argument("--out", required=True, help="the folder of the compressed checkpoint")
    p.add_argument("--overwrite", type=boolean, default=False, help="replace a checkpoint in --out")
    p.add_argument("--skip", nargs="*", default=[], help="layer path patterns to leave alone")
    q = p.add_argument_group("int8 / int4")
    q.add_argument("--per_channel", type=boolean, default=True, help="a scale per output channel")
    q.add_argument("--symmetric", type=boolean, default=True, help="zero point 0 (else asymmetric)")
    q.add_argument(
        "--mode",
        default="dynamic",
        choices=C.quantize.MODES,
        help="dynamic: int8 activations x int weights; weight_only: float activations",
    )
    r = p.add_argument_group("prune")
    r.add_argument("--sparsity", type=float, default=0.5, help="fraction of weights zeroed")
    r.add_argument("--scope", default="global", choices=C.prune.SCOPES, help="global or per-layer")
    s = p.add_argument_group("svd")
    s.add_argument("--rank", type=int, default=None, help="the rank of every factorised layer")
    s.add_argument("--energy", type=float, default=None, help="or: share of s_i^2 to keep")
    f = p.add_argument_group("recovery fine-tune (prune, svd)")
    f.add_argument("--finetune_steps", type=int, default=0, help="AdamW steps after compressing")
    f.add_argument("--lr", type=float, default=3e-4, help="the fine-tune's peak learning rate")
    f.add_argument("--seed", type=int, default=0, help="draws the fine-tune's batches")
    return p


def run_compress(args) -> int:
    try:
        a = parse(_parser(), args)
    except Exit as e:
        return e.code
    out = Path(a.out)
    if out.resolve() == Path(a.checkpoint).resolve():
        raise ValueError("--out must be another folder than --checkpoint")
    if (out / "checkpoint.json").exists() and not a.overwrite:
        raise ValueError(f"--out {a.out!r} holds a checkpoint; pass --overwrite=true to replace")
    if a.method == "prune":
        C.prune.check_sparsity(a.sparsity)  # before the (slow) load
    if a.method == "svd" and (a.rank is None) == (a.energy is None):
        raise ValueError("--method=svd needs exactly one of --rank=R and --energy=E")
    if a.finetune_steps < 0:
        raise ValueError(f"--finetune_steps must be >= 0, got {a.finetune_steps}")
    model, tokenizer, manifest = load_checkpoint(a.checkpoint)
    before = C.weight_bytes(model)["total"]
    if a.method in ("int8", "int4"):
        bits = 8 if a.method == "int8" else 4
        paths = C.quantize_model(model, bits, a.per_channel, a.skip, a.symmetric, a.mode)
        what = f"{len(paths)} Linear layers to int{bits}"
    elif a.method == "prune":
        C.prune_model(model, a.sparsity, a.scope, a.skip)
        what = f"{C.sparsity_report(model)['sparsity']:.1%} of the Linear weights zeroed"
    else:
        plan = C.plan_ranks(model, a.rank, a.energy, a.skip)
        if not plan:
            raise ValueError("--method=svd: no layer would get smaller at that rank or energy")
        C.factorize_model(model, plan)
        what = f"{len(plan)} Linear layers factorised (ranks {sorted(set(plan.values()))})"
    if a.finetune_steps and a.method in ("prune", "svd"):
        what += _finetune(model, tokenizer, manifest, a)
    step = manifest["state"].get("step", 0)
    save_checkpoint(out, model, tokenizer, manifest["train_config"], state={"step": step})
    after = C.weight_bytes(model)["total"]
    print(f"compress: {what}; state {before:,} -> {after:,} bytes ({after / before:.3f}x); "
          f"wrote {out} (minillm eval --checkpoint {out})")  # fmt: skip
    return 0


def _finetune(model, tokenizer, manifest, a) -> str:
    """A short recovery run on the checkpoint's own training data; returns a note."""
    cfg = stored_train_config(manifest)
    _, corpus = prepare_data(cfg, tokenizer)
    warmup = min(10, a.finetune_steps // 10)
    fit = C.FitConfig(a.finetune_steps, cfg.batch_size, None, a.lr, a.lr / 10, warmup, seed=a.seed)
    losses = C.fit(model, corpus, fit)
    tail = float(np.mean(losses[-10:]))
    return f"; fine-tuned {a.finetune_steps} steps (last loss {tail:.4f}, ppl {math.exp(tail):.2f})"
