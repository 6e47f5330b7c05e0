"""What the scale tests share (a module of its own, as tests/lm/lm_tiny.py: `from conftest import`
picks whichever folder's conftest Python imported first): the tolerance table, the loss margin of
mixed precision and a tiny training run's settings."""

import numpy as np
from compare import assert_close as _compare

from minillm.models import GPTConfig
from minillm.train import TrainConfig

# float32, one computation done two ways: a sum split over ranks (C8) or the same ops in another
# grouping differ by a few ulps; after a few AdamW steps (m / sqrt(v)) that is ~1e-7 absolute on
# weights of size ~1, hence atol 1e-6.
TOLERANCES = {np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6}}
# C23: how far a float16 / bfloat16 run's mean loss over its last 20 steps may sit from the
# float32 run's, in nats (test_C23_low_precision_training_tracks_float32: 100 steps, the loss
# falls by ~1 nat). Measured there: 1e-5 float16, 1.3e-4 bfloat16; on a 150-step run where the
# scaler skipped one step, 0.003. The margin is 3x that: a skipped step may move the curve, a
# format that learns differently (unscaled underflow, a rounding bug) moves it by more.
LOSS_MARGIN = 0.01


def assert_close(actual, expected, what):
    _compare(actual, expected, what, TOLERANCES[np.dtype(np.asarray(expected).dtype)])


def tiny_run_config(corpus, out_dir, **overrides) -> TrainConfig:
    """A run of a 2-layer, 16-wide GPT on `corpus` that takes a second or two."""
    settings = dict(
        out_dir=str(out_dir),
        dataset=str(corpus),
        max_iters=6,
        eval_interval=3,
        eval_iters=2,
        batch_size=4,
        warmup_iters=2,
        log_interval=1,
        progress=False,
        model_config=GPTConfig(block_size=8, n_layers=2, n_heads=2, d_model=16),
    )
    return TrainConfig(**{**settings, **overrides})
