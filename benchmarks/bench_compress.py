"""Compression measured on the demo GPT (and the real MiniLM): quantisation, pruning,
distillation, low-rank factorisation, initialisation and parameter sharing (C1-C4, C6, C7).

    python benchmarks/bench_compress.py [--checkpoint /tmp/demo-gpt] [--only quant,prune,...]
        [--val_tokens 25600] [--steps 200] [--threads 1] [--clock cpu] [--no-docs]

--checkpoint: the demo GPT (`minillm train --preset shakespeare-char --out_dir=/tmp/demo-gpt`).
Sections (--only): quant, minilm, prune, structured, distill, svd, init, sharing. Perplexity is
exp of the mean loss over the first --val_tokens tokens of the run's validation split, every
token predicted once (the same tokens for every row, so rows compare pairwise). Forward times are
medians over repeats of one (12, 64) batch, by this process's CPU time with one BLAS thread
(--clock cpu), which measures the work on a machine other tenants keep busy. Recovery fine-tunes
and students are minillm.compress.fit runs (AdamW, warm-up + cosine). Writes
benchmarks/results/compress-<date>.json (machine, date, commit) and the tables between the
`<!-- bench:NAME -->` markers of docs/compression.md.
"""

import argparse
import os

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--checkpoint", default="/tmp/demo-gpt", help="the demo GPT's folder")
ARGS.add_argument("--bert_checkpoint", default=None, help="a `minillm finetune --task=play` run")
ARGS.add_argument("--only", default="", help="comma-separated sections (default: all)")
ARGS.add_argument("--val_tokens", type=int, default=25_600, help="validation tokens per eval")
ARGS.add_argument("--steps", type=int, default=200, help="recovery / fine-tune steps")
ARGS.add_argument("--student_steps", type=int, default=600, help="distillation budget")
ARGS.add_argument("--repeats", type=int, default=7, help="timed forwards per row")
ARGS.add_argument("--threads", type=int, default=1, help="BLAS threads")
ARGS.add_argument("--clock", default="cpu", choices=("cpu", "wall"), help="forward timing clock")
ARGS.add_argument("--no-docs", action="store_true", help="do not rewrite docs/compression.md")
ARGS.add_argument("--tables", default=None, help="only rewrite the docs' tables from this JSON")
ARGS = ARGS.parse_args() if __name__ == "__main__" else ARGS.parse_args([])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy starts its thread pool

import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from doc_tables import markdown_table, write_bench_blocks  # noqa: E402

from minillm import compress as C  # noqa: E402
from minillm.data import play_classification  # noqa: E402
from minillm.finetune import PlayClassification  # noqa: E402
from minillm.models import (  # noqa: E402
    GPT,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
    sentence_embeddings,
)
from minillm.nn import Linear, init  # noqa: E402
from minillm.ops import quantize as Q  # noqa: E402
from minillm.tensor import no_grad  # noqa: E402
from minillm.tensor.memory import keep_freed_memory  # noqa: E402
from minillm.train import prepare_data, stored_train_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLOCK = time.process_time if ARGS.clock == "cpu" else time.perf_counter
SECTIONS = ("quant", "minilm", "bert", "prune", "structured", "distill", "svd", "init", "sharing")
QUANT = {  # row name -> quantize_model arguments (None: the float model)
    "float32": None,
    "int8 per-channel, W8A8 (int32 accumulation)": dict(bits=8),
    "int8 per-channel, weight-only": dict(bits=8, mode="weight_only"),
    "int8 per-channel, asymmetric": dict(bits=8, symmetric=False),
    "int8 per-tensor": dict(bits=8, per_channel=False),
    "int4 per-channel, W4A8": dict(bits=4),
    "int4 per-channel, weight-only": dict(bits=4, mode="weight_only"),
    "int4 per-channel, asymmetric": dict(bits=4, symmetric=False),
    "int4 per-tensor": dict(bits=4, per_channel=False),
}


