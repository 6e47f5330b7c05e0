"""`minillm finetune`: adapt a pre-trained BERT to a labelled task of the shipped plays, print and
save the per-class precision/recall/F1 report and the confusion matrix (C20); or adapt a
pre-trained language model (a GPT) to a text.

    minillm finetune --checkpoint DIR|all-MiniLM-L6-v2 --task=play|persons --out_dir DIR2
                     [--method=full|head|adapter|lora|prefix] [--lr=1e-4] [--epochs=4] [...]
    minillm finetune --checkpoint GPT_DIR --dataset=PATH --out_dir DIR2 [--method=lora ...]

With --dataset (a text file, or a shipped corpus name, as in `minillm train`) the task is "lm":
the language model keeps its head and learns the text (80/10/10 train/val/test, in order);
`minillm eval` and `minillm generate` then work on DIR2, whose val split is the text's last 10 %.
A parameter-efficient method (head, adapter, lora, prefix) writes a delta checkpoint: only the
arrays it trained, plus a reference to --checkpoint, which must stay where it is (load_checkpoint
loads it first and refuses another model in its place).

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

from ..data import load_text
from ..finetune import (
    FinetuneConfig,
    LanguageModelling,
    finetune,
    format_report,
    get_method,
    get_task,
    load_encoder,
    plot_confusion_matrix,
    prepare_to_save,
    random_encoder,
    save_report,
    trainable_summary,
    with_dropout,
    with_model_dropout,
)
from ..finetune.methods import METHODS
from ..models import (
    build_from_manifest,
    get_spec,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
)
from ..models.checkpoint import MANIFEST
from ..train.overrides import field_help
from .args import Exit, boolean, parser

DEFAULTS = FinetuneConfig()


def _parser():
    p = parser(
        "minillm finetune",
        "Fine-tune a BERT on a labelled task (P/R/F1 report), or a language model on a text.",
    )
    p.epilog = "methods and their --NAME=value options: " + "; ".join(
        f"{m.name} ({', '.join(f'--{k}={v}' for k, v in m.options.items()) or 'no options'})"
        for m in METHODS.values()
    )
    p.add_argument("--checkpoint", required=True,
                   help="a `minillm train --model=bert` out_dir, a Hugging Face BERT folder, or "
                        "all-MiniLM-L6-v2")  # fmt: skip
    p.add_argument("--task", default=None, choices=("play", "persons", "lm"),
                   help="play: sequence classification; persons: token classification; lm: "
                        "a language model learns --dataset (default: lm with --dataset, "
                        "else play)")  # fmt: skip
    p.add_argument("--dataset", default=None,
                   help="the text a language model adapts to (--task=lm): a UTF-8 file or a "
                        "shipped corpus name")  # fmt: skip
    p.add_argument("--out_dir", required=True, help="where the tuned model and reports go")
    p.add_argument(
        "--overwrite",
        nargs="?",
        const=True,
        default=False,
        type=boolean,
        help="replace what out_dir holds (--overwrite or --overwrite=true, as train)",
    )
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
                f"--out_dir {str(out)!r} is not empty; pass --overwrite=true or another folder"
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
    a.task = a.task or ("lm" if a.dataset is not None else DEFAULTS.task)
    cfg = FinetuneConfig(**{f.name: getattr(a, f.name) for f in fields(FinetuneConfig)})
    check_task(a.checkpoint, a.task, a.dataset)
    out = Path(a.out_dir)
    _prepare_out_dir(out, a.overwrite)
    try:
        return _run(a, cfg, options, out)
    except BaseException:
        if not (out / MANIFEST).exists():  # the folder was empty: leave it so, for the rerun
            shutil.rmtree(out)
            out.mkdir(parents=True)
        raise


def _run(a, cfg, options, out: Path) -> int:
    if a.task == "lm":
        return run_lm_finetune(a, cfg, options, out)
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
    base = delta_base(a.checkpoint, cfg.method)
    save_checkpoint(out, prepare_to_save(result.model), tokenizer, cfg.to_dict(), None, state, base)
    write_reports(out, task, result)
    print(f"checkpoint: {out}; reports: {out / 'report.txt'}, {out / 'confusion_matrix.png'}")
    return 0


def check_task(source, task: str, dataset) -> None:
    """ValueError unless the checkpoint fits the task: --task=lm (and --dataset) for a language
    model (causal_lm), play/persons for a BERT. A source that is no minillm checkpoint is left to
    load_encoder, which names what is wrong with it."""
    if task == "lm" and dataset is None:
        raise ValueError("--task=lm needs --dataset=PATH, the text the language model adapts to")
    if not (Path(source) / MANIFEST).is_file():
        kind, name = None, "pre-trained"
    else:
        name = read_manifest(source)["model"]
        kind = get_spec(name).task
    if task != "lm" and kind == "causal_lm":
        raise ValueError(
            f"--checkpoint {str(source)!r} holds a {name} model; fine-tuning here needs a BERT "
            f"for --task={task} (a language model adapts to a text: --dataset=PATH)"
        )
    if task == "lm" and kind != "causal_lm":
        what = f"a {name} model ({kind})" if kind else "no minillm checkpoint"
        raise ValueError(
            f"--checkpoint {str(source)!r} holds {what}; --task=lm (--dataset) adapts a language "
            "model (causal_lm) to a text"
        )


def delta_base(source, method: str):
    """The base folder a delta checkpoint refers to: --checkpoint when it is a minillm checkpoint
    and the method trains only part of the model; None (a full checkpoint) otherwise."""
    return source if method != "full" and (Path(source) / MANIFEST).is_file() else None


def run_lm_finetune(a, cfg, options, out: Path) -> int:
    """--task=lm: the checkpoint's language model learns the text of --dataset (F10 = F9 on it)."""
    model, tokenizer, manifest = load_checkpoint(a.checkpoint)
    if a.random_init:
        model = build_from_manifest(manifest, cfg.seed)
    model = with_model_dropout(model, cfg.dropout)
    block = min(cfg.max_len, model.context_length)
    task = LanguageModelling(tokenizer, load_text(a.dataset), block, cfg.max_train)
    print(f"finetune: {manifest['model']} from {a.checkpoint}; adapting to {a.dataset}")
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as log_file:
        result = finetune(model, task, cfg, log=print, method_options=options)
        for record in result.history:
            log_file.write(json.dumps(record) + "\n")
    train_config = dict(manifest["train_config"], dataset=str(a.dataset), out_dir=str(out),
                        model_config=result.model.config.to_dict())  # fmt: skip
    state = {"step": result.history[-1]["step"], "best_epoch": result.best_epoch,
             "source": str(a.checkpoint), "finetune": cfg.to_dict(),
             "method_options": options}  # fmt: skip
    model = prepare_to_save(result.model)
    save_checkpoint(
        out, model, tokenizer, train_config, None, state, delta_base(a.checkpoint, cfg.method)
    )
    lines = [f"lm ({a.dataset}), {cfg.method}: {trainable_summary(model)}"]
    lines += [f"{split}: loss {r['loss']:.4f} perplexity {r['perplexity']:.3f} "
              f"({r['tokens']} tokens)"
              for split, r in (("val", result.val), ("test", result.test))]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    summary = {"task": "lm", "kind": "causal_lm", "best_epoch": result.best_epoch,
               "parameters": result.parameters, "seconds": result.seconds,
               "history": result.history, "val": result.val, "test": result.test}  # fmt: skip
    save_report(summary, out / "report.json")
    print(f"checkpoint: {out} (minillm eval / generate --checkpoint {out})")
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
