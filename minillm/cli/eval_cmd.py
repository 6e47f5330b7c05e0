"""`minillm eval`: loss and perplexity of a checkpoint, on the run's own splits (the batches the
run evaluated on) or on any UTF-8 text (`--data FILE`, every token once)."""

import math
from pathlib import Path

import numpy as np

from ..data import load_text
from ..models import ReversalTask, get_spec, load_checkpoint
from ..models.seq2seq_task import evaluate as exact_match
from ..models.text_loss import text_loss
from ..tensor import no_grad
from ..train import estimate_loss, prepare_data, stored_train_config
from ..train.text_eval import encode_reporting_unknown
from .args import Exit, parse, parser, positive_int


def _parser():
    p = parser("minillm eval", "Loss and perplexity (exp of the mean loss, F9) of a checkpoint.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (a train out_dir)")
    p.add_argument("--data", default=None, help="a UTF-8 text file to evaluate on (all of it)")
    p.add_argument("--unknown", default="error",
                   help="characters outside the vocabulary in --data: 'error', 'skip' (drop "
                        "them), 'unk' (the tokenizer's unknown token) or one replacement "
                        "character")  # fmt: skip
    p.add_argument("--eval_iters", type=positive_int, default=None,
                   help="batches per split (run splits only; default: the run's)")  # fmt: skip
    p.add_argument("--batch_size", type=positive_int, default=None,
                   help="sequences per batch (default: the run's)")  # fmt: skip
    p.add_argument("--max_tokens", type=positive_int, default=None,
                   help="evaluate only the first N tokens of --data")  # fmt: skip
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run")
    return p


def run_eval(args) -> int:
    try:
        a = parse(_parser(), args)
    except Exit as e:
        return e.code
    model, tokenizer, manifest = load_checkpoint(a.checkpoint, a.device)
    task = get_spec(manifest["model"]).task
    cfg = stored_train_config(manifest)
    if task == "seq2seq":
        return _eval_reversal(model, cfg, manifest)
    if task != "causal_lm":
        raise ValueError(f"eval: {manifest['model']} ({task}) models are not evaluated here")
    batch_size = a.batch_size or cfg.batch_size
    step = manifest["state"].get("step", 0)
    if a.data is not None:
        if not Path(a.data).is_file():
            raise FileNotFoundError(f"--data {a.data!r}: no such file")
        ids, report = encode_reporting_unknown(tokenizer, load_text(a.data), a.unknown)
        if report:
            print(f"eval: {report}")
        ids = ids[: a.max_tokens] if a.max_tokens else ids
        loss, n = text_loss(model, ids, cfg.block_size, batch_size)
        print(
            f"eval: step={step} data={a.data} tokens={n} loss={loss:.4f} ppl={math.exp(loss):.2f}"
        )
        return 0
    _, corpus = prepare_data(cfg, tokenizer)
    rng = np.random.default_rng([cfg.seed, 2, step])  # the batches the run evaluated on
    eval_iters = a.eval_iters or cfg.eval_iters
    losses = estimate_loss(model, corpus, batch_size, cfg.block_size, eval_iters, rng)
    print(
        f"eval: step={step} train_loss={losses['train']:.4f} val_loss={losses['val']:.4f} "
        f"val_ppl={np.exp(losses['val']):.2f}"
    )
    return 0


def _eval_reversal(model, cfg, manifest) -> int:
    """A seq2seq checkpoint: greedy exact-match accuracy and loss on the held-out strings."""
    task = ReversalTask(seed=cfg.seed)
    src, tgt_in, tgt_out = task.test_batch()
    with no_grad():
        loss = model(src, tgt_in, tgt_out)[1].item()
    accuracy = exact_match(model, task)
    step = manifest["state"].get("step", 0)
    print(
        f"eval: step={step} test_strings={len(task.test_strings)} loss={loss:.4f} "
        f"exact_match={accuracy:.4f}"
    )
    return 0
