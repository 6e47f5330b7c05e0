"""The HTTP API against a running uvicorn server (a thread of this process, a free port, stopped
after each test): JSON and server-sent events, concurrent requests batched and each equal to
generate alone, bad input refused naming the field, a client leaving mid-stream, a request that
fails alone, /v1/model, /health and /docs."""

import json
import logging
import threading
import time

import httpx
import numpy as np
import pytest
from serve_util import BLOCK, TEXT, running, save_tiny_checkpoint, sse_events, wait_until

from minillm.generate import generate
from minillm.models import load_checkpoint
from minillm.serve import ServeConfig, app_from_checkpoint, create_app

CAP = 4 * BLOCK


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("serve") / "tiny")


@pytest.fixture(scope="module")
def model_and_tokenizer(checkpoint):
    """The checkpoint's model in float64 (the server's rows and generate alone then agree to
    ~1e-12, far from any sampling boundary) and its tokenizer."""
    model, tokenizer, _ = load_checkpoint(checkpoint)
    return model.to(np.float64), tokenizer


@pytest.fixture(scope="module")
def server(model_and_tokenizer):
    """One running server for the tests that leave it as they found it."""
    model, tokenizer = model_and_tokenizer
    config = ServeConfig(max_new_tokens_cap=CAP, max_wait_ms=20, max_prompt_chars=200)
    with running(create_app(model, tokenizer, config, {"checkpoint": "tiny"})) as client:
        yield client


def alone(model_and_tokenizer, body):
    model, tokenizer = model_and_tokenizer
    ids = tokenizer.encode(body["prompt"])
    n = body.get("max_new_tokens", 64)
    out = generate(model, ids, n, body.get("temperature", 1.0), body.get("top_k"),
                   body.get("top_p"), body.get("seed"))  # fmt: skip
    return out[len(ids) :].tolist()


