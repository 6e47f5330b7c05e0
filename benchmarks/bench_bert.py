"""BERT benchmarks: the pre-training targets, the fine-tuning comparison, and the real MiniLM's
encoding speed against PyTorch.

    .venv/bin/python benchmarks/bench_bert.py pretrain [--out out/bench-bert-small]
    .venv/bin/python benchmarks/bench_bert.py finetune --checkpoint out/bench-bert-small \
        [--tasks play,persons] [--models pretrained,random,bow,minilm]
    /tmp/hfvenv/bin/python benchmarks/bench_bert.py speed [--threads 2] [--reps 30]

Each writes benchmarks/results/bert-<command>-<date>.json and prints the table that
docs/performance.md and docs/bert.md quote.

pretrain: `minillm train --preset bert-small` in this process, one BLAS thread (--threads),
timed by wall clock and by this process's CPU time (on a machine shared with other tenants the
wall clock measures them too; with one thread the CPU time is the work a dedicated core would do).
Then, on --eval_batches batches of held-out pairs (the val split: the last 10 % of each play,
never trained on), the masked-token accuracy against always predicting the most frequent token
of the training text (target: at least twice its accuracy), and the NSP accuracy (target 75 %).

finetune: the same test split for every model: the pre-trained small BERT fine-tuned, the same
architecture from random weights fine-tuned with the same recipe, the bag-of-words logistic
regression (play only; on the same --max_train training texts), and all-MiniLM-L6-v2 fine-tuned;
accuracy and macro F1 for play, entity-level and B-PER F1 for persons.

speed: a batch of 32 lines of the plays of about 20 MiniLM tokens, the final hidden states of
all-MiniLM-L6-v2 by minillm (its fast CPU path) and by transformers' BertModel (PyTorch eager),
same threads, taking turns with a pause between calls, median of --reps each; the outputs are
first checked to agree within 1e-4. Needs the hf venv (torch, transformers) with numba and an
editable minillm: `/tmp/hfvenv/bin/pip install numba==0.68.1`.
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("command", choices=("pretrain", "finetune", "speed"))
ARGS.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (pretrain: 1)")
ARGS.add_argument("--out", default="out/bench-bert-small", help="pretrain: the run folder")
ARGS.add_argument("--eval_batches", type=int, default=60, help="pretrain: held-out batches")
ARGS.add_argument("--checkpoint", default="out/bench-bert-small", help="finetune: small BERT")
ARGS.add_argument("--tasks", default="play,persons", help="finetune: tasks to run")
ARGS.add_argument("--models", default="bow,pretrained,random,minilm", help="finetune: models")
ARGS.add_argument("--epochs", type=int, default=4, help="finetune: epochs of every BERT")
ARGS.add_argument("--lr", type=float, default=1e-4, help="finetune: peak lr (C21)")
ARGS.add_argument("--max_train", type=int, default=None, help="finetune: training texts used")
ARGS.add_argument("--save", default=None,
                  help="finetune: save each tuned classifier in SAVE/<task>-<model> (a checkpoint, "
                       "as bench_compress.py --bert_checkpoint reads)")  # fmt: skip
ARGS.add_argument("--reps", type=int, default=30, help="speed: timed calls per implementation")
ARGS.add_argument("--pause", type=float, default=0.2, help="speed: seconds between two calls")
ARGS.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                  help="speed: wall time, or this process's CPU time (with --threads 1, the work "
                       "done, which other tenants of a busy machine inflate far less)")  # fmt: skip
ARGS.add_argument("--json", default=None, help="the results file (default: results/bert-...)")
ARGS = ARGS.parse_args() if __name__ == "__main__" else ARGS.parse_args(["speed"])
THREADS = ARGS.threads or (1 if ARGS.command == "pretrain" else 2)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)  # before numpy and torch start their thread pools

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def clocks():
    return time.perf_counter(), time.process_time()


def since(start):
    wall, cpu = clocks()
    return {"wall_s": wall - start[0], "cpu_s": cpu - start[1]}


def save(name: str, results: dict) -> Path:
    path = Path(ARGS.json) if ARGS.json else RESULTS / f"bert-{name}-{datetime.date.today()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {"command": name, "threads": THREADS, "load_avg": os.getloadavg(), **results}
    path.write_text(json.dumps(results, indent=1))
    print(f"results: {path}")
    return path


# ---------------------------------------------------------------------------------- pretrain
def pretrain():
    from minillm.models import load_checkpoint
    from minillm.models.bert_pretraining import unpack_targets
    from minillm.models.bert_task import prepare_masked_lm
    from minillm.tensor import no_grad
    from minillm.train import config_from_args, train

    args = ["--preset", "bert-small", f"--out_dir={ARGS.out}", "--overwrite=true"]
    cfg = config_from_args([*args, "--progress=false"])
    start = clocks()
    result = train(cfg)
    timing = since(start)
    model, tok, _ = load_checkpoint(result.out_dir)
    _, task = prepare_masked_lm(cfg.dataset, cfg.bpe_vocab_size, cfg.train_fraction, tok)
    train_ids = np.concatenate([s for d in task.docs["train"] for s in d])  # no specials
    most_frequent = int(np.bincount(train_ids, minlength=tok.vocab_size).argmax())
    rng = np.random.default_rng([cfg.seed, 7])  # held-out batches no evaluation drew
    hits = masked = nsp_hits = pairs = baseline_hits = 0
    with no_grad():
        for _ in range(ARGS.eval_batches):
            x, targets = task.get_batch("val", cfg.batch_size, cfg.block_size, rng)
            out, _ = model(*x, targets)
            mlm, nsp = unpack_targets(targets)
            y = mlm[mlm != -100]
            hits += int((out.mlm_logits.data.argmax(-1) == y).sum())
            baseline_hits += int((y == most_frequent).sum())
            masked += len(y)
            nsp_hits += int((out.nsp_logits.data.argmax(-1) == nsp).sum())
            pairs += len(nsp)
    mlm_acc, base_acc, nsp_acc = hits / masked, baseline_hits / masked, nsp_hits / pairs
    results = {
        "timing": timing,
        "steps": result.step,
        "train_loss": result.train_loss,
        "val_loss": result.val_loss,
        "held_out": {
            "masked_tokens": masked,
            "pairs": pairs,
            "mlm_acc": mlm_acc,
            "most_frequent_token": tok.itos[most_frequent],
            "most_frequent_acc": base_acc,
            "mlm_acc_over_baseline": mlm_acc / base_acc,
            "nsp_acc": nsp_acc,
        },  # fmt: skip
        "targets": {
            "time_s <= 300": timing["cpu_s"] <= 300,
            "mlm_acc >= 2 x most frequent": mlm_acc >= 2 * base_acc,
            "nsp_acc >= 0.75": nsp_acc >= 0.75,
        },  # fmt: skip
        "vocab_size": tok.vocab_size,
        "config": cfg.to_dict(),
    }
    print(
        f"| pre-training time | {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU "
        f"({THREADS} thread) | <= 300 s |\n"
        f"| masked-token accuracy (held out, {masked} tokens) | {mlm_acc:.3f} = "
        f"{mlm_acc / base_acc:.2f} x always '{tok.itos[most_frequent]}' ({base_acc:.3f}) "
        "| >= 2 x |\n"
        f"| NSP accuracy (held out, {pairs} pairs) | {nsp_acc:.3f} | >= 0.75 |"
    )
    save("pretrain", results)


# ---------------------------------------------------------------------------------- finetune
LABELS = {
    "pretrained": "small BERT, pre-trained (bert-small)",
    "random": "small BERT, random weights",
    "minilm": "all-MiniLM-L6-v2",
}


def finetune_all():
    from minillm.data import play_classification
    from minillm.finetune import (
        FinetuneConfig,
        bag_of_words_baseline,
        finetune,
        get_task,
        load_encoder,
        random_encoder,
        with_dropout,
    )
    from minillm.finetune.tasks import limit_split
    from minillm.models import save_checkpoint

    rows, results = [], {}
    tasks = ARGS.tasks.split(",")
    models = ARGS.models.split(",")
    for task_name in tasks:
        if "bow" in models and task_name == "play":
            start = clocks()
            data = play_classification()  # the BERTs' training texts (--max_train), same test
            data["train"] = limit_split(data["train"], ARGS.max_train, data["train"]["label"])
            out = bag_of_words_baseline(data)
            t = out["test"]
            results["play/bow"] = {
                "test": t, "val_acc": out["val"]["accuracy"], "lam": out["lam"],
                "timing": since(start), "n_features": out["n_features"],
            }  # fmt: skip
            rows.append(("play", "bag-of-words logistic regression", t["accuracy"],
                         t["macro avg"]["f1"], results["play/bow"]["timing"]))  # fmt: skip
        for name in [m for m in models if m != "bow"]:
            source = "all-MiniLM-L6-v2" if name == "minilm" else ARGS.checkpoint
            encoder, tok, description = load_encoder(source)
            if name == "random":
                encoder = random_encoder(encoder, seed=0)
            cfg = FinetuneConfig(task=task_name, lr=ARGS.lr, epochs=ARGS.epochs,
                                 max_train=ARGS.max_train)  # fmt: skip
            encoder = with_dropout(encoder, cfg.dropout)
            max_len = min(cfg.max_len, encoder.config.block_size)
            task = get_task(task_name)(tok, max_len, max_train=cfg.max_train)
            model = task.build_model(encoder, cfg.seed)
            start = clocks()
            r = finetune(model, task, cfg)
            timing = since(start)
            t = r.test
            key = f"{task_name}/{name}"
            if ARGS.save:
                state = {"step": r.history[-1]["step"], "best_epoch": r.best_epoch,
                         "source": description}  # fmt: skip
                save_checkpoint(Path(ARGS.save) / f"{task_name}-{name}", r.model, tok,
                                cfg.to_dict(), None, state)  # fmt: skip
            results[key] = {"source": description, "timing": timing, "history": r.history,
                            "best_epoch": r.best_epoch, "parameters": r.parameters,
                            "config": cfg.to_dict(),
                            "test": {k: v for k, v in t.items() if k != "predicted"}}  # fmt: skip
            label = LABELS[name]
            if task_name == "play":
                rows.append((task_name, label, t["report"]["accuracy"],
                             t["report"]["macro avg"]["f1"], timing))  # fmt: skip
            else:
                b_per = t["report"]["classes"]["B-PER"]["f1"]
                rows.append((task_name, label, t["entities"]["micro avg"]["f1"], b_per, timing))
            save("finetune", {"results": results, "partial": True})
    print("| task | model | test accuracy / entity F1 | macro F1 / B-PER F1 | time (CPU) |")
    print("|---|---|---|---|---|")
    for task_name, label, a, b, timing in rows:
        print(f"| {task_name} | {label} | {a:.3f} | {b:.3f} | {timing['cpu_s']:.0f} s |")
    save("finetune", {"results": results})


# ---------------------------------------------------------------------------------- speed
def speed_batch(tok, n=32, target=20):
    """n lines of the plays whose MiniLM encoding is target +- 2 tokens ([CLS]/[SEP] included),
    the first ones in corpus order."""
    from minillm.data import load_text

    lines = []
    for line in load_text("shakespeare").splitlines():
        if abs(len(tok.encode(line)) - target) <= 2 and line not in lines:
            lines.append(line)
        if len(lines) == n:
            return lines
    raise RuntimeError("speed: not enough lines of the right length")


def speed():
    import torch
    from transformers import BertModel

    from minillm.data.pretrained import minilm_path
    from minillm.models import load_pretrained
    from minillm.tensor import no_grad

    torch.set_num_threads(THREADS)
    model, tok = load_pretrained("all-MiniLM-L6-v2")
    ref = BertModel.from_pretrained(str(minilm_path()), add_pooling_layer=False).eval()
    texts = speed_batch(tok)
    b = tok.encode_batch(texts)
    ids, mask, types = b["input_ids"], b["attention_mask"], b["token_type_ids"]
    t_ids, t_mask, t_types = (torch.from_numpy(a) for a in (ids, mask, types))

    def ours():
        with no_grad():
            return model(ids, mask, types).data

    def theirs():
        with torch.no_grad():
            return ref(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types)[0].numpy()

    err = float(np.abs(ours() - theirs()).max())
    assert err < 1e-4, f"speed: minillm and PyTorch disagree by {err}"
    times = {"minillm": [], "pytorch": []}
    for _ in range(3):
        ours(), theirs()
    clock = time.process_time if ARGS.clock == "cpu" else time.perf_counter
    for _ in range(ARGS.reps):
        for name, fn in (("minillm", ours), ("pytorch", theirs)):
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
            time.sleep(ARGS.pause)
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = med["minillm"] / med["pytorch"]
    for name, ts in times.items():
        q1, q3 = np.percentile(ts, [25, 75]) * 1e3
        print(
            f"{name:8s} median {med[name] * 1e3:7.1f} ms  (IQR {q1:.1f}-{q3:.1f}, {len(ts)} calls)"
        )
    print(
        f"minillm / pytorch = {ratio:.2f} (target <= 1.5); batch {ids.shape}, max |diff| {err:.1e}"
    )
    save("speed", {"batch_shape": list(ids.shape), "max_abs_diff": err, "median_s": med,
                   "ratio": ratio, "target_met": ratio <= 1.5, "times_s": times,
                   "torch": torch.__version__, "clock": ARGS.clock})  # fmt: skip


if __name__ == "__main__":
    sys.exit({"pretrain": pretrain, "finetune": finetune_all, "speed": speed}[ARGS.command]())
