"""One generation request as the engine sees it: the ids, the sampling settings, its own random
generator, and the callback that hands each event back to the HTTP side."""

import time
from dataclasses import dataclass

import numpy as np


class QueueFull(Exception):
    """More requests wait than ServeConfig.max_queue allows (the app answers 503)."""


@dataclass(frozen=True)
class Sampling:
    """What one request asks for (checked by the app; generate's meanings)."""

    max_new_tokens: int
    temperature: float = 1.0  # 0 = greedy
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None


class Request:
    """One generation request inside the engine.

    emit(kind, value) is called from the engine's thread: ("token", id) for each token, then
    once ("done", reason) with reason "length", "stop" or "cancelled", or ("error", exception).
    is_stop(new_ids) -> bool is asked after each token (stop strings). cancel() may be called
    from any thread: the row leaves the batch at the next step."""

    def __init__(self, ids, sampling: Sampling, emit, is_stop=None):
        self.ids = [int(i) for i in ids]  # the prompt, then each token drawn
        self.n_prompt = len(self.ids)
        self.sampling = sampling
        self.emit = emit
        self.is_stop = is_stop
        self.rng = np.random.default_rng(sampling.seed)
        self.settings = (sampling.temperature, sampling.top_k, sampling.top_p)
        self.cached = 0  # this row's tokens in the KV cache (the cache's position alone)
        self.steps = None  # iter_generate's generator, for a model served one at a time
        self.cancelled = False
        self.finished = None  # "length" | "stop" | "cancelled" | "error"
        self.arrived = time.monotonic()

    @property
    def new_ids(self) -> list:
        return self.ids[self.n_prompt :]

    def cancel(self) -> None:
        self.cancelled = True
