"""The batching engine: concurrent generation requests decoded together, one token per step.

Continuous batching (iteration-level scheduling, Yu et al. 2022, "Orca"): one thread runs the
model; between two decoding steps finished requests leave the batch and waiting ones join it,
so a short request never waits for a long one. A waiting request joins when the batch has a
free row and either enough requests wait to fill it or the oldest has waited max_wait_ms (an
idle engine waits that long for company before its first step).

Each step runs at most two forwards:
- decode: every row whose KV cache has room runs its last token, (B, 1), against the batch's
  caches, with the key mask of the left padding (kv_rows.py);
- prefill: new rows run their prompt, and rows whose cache is full (block_size tokens) run the
  last ceil(block_size / 2) tokens into a fresh cache, left-padded together, (B', T).
These are exactly the forwards `generate(model, prompt, ...)` runs for that request alone (its
crop, its cache rebuilds, its positions), and each row draws its token with its own generator
and settings (sample_rows), so a request gets the tokens it gets alone, whatever it
shares a batch with (tests/serve). The prefill rows' caches are then stacked under the decode
rows' (kv_rows.stack).

Errors stay with their request: a forward that raises is re-run one row at a time (the decode
caches first cut back to their width), and only the rows that still raise fail; a row whose
logits are not finite fails alone. A model without KV caches and padding masks (an RNN) is
served one request at a time through iter_generate.
"""

import collections
import inspect
import logging
import threading
import time

import numpy as np

from ..generate import iter_generate, sample_rows
from ..nn import KVCache
from ..tensor import no_grad
from ..tensor.backend import to_device
from . import kv_rows
from .config import ServeConfig
from .request import QueueFull, Request

log = logging.getLogger("minillm.serve")


def supports_batching(model) -> bool:
    """KV caches and a padding mask: what the batched path needs (a GPT has both)."""
    caches = model.new_caches() if callable(getattr(model, "new_caches", None)) else None
    has_mask = "attention_mask" in inspect.signature(model.forward).parameters
    return has_mask and bool(caches) and all(isinstance(c, KVCache) for c in caches)


