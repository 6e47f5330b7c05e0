"""The HTTP API: FastAPI over the batching engine (engine.py). docs/serving.md has the examples.

    POST /v1/generate   text from a language model; "stream": true sends server-sent events,
                        one `token` event per token, then one `done` (or `error`) event
    POST /v1/embed      sentence embeddings from a BERT-family checkpoint
    POST /v1/classify   class probabilities from a BERT sequence classifier
    GET  /v1/model      what is served: architecture, parameters, vocabulary, context length
    GET  /health        200 while the engine runs, with its counts; 503 once it has stopped
    GET  /docs          the OpenAPI schema, browsable

Bad input is refused before it reaches the model: an invalid or unknown field is 422 naming it,
a prompt over the context (or the character limit) is 413 with the limit, a max_new_tokens over
the cap is 422 with the cap, characters outside the vocabulary are 422 naming each. An error
while one request runs is a 500 for that request only (logged); the others and /health go on.
"""

import asyncio
import json
import logging
import threading
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI
from fastapi import Request as HTTPRequest
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from ..generate import softmax
from ..models import (
    BERT,
    BertForSequenceClassification,
    load_checkpoint,
    sentence_embeddings,
    spec_of,
)
from ..tensor import no_grad
from ..tensor.backend import to_device
from .config import ServeConfig
from .engine import Engine
from .prompts import ApiError, StopStrings, encode_prompt
from .request import QueueFull, Request, Sampling
from .schemas import (
    ClassifyResponse,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    TextsRequest,
)

log = logging.getLogger("minillm.serve")
DEFAULT_NEW_TOKENS = 64  # a request that does not say (or the cap, if lower)
DISCONNECT_POLL_S = 0.25  # how often a waiting JSON request checks that its client is there
ERRORS = {
    413: {"description": "the prompt is longer than the model's context (or the limit)"},
    422: {"description": "an invalid field, a max_new_tokens over the cap, an unknown character"},
    500: {"description": "this request failed (logged); the server goes on"},
    501: {"description": "this endpoint does not serve this checkpoint's model"},
    503: {"description": "too many requests wait, or the engine has stopped"},
}


def app_from_checkpoint(folder, config: ServeConfig | None = None, device: str = "cpu"):
    """The app serving a checkpoint folder (any registered model; load_checkpoint's errors)."""
    model, tokenizer, manifest = load_checkpoint(folder, device)
    info = {"checkpoint": str(folder), "step": manifest.get("state", {}).get("step")}
    return create_app(model, tokenizer, config, info)


def create_app(model, tokenizer, config: ServeConfig | None = None, info: dict | None = None):
    """A FastAPI app serving `model` (eval mode) with `tokenizer`; the engine's thread starts
    and stops with the app (its lifespan)."""
    served = Served(model, tokenizer, config or ServeConfig(), info or {})

    @asynccontextmanager
    async def lifespan(app):
        served.engine.start()
        yield
        served.engine.stop()

    app = FastAPI(
        title="minillm",
        summary=f"{served.name}: {', '.join(served.capabilities) or 'nothing'}",
        lifespan=lifespan,
    )
    app.state.served = served

    @app.exception_handler(ApiError)
    async def _refused(request, e: ApiError):
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        errors = jsonable_encoder(e.errors())
        where = ", ".join(".".join(str(p) for p in x["loc"][1:]) or "body" for x in errors)
        return JSONResponse({"detail": errors, "error": f"invalid: {where}"}, status_code=422)

    @app.get("/health")
    async def health():
        engine = served.engine.snapshot()
        status = 200 if engine["alive"] else 503
        return JSONResponse({"status": "ok" if status == 200 else "stopped", "engine": engine},
                            status_code=status)  # fmt: skip

    @app.get("/v1/model")
    async def model_info():
        return served.describe()

    @app.post("/v1/generate", response_model=GenerateResponse, responses=ERRORS)
    async def generate(body: GenerateRequest, http: HTTPRequest):
        """Generate text; with "stream": true, server-sent events (text/event-stream)."""
        request, events = served.submit(body)
        if body.stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            stream = served.stream(request, events)
            return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
        end = asyncio.ensure_future(events.get())  # the JSON answer waits for the end only
        try:
            while not (await asyncio.wait({end}, timeout=DISCONNECT_POLL_S))[0]:
                if await http.is_disconnected():  # the client gave up: free its row
                    return JSONResponse({"detail": "the client disconnected"}, status_code=499)
            kind, value = end.result()
            if kind == "error":
                return JSONResponse(served.failure(value), status_code=500)
            return served.result(request, value)
        finally:
            end.cancel()
            request.cancel()  # a no-op once finished; frees the row if this handler is cancelled

    @app.post("/v1/embed", response_model=EmbedResponse, responses=ERRORS)
    async def embed(body: TextsRequest):
        """Mean-pooled, L2-normalised sentence embeddings (BERT-family checkpoints)."""
        vectors = await served.run_encoder("embed", body.texts())
        return {"embeddings": vectors.tolist(), "dimensions": int(vectors.shape[1])}

    @app.post("/v1/classify", response_model=ClassifyResponse, responses=ERRORS)
    async def classify(body: TextsRequest):
        """Class probabilities and the argmax (BERT sequence classifiers)."""
        probs = await served.run_encoder("classify", body.texts())
        return {"predictions": [{"label": int(p.argmax()), "scores": p.tolist()} for p in probs]}

    return app


