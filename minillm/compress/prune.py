"""Unstructured magnitude pruning (C3): zero the weights of smallest |w|, keep them zero.

    keep w_ij  iff  |w_ij| > tau,   tau = the k-th smallest |w| with k = round(s * N)
global: one tau over the N weights of every pruned layer together (layers with many small
weights lose more); per-layer: each layer's own tau, so every layer ends at sparsity s.
The mask is a buffer: MaskedLinear computes y = x (W * M) + b, so a pruned weight gets a zero
gradient, Adam's moments for it stay zero, decay keeps 0 at 0, and it stays exactly zero
through any further training (a recovery fine-tune).
"""

import fnmatch

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import Linear, Module
from ..tensor import Tensor

SCOPES = ("global", "layer")


def check_sparsity(sparsity) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise ValueError(f"prune: sparsity must be a number in [0, 1), got {sparsity!r}")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"prune: sparsity must be in [0, 1), got {sparsity!r}")
    return float(sparsity)


def magnitude_masks(weights: dict, sparsity: float, scope="global") -> dict:
    """name -> boolean keep-mask of each array, pruning the round(s * N) smallest |w| (of all
    arrays together for "global", of each for "layer"); ties broken by position, so exactly
    that many are pruned."""
    s = check_sparsity(sparsity)
    if scope not in SCOPES:
        raise ValueError(f"prune: scope must be one of {SCOPES}, got {scope!r}")
    groups = [list(weights)] if scope == "global" else [[k] for k in weights]
    masks = {}
    for names in groups:
        flat = np.concatenate([np.abs(weights[k]).reshape(-1) for k in names])  # (N,)
        k = int(round(s * flat.size))
        keep = np.ones(flat.size, dtype=bool)  # (N,)
        keep[np.argsort(flat, kind="stable")[:k]] = False
        start = 0
        for name in names:
            n = weights[name].size
            masks[name] = keep[start : start + n].reshape(weights[name].shape)  # (in, out)
            start += n
    return masks


class MaskedLinear(Module):
    """y = x (W * M) + b: a Linear whose weight entries with M = 0 are pruned (C3).
    W and b are the original Linear's Parameters (same objects: an optimizer made before the swap
    still holds them); M is a uint8 buffer (in, out)."""

    PARAM_ROLES = {"W": "weight", "b": "bias"}

    def __init__(self, linear: Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.W, self.b = linear.W, linear.b
        self.register_buffer("mask", np.ones(linear.W.shape, dtype=np.uint8))  # (in, out)

    def set_mask(self, keep) -> None:
        """Install a keep-mask and zero the pruned weights in place."""
        self.mask = np.asarray(keep, dtype=np.uint8)  # (in, out)
        self.W.data[...] = self.W.data * self.mask.astype(self.W.dtype)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"MaskedLinear: input last dim {x.shape[-1]} != in_features {self.in_features}"
            )
        y = x @ (self.W * Tensor(self.mask.astype(self.W.dtype)))  # (..., in) -> (..., out)
        return y + self.b if self.b is not None else y

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, sparsity={1 - self.mask.mean():.3f}"


def prunable_paths(model, skip=()):
    return [p for p, m in model.named_modules() if isinstance(m, (Linear, MaskedLinear))
            and not any(fnmatch.fnmatchcase(p, s) for s in skip)]  # fmt: skip


def prune_model(model, sparsity, scope="global", skip=()) -> dict:
    """Magnitude-prune every Linear of `model` (not those matching a `skip` pattern) to
    `sparsity`, swapping each for a MaskedLinear in place; a layer already masked is pruned
    further (its pruned weights are 0, the smallest, so they stay pruned). Return path -> the
    layer's sparsity. Recorded in the model, so the checkpoint rebuilds with its masks."""
    check_sparsity(sparsity)
    paths = prunable_paths(model, skip)
    layers = {p: model.get_submodule(p) for p in paths}
    weights = {p: m.W.numpy() for p, m in layers.items()}
    masks = magnitude_masks(weights, sparsity, scope)
    for p, m in layers.items():
        masked = m if isinstance(m, MaskedLinear) else MaskedLinear(m)
        masked.set_mask(masks[p])
        model.set_submodule(p, masked)
    record_surgery(model, "prune", dict(sparsity=sparsity, scope=scope, skip=list(skip)))
    return {p: float(1 - masks[p].mean()) for p in paths}


register_surgery("prune", prune_model)


def sparsity_report(model) -> dict:
    """{"weights", "zeros", "sparsity", "dense_bytes", "csr_bytes", "bitmap_bytes"} over the
    masked layers: what unstructured sparsity could save in storage. CSR stores each nonzero
    (4 bytes) with its int32 column (4 bytes) plus a row pointer per row; a bitmap stores the
    nonzeros plus one bit per weight. Dense NumPy matmuls are not faster for the zeros."""
    n = zeros = csr = 0
    for _, m in model.named_modules():
        if isinstance(m, MaskedLinear):
            nnz = int(m.mask.sum())
            n += m.mask.size
            zeros += m.mask.size - nnz
            csr += 8 * nnz + 4 * (m.in_features + 1)
    return {
        "weights": n,
        "zeros": zeros,
        "sparsity": zeros / n if n else 0.0,
        "dense_bytes": 4 * n,
        "csr_bytes": csr,
        "bitmap_bytes": 4 * (n - zeros) + -(-n // 8),
    }
