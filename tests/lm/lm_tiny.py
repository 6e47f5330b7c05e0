"""The tiny GPT every language-model test uses (a module of its own: `from conftest import`
picks whichever test folder's conftest Python imported first when several folders run together)."""

import numpy as np

from minillm.models import GPT, GPTConfig

# a ragged tiny shape (vocab 11, block 8, 2 layers, 16 wide): every test's model is this small
TINY = dict(vocab_size=11, block_size=8, n_layers=2, n_heads=2, d_model=16)


def tiny_gpt(dtype=np.float32, seed=0, **overrides):
    """A tiny GPT; float64 casts every parameter (for tight comparisons)."""
    model = GPT(GPTConfig(**{**TINY, **overrides}), seed=seed)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    return model
