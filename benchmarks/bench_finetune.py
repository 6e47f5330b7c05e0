"""Fine-tuning compared on one budget (C16, C17, C18, C21, C22, F10, F11).

    python benchmarks/bench_finetune.py [--parts classification,adaptation,prompting,
        continual,overfitting] [--cache out/bench-finetune] [--small] [--no-docs]

Parts:
- classification (task 1): the bert-small preset's BERT, pre-trained once into --cache, fine-tuned
  on the play task (which of 8 plays a speech is from) with each method: full, head (linear
  probing), adapter, lora, prefix; the same epochs, batches and seeds; test accuracy at the best
  validation epoch;
- adaptation (task 2): a GPT (4 x 4 x 128, byte-level BPE of 1,024, context 256) pre-trained on
  seven plays, adapted to the eighth (A Midsummer Night's Dream) with each method: that play's
  held-out perplexity, and the seven others' (their last 10 %, never trained on) to see forgetting;
- prompting (C17): zero-/few-shot classification of short lines from four plays with that GPT by
  label log-likelihood, k = 0, 1, 4, 8, over several draws; against fine-tuning on the labels;
- continual (C18): the GPT learns play A then play B: A's forgetting, naive vs rehearsal vs EWC;
- overfitting (C22): the BERT on 20 speeches per play: no remedy, dropout, weight decay, early
  stopping, span masking, crops, an ensemble of three; train/validation curves.

Every score is measured the same way for every method; CPU time per step is this process's CPU
time with one BLAS thread (other tenants keep the machine's 2 cores busy, so wall time says
little), the median of a few steps; peak memory is what two training steps allocate above the
model (tracemalloc). Writes benchmarks/results/finetune-<date>.json, the tables between the
`<!-- bench:NAME -->` markers of docs/finetuning.md and the plots in docs/img/.
"""

import argparse
import os

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--parts", default="", help="comma-separated parts (default: all)")
ARGS.add_argument("--cache", default="out/bench-finetune", help="pre-trained bases go here")
ARGS.add_argument("--small", action="store_true", help="tiny sizes: a smoke test, no docs")
ARGS.add_argument("--no-docs", action="store_true", help="do not rewrite docs/finetuning.md")
ARGS = ARGS.parse_args() if __name__ == "__main__" else ARGS.parse_args([])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy starts its thread pool: CPU time = the work

import copy  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from doc_tables import markdown_table, write_bench_blocks  # noqa: E402