class Served:
    """What the app serves: the model, its tokenizer, the engine, and what it can do."""

    def __init__(self, model, tokenizer, config: ServeConfig, info: dict):
        if tokenizer is None:
            raise ValueError("serve: the checkpoint has no tokenizer, so text cannot be encoded")
        self.model, self.tokenizer, self.config, self.info = model.eval(), tokenizer, config, info
        try:
            spec = spec_of(model)
            self.name, self.task = spec.name, spec.task
        except ValueError:  # a bare encoder, as load_pretrained gives MiniLM
            self.name, self.task = type(model).__name__, "encoder"
        self.engine = Engine(model, config)
        self.encoder_lock = threading.Lock()  # one encoder forward at a time
        can = {
            "generate": self.task == "causal_lm",
            "embed": isinstance(getattr(model, "bert", model), BERT),  # any BERT: mean-pooled
            "classify": isinstance(model, BertForSequenceClassification),
        }
        self.capabilities = [c for c, ok in can.items() if ok]

    def describe(self) -> dict:
        m, tok = self.model, self.tokenizer
        dtype = next(iter(m.parameters())).data.dtype
        return {
            "model": self.name,
            "task": self.task,
            "architecture": m.config.to_dict(),
            "parameters": m.parameter_counts()["total"],
            "dtype": str(dtype),
            "vocabulary": {"size": tok.vocab_size, "tokenizer": type(tok).__name__},
            "context_length": m.context_length,
            "endpoints": [f"/v1/{c}" for c in self.capabilities],
            **self.info,
            "serving": {
                "batched": self.engine.batched,
                "max_batch_size": self.engine.max_rows,
                "max_wait_ms": self.config.max_wait_ms,
                "max_new_tokens_cap": self.config.max_new_tokens_cap,
            },
        }

    def _require(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise ApiError(
                501,
                "",
                f"/v1/{capability} is not available for this checkpoint's model ({self.name}, "
                f"task {self.task}); it serves {self.capabilities or 'nothing'}",
                "not_implemented",
            )

    def submit(self, body: GenerateRequest):
        """Check the request, hand it to the engine: (Request, asyncio.Queue of its events)."""
        self._require("generate")
        cap = self.config.max_new_tokens_cap
        n_new = min(DEFAULT_NEW_TOKENS, cap) if body.max_new_tokens is None else body.max_new_tokens
        if n_new > cap:
            raise ApiError(422, "max_new_tokens", f"{n_new} is over this server's cap of {cap}",
                           "too_large", {"limit": cap})  # fmt: skip
        ids = encode_prompt(
            self.tokenizer, body.prompt, self.model.context_length, self.config.max_prompt_chars
        )
        loop, events = asyncio.get_running_loop(), asyncio.Queue()

        def emit(kind, value):  # from the engine's thread; a JSON answer needs only the end
            if body.stream or kind != "token":
                loop.call_soon_threadsafe(events.put_nowait, (kind, value))

        sampling = Sampling(n_new, body.temperature, body.top_k, body.top_p, body.seed)
        stops = body.stop_strings()
        request = Request(
            ids, sampling, emit, StopStrings(self.tokenizer, stops) if stops else None
        )
        if not self.engine.alive:
            raise ApiError(503, "", "the engine has stopped", "unavailable")
        try:
            self.engine.submit(request)
        except QueueFull as e:
            raise ApiError(503, "", str(e), "busy") from None
        return request, events

    def result(self, request: Request, reason: str) -> dict:
        new = request.new_ids
        return {
            "text": self.tokenizer.decode(new),
            "token_ids": new,
            "prompt_tokens": request.n_prompt,
            "completion_tokens": len(new),
            "finish_reason": reason,
        }

    def failure(self, error) -> dict:
        return {"detail": f"this request failed: {type(error).__name__}: {error}"}

    async def stream(self, request: Request, events):
        """Server-sent events: `token` {index, id, text} per token (text: what the token adds;
        a token ending inside a character adds it with the next one), then `done` with the
        result, or `error`. A client that goes away cancels the request (its row leaves the
        batch at the next step)."""
        new, shown = [], ""
        try:
            while True:
                kind, value = await events.get()
                if kind == "token":
                    new.append(value)
                    text = self.tokenizer.decode(new).rstrip("\ufffd")
                    event = {"index": len(new) - 1, "id": value, "text": text[len(shown) :]}
                    shown = text
                    yield _sse("token", event)
                elif kind == "done":
                    yield _sse("done", self.result(request, value))
                    return
                else:
                    yield _sse("error", self.failure(value))
                    return
        finally:
            request.cancel()

    async def run_encoder(self, capability: str, texts: list[str]) -> np.ndarray:
        """Embeddings (N, C) or class probabilities (N, n_classes), in a worker thread."""
        self._require(capability)
        limit = self.config.max_prompt_chars
        for i, text in enumerate(texts):
            if len(text) > limit:
                raise ApiError(413, "input", f"text {i} has {len(text):,} characters; the limit "
                               f"is {limit:,}", "too_long", {"limit": limit})  # fmt: skip
        fn = self._embed if capability == "embed" else self._classify
        try:
            return await asyncio.to_thread(fn, texts)
        except ValueError as e:  # the tokenizer's or the model's word on the input
            raise ApiError(422, "input", str(e)) from None

    def _embed(self, texts) -> np.ndarray:
        with self.encoder_lock:
            return sentence_embeddings(self.model, self.tokenizer, texts)  # (N, C)

    def _classify(self, texts) -> np.ndarray:
        batch = self.tokenizer.encode_batch(
            texts, max_len=self.model.context_length, truncation=True
        )
        with self.encoder_lock, no_grad():
            logits, _ = self.model(
                batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
            )  # (N, n_classes)
        return softmax(np.asarray(to_device(logits.data, "cpu")))  # (N, n_classes)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
