"""Shared by the serving tests: a tiny GPT and its checkpoint, and a real uvicorn server on a free
127.0.0.1 port in a thread, always shut down (a module of its own, not conftest: see lm_tiny)."""

import contextlib
import socket
import threading
import time

import httpx
import numpy as np
import uvicorn

from minillm.data import CharTokenizer
from minillm.models import GPT, GPTConfig, save_checkpoint

TEXT = "abcdefghijklmnopqrstuvwxyz ,.!?\n"
BLOCK = 16  # a small context, so generation crosses it and the KV cache is rebuilt
START_S = 30  # bounds on a loaded 2-core machine
TIMEOUT_S = 30


def tokenizer():
    return CharTokenizer.from_text(TEXT)


def tiny_gpt(seed=0, dtype=np.float64):
    """A 2-layer, 16-wide GPT over TEXT's 32 characters, in float64: a row of a batch and the
    request alone then agree to ~1e-12, far from a sampling boundary."""
    config = GPTConfig(vocab_size=len(set(TEXT)), block_size=BLOCK, n_layers=2, n_heads=2,
                       d_model=16, bias=False)  # fmt: skip
    return GPT(config, seed=seed).to(dtype).eval()


def save_tiny_checkpoint(folder, seed=0):
    """A checkpoint of tiny_gpt (seeded weights, float32 as training writes them) and its
    tokenizer, written by save_checkpoint as a training run writes one."""
    model = tiny_gpt(seed, np.float32)
    save_checkpoint(folder, model, tokenizer(), {"note": "tests/serve"}, state={"step": 0})
    return folder


@contextlib.contextmanager
def running(app):
    """An httpx.Client on a uvicorn server running `app` in a thread, on a free port; the server
    is stopped (and its engine with it) whatever the test does."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT_S) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(TIMEOUT_S)
        sock.close()


def wait_until(check, timeout=TIMEOUT_S, every=0.02):
    """Poll check() until it returns a true value (returned) or the timeout (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s: {check}")


def sse_events(lines):
    """(event, data) pairs of a text/event-stream read line by line."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            yield event, line[len("data: ") :]