from minillm import cli  # noqa: E402
from minillm.data import play_classification  # noqa: E402
from minillm.finetune import (  # noqa: E402
    FinetuneConfig,
    LanguageModelling,
    PlayClassification,
    bag_of_words_baseline,
    cycle_batches,
    finetune,
    get_method,
    load_encoder,
    parameter_report,
    play_texts,
    pretraining_text,
    text_nll,
    train_steps,
    with_dropout,
)
from minillm.finetune.compare import step_cost, subsample  # noqa: E402
from minillm.finetune.continual import (  # noqa: E402
    EWC,
    fisher_diagonal,
    replay_batches,
    single_examples,
)
from minillm.finetune.prompting import (  # noqa: E402
    LabelTask,
    classify,
    few_shot_accuracy,
    label_only_examples,
    label_subset,
)
from minillm.finetune.remedies import (  # noqa: E402
    augment,
    class_probabilities,
    metrics_from_probabilities,
    random_crop,
    span_mask,
)
from minillm.models import load_checkpoint  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = "A Midsummer Night's Dream"  # the eighth play: task 2 adapts to it
PROMPT_CLASSES = ["Hamlet", "Macbeth", "Romeo and Juliet", "Julius Caesar"]
PROMPT_LABELS = ["Hamlet", "Macbeth", "Romeo", "Caesar"]  # one word each: equal footing
PRETRAIN_LR = 1e-3  # both presets pre-train at 1e-3
FULL_LR = 1e-4  # C21: one order below pre-training
NEW_LR = 1e-3  # the freshly added parameters (head, adapters, LoRA, prefix rows)
SIZES = {
    False: dict(
        bert_steps=240,
        gpt_steps=600,
        epochs=3,
        max_len=64,
        lm_block=128,
        lm_epochs=3,
        prompt_test=25,
        draws=3,
        prompt_epochs=10,
        cont_steps=60,
        over_epochs=12,
        per_class=10,
        over_eval=8,
        over_len=32,
        minilm_len=48,
        minilm_epochs=2,
        minilm_per_class=64,
        max_train=None,
    ),
    True: dict(
        bert_steps=4,
        gpt_steps=4,
        epochs=1,
        max_len=24,
        lm_block=32,
        lm_epochs=1,
        prompt_test=2,
        draws=1,
        prompt_epochs=1,
        cont_steps=4,
        over_epochs=2,
        per_class=2,
        over_eval=2,
        over_len=16,
        minilm_len=16,
        minilm_epochs=1,
        minilm_per_class=2,
        max_train=16,
    ),
}[ARGS.small]
MINILM = "all-MiniLM-L6-v2"  # the real pre-trained BERT (sentence-transformers), task 1's base
MINILM_FULL_LR = 5e-5  # Devlin et al.'s fine-tuning range (2e-5 .. 5e-5), BERT pre-trained at 1e-4
# (label, method, lr, options): the same rows in both tasks
METHOD_RUNS = [
    ("full", "full", FULL_LR, {}),
    ("full, lr 1e-3", "full", PRETRAIN_LR, {}),
    ("head", "head", NEW_LR, {}),
    ("adapter", "adapter", NEW_LR, {"adapter_size": 8}),
    ("lora", "lora", NEW_LR, {"lora_r": 8, "lora_alpha": 16.0}),
    ("prefix", "prefix", NEW_LR, {"prefix_len": 10, "prefix_hidden": 16}),
]
# task 2: the new parameters' lr, picked on the validation split (1e-3 left 84-93 ppl against
# full's 73 in a first run, adaptation_first_try in the JSON: too low for 63 steps)
PEFT_LRS = (3e-3, 1e-2)
ALL_LINEAR = "W_q,W_k,W_v,W_o,W_1,W_2"
ADAPT_RUNS = [
    ("full", "full", (FULL_LR,), {}),
    ("full, lr 1e-3", "full", (PRETRAIN_LR,), {}),
    ("head", "head", PEFT_LRS, {}),
    ("adapter", "adapter", PEFT_LRS, {"adapter_size": 8}),
    ("lora (W_q, W_v; r 8)", "lora", PEFT_LRS, {"lora_r": 8, "lora_alpha": 16.0}),
    ("lora (all 6 per layer; r 2)", "lora", PEFT_LRS,
     {"lora_r": 2, "lora_alpha": 4.0, "lora_targets": ALL_LINEAR}),
    ("prefix", "prefix", PEFT_LRS, {"prefix_len": 10, "prefix_hidden": 16}),
]  # fmt: skip
MINILM_RUNS = [  # (full fine-tuning at pre-training's lr, C21, is shown on task 2 only: CPU budget)
    ("full", "full", MINILM_FULL_LR, {}),
    ("head", "head", NEW_LR, {}),
    ("adapter", "adapter", NEW_LR, {"adapter_size": 16}),
    ("lora", "lora", NEW_LR, {"lora_r": 8, "lora_alpha": 16.0}),
    ("prefix", "prefix", NEW_LR, {"prefix_len": 10, "prefix_hidden": 64}),
]


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---- the pre-trained bases ------------------------------------------------------------------
def bert_base(cache: Path) -> Path:
    """The bert-small preset's pre-training run (trained once, then reused)."""
    out = cache / "bert-small"
    if not (out / "checkpoint.json").is_file():
        log(f"pre-training BERT-small into {out}")
        extra = (
            [
                "--batch_size=4",
                "--model.n_layers=1",
                "--model.d_model=32",
                "--model.n_heads=2",
                "--model.d_ff=32",
                "--bpe_vocab_size=300",
            ]
            if ARGS.small
            else []
        )
        args = [
            "train",
            "--preset=bert-small",
            f"--out_dir={out}",
            "--progress=false",
            f"--max_iters={SIZES['bert_steps']}",
            "--eval_interval=60",
            *extra,
        ]
        assert cli.main(args) == 0
    return out


