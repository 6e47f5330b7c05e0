"""Weight initialisation (C1), as torch.nn.init: functions that fill one Parameter in place, and
a whole-model scheme chosen by module type (never by parameter name).

Fan-in and fan-out follow minillm's (in, out) layout of Linear.W: fan_in = W.shape[0],
fan_out = W.shape[1] (PyTorch's weight is (out, in), so its fans read the other way round; the
numbers come out the same for the same layer).
"""

import math

import numpy as np

from ..tensor.backend import array_module
from .layers import Embedding, LayerNorm, Linear

RELU_GAIN = math.sqrt(2.0)  # He et al.'s gain for ReLU: Var(relu(x)) = Var(x) / 2


def _fill(p, value) -> None:
    p.data[...] = array_module(p.data).asarray(value, dtype=p.dtype)


def normal_(p, rng, mean=0.0, std=1.0) -> None:
    """p ~ N(mean, std^2)"""
    _fill(p, rng.normal(mean, std, p.shape))


def uniform_(p, rng, a=0.0, b=1.0) -> None:
    """p ~ U(a, b)"""
    _fill(p, rng.uniform(a, b, p.shape))


def zeros_(p) -> None:
    _fill(p, np.zeros(p.shape))


def ones_(p) -> None:
    _fill(p, np.ones(p.shape))


def _fans(p):
    if p.ndim < 2:
        raise ValueError(f"init: fan-in/fan-out need a weight of >= 2 dims, got shape {p.shape}")
    receptive = int(np.prod(p.shape[2:])) if p.ndim > 2 else 1
    return p.shape[0] * receptive, p.shape[1] * receptive  # (fan_in, fan_out)


def xavier_uniform_(p, rng, gain=1.0) -> None:
    """Glorot & Bengio 2010: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))"""
    fan_in, fan_out = _fans(p)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    uniform_(p, rng, -a, a)


def xavier_normal_(p, rng, gain=1.0) -> None:
    """Glorot & Bengio 2010: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))"""
    fan_in, fan_out = _fans(p)
    normal_(p, rng, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_normal_(p, rng, gain=RELU_GAIN) -> None:
    """He et al. 2015 (fan_in mode): N(0, std^2), std = gain / sqrt(fan_in); gain sqrt(2) for
    ReLU"""
    fan_in, _ = _fans(p)
    normal_(p, rng, 0.0, gain / math.sqrt(fan_in))


def kaiming_uniform_(p, rng, gain=RELU_GAIN) -> None:
    """He et al. 2015 (fan_in mode): U(-b, b), b = gain * sqrt(3 / fan_in)"""
    fan_in, _ = _fans(p)
    b = gain * math.sqrt(3.0 / fan_in)
    uniform_(p, rng, -b, b)


def init_normal_(model, rng, std=0.02, residual=(), residual_std=None) -> None:
    """GPT-2's scheme (C1) by module type, in tree order (one rng stream, drawn module by module):

    - Linear: W ~ N(0, std^2), b = 0; a Linear listed in `residual` (the projections that write
      into the residual stream) gets residual_std instead (GPT-2: std / sqrt(2 L));
    - Embedding: W ~ N(0, std^2);
    - LayerNorm: gamma = 1, beta = 0.
    Any other module keeps the initialisation its own constructor gave it (a LoRA A stays random,
    an adapter's up-projection stays zero), so a new layer type is never silently zeroed."""
    residual_ids = {id(m) for m in residual}
    if len(residual_ids) != len(residual) or any(not isinstance(m, Linear) for m in residual):
        raise ValueError("init_normal_: residual must list distinct Linear modules of the model")
    found = set()
    for _, m in model.named_modules():
        if isinstance(m, Linear):
            is_residual = id(m) in residual_ids
            if is_residual:
                found.add(id(m))
            normal_(m.W, rng, 0.0, residual_std if is_residual else std)
            if m.b is not None:
                zeros_(m.b)
        elif isinstance(m, Embedding):
            normal_(m.W, rng, 0.0, std)
        elif isinstance(m, LayerNorm):
            ones_(m.gamma)
            if m.beta is not None:
                zeros_(m.beta)
    if found != residual_ids:
        raise ValueError("init_normal_: some residual projections are not inside the model")


# C1's comparison: how every Linear weight is drawn (embeddings, norms and biases as GPT-2's)
SCHEMES = {
    "zero": lambda p, rng, std: zeros_(p),
    "normal": lambda p, rng, std: normal_(p, rng, 0.0, std),
    "xavier_uniform": lambda p, rng, std: xavier_uniform_(p, rng),
    "xavier_normal": lambda p, rng, std: xavier_normal_(p, rng),
    "kaiming_normal": lambda p, rng, std: kaiming_normal_(p, rng),
    "kaiming_uniform": lambda p, rng, std: kaiming_uniform_(p, rng),
    "gpt2": lambda p, rng, std: normal_(p, rng, 0.0, std),
}


def init_scheme_(model, scheme, rng, std=0.02, residual=()) -> None:
    """Re-draw a model's weights by a named scheme (C1): embeddings ~ N(0, std^2), LayerNorm
    gamma = 1 and beta = 0, biases 0 (init_normal_), then every Linear weight by SCHEMES[scheme]:
    "zero" (W = 0: all units of a layer compute the same and get the same gradient, so symmetry
    never breaks), "normal" (N(0, std^2)), Xavier/Glorot and Kaiming/He (uniform or normal, above),
    or "gpt2": N(0, std^2) with the `residual` projections at std / sqrt(len(residual)), i.e.
    std / sqrt(2 L) when residual holds the 2 L projections of L blocks."""
    if scheme not in SCHEMES:
        raise ValueError(f"init_scheme_: unknown scheme {scheme!r}; schemes: {', '.join(SCHEMES)}")
    residual = list(residual) if scheme == "gpt2" else []
    residual_std = std / math.sqrt(len(residual)) if residual else None
    init_normal_(model, rng, std, residual, residual_std)
    if scheme == "gpt2":
        return
    for _, m in model.named_modules():
        if isinstance(m, Linear):
            SCHEMES[scheme](m.W, rng, std)
