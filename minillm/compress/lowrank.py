"""Low-rank factorisation (C7): a weight matrix replaced by two thin ones from its truncated SVD.

    W = U S V^T  (in, out),  singular values s_1 >= s_2 >= ... >= s_min(in, out)
    W_r = U_r S_r V_r^T = A B,   A = U_r S_r^(1/2) (in, r),   B = S_r^(1/2) V_r^T (r, out)
    energy(r) = sum_{i<=r} s_i^2 / sum_i s_i^2   (the share of ||W||_F^2 that W_r keeps)
W_r is the best rank-r approximation in the Frobenius and spectral norms (Eckart-Young), with
||W - W_r||_F^2 = sum_{i>r} s_i^2. The layer x W + b becomes (x A) B + b: r (in + out)
parameters instead of in * out, fewer when r < in * out / (in + out).
LoRA (Hu et al. 2021) has the same factorised shape, x W + (x A) B with A (in, r), B (r, out),
but factorises the fine-tuning *update* and keeps W; here the factors replace W.
"""

import fnmatch

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import Linear, Module


def check_rank(rank, in_features, out_features) -> int:
    """A rank strictly between 0 and min(in, out) (at min(in, out) nothing is removed)."""
    full = min(in_features, out_features)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 < rank < full:
        raise ValueError(
            f"low-rank: rank must be an int with 0 < rank < min(in, out) = {full} for a "
            f"({in_features}, {out_features}) weight, got {rank!r}"
        )
    return int(rank)


def svd_factors(W, rank):
    """(A (in, r), B (r, out), s (min(in, out),)) with A B the rank-r truncated SVD of W."""
    rank = check_rank(rank, *W.shape)
    W64 = np.asarray(W, dtype=np.float64)  # (in, out)
    U, s, Vt = np.linalg.svd(W64, full_matrices=False)  # (in, k) (k,) (k, out), k = min
    root = np.sqrt(s[:rank])  # (r,)
    A = U[:, :rank] * root  # (in, r)
    B = root[:, None] * Vt[:rank]  # (r, out)
    return A, B, s


def energy(s, rank) -> float:
    """sum_{i<=r} s_i^2 / sum_i s_i^2 of singular values s (descending)."""
    e = np.asarray(s, dtype=np.float64) ** 2  # (k,)
    return float(e[:rank].sum() / e.sum()) if e.sum() > 0 else 1.0


def rank_for_energy(s, fraction) -> int:
    """The smallest r whose energy(r) >= fraction."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"low-rank: energy must be in (0, 1], got {fraction!r}")
    e = np.cumsum(np.asarray(s, dtype=np.float64) ** 2)  # (k,)
    return int(np.searchsorted(e / e[-1], fraction - 1e-12) + 1)


class LowRankLinear(Module):
    """y = (x A) B + b (C7), A = W_A.W (in, r), B = W_B.W (r, out): two Linear layers."""

    def __init__(self, in_features, out_features, rank, bias=True, dtype=np.float32):
        super().__init__()
        rank = check_rank(rank, in_features, out_features)
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        rng = np.random.default_rng(0)  # placeholder values; from_linear or a checkpoint fills
        self.W_A = Linear(in_features, rank, False, rng, dtype)  # (in, r)
        self.W_B = Linear(rank, out_features, bias, rng, dtype)  # (r, out)

    @classmethod
    def from_linear(cls, linear: Linear, rank):
        m = cls(linear.in_features, linear.out_features, rank, linear.b is not None,
                linear.W.dtype)  # fmt: skip
        A, B, _ = svd_factors(linear.W.numpy(), rank)
        m.W_A.W.data[...] = A  # (in, r)
        m.W_B.W.data[...] = B  # (r, out)
        if linear.b is not None:
            m.W_B.b.data[...] = linear.b.numpy()  # (out,)
        return m

    def forward(self, x):
        return self.W_B(self.W_A(x))  # (..., in) -> (..., r) -> (..., out)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, rank={self.rank}"


def factorize_model(model, ranks: dict) -> None:
    """ranks: Linear path -> rank. Swap each for a LowRankLinear of its truncated SVD in place;
    recorded for checkpoints."""
    for path, r in ranks.items():
        m = model.get_submodule(path)
        if type(m) is not Linear:
            raise ValueError(f"factorize_model: {path!r} is a {type(m).__name__}, not a Linear")
        model.set_submodule(path, LowRankLinear.from_linear(m, check_rank(r, *m.W.shape)))
    record_surgery(model, "lowrank", {"ranks": {p: int(r) for p, r in ranks.items()}})


register_surgery("lowrank", factorize_model)


def plan_ranks(model, rank=None, energy_kept=None, skip=(), saving_only=True) -> dict:
    """path -> rank for every Linear not matched by `skip`: a fixed `rank` (a fraction in (0, 1)
    of min(in, out), or an int), or the smallest rank keeping `energy_kept` of each matrix's
    squared singular values. saving_only: leave out layers where the two factors would not be
    smaller than W (r (in + out) >= in * out)."""
    if (rank is None) == (energy_kept is None):
        raise ValueError("plan_ranks: give exactly one of rank and energy_kept")
    plan = {}
    for path, m in model.named_modules():
        if type(m) is not Linear or any(fnmatch.fnmatchcase(path, s) for s in skip):
            continue
        n_in, n_out = m.W.shape
        if energy_kept is not None:
            r = rank_for_energy(np.linalg.svd(m.W.numpy(), compute_uv=False), energy_kept)
        elif isinstance(rank, float):
            if not 0.0 < rank < 1.0:
                raise ValueError(f"plan_ranks: a fractional rank must be in (0, 1), got {rank}")
            r = max(1, int(round(rank * min(n_in, n_out))))
        else:
            r = check_rank(rank, n_in, n_out)  # an explicit rank must fit every layer
        if r >= min(n_in, n_out) or (saving_only and r * (n_in + n_out) >= n_in * n_out):
            continue
        plan[path] = check_rank(r, n_in, n_out)
    return plan