def seven_plays(cache: Path) -> tuple:
    """(file, train_fraction, tails): the seven plays' first 90 % each, then their last 10 %
    each, so a run's 90/10 split holds out the end of every play (tails: that end)."""
    text, fraction, tails = pretraining_text(HELD_OUT)
    path = cache / "seven-plays.txt"
    path.write_text(text, encoding="utf-8")
    return path, fraction, tails


def gpt_base(cache: Path) -> Path:
    """A GPT pre-trained on seven plays (trained once, then reused)."""
    out = cache / "gpt-seven-plays"
    path, fraction, _ = seven_plays(cache)
    if not (out / "checkpoint.json").is_file():
        log(f"pre-training the GPT on seven plays into {out}")
        shape = (
            [
                "--model.n_layers=1",
                "--model.d_model=16",
                "--model.n_heads=2",
                "--model.block_size=64",
                "--bpe_vocab_size=300",
            ]
            if ARGS.small
            else [
                "--model.n_layers=4",
                "--model.d_model=128",
                "--model.n_heads=4",
                "--model.block_size=256",
                "--bpe_vocab_size=1024",
            ]
        )
        args = [
            "train",
            f"--dataset={path}",
            f"--out_dir={out}",
            "--tokenizer=bpe",
            f"--train_fraction={fraction}",
            "--model=gpt",
            "--model.bias=false",
            "--model.dropout=0.0",
            "--batch_size=8",
            f"--max_iters={SIZES['gpt_steps']}",
            f"--lr={PRETRAIN_LR}",
            "--min_lr=1e-4",
            "--warmup_iters=50",
            "--weight_decay=0.1",
            "--eval_interval=200",
            "--eval_iters=10",
            "--progress=false",
            *shape,
        ]
        assert cli.main(args) == 0
    return out


# ---- task 1: BERT play classification -------------------------------------------------------
def classification(cache: Path) -> dict:
    """Task 1 on the real all-MiniLM-L6-v2 (6 x 384, 22.7 M parameters, uncased WordPiece)."""
    data = subsample(play_classification(), SIZES["minilm_per_class"])  # balanced: CPU budget
    return _classification(MINILM, SIZES["minilm_len"], SIZES["minilm_epochs"], MINILM_RUNS, data)


def classification_small(cache: Path) -> dict:
    """Task 1 on the bert-small preset pre-trained here (240 steps): the same recipe."""
    return _classification(bert_base(cache), SIZES["max_len"], SIZES["epochs"], METHOD_RUNS)


def _classification(source, max_len, epochs, runs, data=None) -> dict:
    encoder, tok, _ = load_encoder(source)
    task = PlayClassification(tok, max_len, data=data, max_train=SIZES["max_train"])
    rows = []
    for label, method, lr, options in runs:
        model = task.build_model(with_dropout(copy.deepcopy(encoder), 0.1), seed=0)
        prepared = get_method(method).apply(copy.deepcopy(model), **options)
        cost = step_cost(prepared, cycle_batches(task, 16), lr)
        cfg = FinetuneConfig(
            task="play",
            method=method,
            lr=lr,
            epochs=epochs,
            batch_size=16,
            max_len=max_len,
            dropout=0.1,
            seed=0,
        )
        t0 = time.perf_counter()
        result = finetune(model, task, cfg, log=lambda s: None, method_options=options)
        test = result.test["report"]
        rows.append(
            {
                "label": label,
                "method": method,
                "lr": lr,
                "options": options,
                **parameter_report(result.model),
                **cost,
                "accuracy": test["accuracy"],
                "macro_f1": test["macro avg"]["f1"],
                "val_accuracy": result.val["score"],
                "best_epoch": result.best_epoch,
                "steps": result.history[-1]["step"],
                "seconds": time.perf_counter() - t0,
                "history": result.history,
            }
        )
        log(f"task 1 {label}: accuracy {test['accuracy']:.4f}, {rows[-1]['share']:.2f} % train")
    bow = bag_of_words_baseline(task.data)
    return {
        "rows": rows,
        "bag_of_words": bow["test"]["accuracy"],
        "test_size": task.size("test"),
        "train_size": task.size("train"),
        "base": str(source),
        "max_len": max_len,
        "epochs": epochs,
    }


