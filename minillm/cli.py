"""The command line: `minillm train`, `minillm generate`, `minillm eval` (also `python -m minillm`).

    minillm train [--preset shakespeare-char] [--key=value ...]
    minillm generate --checkpoint DIR [--prompt TEXT] [--max_new_tokens=N] [--temperature=T]
                     [--top_k=K] [--top_p=P] [--seed=S] [--no_cache] [--device=cpu]
    minillm eval --checkpoint DIR [--eval_iters=N] [--batch_size=B]

`train` takes every TrainConfig field as --key=value (see `minillm train --help`); a preset is a
TOML file of such keys, applied before the command-line ones. Bad input (an unknown key, a value of
the wrong type, a character outside the vocabulary) ends with a one-line error and exit status 2.
"""

import argparse
import sys

import numpy as np

from .generate import generate
from .tensor.memory import keep_freed_memory
from .train import (
    TrainConfig,
    apply_overrides,
    config_from_args,
    estimate_loss,
    load_checkpoint,
    prepare_data,
    preset_names,
    train,
)
from .train.config import valid_keys

USAGE = """usage: minillm {train,generate,eval} ...

  minillm train [--preset NAME] [--key=value ...]   train a GPT (minillm train --help: the keys)
  minillm generate --checkpoint DIR --prompt TEXT   sample text from a trained model
  minillm eval --checkpoint DIR                     train and val loss of a checkpoint
"""


def main(argv=None) -> int:
    """Entry point of the `minillm` script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    commands = {"train": _train, "generate": _generate, "eval": _eval}
    if command not in commands:
        print(f"minillm: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    keep_freed_memory()  # reuse freed arrays' pages: ~25 % off a CPU training step (memory.py)
    try:
        return commands[command](rest)
    except (ValueError, TypeError, IndexError, FileNotFoundError) as e:
        print(f"minillm {command}: error: {e}", file=sys.stderr)
        return 2


def _train(args) -> int:
    if any(a in ("-h", "--help") for a in args):
        print(
            f"usage: minillm train [--preset NAME|FILE.toml] [--key=value ...]\n"
            f"presets: {', '.join(preset_names())}\nkeys (defaults in TrainConfig): "
            f"{valid_keys()}"
        )
        return 0
    result = train(config_from_args(args))
    print(f"checkpoint: {result.out_dir} (best val loss: {result.best_dir})")
    print(f"loss plot: {result.plot}")
    print(f"metrics: {result.metrics}")
    print(
        f"final: step={result.step} train_loss={result.train_loss:.4f} "
        f"val_loss={result.val_loss:.4f} seconds={result.seconds:.1f}"
    )
    return 0


def _generate_parser():
    p = argparse.ArgumentParser(prog="minillm generate", description="Sample text from a GPT.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (a train out_dir)")
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    p.add_argument("--max_new_tokens", type=int, default=500)
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    p.add_argument("--top_k", type=int, default=None)
    p.add_argument("--top_p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--no_cache", action="store_true", help="recompute the context every step")
    return p


def _parse(parser, args):
    try:
        return parser.parse_args(args)
    except SystemExit as e:  # argparse exits on --help (0) and on errors (2, message printed)
        raise _Exit(e.code) from None


class _Exit(Exception):
    def __init__(self, code):
        self.code = code


def _generate(args) -> int:
    try:
        a = _parse(_generate_parser(), args)
    except _Exit as e:
        return e.code
    if a.prompt == "":
        raise ValueError("--prompt is empty; give at least one character (default: a newline)")
    model, tokenizer, _ = load_checkpoint(a.checkpoint, a.device)
    ids = tokenizer.encode(a.prompt)  # ValueError naming a character outside the vocabulary
    out = generate(
        model,
        ids,
        a.max_new_tokens,
        a.temperature,
        a.top_k,
        a.top_p,
        a.seed,
        use_cache=not a.no_cache,
    )
    print(tokenizer.decode(out))
    return 0


def _eval(args) -> int:
    p = argparse.ArgumentParser(prog="minillm eval", description="Loss of a checkpoint.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (a train out_dir)")
    p.add_argument("--eval_iters", type=int, default=None, help="default: the run's eval_iters")
    p.add_argument("--batch_size", type=int, default=None, help="default: the run's batch_size")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    try:
        a = _parse(p, args)
    except _Exit as e:
        return e.code
    model, tokenizer, manifest = load_checkpoint(a.checkpoint, a.device)
    cfg = apply_overrides(TrainConfig(), manifest["train_config"], "checkpoint")
    _, corpus = prepare_data(cfg, tokenizer)
    step = manifest["state"].get("step", 0)
    rng = np.random.default_rng([cfg.seed, 2, step])  # the batches the run evaluated on
    losses = estimate_loss(
        model,
        corpus,
        a.batch_size or cfg.batch_size,
        cfg.block_size,
        a.eval_iters or cfg.eval_iters,
        rng,
    )
    print(
        f"eval: step={step} train_loss={losses['train']:.4f} val_loss={losses['val']:.4f} "
        f"val_ppl={np.exp(losses['val']):.2f}"
    )
    return 0
