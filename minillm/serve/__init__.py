"""Serving (C5): a checkpoint behind an HTTP API, with concurrent requests batched.

    minillm serve --checkpoint DIR [--host 127.0.0.1 --port 8000 --workers N]

engine.py   the batching engine: requests join and leave a running batch between decoding
            steps (left padding + the attention mask), each getting what it gets alone
kv_rows.py  taking, stacking and trimming rows of a batch of KV caches
app.py      FastAPI: /v1/generate (JSON or server-sent events), /v1/embed, /v1/classify,
            /v1/model, /health, /docs
runner.py   uvicorn in this process or in N worker processes on one socket

The engine needs only NumPy; the app and the runner need FastAPI and uvicorn, an optional extra
(`pip install 'minillm[serve]'`). Without them `import minillm.serve` still works, and
create_app, app_from_checkpoint, build_app and serve raise an ImportError saying what to install.
"""

from .config import AppSource, ServeConfig
from .engine import Engine
from .request import QueueFull, Request, Sampling

SERVE_EXTRA = ("fastapi", "uvicorn", "pydantic", "starlette")

try:
    from .app import app_from_checkpoint, create_app
    from .runner import build_app, serve
except ModuleNotFoundError as e:  # the optional extra is not installed
    if (e.name or "").split(".")[0] not in SERVE_EXTRA:
        raise
    _missing = e.name

    def _needs_extra(*args, **kwargs):
        raise ImportError(
            f"minillm serve needs FastAPI and uvicorn ({_missing!r} is not installed): "
            "pip install 'minillm[serve]' (in a checkout: make install, or "
            "pip install -e '.[serve]')"
        )

    app_from_checkpoint = build_app = create_app = serve = _needs_extra

__all__ = [
    "AppSource",
    "Engine",
    "QueueFull",
    "Request",
    "Sampling",
    "ServeConfig",
    "app_from_checkpoint",
    "build_app",
    "create_app",
    "serve",
]