# ---- shared ---------------------------------------------------------------------------------
def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=ROOT, capture_output=True)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class Bench:
    """The checkpoint, its data and the measurements every section uses."""

    def __init__(self, folder):
        self.folder = folder
        model, self.tokenizer, self.manifest = load_checkpoint(folder)
        self.cfg = stored_train_config(self.manifest)
        _, self.corpus = prepare_data(self.cfg, self.tokenizer)
        self.val = self.corpus.val[: ARGS.val_tokens + 1]
        self.x = self.corpus.get_batch("val", 12, self.cfg.block_size, np.random.default_rng(0))[0]
        self.base = self.ppl(model)

    def model(self):
        return load_checkpoint(self.folder)[0]

    def ppl(self, model) -> float:
        return math.exp(C.eval_loss(model, self.val, self.cfg.block_size))

    def fit_cfg(self, steps=None, lr=3e-4):
        steps = steps or ARGS.steps
        return C.FitConfig(
            steps,
            self.cfg.batch_size,
            self.cfg.block_size,
            lr,
            lr / 10,
            min(20, steps // 10),
            seed=1,
        )

    def forward_ms(self, model) -> float:
        model.eval()
        times = []
        with no_grad():
            model(self.x)  # untimed: caches, kernels
            for _ in range(ARGS.repeats):
                t0 = CLOCK()
                model(self.x)
                times.append(CLOCK() - t0)
        return 1e3 * float(np.median(times))


def file_bytes(model, tokenizer) -> int:
    """Size of the weights file save_checkpoint writes for `model`."""
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(tmp, model, tokenizer, {})
        return sum(p.stat().st_size for p in Path(tmp).glob("model-*.safetensors"))


def linear_weight_bytes(model) -> int:
    """Bytes of the Linear layers' weights as stored (float W, or int W + scales + zero points)."""
    n = 0
    for _, m in model.named_modules():
        if type(m) is Linear or isinstance(m, C.MaskedLinear):
            n += m.W.data.nbytes
        elif isinstance(m, C.QuantLinear):
            q = m.W_q if m.bits == 8 else m.W_packed
            n += q.nbytes + m.scale.nbytes + m.zero_point.nbytes
    return n


# ---- sections -------------------------------------------------------------------------------
def quant(b: Bench) -> dict:
    rows, float_lin = [], None
    for name, kw in QUANT.items():
        model = b.model()
        if kw:
            C.quantize_model(model, **kw)
        lin = linear_weight_bytes(model)
        float_lin = float_lin or lin
        ppl = b.ppl(model)
        rows.append(
            dict(
                name=name,
                file_bytes=file_bytes(model, b.tokenizer),
                linear_bytes=lin,
                linear_ratio=lin / float_lin,
                ppl=ppl,
                ppl_change=ppl / b.base - 1,
                forward_ms=b.forward_ms(model),
            )
        )
        print(f"quant {name}: ppl {ppl:.4f} ({ppl / b.base - 1:+.2%}), {lin / float_lin:.3f}x")
    model = b.model()
    acts = activation_outliers(model, lambda: b.forward_ms(model))
    return {"rows": rows, "outliers": outliers(model), "activation_outliers": acts}


def outliers(model) -> list:
    """Per Linear: how far its largest output channel sticks out, and the relative error
    ||W_hat - W||_F / ||W||_F of each scheme (what per-tensor scales lose to one outlier)."""
    out = []
    for path, m in model.named_modules():
        if type(m) is not Linear:
            continue
        W = m.W.numpy().astype(np.float64)  # (in, out)
        col = np.abs(W).max(axis=0)  # (out,) each output channel's max |w|
        err = {}
        for bits in (8, 4):
            for axis, kind in ((-1, "channel"), (None, "tensor")):
                W_hat = Q.fake_quantize(W, bits, True, axis)
                err[f"int{bits}_{kind}"] = float(np.linalg.norm(W_hat - W) / np.linalg.norm(W))
        out.append(dict(layer=path, max_over_median=float(col.max() / np.median(col)), **err))
    return sorted(out, key=lambda r: -r["int4_tensor"])


def activation_outliers(model, run) -> list:
    """Per Linear: the mean over input rows of max_k |x_k| / RMS(x) (how far the largest feature
    of a row sticks out: what a per-row int8 step is set by), and the feature that is the
    largest most often, while `run()` runs the float model."""
    seen = {}

    def hook(path):
        def record(module, args):
            x = args[0].numpy().reshape(-1, args[0].shape[-1]).astype(np.float64)  # (N, K)
            rms = np.sqrt((x**2).mean(axis=1)) + 1e-12  # (N,)
            seen.setdefault(path, []).append((np.abs(x).max(axis=1) / rms, np.abs(x).argmax(1)))

        return record

    handles = [m.register_forward_pre_hook(hook(p)) for p, m in model.named_modules()
               if type(m) is Linear]  # fmt: skip
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    out = []
    for path, parts in seen.items():
        ratio = np.concatenate([r for r, _ in parts])
        where = np.bincount(np.concatenate([a for _, a in parts]))
        share = float(where.max() / where.sum())
        out.append(dict(layer=path, max_over_rms=float(ratio.mean()),
                        top_feature=int(where.argmax()), top_share=share))  # fmt: skip
    return sorted(out, key=lambda r: -r["max_over_rms"])


def minilm(b: Bench) -> dict:
    data = play_classification()
    texts = (data["val"]["text"] + data["test"]["text"])[:64]
    ref_model, tok = load_pretrained("all-MiniLM-L6-v2")
    ref = sentence_embeddings(ref_model, tok, texts, max_len=128)  # (N, 384), unit rows
    batch = texts[:8]
    rows, float_lin = [], None
    for name, kw in QUANT.items():
        model, _ = load_pretrained("all-MiniLM-L6-v2")
        if kw:
            C.quantize_model(model, **kw)
        emb = sentence_embeddings(model, tok, texts, max_len=128)
        cos = (emb * ref).sum(axis=1)  # (N,) both L2-normalised
        lin = linear_weight_bytes(model)
        float_lin = float_lin or lin
        t0 = CLOCK()
        sentence_embeddings(model, tok, batch, max_len=128)
        rows.append(
            dict(
                name=name,
                total_bytes=C.weight_bytes(model)["total"],
                linear_bytes=lin,
                linear_ratio=lin / float_lin,
                cos_mean=float(cos.mean()),
                cos_min=float(cos.min()),
                ms_8_texts=1e3 * (CLOCK() - t0),
            )
        )
        print(f"minilm {name}: cosine mean {cos.mean():.5f} min {cos.min():.5f}")
    acts = activation_outliers(ref_model, lambda: sentence_embeddings(ref_model, tok, batch))
    return {"rows": rows, "texts": len(texts), "outliers": outliers(ref_model),
            "activation_outliers": acts}  # fmt: skip


def bert(b: Bench) -> dict:
    """A fine-tuned BERT classifier (which play a speech is from): test accuracy per scheme."""
    if not ARGS.bert_checkpoint:
        print("bert: no --bert_checkpoint (a `minillm finetune --task=play` folder); skipped")
        return {"skipped": "no --bert_checkpoint"}
    model, tok, manifest = load_checkpoint(ARGS.bert_checkpoint)
    task = PlayClassification(tok, max_len=min(128, model.config.block_size))
    x = task.batch("test", range(8))[0]  # 8 speeches: (ids, mask, segments)
    rows, float_lin = [], None
    for name, kw in QUANT.items():
        model = load_checkpoint(ARGS.bert_checkpoint)[0]
        if kw:
            C.quantize_model(model, **kw)
        lin = linear_weight_bytes(model)
        float_lin = float_lin or lin
        acc = task.evaluate(model, "test")["score"]
        t0 = CLOCK()
        with no_grad():
            model(*x)
        rows.append(
            dict(name=name, total_bytes=C.weight_bytes(model)["total"], linear_bytes=lin,
                 linear_ratio=lin / float_lin, accuracy=acc, ms_8_texts=1e3 * (CLOCK() - t0))
        )  # fmt: skip
        print(f"bert {name}: test accuracy {acc:.4f}")
    return {"rows": rows, "checkpoint": ARGS.bert_checkpoint, "model": manifest["model_config"]}


def prune(b: Bench) -> dict:
    rows = []
    for s in [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]:
        model = b.model()
        C.prune_model(model, s)
        row = {**C.sparsity_report(model), "sparsity": s, "ppl": b.ppl(model)}
        if s in (0.0, 0.3, 0.5, 0.7, 0.9):
            C.fit(model, b.corpus, b.fit_cfg())
            row["ppl_recovered"] = b.ppl(model)
        rows.append(row)
        print(
            f"prune {s:.1f}: ppl {row['ppl']:.3f} -> {row.get('ppl_recovered', float('nan')):.3f}"
        )
    return {"rows": rows, "recovery_steps": ARGS.steps}


def structured(b: Bench) -> dict:
    rng = np.random.default_rng(3)
    batches = [b.corpus.get_batch("train", 12, b.cfg.block_size, rng) for _ in range(4)]
    rows = []
    plans = [
        ("dense", 0.0, 0.0),
        ("heads 25 %", 0.25, 0.0),
        ("heads 50 %", 0.5, 0.0),
        ("FFN 25 %", 0.0, 0.25),
        ("FFN 50 %", 0.0, 0.5),
        ("heads 25 % + FFN 50 %", 0.25, 0.5),
    ]
    for name, heads, ffn in plans:
        model = b.model()
        if heads:
            C.prune_heads(model, C.top_k(C.head_importance(model, batches), heads))
        if ffn:
            C.prune_ffn(model, C.top_k(C.ffn_importance(model, batches), ffn))
        row = dict(
            name=name,
            params=model.parameter_counts()["total"],
            file_bytes=file_bytes(model, b.tokenizer),
            ppl=b.ppl(model),
            forward_ms=b.forward_ms(model),
        )
        C.fit(model, b.corpus, b.fit_cfg())
        row["ppl_recovered"] = b.ppl(model)
        rows.append(row)
        print(f"structured {name}: ppl {row['ppl']:.3f} -> {row['ppl_recovered']:.3f}")
    scores = C.head_importance(b.model(), batches)
    importance = {k: v.tolist() for k, v in scores.items()}
    return {"rows": rows, "head_importance": importance, "steps": ARGS.steps}


def _curve(b, every):
    """A fit callback recording (step, val ppl on a quarter of the tokens) every `every` steps."""
    points, ids = [], b.val[: len(b.val) // 4]

    def callback(step, model):
        if (step + 1) % every == 0:
            points.append((step + 1, math.exp(C.eval_loss(model, ids, b.cfg.block_size))))
            model.train()

    return points, callback


def distill(b: Bench) -> dict:
    teacher = b.model()
    out = {"teacher_ppl": b.base, "teacher_params": teacher.parameter_counts()["total"]}
    steps = ARGS.student_steps
    cfg = replace(b.fit_cfg(steps, lr=1e-3), warmup=50)
    for shape, fields in (("half width", dict(d_model=64)), ("half depth", dict(n_layers=2))):
        student_cfg = replace(teacher.config, **fields)
        for how in ("alone", "distilled"):
            student = GPT(student_cfg, seed=7)  # the same initial weights for both
            points, callback = _curve(b, max(steps // 6, 1))
            t0 = time.perf_counter()
            if how == "alone":
                C.fit(student, b.corpus, cfg, callback=callback)
            else:
                C.distill(teacher, student, b.corpus, cfg, alpha=0.5, tau=2.0, callback=callback)
            out[f"{shape}, {how}"] = dict(
                ppl=b.ppl(student),
                curve=points,
                params=student.parameter_counts()["total"],
                seconds=time.perf_counter() - t0,
            )
            print(f"distill {shape} {how}: ppl {out[f'{shape}, {how}']['ppl']:.3f}")
    out["steps"], out["alpha"], out["tau"] = steps, 0.5, 2.0
    return out


def svd(b: Bench) -> dict:
    rows, spectra = [], {}
    dense = b.model()
    for path, m in dense.named_modules():
        if type(m) is Linear and path.startswith("blocks.0."):
            spectra[path] = np.linalg.svd(m.W.numpy(), compute_uv=False).tolist()
    C_ = dense.config.d_model
    for r in (3 * C_ // 4, C_ // 2, C_ // 4, C_ // 8, C_ // 16):  # 96 ... 8 for the demo
        model = b.model()
        plan = C.plan_ranks(model, rank=r, saving_only=False)
        energies = [
            C.energy(np.linalg.svd(model.get_submodule(p).W.numpy(), compute_uv=False), r)
            for p in plan
        ]
        C.factorize_model(model, plan)
        row = dict(
            rank=r,
            energy_mean=float(np.mean(energies)),
            energy_min=float(min(energies)),
            params=model.parameter_counts()["total"],
            ppl=b.ppl(model),
            forward_ms=b.forward_ms(model),
        )
        if r in (C_ // 2, C_ // 4, C_ // 8):
            C.fit(model, b.corpus, b.fit_cfg())
            row["ppl_finetuned"] = b.ppl(model)
        rows.append(row)
        print(f"svd rank {r}: energy {row['energy_mean']:.3f}, ppl {row['ppl']:.3f}")
    dense_row = dict(params=dense.parameter_counts()["total"], forward_ms=b.forward_ms(dense))
    return {"rows": rows, "dense": dense_row, "spectra_block0": spectra, "steps": ARGS.steps}


def init_study(b: Bench) -> dict:
    cfg = replace(b.model().config, n_layers=8, d_model=64, n_heads=4)
    x, y = b.corpus.get_batch("train", 12, cfg.block_size, np.random.default_rng(5))
    out = {"config": cfg.to_dict(), "steps": 100}
    for scheme in ("zero", "normal", "xavier_uniform", "xavier_normal", "kaiming_normal", "gpt2"):
        model = GPT(cfg, seed=0)
        init.init_scheme_(
            model, scheme, np.random.default_rng(0), 0.02, model.residual_projections()
        )
        at_init = C.layer_statistics(model, x, y)
        losses = C.fit(model, b.corpus, C.FitConfig(100, 12, None, 1e-3, 1e-4, 10, seed=2))
        after = C.layer_statistics(model, x, y)
        out[scheme] = dict(init=at_init, after=after, losses=losses, ppl=b.ppl(model))
        print(f"init {scheme}: loss {losses[0]:.3f} -> {np.mean(losses[-10:]):.3f}")
    return out


def sharing(b: Bench) -> dict:
    base = b.model().config
    out, steps = {}, max(ARGS.steps, 300)
    runs = {
        "tied (demo)": dict(tie_weights=True),
        "untied": dict(tie_weights=False),
        "tied + all blocks shared (ALBERT)": dict(tie_weights=True),
    }
    for name, fields in runs.items():
        model = GPT(replace(base, **fields), seed=0)
        if "ALBERT" in name:
            C.share_blocks(model)
        losses = C.fit(model, b.corpus, C.FitConfig(steps, 12, None, 1e-3, 1e-4, 30, seed=4))
        out[name] = dict(
            params=model.parameter_counts()["total"],
            file_bytes=file_bytes(model, b.tokenizer),
            ppl=b.ppl(model),
            train_loss=float(np.mean(losses[-20:])),
        )
        print(f"sharing {name}: {out[name]['params']:,} params, ppl {out[name]['ppl']:.3f}")
    out["steps"] = steps
    return out


RUN = {
    "quant": quant,
    "minilm": minilm,
    "bert": bert,
    "prune": prune,
    "structured": structured,
    "distill": distill,
    "svd": svd,
    "init": init_study,
    "sharing": sharing,
}


# ---- tables ---------------------------------------------------------------------------------
def _pct(x) -> str:
    return f"{x:+.2%}"


def tables(res: dict, base: float) -> dict:
    """section -> markdown."""
    md = {}
    if "quant" in res:
        rows = [
            (
                r["name"],
                f"{r['file_bytes']:,}",
                f"{r['linear_bytes']:,} ({r['linear_ratio']:.3f}x)",
                f"{r['ppl']:.4f}",
                _pct(r["ppl_change"]),
                f"{r['forward_ms']:.1f}",
            )
            for r in res["quant"]["rows"]
        ]
        md["quant"] = markdown_table(
            [
                "scheme",
                "weights file (bytes)",
                "Linear weights (bytes, x float)",
                "val ppl",
                "change",
                "forward (ms)",
            ],
            rows,
        )
        top = res["quant"]["outliers"][:6]
        md["outliers"] = markdown_table(
            [
                "layer",
                "max / median of channel max abs w",
                "int8 channel",
                "int8 tensor",
                "int4 channel",
                "int4 tensor",
            ],
            [
                (
                    r["layer"],
                    f"{r['max_over_median']:.1f}",
                    f"{r['int8_channel']:.4f}",
                    f"{r['int8_tensor']:.4f}",
                    f"{r['int4_channel']:.3f}",
                    f"{r['int4_tensor']:.3f}",
                )
                for r in top
            ],
        )
    if "minilm" in res:
        rows = [
            (
                r["name"],
                f"{r['linear_bytes']:,} ({r['linear_ratio']:.3f}x)",
                f"{r['total_bytes']:,}",
                f"{r['cos_mean']:.5f}",
                f"{r['cos_min']:.5f}",
                f"{r['ms_8_texts']:.0f}",
            )
            for r in res["minilm"]["rows"]
        ]
        md["minilm"] = markdown_table(
            [
                "scheme",
                "Linear weights (bytes, x float)",
                "all state (bytes)",
                "cosine mean",
                "cosine min",
                "8 texts (ms)",
            ],
            rows,
        )
    for name in ("quant", "minilm"):
        if name in res and "activation_outliers" in res[name]:
            top = res[name]["activation_outliers"][:4]
            w = {r["layer"]: r for r in res[name]["outliers"]}
            md[f"{name}_outliers"] = markdown_table(
                ["layer", "weights: max / median of channel max", "int8 per-tensor error",
                 "inputs: max abs x / RMS, per row", "largest feature (share of rows)"],
                [(r["layer"], f"{w[r['layer']]['max_over_median']:.1f}",
                  f"{w[r['layer']]['int8_tensor']:.4f}", f"{r['max_over_rms']:.1f}",
                  f"{r['top_feature']} ({r['top_share']:.0%})") for r in top],
            )  # fmt: skip
    if "bert" in res and "rows" in res["bert"]:
        rows = [
            (r["name"], f"{r['linear_bytes']:,} ({r['linear_ratio']:.3f}x)",
             f"{r['total_bytes']:,}", f"{r['accuracy']:.4f}", f"{r['ms_8_texts']:.0f}")
            for r in res["bert"]["rows"]
        ]  # fmt: skip
        md["bert"] = markdown_table(
            ["scheme", "Linear weights (bytes, x float)", "all state (bytes)", "test accuracy",
             "8 speeches (ms)"], rows)  # fmt: skip
    if "prune" in res:
        rows = []
        for r in res["prune"]["rows"]:
            rec = r.get("ppl_recovered")
            after = f"{rec:.4f} ({_pct(rec / base - 1)})" if rec else ""
            rows.append(
                (
                    f"{r['sparsity']:.0%}",
                    f"{r['ppl']:.4f} ({_pct(r['ppl'] / base - 1)})",
                    after,
                    f"{r['dense_bytes']:,}",
                    f"{r['csr_bytes']:,}",
                    f"{r['bitmap_bytes']:,}",
                )
            )
        md["prune"] = markdown_table(
            [
                "sparsity",
                "val ppl (change)",
                f"after {res['prune']['recovery_steps']} steps (change)",
                "dense bytes",
                "CSR bytes",
                "bitmap bytes",
            ],
            rows,
        )
    if "structured" in res:
        rows = [
            (
                r["name"],
                f"{r['params']:,}",
                f"{r['file_bytes']:,}",
                f"{r['forward_ms']:.1f}",
                f"{r['ppl']:.4f}",
                f"{r['ppl_recovered']:.4f}",
            )
            for r in res["structured"]["rows"]
        ]
        md["structured"] = markdown_table(
            [
                "removed",
                "parameters",
                "weights file (bytes)",
                "forward (ms)",
                "val ppl",
                f"after {res['structured'].get('steps', ARGS.steps)} steps",
            ],
            rows,
        )
    if "distill" in res:
        d = res["distill"]
        rows = []
        for shape in ("half width", "half depth"):
            a, k = d.get(f"{shape}, alone"), d.get(f"{shape}, distilled")
            if a and k:
                rows.append(
                    (
                        shape,
                        f"{a['params']:,}",
                        f"{a['ppl']:.4f}",
                        f"{k['ppl']:.4f}",
                        _pct(k["ppl"] / a["ppl"] - 1),
                    )
                )
        md["distill"] = markdown_table(
            [
                "student",
                "parameters",
                f"alone, {d['steps']} steps (val ppl)",
                "distilled, same steps",
                "distilled vs alone",
            ],
            rows,
        )
    if "svd" in res:
        rows = [
            (
                r["rank"],
                f"{r['energy_mean']:.3f} ({r['energy_min']:.3f})",
                f"{r['params']:,}",
                f"{r['forward_ms']:.1f}",
                f"{r['ppl']:.4f}",
                f"{r['ppl_finetuned']:.4f}" if "ppl_finetuned" in r else "",
            )
            for r in res["svd"]["rows"]
        ]
        dense = res["svd"]["dense"]
        rows.insert(
            0,
            (
                "full (dense)",
                "1",
                f"{dense['params']:,}",
                f"{dense['forward_ms']:.1f}",
                f"{base:.4f}",
                "",
            ),
        )
        md["svd"] = markdown_table(
            [
                "rank r",
                "energy kept: mean (min)",
                "parameters",
                "forward (ms)",
                "val ppl",
                f"after {res['svd']['steps']} steps",
            ],
            rows,
        )
    if "init" in res:
        rows = []
        for scheme, r in res["init"].items():
            if not isinstance(r, dict) or "init" not in r:
                continue
            act = r["init"]["activation_rms"]
            g0, g1 = r["init"]["grad_rms"], r["after"]["grad_rms"]
            rows.append(
                (
                    scheme,
                    f"{r['losses'][0]:.3f}",
                    f"{np.mean(r['losses'][-10:]):.3f}",
                    f"{act[0]:.3f} -> {act[-1]:.3f}",
                    f"{g0[0]:.2e} -> {g0[-1]:.2e}",
                    f"{g1[0]:.2e} -> {g1[-1]:.2e}",
                )
            )
        md["init"] = markdown_table(
            [
                "scheme",
                "loss, step 1",
                "loss, steps 91-100",
                "activation RMS, block 1 -> 8",
                "grad RMS at init, 1 -> 8",
                "grad RMS after 100 steps",
            ],
            rows,
        )
    if "sharing" in res:
        rows = [
            (
                k,
                f"{r['params']:,}",
                f"{r['file_bytes']:,}",
                f"{r['train_loss']:.4f}",
                f"{r['ppl']:.4f}",
            )
            for k, r in res["sharing"].items()
            if isinstance(r, dict)
        ]
        md["sharing"] = markdown_table(
            [
                "model",
                "parameters",
                "weights file (bytes)",
                f"train loss (last 20 of {res['sharing']['steps']})",
                "val ppl",
            ],
            rows,
        )
    return md


def write_docs(md: dict, path=ROOT / "docs" / "compression.md") -> None:
    write_bench_blocks(md, path)


def main():
    if ARGS.tables:  # the docs from a saved run, nothing measured
        saved = json.loads(Path(ARGS.tables).read_text())
        write_docs(tables({k: v for k, v in saved.items() if k in SECTIONS}, saved["base_ppl"]))
        return
    keep_freed_memory()
    chosen = [s for s in ARGS.only.split(",") if s] or list(SECTIONS)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--only: unknown sections {unknown}; sections: {', '.join(SECTIONS)}")
    bench = Bench(ARGS.checkpoint)
    print(f"{ARGS.checkpoint}: val ppl {bench.base:.4f} on {len(bench.val) - 1} tokens")
    day = datetime.date.today()
    path = ROOT / "benchmarks" / "results" / f"compress-{day}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in chosen:
        t0 = time.perf_counter()
        results[name] = RUN[name](bench)
        results[name]["seconds"] = time.perf_counter() - t0
        results.update(
            benchmark="compress",
            checkpoint=ARGS.checkpoint,
            base_ppl=bench.base,
            val_tokens=len(bench.val) - 1,
            threads=ARGS.threads,
            clock=ARGS.clock,
            machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            load_average=os.getloadavg()[0],
            python=platform.python_version(),
            date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            commit=commit(),
        )
        path.write_text(json.dumps(results, indent=1))  # after every section: partial runs count
        if not ARGS.no_docs:
            write_docs(tables({name: results[name]}, bench.base))
        print(f"{name}: {results[name]['seconds']:.0f} s -> {path}")


if __name__ == "__main__":
    main()
