"""docs/serving.md's examples run: its Python client block and its curl lines, against a running
server of a tiny model whose vocabulary has the examples' characters."""

import io
import json
import re
import shutil
import string
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from serve_util import TIMEOUT_S, running

from minillm.data import CharTokenizer
from minillm.models import GPT, GPTConfig
from minillm.serve import ServeConfig, create_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()


@pytest.fixture(scope="module")
def server():
    tokenizer = CharTokenizer.from_text(string.printable)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layers=1, n_heads=2,
                       d_model=16)  # fmt: skip
    app = create_app(GPT(config, seed=0).eval(), tokenizer, ServeConfig(max_wait_ms=1))
    with running(app) as client:
        yield client


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


def test_C5_the_python_client_example_runs(server):
    (code,) = blocks("python")
    assert 'URL = "http://127.0.0.1:8000"' in code
    code = code.replace("http://127.0.0.1:8000", str(server.base_url).rstrip("/"))
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(code, "docs/serving.md", "exec"), {"__name__": "docs_example"})
    assert out.getvalue().strip().endswith("40"), out.getvalue()  # the completion_tokens


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_C5_the_curl_examples_run(server):
    example = next(b for b in blocks("") if "curl" in b and "/v1/generate" in b)
    commands = example.replace("\\\n", " ").strip().splitlines()
    assert len(commands) == 4 and all(c.startswith("curl ") for c in commands)
    url = str(server.base_url).rstrip("/").removeprefix("http://")
    outputs = []
    for command in commands:
        r = subprocess.run(command.replace("localhost:8000", url), shell=True, text=True,
                           capture_output=True, timeout=TIMEOUT_S)  # fmt: skip
        assert r.returncode == 0, (command, r.stderr)
        outputs.append(r.stdout)
    answer = json.loads(outputs[0])
    assert answer["completion_tokens"] == 40 and answer["prompt_tokens"] == 6
    events = [line for line in outputs[1].splitlines() if line.startswith("event: ")]
    assert events == ["event: token"] * 20 + ["event: done"]
    assert json.loads(outputs[2])["model"] == "gpt"
    assert json.loads(outputs[3])["status"] == "ok"
