"""Shared by the language-model tests: tiny GPTs, a tiny corpus, the tolerance table and an
assert that names the quantity, the shape and the worst index."""

import numpy as np
import pytest
from compare import assert_close as _compare

from minillm.models import GPTConfig
from minillm.train import TrainConfig

# One table per dtype. float64: the same sums in another order (cached vs full attention, k
# micro-batches vs one batch) agree to a few ulps; float32: one model computed two ways.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
}

from lm_tiny import TINY, tiny_gpt  # noqa: E402,F401  (re-exported for fixtures)


def _assert_close(actual, expected, what, dtype=None):
    """compare.assert_close with this suite's table, for `dtype` or the expected dtype."""
    _compare(actual, expected, what, TOLERANCES[np.dtype(dtype or np.asarray(expected).dtype)])


@pytest.fixture
def assert_close():
    return _assert_close


@pytest.fixture
def corpus_file(tmp_path):
    """A small text file (3,000 characters, 19 distinct) for training runs."""
    rng = np.random.default_rng(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis"]
    text = " ".join(rng.choice(words, 700)) + ".\n"
    path = tmp_path / "tiny.txt"
    path.write_text(text[:3000], encoding="utf-8")
    return path


@pytest.fixture
def tiny_run(tmp_path, corpus_file):
    """make(**overrides) -> a TrainConfig for a tiny run on corpus_file in its own folder."""

    def make(name="run", **overrides):
        model = dict(n_layers=2, n_heads=2, d_model=16, block_size=8, bias=False)
        for key in list(overrides):
            if key in model or key in ("dropout", "tie_weights"):
                model[key] = overrides.pop(key)
        base = dict(
            out_dir=str(tmp_path / name),
            dataset=str(corpus_file),
            model_config=GPTConfig(**model),
            batch_size=4,
            max_iters=8,
            warmup_iters=2,
            lr_decay_iters=8,
            lr=3e-3,
            min_lr=3e-4,
            eval_interval=4,
            eval_iters=2,
            log_interval=1,
            progress=False,
            seed=5,
        )
        return TrainConfig(**{**base, **overrides})

    return make
