"""Fixtures of the scale tests (C8 data parallel, C10 recomputation, C23 mixed precision); the
shared numbers and settings are in scale_tiny.py."""

import numpy as np
import pytest


@pytest.fixture
def corpus_file(tmp_path):
    """A small text file (3,000 characters, 19 distinct) for training runs."""
    rng = np.random.default_rng(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis"]
    text = " ".join(rng.choice(words, 700)) + ".\n"
    path = tmp_path / "tiny.txt"
    path.write_text(text[:3000], encoding="utf-8")
    return path