def test_C5_generate_returns_text_and_counts_equal_to_generate_alone(server, model_and_tokenizer):
    body = {"prompt": "to be or", "max_new_tokens": 40, "temperature": 0.8, "top_k": 10,
            "seed": 7}  # fmt: skip
    r = server.post("/v1/generate", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    expected = alone(model_and_tokenizer, body)
    assert out["token_ids"] == expected
    assert out["text"] == model_and_tokenizer[1].decode(expected)
    assert (out["prompt_tokens"], out["completion_tokens"]) == (8, 40)
    assert out["finish_reason"] == "length"


def test_C5_stream_sends_one_event_per_token_then_the_result(server, model_and_tokenizer):
    body = {"prompt": "what is", "max_new_tokens": 25, "temperature": 1.0, "top_p": 0.9,
            "seed": 3}  # fmt: skip
    with server.stream("POST", "/v1/generate", json={**body, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r.iter_lines()))
    tokens = [json.loads(d) for e, d in events if e == "token"]
    kinds = [e for e, _ in events]
    assert kinds == ["token"] * 25 + ["done"], kinds
    done = json.loads(events[-1][1])
    assert [t["id"] for t in tokens] == done["token_ids"] == alone(model_and_tokenizer, body)
    assert [t["index"] for t in tokens] == list(range(25))
    assert "".join(t["text"] for t in tokens) == done["text"]


def test_C5_concurrent_requests_are_batched_and_each_equals_generate_alone(
    server, model_and_tokenizer
):
    """16 clients at once, different lengths, settings, seeds and stops: the engine runs fewer
    steps than tokens (rows shared steps) and every answer is what the request gets alone."""
    rng = np.random.default_rng(0)
    bodies = []
    for i in range(16):
        prompt = "".join(rng.choice(list(TEXT[:-1]), int(rng.integers(1, BLOCK + 1))))
        bodies.append({"prompt": prompt, "max_new_tokens": int(rng.integers(5, 3 * BLOCK)),
                       "temperature": [0.0, 0.7, 1.2][i % 3], "top_k": [None, 5][i % 2],
                       "top_p": [None, 0.8, None, 0.95][i % 4], "seed": 100 + i})  # fmt: skip
    before = server.get("/health").json()["engine"]
    results = [None] * len(bodies)

    def call(i):
        results[i] = server.post("/v1/generate", json=bodies[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    after = server.get("/health").json()["engine"]
    for i, (body, r) in enumerate(zip(bodies, results)):
        assert r is not None and r.status_code == 200, f"request {i}: {r and r.text}"
        assert r.json()["token_ids"] == alone(model_and_tokenizer, body), f"request {i}: {body}"
    tokens = sum(b["max_new_tokens"] for b in bodies)
    assert after["tokens"] - before["tokens"] == tokens
    assert after["steps"] - before["steps"] < tokens / 2, (before, after)


def test_C5_stop_strings_end_generation_and_are_kept(server, model_and_tokenizer):
    body = {"prompt": "hello", "max_new_tokens": CAP, "temperature": 1.0, "seed": 5}
    full = model_and_tokenizer[1].decode(alone(model_and_tokenizer, body))
    stop = next(ch for ch in full[3:] if ch.strip())  # a character that does come
    out = server.post("/v1/generate", json={**body, "stop": [stop, "zzzz"]}).json()
    assert out["finish_reason"] == "stop"
    assert out["text"] == full[: full.index(stop) + 1], "up to the first stop, kept"


@pytest.mark.parametrize(
    "body,status,field,words",
    [
        ({"prompt": ""}, 422, "prompt", "at least 1 character"),
        ({"prompt": "a", "temperature": -0.5}, 422, "temperature", "greater than or equal"),
        ({"prompt": "a", "top_p": 1.5}, 422, "top_p", "less than or equal to 1"),
        ({"prompt": "a", "top_k": 0}, 422, "top_k", "greater than or equal to 1"),
        ({"prompt": "a", "max_new_tokens": "ten"}, 422, "max_new_tokens", "valid integer"),
        ({"prompt": "a", "seed": -1}, 422, "seed", "greater than or equal to 0"),
        ({"prompt": "a", "stream": "yes"}, 422, "stream", "valid boolean"),
        ({"prompt": "a", "stop": ["a"] * 5}, 422, "stop", "at most 4"),
        ({"prompt": "a", "max_tokens": 5}, 422, "max_tokens", "not permitted"),
        ({"prompt": 5}, 422, "prompt", "valid string"),
        ({}, 422, "prompt", "required"),
        ({"prompt": "a", "max_new_tokens": CAP + 1}, 422, "max_new_tokens", f"cap of {CAP}"),
        ({"prompt": "a" * (BLOCK + 1)}, 413, "prompt", f"context is {BLOCK} tokens"),
        ({"prompt": "a" * 201}, 413, "prompt", "limit is 200"),
        ({"prompt": "héllo wörld €"}, 422, "prompt", "'é' (U+00E9), 'ö' (U+00F6), '€' (U+20AC)"),
    ],
)
def test_C5_bad_input_is_refused_naming_the_field(server, body, status, field, words):
    r = server.post("/v1/generate", json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert any(d["loc"][-1] == field for d in detail), detail
    assert words in json.dumps(detail, ensure_ascii=False), detail
    assert server.get("/health").status_code == 200


def test_C5_limits_are_given_in_the_error(server):
    too_long = server.post("/v1/generate", json={"prompt": "ab" * BLOCK}).json()["detail"][0]
    assert too_long["ctx"] == {"limit": BLOCK} and too_long["type"] == "too_long"
    over_cap = server.post("/v1/generate", json={"prompt": "a", "max_new_tokens": 10**6})
    assert over_cap.json()["detail"][0]["ctx"] == {"limit": CAP}
    r = server.post(
        "/v1/generate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


@pytest.fixture(scope="module")
def slow_server(model_and_tokenizer):
    """A server whose model takes 5 ms more per forward, so a long request is still running
    when its client goes away."""
    model, tokenizer = model_and_tokenizer
    forward = type(model).forward

    class Slow(type(model)):
        def forward(self, *args, **kwargs):
            time.sleep(0.005)
            return forward(self, *args, **kwargs)

    slow = Slow(model.config)
    slow.load_state_dict(model.state_dict())
    with running(create_app(slow.eval(), tokenizer, ServeConfig(max_new_tokens_cap=500))) as c:
        yield c


def test_C5_a_client_leaving_mid_stream_frees_its_row(slow_server):
    body = {"prompt": "abc", "max_new_tokens": 500, "temperature": 1.0, "stream": True}
    before = slow_server.get("/health").json()["engine"]
    with slow_server.stream("POST", "/v1/generate", json=body) as r:
        lines = r.iter_lines()
        for _ in range(3):  # three token events, then hang up
            next(line for line in lines if line.startswith("data: "))
    health = lambda: slow_server.get("/health").json()["engine"]  # noqa: E731
    after = wait_until(lambda: (h := health())["cancelled"] > before["cancelled"] and h)
    assert after["active"] == 0 and after["queued"] == 0
    assert after["tokens"] - before["tokens"] < 500, "the row was freed before its last token"


def test_C5_a_client_giving_up_on_a_json_answer_frees_its_row(slow_server):
    body = {"prompt": "abc", "max_new_tokens": 500, "temperature": 1.0}
    before = slow_server.get("/health").json()["engine"]
    with pytest.raises(httpx.ReadTimeout):
        slow_server.post("/v1/generate", json=body, timeout=0.5)
    health = lambda: slow_server.get("/health").json()["engine"]  # noqa: E731
    after = wait_until(lambda: (h := health())["cancelled"] > before["cancelled"] and h)
    assert after["active"] == 0
    assert after["tokens"] - before["tokens"] < 500, "the row was freed before its last token"


def test_C5_an_error_in_one_request_is_a_500_for_it_alone(model_and_tokenizer, caplog):
    model, tokenizer = model_and_tokenizer
    bad = tokenizer.encode("zzzz").tolist()
    forward = type(model).forward

    class Faulty(type(model)):
        def forward(self, idx, *args, **kwargs):
            rows = np.asarray(idx)
            if rows.shape[1] >= 4 and (rows[:, -4:] == bad).all(axis=1).any():
                raise RuntimeError("injected fault")
            return forward(self, idx, *args, **kwargs)

    faulty = Faulty(model.config)
    faulty.load_state_dict(model.state_dict())
    faulty.eval()
    config = ServeConfig(max_wait_ms=100, max_new_tokens_cap=CAP)
    bodies = [{"prompt": p, "max_new_tokens": 20, "seed": i}
              for i, p in enumerate(["ab", "zzzz", "hello", "xy zzz"])]  # fmt: skip
    results = [None] * 4
    with (
        caplog.at_level(logging.ERROR, "minillm.serve"),
        running(create_app(faulty, tokenizer, config)) as client,
    ):
        threads = [
            threading.Thread(
                target=lambda i=i: results.__setitem__(
                    i, client.post("/v1/generate", json=bodies[i])
                )
            )
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        health = client.get("/health")
        again = client.post("/v1/generate", json=bodies[0])
    assert [r.status_code for r in results] == [200, 500, 200, 200], [r.text for r in results]
    assert "RuntimeError: injected fault" in results[1].json()["detail"]
    for i in (0, 2, 3):
        assert results[i].json()["token_ids"] == alone(model_and_tokenizer, bodies[i])
    assert health.status_code == 200 and health.json()["engine"]["errors"] == 1
    assert again.status_code == 200
    assert "injected fault" in caplog.text, "the failure is logged"


def test_model_info_health_and_docs(server):
    info = server.get("/v1/model").json()
    assert info["model"] == "gpt" and info["task"] == "causal_lm"
    assert info["context_length"] == BLOCK and info["vocabulary"]["size"] == len(set(TEXT))
    assert info["architecture"]["n_layers"] == 2 and info["parameters"] > 0
    assert info["serving"]["max_new_tokens_cap"] == CAP and info["endpoints"] == ["/v1/generate"]
    health = server.get("/health").json()
    assert health["status"] == "ok" and health["engine"]["alive"]
    assert server.get("/docs").status_code == 200
    paths = server.get("/openapi.json").json()["paths"]
    assert {"/v1/generate", "/v1/embed", "/v1/classify", "/v1/model", "/health"} <= set(paths)


@pytest.mark.parametrize("endpoint", ["/v1/embed", "/v1/classify"])
def test_C5_embed_and_classify_are_501_for_a_language_model(server, endpoint):
    r = server.post(endpoint, json={"input": ["one text", "another"]})
    assert r.status_code == 501, r.text
    assert "not available for this checkpoint's model (gpt" in r.json()["detail"][0]["msg"]
    assert server.post(endpoint, json={"input": []}).status_code == 422


def test_app_from_checkpoint_serves_the_checkpoint_as_saved(checkpoint):
    with running(app_from_checkpoint(checkpoint, ServeConfig(max_wait_ms=1))) as client:
        info = client.get("/v1/model").json()
        out = client.post("/v1/generate", json={"prompt": "ab", "max_new_tokens": 5, "seed": 1})
    assert info["checkpoint"] == str(checkpoint) and info["step"] == 0
    assert info["dtype"] == "float32" and out.status_code == 200
    model, tokenizer, _ = load_checkpoint(checkpoint)
    assert (
        out.json()["token_ids"] == generate(model, tokenizer.encode("ab"), 5, seed=1)[2:].tolist()
    )