# ---- task 2: GPT domain adaptation ----------------------------------------------------------
def adaptation(cache: Path) -> dict:
    source = gpt_base(cache)
    base, tok, _ = load_checkpoint(source)
    block = min(SIZES["lm_block"], base.context_length)
    task = LanguageModelling(tok, play_texts()[HELD_OUT], block)
    others = np.asarray(tok.encode(seven_plays(cache)[2]), dtype=np.int64)
    before = {
        "adapted": math.exp(text_nll(base, task.ids["test"], block)[0]),
        "others": math.exp(text_nll(base, others, block)[0]),
    }
    log(f"task 2 base: {HELD_OUT} ppl {before['adapted']:.3f}, others {before['others']:.3f}")
    rows = []
    for label, method, lrs, options in ADAPT_RUNS:
        tries = []
        for lr in lrs:  # the new parameters' lr is picked on the validation split
            model = load_checkpoint(source)[0]
            cfg = FinetuneConfig(task="lm", method=method, lr=lr, epochs=SIZES["lm_epochs"],
                                 batch_size=8, max_len=block, dropout=None, seed=0)  # fmt: skip
            t0 = time.perf_counter()
            result = finetune(model, task, cfg, log=lambda s: None, method_options=options)
            tries.append(
                {
                    "lr": lr,
                    "val_perplexity": result.val["perplexity"],
                    "perplexity": result.test["perplexity"],
                    "others_perplexity": math.exp(text_nll(result.model, others, block)[0]),
                    "best_epoch": result.best_epoch,
                    "steps": result.history[-1]["step"],
                    "seconds": time.perf_counter() - t0,
                    "history": result.history,
                    **parameter_report(result.model),
                }
            )
            t = tries[-1]
            log(
                f"task 2 {label} lr {lr:g}: val ppl {t['val_perplexity']:.3f}, test "
                f"{t['perplexity']:.3f}, others {t['others_perplexity']:.3f}"
            )
        best = min(tries, key=lambda t: t["val_perplexity"])
        prepared = get_method(method).apply(load_checkpoint(source)[0], **options)
        cost = step_cost(prepared, cycle_batches(task, 8), best["lr"])
        brief = [{k: v for k, v in t.items() if k != "history"} for t in tries]
        rows.append(
            {"label": label, "method": method, "options": options, **best, **cost, "tries": brief}
        )
    return {
        "rows": rows,
        "before": before,
        "block": block,
        "base": str(source),
        "train_windows": task.size("train"),
        "test_tokens": task.size("test"),
    }


