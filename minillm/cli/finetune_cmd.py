"""`minillm finetune`: adapt a pre-trained BERT to a labelled task of the shipped plays, print and
save the per-class precision/recall/F1 report and the confusion matrix (C20).

    minillm finetune --checkpoint DIR|all-MiniLM-L6-v2 --task=play|persons --out_dir DIR2
                     [--method=full] [--lr=1e-4] [--epochs=4] [--random_init] [...]

--task=play is sequence classification (which play a speech comes from), --task=persons token
classification (BIO tags of person names; entity-level and tag-level reports). The learning rate
defaults to 1e-4, one order below the pre-training's 1e-3 (C21). A method's own options (issue
11's --lora_r=8, ...) are given as --NAME=value. out_dir receives a checkpoint of the tuned
classifier (load_checkpoint loads it), report.txt, report.json, confusion_matrix.png and
metrics.jsonl (one line per epoch).
"""

import argparse
import json
import shutil
from dataclasses import fields
from pathlib import Path

from ..finetune import (
    FinetuneConfig,
    finetune,
    format_report,
    get_method,
    get_task,
    load_encoder,
    plot_confusion_matrix,
    random_encoder,
    save_report,
    with_dropout,
)
from ..finetune.methods import METHODS
from ..models import save_checkpoint
from ..train.overrides import field_help
from .args import Exit, parser

DEFAULTS = FinetuneConfig()


def _parser():
    p = parser("minillm finetune", "Fine-tune a BERT on a labelled task; report P/R/F1.")
    p.add_argument("--checkpoint", required=True,
                   help="a `minillm train --model=bert` out_dir, a Hugging Face BERT folder, or "
                        "all-MiniLM-L6-v2")  # fmt: skip
    p.add_argument("--task", default=DEFAULTS.task, choices=("play", "persons"),
                   help="play: sequence classification; persons: token classification")  # fmt: skip
    p.add_argument("--out_dir", required=True, help="where the tuned model and reports go")
    p.add_argument("--overwrite", action="store_true", help="replace what out_dir holds")
    p.add_argument("--random_init", action="store_true",
                   help="the same BERT with fresh random weights (no pre-training)")  # fmt: skip
    p.add_argument("--method", default=DEFAULTS.method,
                   help=f"how the model adapts: {', '.join(METHODS)}")  # fmt: skip
    helps = field_help(FinetuneConfig)
    for f in fields(FinetuneConfig):
        if f.name in ("task", "method"):
            continue
        kind = int if f.type in (int, int | None) else float
        p.add_argument(f"--{f.name}", type=_optional(kind), default=f.default,
                       help=helps.get(f.name, ""))  # fmt: skip
    return p


def _optional(kind):
    def convert(text):
        return None if text.lower() == "none" else kind(text)

    convert.__name__ = kind.__name__
    return convert


def method_options(method, rest) -> dict:
    """The method's own --NAME=value options, converted to the type of each default."""
    out = {}
    for arg in rest:
        key, eq, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or not eq:
            raise ValueError(f"finetune: unexpected argument {arg!r} (options are --NAME=value)")
        if key not in method.options:
            known = ", ".join(f"--{k}" for k in method.options) or "none"
            raise ValueError(
                f"finetune: unknown option --{key} for --method={method.name} (its options: "
                f"{known})"
            )
        default = method.options[key]
        out[key] = type(default)(value) if default is not None else value
    return out


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"--out_dir {str(out)!r} is not empty; pass --overwrite or choose another folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_finetune(args) -> int:
    try:
        a, rest = parse_known(_parser(), args)
    except Exit as e:
        return e.code
    method = get_method(a.method)  # ValueError naming the methods
    options = method_options(method, rest)
    cfg = FinetuneConfig(**{f.name: getattr(a, f.name) for f in fields(FinetuneConfig)})
    out = Path(a.out_dir)
    _prepare_out_dir(out, a.overwrite)
    encoder, tokenizer, source = load_encoder(a.checkpoint)
    if a.random_init:
        encoder, source = random_encoder(encoder, cfg.seed), source + ", weights re-drawn at random"
    encoder = with_dropout(encoder, cfg.dropout)
    max_len = min(cfg.max_len, encoder.config.block_size)
    print(f"finetune: encoder from {source}")
    task = get_task(cfg.task)(tokenizer, max_len, max_train=cfg.max_train)
    model = task.build_model(encoder, cfg.seed)
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as log_file:
        result = finetune(model, task, cfg, log=print, method_options=options)
        for record in result.history:
            log_file.write(json.dumps(record) + "\n")
    state = {"step": result.history[-1]["step"], "best_epoch": result.best_epoch,
             "source": source, "method_options": options}  # fmt: skip
    save_checkpoint(out, result.model, tokenizer, cfg.to_dict(), None, state)
    write_reports(out, task, result)
    print(f"checkpoint: {out}; reports: {out / 'report.txt'}, {out / 'confusion_matrix.png'}")
    return 0


def write_reports(out: Path, task, result) -> None:
    """report.txt / report.json (test split, and val) and the test confusion matrix PNG."""
    test = result.test
    what = "tags, word by word" if task.kind == "token_classification" else "speeches"
    text = [f"{task.name} ({task.kind}), test split, {what}:", format_report(test["report"])]
    if "entities" in test:
        e = test["entities"]["micro avg"]
        text += ["", f"entities (exact spans): precision {e['precision']:.3f} recall "
                     f"{e['recall']:.3f} f1 {e['f1']:.3f} support {e['support']}"]  # fmt: skip
    text = "\n".join(text)
    print(text)
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    summary = {
        "task": task.name,
        "kind": task.kind,
        "best_epoch": result.best_epoch,
        "parameters": result.parameters,
        "seconds": result.seconds,
        "history": result.history,
        "test": {k: v for k, v in test.items() if k != "predicted"},
        "val": {k: v for k, v in result.val.items() if k != "predicted"},
    }
    save_report(summary, out / "report.json")
    plot_confusion_matrix(
        test["report"]["confusion"], task.labels, out / "confusion_matrix.png",
        title=f"{task.name}: test confusion matrix",
    )  # fmt: skip


def parse_known(p: argparse.ArgumentParser, args):
    """parse_known_args with the Exit of args.parse (help: 0, error: 2)."""
    try:
        return p.parse_known_args(args)
    except SystemExit as e:
        raise Exit(e.code) from None
