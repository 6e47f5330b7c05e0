"""The command line: `minillm train | generate | eval` (also `python -m minillm`).

    minillm train [--preset NAME|FILE.toml] [--key=value ...] [--model=NAME --model.FIELD=value]
    minillm generate --checkpoint DIR [--prompt TEXT] [--max_new_tokens=N] ...
    minillm eval --checkpoint DIR [--data FILE] ...
    minillm serve --checkpoint DIR [--host H --port P --workers N] ...
    minillm finetune --checkpoint DIR --task=play|persons --out_dir DIR2 [--method=full] ...

Every command works on any registered model (minillm.models.MODELS). Bad input (an unknown key,
a value of the wrong type, a character outside the vocabulary, a missing file) ends with a
one-line error naming it and exit status 2; a diverged or interrupted run with status 1 or 130.
"""

import sys

from ..tensor.backend import DeviceUnavailableError
from ..tensor.memory import keep_freed_memory
from ..train import TrainingStopped
from .compress_cmd import run_compress
from .course_cmd import run_course
from .eval_cmd import run_eval
from .finetune_cmd import run_finetune
from .generate_cmd import run_generate
from .serve_cmd import run_serve
from .train_cmd import run_train

USAGE = """usage: minillm {train,generate,eval,serve,compress,finetune,course} ...

  minillm train [--preset NAME] [--key=value ...]   train a model (minillm train --help: the keys)
  minillm generate --checkpoint DIR --prompt TEXT   sample text from a trained model
  minillm eval --checkpoint DIR [--data FILE]       loss and perplexity of a checkpoint
  minillm serve --checkpoint DIR [--port 8000]      an HTTP API, requests batched
  minillm compress --checkpoint DIR --method=int8 --out DIR2   quantise, prune or factorise
  minillm finetune --checkpoint DIR --task=play --out_dir DIR2   fine-tune a BERT, P/R/F1
  minillm course list | make --chapter NAME --out DIR | grade DIR   the course kit (teachers)

`minillm COMMAND --help` lists each command's options with their defaults.
"""
COMMANDS = {
    "train": run_train,
    "generate": run_generate,
    "eval": run_eval,
    "serve": run_serve,
    "compress": run_compress,
    "finetune": run_finetune,
    "course": run_course,
}
USER_ERRORS = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    DeviceUnavailableError,
)


def main(argv=None) -> int:
    """Entry point of the `minillm` script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"minillm: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    keep_freed_memory()  # reuse freed arrays' pages: ~25 % off a CPU training step (memory.py)
    try:
        return COMMANDS[command](rest)
    except TrainingStopped as e:
        print(f"minillm {command}: {e}", file=sys.stderr)
        return 130 if "interrupted" in str(e) else 1
    except USER_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"minillm {command}: error: {message}", file=sys.stderr)
        return 2
