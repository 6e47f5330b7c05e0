"""A toy translation task for the encoder-decoder (C13): write a digit string backwards.

Reversal needs attention: output position t must copy source position n - 1 - t, which depends
on the length n of each example, so the decoder has to find it by content and position (F20),
with no fixed alignment to lean on. The data are arrays only; `train_seq2seq` and
`exact_match_accuracy` are the loop and the metric that the test and notebook 03 share."""

import time

import numpy as np

from ..data.digits import (  # noqa: F401 (re-exported: the task's ids)
    BOS,
    EOS,
    FIRST_DIGIT,
    PAD,
    VOCAB_SIZE,
    DigitTokenizer,
    digits_to_ids,
    ids_to_digits,
)
from ..optim import AdamW, WarmupCosineLR, clip_grad_norm_


def make_arrays(strings):
    """Digit strings -> src (B, S), tgt_in (B, T), tgt_out (B, T), right-padded with PAD.

    src = the digits; tgt_out = the digits reversed, then EOS; tgt_in = BOS, then tgt_out without
    its last token (teacher forcing: the decoder sees the target shifted right by one)."""
    B, S = len(strings), max(len(s) for s in strings)
    src = np.full((B, S), PAD, dtype=np.int64)  # (B, S)
    tgt_in = np.full((B, S + 1), PAD, dtype=np.int64)  # (B, T), T = S + 1
    tgt_out = np.full((B, S + 1), PAD, dtype=np.int64)  # (B, T)
    for b, s in enumerate(strings):
        ids = digits_to_ids(s)
        src[b, : len(ids)] = ids
        tgt_out[b, : len(ids) + 1] = ids[::-1] + [EOS]
        tgt_in[b, : len(ids) + 1] = [BOS] + ids[::-1]
    return src, tgt_in, tgt_out


class ReversalTask:
    """Random digit strings of length min_len..max_len (uniform), with a held-out test set.

    The n_test test strings are drawn first from `seed`; training batches come from a second
    generator and never contain a test string, so test accuracy is measured on unseen inputs."""

    def __init__(self, min_len=3, max_len=10, n_test=500, seed=0):
        if not 1 <= min_len <= max_len:
            raise ValueError(
                f"ReversalTask: need 1 <= min_len <= max_len, got {min_len}, {max_len}"
            )
        self.min_len, self.max_len = min_len, max_len
        test_rng = np.random.default_rng(seed)
        test = dict.fromkeys(self._draw(test_rng, 4 * n_test))  # unique, in drawing order
        self.test_strings = list(test)[:n_test]
        self._held_out = set(self.test_strings)
        self.rng = np.random.default_rng(seed + 1)

    def _draw(self, rng, n):
        lengths = rng.integers(self.min_len, self.max_len + 1, n)  # (N,)
        return ["".join(map(str, rng.integers(0, 10, k))) for k in lengths]

    def train_strings(self, n, rng=None):
        """n random digit strings, none of them a test string; rng defaults to the task's own."""
        rng = self.rng if rng is None else rng
        out = []
        while len(out) < n:
            out += [s for s in self._draw(rng, n - len(out)) if s not in self._held_out]
        return out

    def batch(self, n, rng=None):
        """A fresh training batch: src (B, S), tgt_in (B, T), tgt_out (B, T)."""
        return make_arrays(self.train_strings(n, rng))

    def get_batch(self, split, batch_size, block_size, rng):
        """The Corpus interface of the training loop: ((src, tgt_in), tgt_out). "train" draws
        fresh strings with rng; "val" draws test strings (without repeats) with rng. block_size
        is unused (each batch is padded to its longest string)."""
        if split == "train":
            src, tgt_in, tgt_out = self.batch(batch_size, rng)
        elif split == "val":
            k = min(batch_size, len(self.test_strings))
            pick = rng.choice(len(self.test_strings), size=k, replace=False)  # (k,)
            src, tgt_in, tgt_out = make_arrays([self.test_strings[i] for i in pick])
        else:
            raise ValueError(
                f"ReversalTask.get_batch: split must be 'train' or 'val', got {split!r}"
            )
        return (src, tgt_in), tgt_out

    def __repr__(self):
        return (
            f"ReversalTask(strings of {self.min_len}-{self.max_len} digits, "
            f"{len(self.test_strings)} held out)"
        )

    def test_batch(self):
        return make_arrays(self.test_strings)


def exact_match_accuracy(pred, tgt_out):
    """Fraction of rows whose prediction equals the target up to and including its EOS.

    pred (B, L) from greedy decoding; tgt_out (B, T) with EOS then PAD."""
    hits = 0
    for p, t in zip(np.asarray(pred), np.asarray(tgt_out)):
        n = int(np.argmax(t == EOS)) + 1  # target length with EOS
        hits += int(len(p) >= n and np.array_equal(p[:n], t[:n]))
    return hits / len(tgt_out)


def train_seq2seq(model, task, steps, batch_size=64, lr=3e-3, warmup=100, log_every=0):
    """AdamW (weight decay 0.01, gradient clipping at 1.0) on fresh batches, warm-up + cosine
    learning rate. Returns (losses per step, seconds)."""
    opt = AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = WarmupCosineLR(opt, warmup, max(steps, warmup + 1), lr / 10)
    losses, t0 = [], time.perf_counter()
    model.train()
    for step in range(steps):
        src, tgt_in, tgt_out = task.batch(batch_size)
        loss = model.loss(src, tgt_in, tgt_out)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:5d}  loss {losses[-1]:.4f}  {time.perf_counter() - t0:.1f}s")
    model.eval()
    return losses, time.perf_counter() - t0


def evaluate(model, task):
    """Exact-match accuracy of greedy decoding on the held-out test strings."""
    src, _, tgt_out = task.test_batch()
    pred = model.greedy_decode(src, tgt_out.shape[1], BOS, EOS)
    return exact_match_accuracy(pred, tgt_out)
