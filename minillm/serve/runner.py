"""Running the app under uvicorn, in this process or in N worker processes.

The listening socket is bound here first (port 0: any free port), and its address printed, so a
script or a test that starts `minillm serve --port 0` reads where it listens. With workers > 1
each worker is a process of its own (spawned, so nothing of this one is copied half-way) that
loads the model and runs its own engine on the shared socket; the kernel hands each new
connection to one of them. Batching happens within a worker.
"""

import multiprocessing
import signal
import socket

import uvicorn

from ..models import load_pretrained
from .app import app_from_checkpoint, create_app
from .config import AppSource


def build_app(source: AppSource):
    """The app serving what `source` names (load_checkpoint's or load_pretrained's errors)."""
    if source.checkpoint is not None:
        return app_from_checkpoint(source.checkpoint, source.config, source.device)
    model, tokenizer = load_pretrained(source.pretrained)
    model.to(source.device)
    return create_app(model, tokenizer, source.config, {"pretrained": source.pretrained})


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    source: AppSource, host="127.0.0.1", port=8000, workers=1, log_level="info", access_log=True
):
    """Serve until interrupted (Ctrl-C, SIGTERM)."""
    app = build_app(source)  # a bad checkpoint fails here, before any worker starts
    sock = bind(host, port)
    where = sock.getsockname()
    print(f"minillm serve: listening on http://{host}:{where[1]} ({workers} worker(s))", flush=True)
    if workers == 1:
        _run(app, sock, log_level, access_log)
        return
    ctx = multiprocessing.get_context("spawn")
    del app  # each worker builds its own
    procs = [
        ctx.Process(target=_worker, args=(source, sock, log_level, access_log), daemon=True)
        for _ in range(workers)
    ]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes what it is sending, then exits
        for p in procs:
            p.join(10)
        sock.close()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _run(app, sock, log_level, access_log) -> None:
    config = uvicorn.Config(
        app, log_level=log_level, access_log=access_log, timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run(sockets=[sock])


def _worker(source: AppSource, sock, log_level, access_log) -> None:
    _run(build_app(source), sock, log_level, access_log)
