"""`minillm serve`: a checkpoint behind an HTTP API (minillm.serve; FastAPI and uvicorn, the
optional extra `pip install 'minillm[serve]'`). Ctrl-C or SIGTERM stops it."""

import sys
from dataclasses import fields

from ..serve import AppSource, ServeConfig, serve
from .args import Exit, parse, parser, positive_int

HELP = {  # the ServeConfig fields' meanings, for --help
    "max_batch_size": "requests decoded together (1 = one at a time)",
    "max_wait_ms": "how long a request waits for others to join it",
    "max_new_tokens_cap": "the largest max_new_tokens a request may ask for",
    "max_queue": "requests that may wait; beyond, 503",
    "max_prompt_chars": "the longest prompt string accepted",
}


def _parser():
    p = parser("minillm serve", "Serve a checkpoint over HTTP (docs/serving.md).")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a checkpoint folder (a train out_dir)")
    source.add_argument("--pretrained", help="a pre-trained model: all-MiniLM-L6-v2 or a folder")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8000, help="0 = any free port (printed)")
    p.add_argument("--workers", type=positive_int, default=1, help="processes, one model each")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run")
    for f in fields(ServeConfig):
        kind = float if isinstance(f.default, float) else positive_int
        p.add_argument(f"--{f.name}", type=kind, default=f.default, help=HELP[f.name])
    p.add_argument("--log_level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--no_access_log", action="store_true", help="no line per request")
    return p


def run_serve(args) -> int:
    try:
        a = parse(_parser(), args)
    except Exit as e:
        return e.code
    config = ServeConfig(**{f.name: getattr(a, f.name) for f in fields(ServeConfig)})
    source = AppSource(a.checkpoint, a.pretrained, a.device, config)
    try:
        serve(source, a.host, a.port, a.workers, a.log_level, not a.no_access_log)
    except ImportError as e:  # the serve extra is not installed
        print(f"minillm serve: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the port is taken, the address is not ours
        print(f"minillm serve: error: cannot listen on {a.host}:{a.port}: {e}", file=sys.stderr)
        return 2
    return 0