class Engine:
    """Runs the model for every request in one background thread (start/stop)."""

    def __init__(self, model, config: ServeConfig):
        self.model, self.config = model, config
        self.block = model.context_length  # None: any length (an RNN)
        self.keep = None if self.block is None else (self.block + 1) // 2  # generate's rebuild
        self.batched = supports_batching(model)
        self.max_rows = config.max_batch_size if self.batched else 1
        self._cond = threading.Condition()
        self._waiting = collections.deque()
        self._rows = []  # the batch's requests, in the caches' row order
        self._caches = self._mask = None  # list of KVCache (B, H, S, D) each, and (B, S)
        self._thread = None
        self._stopping = False
        self.stats = collections.Counter()

    # ---- the other threads' side ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="minillm-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current step, fail what is left ("error": shutting down), end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def submit(self, request: Request) -> Request:
        with self._cond:
            if len(self._waiting) >= self.config.max_queue:
                raise QueueFull(f"{len(self._waiting)} requests are waiting; retry later")
            self._waiting.append(request)
            self._cond.notify_all()
        return request

    def snapshot(self) -> dict:
        """Counts for /health: rows decoding, requests waiting, and totals since start."""
        with self._cond:
            return {
                "alive": self.alive,
                "active": len(self._rows),
                "queued": len(self._waiting),
                **{k: self.stats[k] for k in ("completed", "cancelled", "errors", "steps")},
                "tokens": self.stats["tokens"],
                "max_batch_size": self.max_rows,
            }

    # ---- the engine's thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            admitted = self._admit()
            if admitted is None:
                break
            try:
                self._step(admitted) if self.batched else self._step_one(admitted)
            except Exception as e:  # a fault of the engine itself: fail this batch, keep serving
                log.exception("engine step failed; failing %d requests", len(self._rows))
                for r in self._rows + admitted:
                    if r.finished is None:
                        self._finish(r, "error", e)
                self._rows, self._caches, self._mask = [], None, None
        for r in self._rows + list(self._waiting):
            self._finish(r, "error", RuntimeError("the server is shutting down"))
        self._rows, self._waiting = [], collections.deque()

    def _admit(self):
        """The requests joining at this step ([] to step on without new ones); None to stop.
        Blocks while there is nothing to do, and an idle engine waits max_wait_ms for company."""
        wait_s = self.config.max_wait_ms / 1000
        with self._cond:
            while not self._stopping:
                while self._waiting and self._waiting[0].cancelled:
                    self._finish(self._waiting.popleft(), "cancelled")
                free = self.max_rows - len(self._rows)
                if self._waiting and free > 0:
                    left = self._waiting[0].arrived + wait_s - time.monotonic()
                    if len(self._waiting) >= free or left <= 0:
                        return [
                            self._waiting.popleft() for _ in range(min(free, len(self._waiting)))
                        ]
                    if self._rows:
                        return []  # join at a later step; never hold the running rows
                    self._cond.wait(left)
                elif self._rows:
                    return []
                else:
                    self._cond.wait()
            return None

    def _step(self, admitted) -> None:
        """One token for every row of the batch (module docstring)."""
        decode, rebuild, keep = [], [], []
        for i, r in enumerate(self._rows):
            if r.cancelled:
                self._finish(r, "cancelled")
            elif r.cached + 1 > self.block:
                rebuild.append(r)  # its cache is full: generate rebuilds it from the last tokens
            else:
                decode.append(r)
                keep.append(i)
        if len(keep) < len(self._rows) and keep:
            self._caches, self._mask = kv_rows.take_rows(self._caches, self._mask, keep)
        groups = []
        if decode:
            groups = self._run_rows(decode, lambda rows: self._decode_inputs(rows, decode))
        prefill = rebuild + [r for r in admitted if not r.cancelled]
        for r in admitted:
            if r.cancelled:
                self._finish(r, "cancelled")
        groups += self._run_rows(prefill, self._prefill_inputs) if prefill else []
        rows = [r for *_, g in groups for r in g]
        if not rows:
            self._rows, self._caches, self._mask = [], None, None
            return
        self._caches, self._mask = kv_rows.stack([(c, m) for c, m, _, _ in groups])
        logits = np.concatenate([lg for _, _, lg, _ in groups], axis=0)  # (B, V)
        for b, r in enumerate(rows):
            r.cached = int(self._mask[b].sum())  # its tokens in the cache
        self._draw(rows, logits)
        self.stats["steps"] += 1
        staying = [b for b, r in enumerate(rows) if r.finished is None]
        if len(staying) < len(rows) and staying:
            self._caches, self._mask = kv_rows.take_rows(self._caches, self._mask, staying)
        self._rows = [rows[b] for b in staying]
        if not staying:
            self._caches = self._mask = None

    def _decode_inputs(self, rows, decode):
        """(feed (B, 1), caches, mask (B, S + 1)) for the decode rows (the batch's caches hold
        them, in that order), or for one of them alone (a re-run after an error)."""
        if rows is decode:
            caches, mask = self._caches, self._mask
        else:
            caches, mask = kv_rows.take_rows(self._caches, self._mask, [decode.index(rows[0])])
        feed = np.array([[r.ids[-1]] for r in rows], dtype=np.int64)  # (B, 1)
        return feed, caches, np.pad(mask, ((0, 0), (0, 1)), constant_values=1)  # (B, S + 1)

    def _prefill_inputs(self, rows):
        """(feed (B, T), fresh caches, mask (B, T)) for new rows (the prompt cropped to
        block_size, as generate does) and full ones (the last ceil(block_size / 2) tokens)."""
        feeds = [r.ids[-(self.keep if r.new_ids else self.block) :] for r in rows]
        T = max(len(f) for f in feeds)
        feed = np.zeros((len(rows), T), dtype=np.int64)  # (B, T) left-padded
        mask = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
        for b, f in enumerate(feeds):
            feed[b, T - len(f) :], mask[b, T - len(f) :] = f, 1
        return feed, self.model.new_caches(), mask

    def _run_rows(self, rows, inputs):
        """Forward rows together: [(caches, mask, logits (B, V), rows)]. If the forward raises,
        the caches are cut back and the rows re-run one at a time; the ones that still raise
        fail alone."""
        feed, caches, mask = inputs(rows)
        width = caches[0].position
        try:
            with no_grad():  # this thread only
                out, _ = self.model(feed, caches=caches, last_only=True, attention_mask=mask)
            logits = np.asarray(to_device(out.data[:, -1, :], "cpu"))  # (B, V)
            return [(caches, mask, logits, rows)]
        except Exception as e:
            kv_rows.truncate(caches, width)
            if len(rows) == 1:
                self._finish(rows[0], "error", e)
                return []
            return [g for r in rows for g in self._run_rows([r], inputs)]

    def _draw(self, rows, logits) -> None:
        """Each row's next token from its logits (B, V), with its own generator and settings;
        hand it over and see if the row is done. A row of non-finite logits fails alone."""
        finite = np.isfinite(logits).all(axis=1)  # (B,)
        for b in np.flatnonzero(~finite):
            error = ValueError("the model gave non-finite logits (a diverged checkpoint?)")
            self._finish(rows[b], "error", error)
        ok = np.flatnonzero(finite)
        try:
            tokens = sample_rows(logits[ok], [rows[b].rng for b in ok],
                                 [rows[b].settings for b in ok])  # fmt: skip
        except Exception as e:  # settings the app let through by mistake: fail those rows
            log.exception("sampling failed for %d rows", len(ok))
            tokens = [e] * len(ok)
        for b, token in zip(ok, tokens):
            try:
                if isinstance(token, Exception):
                    raise token
                self._deliver(rows[b], int(token))
            except Exception as e:
                self._finish(rows[b], "error", e)

    def _deliver(self, r: Request, token: int) -> None:
        r.ids.append(token)
        self.stats["tokens"] += 1
        r.emit("token", token)
        if r.is_stop is not None and r.is_stop(r.new_ids):
            self._finish(r, "stop")
        elif len(r.new_ids) >= r.sampling.max_new_tokens:
            self._finish(r, "length")

    def _step_one(self, admitted) -> None:
        """A model without batching (an RNN): one request at a time, a token per step."""
        if admitted:
            r = admitted[0]
            s = r.sampling
            r.steps = iter_generate(
                self.model, r.ids, s.max_new_tokens, s.temperature, s.top_k, s.top_p, s.seed
            )
            self._rows = [r]
        r = self._rows[0]
        if r.cancelled:
            self._finish(r, "cancelled")
        else:
            try:
                nxt, _ = next(r.steps)
                self._deliver(r, int(nxt[0]))
            except Exception as e:
                self._finish(r, "error", e)
        self.stats["steps"] += 1
        if r.finished is not None:
            r.steps.close()
            self._rows = []

    def _finish(self, r: Request, reason: str, error=None) -> None:
        r.finished = reason
        self.stats[{"error": "errors", "cancelled": "cancelled"}.get(reason, "completed")] += 1
        if error is not None:
            log.error("request failed: %s: %s", type(error).__name__, error, exc_info=error)
        try:
            r.emit("error", error) if error is not None else r.emit("done", reason)
        except Exception:  # the client is gone (its event loop closed): nothing to tell
            log.debug("could not deliver the end of a request", exc_info=True)