# ---- C17: prompting -------------------------------------------------------------------------
def prompting(cache: Path) -> dict:
    source = gpt_base(cache)
    model, tok, _ = load_checkpoint(source)
    data = play_classification()
    train = label_subset(data, PROMPT_CLASSES, "train", 48)
    test = label_subset(data, PROMPT_CLASSES, "test", 48, per_class=SIZES["prompt_test"])
    shots = []
    for k in (0, 1, 4, 8):
        shots.append(few_shot_accuracy(model, tok, train, test, PROMPT_LABELS, k, SIZES["draws"]))
        log(f"C17 k={k}: accuracy {shots[-1]['mean']:.3f} +- {shots[-1]['std']:.3f}")
    tuned = {}
    for label, method, lr, options in (
        ("full", "full", FULL_LR, {}),
        ("lora", "lora", NEW_LR, {"lora_r": 8}),
    ):
        m = get_method(method).apply(load_checkpoint(source)[0], **options)
        examples = label_only_examples(tok, *train, PROMPT_LABELS, model.context_length)
        steps = SIZES["prompt_epochs"] * math.ceil(len(examples) / 16)
        train_steps(m, cycle_batches(LabelTask(examples), 16), steps, lr, warmup=steps // 10)
        predicted, _ = classify(m, tok, [], test[0], PROMPT_LABELS)
        tuned[label] = {
            "accuracy": float((predicted == test[1]).mean()),
            "steps": steps,
            "lr": lr,
            **parameter_report(m),
        }
        log(f"C17 fine-tuned ({label}): accuracy {tuned[label]['accuracy']:.3f}")
    counts = np.bincount(test[1], minlength=len(PROMPT_LABELS))
    return {
        "shots": shots,
        "tuned": tuned,
        "chance": float(counts.max() / counts.sum()),
        "test_size": len(test[1]),
        "train_size": len(train[1]),
        "labels": PROMPT_LABELS,
        "classes": PROMPT_CLASSES,
    }


# ---- C18: continual learning ----------------------------------------------------------------
CONT_LR = 3e-4  # full fine-tuning, a little above C21's 1e-4 so that both tasks move in 60 steps
EWC_LAMBDAS = (1e3, 1e4, 1e5)  # the penalty weight spans the trade-off: keep A vs learn B


def continual(cache: Path) -> dict:
    source = gpt_base(cache)
    model, tok, _ = load_checkpoint(source)
    block = min(SIZES["lm_block"], model.context_length)
    texts = play_texts()
    a = LanguageModelling(tok, texts[HELD_OUT], block)
    b = LanguageModelling(tok, texts["Hamlet"], block)

    def evaluate(m):  # each play's last 10 %: Hamlet's first 90 % was in the pre-training text
        return {
            "A": math.exp(text_nll(m, a.ids["test"], block)[0]),
            "B": math.exp(text_nll(m, b.ids["test"], block)[0]),
        }

    steps = SIZES["cont_steps"]
    every = max(1, steps // 6)
    history_a = train_steps(
        model, cycle_batches(a, 8), steps, CONT_LR, warmup=5, evaluate=evaluate, eval_every=every
    )
    after_a = copy.deepcopy(model)
    fisher = fisher_diagonal(after_a, single_examples(a, 32, seed=1))  # A's, at theta*_A
    runs = {}
    modes = ["naive", "rehearsal", *(f"ewc, lambda {lam:g}" for lam in EWC_LAMBDAS)]
    for mode in modes:
        m, penalty, batches = copy.deepcopy(after_a), None, cycle_batches(b, 8, seed=1)
        if mode == "rehearsal":
            batches = replay_batches(batches, single_examples(a, 64), 0.25)
        if mode.startswith("ewc"):
            penalty = EWC(m, fisher, float(mode.split()[-1]))
        history_b = train_steps(
            m,
            batches,
            steps,
            CONT_LR,
            warmup=5,
            penalty=penalty,
            evaluate=evaluate,
            eval_every=every,
        )
        curve = [(s, e) for s, e in _evals(history_a)]
        curve += [(steps + s, e) for s, e in _evals(history_b)][1:]
        runs[mode] = {
            "curve": curve,
            "after_a": curve[len(_evals(history_a)) - 1][1],
            "after_b": curve[-1][1],
        }
        log(
            f"C18 {mode}: A {runs[mode]['after_a']['A']:.3f} -> {runs[mode]['after_b']['A']:.3f}"
            f", B -> {runs[mode]['after_b']['B']:.3f}"
        )
    return {
        "runs": runs,
        "steps": steps,
        "lr": CONT_LR,
        "ewc_lambdas": list(EWC_LAMBDAS),
        "fisher_mean": float(np.mean([f.mean() for f in fisher.values()])),
        "replay_share": 0.25,
        "buffer": 64,
        "A": HELD_OUT,
        "B": "Hamlet",
    }


def _evals(history):
    return [(h["step"], h["eval"]) for h in history if "eval" in h]


# ---- C22: overfitting remedies ---------------------------------------------------------------
OVER_LR = 3e-4  # MiniLM, full fine-tuning (6x MINILM_FULL_LR: the small set must be overfitted)
SPLITS = ("train", "val", "test")


def _balanced(data: dict, per_class: int, eval_per_class: int) -> dict:
    """per_class training and eval_per_class validation and test examples of each class (the
    evaluations after every epoch of seven runs dominate the CPU time of this part)."""
    out = subsample(data, per_class)
    for split in ("val", "test"):
        out[split] = subsample({"train": data[split]}, eval_per_class)["train"]
    return out


def overfitting(cache: Path) -> dict:
    encoder, tok, _ = load_encoder(MINILM)
    data = _balanced(play_classification(), SIZES["per_class"], SIZES["over_eval"])
    task = PlayClassification(tok, SIZES["over_len"], data=data)
    per_epoch = math.ceil(task.size("train") / 16)
    steps = SIZES["over_epochs"] * per_epoch
    labels = {s: np.array([e[1] for e in task.examples[s]]) for s in SPLITS}
    runs = {}

    def run(name, dropout=0.0, wd=0.0, transform=None, seed=0):
        model = task.build_model(with_dropout(copy.deepcopy(encoder), dropout), seed=seed)
        probs = []  # per evaluation: {split: (N, classes)}, for the ensemble's curve

        def evaluate(m):
            probs.append({s: class_probabilities(m, task, s) for s in SPLITS})
            return {s: metrics_from_probabilities(p, labels[s]) for s, p in probs[-1].items()}

        history = train_steps(
            model,
            cycle_batches(task, 16, seed, transform=transform),
            steps,
            OVER_LR,
            weight_decay=wd,
            warmup=per_epoch,
            evaluate=evaluate,
            eval_every=per_epoch,
        )
        runs[name] = {"curve": [(s / per_epoch, e) for s, e in _evals(history)]}
        log(f"C22 {name}: val loss {runs[name]['curve'][-1][1]['val']['loss']:.3f}")
        return probs

    members = [run("none")]
    run("dropout 0.1", dropout=0.1)
    run("weight decay 0.1", wd=0.1)
    run("span masking", transform=augment(task, span_mask, rate=0.15, span=3))
    run("crops", transform=augment(task, random_crop, keep=0.5))
    members += [run(f"none, seed {s}", seed=s) for s in (1, 2)]
    curve = []
    for i, evals in enumerate(zip(*members)):
        mean = {s: np.mean([e[s] for e in evals], axis=0) for s in SPLITS}
        curve.append((i, {s: metrics_from_probabilities(mean[s], labels[s]) for s in SPLITS}))
    runs["ensemble of 3"] = {"curve": curve}
    for r in runs.values():  # early stopping: the epoch of the lowest val loss
        best = min(r["curve"], key=lambda c: c[1]["val"]["loss"])
        r["early_stop"] = {"epoch": best[0], "val_loss": best[1]["val"]["loss"], **best[1]["test"]}
        r["end"] = r["curve"][-1][1]
    return {
        "runs": runs,
        "lr": OVER_LR,
        "epochs": SIZES["over_epochs"],
        "steps": steps,
        "max_len": SIZES["over_len"],
        "train_size": task.size("train"),
        "val_size": task.size("val"),
        "test_size": task.size("test"),
        "base": MINILM,
    }


PARTS = {
    "classification": classification,
    "classification_small": classification_small,
    "adaptation": adaptation,
    "prompting": prompting,
    "continual": continual,
    "overfitting": overfitting,
}


# ---- the tables and plots -------------------------------------------------------------------
def _target(row, full, key, better, limit):
    """'met (...)' / 'missed: ...' for LoRA and adapters against full fine-tuning: at most 2 % of
    the parameters trainable, and within `limit` (points of accuracy, or % of perplexity)."""
    if row["method"] not in ("lora", "adapter"):
        return ""
    if better == "higher":
        gap, unit = (full[key] - row[key]) * 100, "points"
    else:
        gap, unit = (row[key] / full[key] - 1) * 100, "%"
    where = f"{abs(gap):.2f} {unit} {'behind' if gap > 0 else 'ahead of'} full"
    missed = [f"{row['share']:.2f} % trainable > 2 %"] if row["share"] > 2.0 else []
    missed += [f"{where}, {gap - limit:.2f} {unit} over the limit"] if gap > limit else []
    return f"missed: {'; '.join(missed)}" if missed else f"met ({where})"


def tables(results: dict) -> dict:
    md = {}
    for key in ("classification", "classification_small"):
        if key not in results:
            continue
        r = results[key]
        full = r["rows"][0]
        md[key] = markdown_table(
            [
                "method",
                "lr",
                "trainable",
                "share",
                "test accuracy",
                "macro F1",
                "best epoch",
                "CPU ms / step",
                "peak MiB / step",
                "target (<= 2 % trainable, <= 2 points)",
            ],
            [
                [
                    x["label"],
                    f"{x['lr']:g}",
                    f"{x['trainable']:,}",
                    f"{x['share']:.2f} %",
                    f"{x['accuracy']:.4f}",
                    f"{x['macro_f1']:.4f}",
                    x["best_epoch"],
                    f"{x['step_ms']:.0f}",
                    f"{x['peak_mib']:.1f}",
                    _target(x, full, "accuracy", "higher", 2.0),
                ]
                for x in r["rows"]
            ]
            + [
                [
                    "bag of words (logistic regression)",
                    "",
                    "",
                    "",
                    f"{r['bag_of_words']:.4f}",
                    "",
                    "",
                    "",
                    "",
                    "",
                ]
            ],
        )
    if "adaptation" in results:
        r = results["adaptation"]
        full = r["rows"][0]
        md["adaptation"] = markdown_table(
            [
                "method",
                "lr",
                "trainable",
                "share",
                "adapted play ppl",
                "other plays ppl",
                "CPU ms / step",
                "peak MiB / step",
                "grads + AdamW MiB",
                "target (<= 2 % trainable, <= 3 % ppl)",
            ],
            [
                [
                    "pre-trained, not adapted",
                    "",
                    "",
                    "",
                    f"{r['before']['adapted']:.3f}",
                    f"{r['before']['others']:.3f}",
                    "",
                    "",
                    "",
                    "",
                ]
            ]
            + [
                [
                    x["label"],
                    f"{x['lr']:g}"
                    + (f" (of {len(x['tries'])}, on val)" if len(x.get("tries", [])) > 1 else ""),
                    f"{x['trainable']:,}",
                    f"{x['share']:.2f} %",
                    f"{x['perplexity']:.3f}",
                    f"{x['others_perplexity']:.3f}",
                    f"{x['step_ms']:.0f}",
                    f"{x['peak_mib']:.1f}",
                    f"{12 * x['trainable'] / 2**20:.2f}",
                    _target(x, full, "perplexity", "lower", 3.0),
                ]
                for x in r["rows"]
            ],
        )
    if "prompting" in results:
        r = results["prompting"]
        md["prompting"] = markdown_table(
            ["how", "accuracy", "spread over draws", "draws"],
            [
                [
                    f"{s['k']}-shot prompt",
                    f"{s['mean']:.3f}",
                    f"+- {s['std']:.3f}",
                    len(s["per_draw"]),
                ]
                for s in r["shots"]
            ]
            + [
                [
                    f"fine-tuned on the labels ({k}, {v['steps']} steps, lr {v['lr']:g}), 0-shot",
                    f"{v['accuracy']:.3f}",
                    "",
                    "",
                ]
                for k, v in r["tuned"].items()
            ]
            + [["majority class", f"{r['chance']:.3f}", "", ""]],
        )
    if "continual" in results:
        r = results["continual"]
        md["continual"] = markdown_table(
            ["run", "A ppl after A", "A ppl after B", "forgetting of A", "B ppl after B"],
            [
                [
                    mode,
                    f"{x['after_a']['A']:.3f}",
                    f"{x['after_b']['A']:.3f}",
                    f"{100 * (x['after_b']['A'] / x['after_a']['A'] - 1):+.1f} %",
                    f"{x['after_b']['B']:.3f}",
                ]
                for mode, x in r["runs"].items()
            ],
        )
    if "overfitting" in results:
        r = results["overfitting"]
        md["overfitting"] = markdown_table(
            [
                "remedy",
                "train loss at end",
                "val loss at end",
                "lowest val loss (epoch)",
                "test accuracy at end",
                "test accuracy, early-stopped",
            ],
            [
                [
                    name,
                    f"{x['end']['train']['loss']:.3f}",
                    f"{x['end']['val']['loss']:.3f}",
                    f"{x['early_stop']['val_loss']:.3f} ({x['early_stop']['epoch']:g})",
                    f"{x['end']['test']['accuracy']:.3f}",
                    f"{x['early_stop']['accuracy']:.3f}",
                ]
                for name, x in r["runs"].items()
            ],
        )
    return md


def plots(results: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if "classification" in results and "adaptation" in results:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, part, key, name in (
            (axes[0], "classification", "accuracy", "test accuracy"),
            (axes[1], "adaptation", "perplexity", "adapted play ppl"),
        ):
            for x in results[part]["rows"]:
                ax.scatter(x["share"], x[key], s=40)
                ax.annotate(
                    x["label"],
                    (x["share"], x[key]),
                    fontsize=8,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
            ax.set_xscale("log")
            ax.set_xlabel("trainable parameters (% of the model, log scale)")
            ax.set_ylabel(name)
        axes[0].set_title("task 1: BERT, which play (8 classes)")
        axes[1].set_title(f"task 2: GPT adapted to {HELD_OUT}")
        fig.tight_layout()
        fig.savefig(folder / "finetuning-methods.png", dpi=110)
        plt.close(fig)
    if "continual" in results:
        r = results["continual"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
        for mode, x in r["runs"].items():
            steps = [s for s, _ in x["curve"]]
            for ax, k in zip(axes, "AB"):
                ax.plot(steps, [e[k] for _, e in x["curve"]], marker=".", label=mode)
        for ax, k, name in zip(axes, "AB", (r["A"], r["B"])):
            ax.axvline(r["steps"], color="grey", lw=0.8)
            ax.set_title(f"task {k}: {name}, held-out perplexity")
            ax.set_xlabel("step (A, then B from the grey line)")
            ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "finetuning-continual.png", dpi=110)
        plt.close(fig)
    if "overfitting" in results:
        r = results["overfitting"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for name, x in r["runs"].items():
            epochs = [c[0] for c in x["curve"]]
            line = axes[1].plot(epochs, [c[1]["val"]["loss"] for c in x["curve"]], label=name)[0]
            axes[0].plot(
                epochs, [c[1]["train"]["loss"] for c in x["curve"]], color=line.get_color()
            )
        axes[0].set_title(f"train loss ({r['train_size']} speeches)")
        axes[1].set_title("validation loss")
        for ax in axes:
            ax.set_xlabel("epoch")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "finetuning-overfitting.png", dpi=110)
        plt.close(fig)
    if "prompting" in results:
        r = results["prompting"]
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ks = [s["k"] for s in r["shots"]]
        ax.errorbar(
            ks,
            [s["mean"] for s in r["shots"]],
            [s["std"] for s in r["shots"]],
            marker="o",
            capsize=3,
            label="k-shot prompt",
        )
        for name, v in r["tuned"].items():
            ax.axhline(v["accuracy"], ls="--", lw=1, label=f"fine-tuned ({name})")
        ax.axhline(r["chance"], color="grey", lw=0.8, label="majority class")
        ax.set_xlabel("examples in the prompt (k)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "finetuning-prompting.png", dpi=110)
        plt.close(fig)


def write_docs(md: dict, path=ROOT / "docs" / "finetuning.md") -> None:
    write_bench_blocks(md, path)


def _plain(x):
    """JSON-safe copies (numpy scalars and arrays as Python numbers and lists)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def main():
    keep_freed_memory()
    chosen = [s for s in ARGS.parts.split(",") if s] or list(PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown parts {unknown}; parts: {', '.join(PARTS)}")
    cache = Path(ARGS.cache) / ("small" if ARGS.small else "")
    cache.mkdir(parents=True, exist_ok=True)
    day = datetime.date.today()
    name = f"finetune-{'small-' if ARGS.small else ''}{day}.json"
    path = (cache if ARGS.small else ROOT / "benchmarks" / "results") / name
    results = json.loads(path.read_text()) if path.exists() else {}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    load = os.getloadavg()[0]
    for part in chosen:
        t0 = time.perf_counter()
        done = _plain(PARTS[part](cache))
        done["wall_seconds"] = time.perf_counter() - t0
        done["load_average"] = [load, os.getloadavg()[0]]
        results = json.loads(path.read_text()) if path.exists() else {}  # another run's parts
        results[part] = done
        results["machine"] = {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "date": str(day),
            "commit": commit,
            "threads": 1,
        }
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
        log(f"{part}: {time.perf_counter() - t0:.0f} s wall; {path}")
    md = tables(results)
    for table in md.values():
        print(table, end="\n\n")
    if not (ARGS.small or ARGS.no_docs):
        write_docs(md)
        plots(results, ROOT / "docs" / "img")
    elif ARGS.small:
        plots(results, cache / "img")


if __name__ == "__main__":
    main()
