"""`minillm serve` as users start it: a separate process on a free port (--port 0, the address
read from its first line), one worker and two, stopped with SIGTERM (a graceful shutdown in
each worker); bad command lines; and the library without the serve extra installed."""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serve_util import START_S, TIMEOUT_S, save_tiny_checkpoint

from minillm.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def start(args):
    """The server process and its base URL, read from the line it prints once it listens."""
    command = [sys.executable, "-m", "minillm", "serve", *args, "--port", "0", "--no_access_log"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=START_S)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"no address within {START_S} s: {proc.stderr.read()}") from None
    assert "listening on http://127.0.0.1:" in line, line
    return proc, line.split("listening on ")[1].split()[0]


def stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()


def ready(client):
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server never answered /health")


@pytest.mark.parametrize("workers", [1, 2])
def test_C5_minillm_serve_answers_and_stops_on_sigterm(tmp_path, workers):
    folder = save_tiny_checkpoint(tmp_path / "ckpt")
    proc, url = start(["--checkpoint", str(folder), "--workers", str(workers),
                       "--max_batch_size", "4", "--max_new_tokens_cap", "30"])  # fmt: skip
    try:
        with httpx.Client(base_url=url, timeout=TIMEOUT_S) as client:
            ready(client)
            out = [client.post("/v1/generate", json={"prompt": "abc", "max_new_tokens": 9,
                                                     "seed": 4}) for _ in range(3)]  # fmt: skip
            info = client.get("/v1/model").json()
            capped = client.post("/v1/generate", json={"prompt": "a", "max_new_tokens": 31})
    finally:
        code = stop(proc)
    assert [r.status_code for r in out] == [200] * 3
    assert len({tuple(r.json()["token_ids"]) for r in out}) == 1, "same seed, same tokens"
    assert info["serving"]["max_batch_size"] == 4 and info["checkpoint"] == str(folder)
    assert capped.status_code == 422
    log = proc.stderr.read()
    # uvicorn shuts down gracefully, then re-raises the signal it caught (one worker: status
    # -SIGTERM); the two-worker parent stops its workers and exits 0
    assert code in (0, -signal.SIGTERM), log
    assert log.count("Application shutdown complete") == workers, log


def test_serve_refuses_a_missing_checkpoint_and_a_taken_port(tmp_path, capsys):
    assert main(["serve", "--checkpoint", str(tmp_path / "nothing")]) == 2
    assert "checkpoint.json is missing" in capsys.readouterr().err
    assert main(["serve"]) == 2  # --checkpoint or --pretrained is required
    folder = save_tiny_checkpoint(tmp_path / "ckpt")
    with socket_on_a_port() as port:
        assert main(["serve", "--checkpoint", str(folder), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


class socket_on_a_port:
    """A port some other socket listens on, for the time of a with block."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


BLOCK_EXTRA = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("fastapi", "uvicorn", "starlette", "pydantic"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""


def test_the_library_imports_without_the_serve_extra_and_serve_names_it(tmp_path):
    """With FastAPI and uvicorn hidden: minillm, its CLI and minillm.serve's engine import;
    `minillm serve` exits 2 naming `pip install 'minillm[serve]'`."""
    folder = save_tiny_checkpoint(tmp_path / "ckpt")
    code = (
        BLOCK_EXTRA
        + f"""
import minillm, minillm.cli, minillm.train, minillm.generate
from minillm.serve import Engine, ServeConfig
print("imported")
sys.exit(minillm.cli.main(["serve", "--checkpoint", {str(folder)!r}]))
"""
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                       timeout=TIMEOUT_S * 2)  # fmt: skip
    assert r.stdout.strip() == "imported", r.stderr
    assert r.returncode == 2, r.stderr
    assert "pip install 'minillm[serve]'" in r.stderr and "fastapi" in r.stderr
