"""LoRA (Hu et al. 2021): a frozen weight plus a trained low-rank update (C16).

    y = x W + b + (alpha / r) (x A) B        A (in, r) random, B (r, out) = 0 at the start

Row-vector form (F13's X W_Q): the paper writes h = W_0 x + B A x with B (d, r) and A (r, k);
our A (in, r) and B (r, out) are its A and B transposed and swapped, and the update is the same
map. B = 0 makes the wrapped layer equal the base layer at the start, so fine-tuning starts from
the pre-trained function; alpha / r keeps the update's scale when r changes. W and b stay frozen;
only A and B (2 r (in + out) numbers instead of in * out) train.

`LoRALinear` subclasses `nn.Linear` and keeps its names (W, b), so a base checkpoint loads into a
LoRA model with only A and B missing, and `merge()` folds the update into W (W += (alpha/r) A B)
for inference with no extra cost; `unmerge()` takes it out again.

    add_lora(model, ["W_q", "W_v"], r=8, alpha=16)   swap the matching Linear layers in by path
    merge_lora(model)                                 a plain model again (saves as one)
"""

import math
from fnmatch import fnmatchcase

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import Linear, Parameter
from .freeze import freeze, unfreeze_new_head
from .methods import register_method

DEFAULT_TARGETS = "W_q,W_v"  # the paper's choice: the query and value projections


class LoRALinear(Linear):
    """y = x W + b + (alpha / r) (x A) B  (C16). W, b: the base layer's; A (in, r) ~ U(-1/sqrt(in),
    1/sqrt(in)) (the reference implementation's Kaiming-uniform), B (r, out) = 0.

    merged: W holds W + (alpha/r) A B and the forward skips the low-rank path."""

    PARAM_ROLES = {"W": "weight", "b": "bias", "A": "weight", "B": "weight"}

    def __init__(self, in_features, out_features, r=8, alpha=16.0, bias=True, rng=None,
                 dtype=np.float32):  # fmt: skip
        check_rank(r, in_features, out_features, "LoRALinear")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"LoRALinear: alpha must be a number > 0, got {alpha!r}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        super().__init__(in_features, out_features, bias=bias, rng=rng, dtype=dtype)
        self.r, self.alpha, self.scaling = int(r), float(alpha), float(alpha) / int(r)
        bound = 1.0 / math.sqrt(in_features)
        self.A = Parameter(rng.uniform(-bound, bound, (in_features, r)).astype(dtype))  # (in, r)
        self.B = Parameter(np.zeros((r, out_features), dtype=dtype))  # (r, out)
        self.merged = False

    @classmethod
    def from_linear(cls, linear: Linear, r=8, alpha=16.0, rng=None):
        """A LoRALinear over `linear`'s own W and b (the same Parameter objects), A and B fresh."""
        lora = cls(linear.in_features, linear.out_features, r, alpha, bias=linear.b is not None,
                   rng=rng, dtype=linear.W.dtype)  # fmt: skip
        lora.W = linear.W
        if linear.b is not None:
            lora.b = linear.b
        return lora

    def delta(self):
        """The update (alpha / r) A B as an array (in, out)."""
        return self.scaling * (self.A.data @ self.B.data)  # (in, r) @ (r, out) -> (in, out)

    def forward(self, x):
        y = super().forward(x)  # x W + b: (..., in) -> (..., out)
        if self.merged:
            return y
        # BEGIN EXERCISE C16: add the low-rank update (alpha / r) (x A) B to y: x A first
        # ((..., in) -> (..., r)), then B ((..., r) -> (..., out)), scaled by self.scaling
        h = x @ self.A  # (..., in) -> (..., r)
        y = y + (h @ self.B) * self.scaling  # (..., r) -> (..., out)
        # END EXERCISE
        return y

    def merge(self):
        """W += (alpha / r) A B; the forward then is one product (exact to float rounding)."""
        if not self.merged:
            self.W.data += self.delta()
            self.merged = True
        return self

    def unmerge(self):
        """W -= (alpha / r) A B: the base weight back (to float rounding), the update separate."""
        if self.merged:
            self.W.data -= self.delta()
            self.merged = False
        return self

    def to_linear(self) -> Linear:
        """A plain Linear computing what this layer computes (the update merged into W)."""
        plain = Linear(self.in_features, self.out_features, bias=self.b is not None,
                       dtype=self.W.dtype)  # fmt: skip
        plain.W.data[...] = self.W.data + (0 if self.merged else self.delta())
        if self.b is not None:
            plain.b.data[...] = self.b.data
        plain.W.requires_grad_(self.W.requires_grad)
        return plain

    def extra_repr(self):
        return f"{super().extra_repr()}, r={self.r}, alpha={self.alpha:g}, merged={self.merged}"


def check_rank(r, in_features, out_features, who) -> None:
    """ValueError unless 1 <= r <= min(in, out): a larger rank is no longer low-rank (A B would
    have more parameters than W and no more expressive power)."""
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"{who}: rank r must be an int >= 1, got {r!r}")
    if r > min(in_features, out_features):
        raise ValueError(
            f"{who}: rank r={r} is larger than the layer ({in_features} x {out_features}); "
            f"LoRA needs r <= min(in, out) = {min(in_features, out_features)}"
        )


def find_linears(model, targets) -> list:
    """Paths of the Linear layers that a target names: the exact path, its last part ("W_q"), or
    an fnmatch pattern ("blocks.0.*"). ValueError naming a target that matches no Linear."""
    targets = [t for t in targets.split(",") if t] if isinstance(targets, str) else list(targets)
    linears = [p for p, m in model.named_modules() if type(m) is Linear]
    paths = []
    for t in targets:
        hits = [p for p in linears if p == t or p.endswith("." + t) or fnmatchcase(p, t)]
        if not hits:
            names = sorted({p.rsplit(".", 1)[-1] for p in linears})
            raise ValueError(
                f"lora: target {t!r} matches no Linear layer of {type(model).__name__} (module "
                f"paths; last parts: {', '.join(names)})"
            )
        paths += [p for p in hits if p not in paths]
    return paths


def add_lora(model, targets=DEFAULT_TARGETS, r=8, alpha=16.0, seed=0):
    """Swap every Linear that `targets` names for a LoRALinear over its weights (by path, so each
    keeps its slot). The i-th layer's A draws from default_rng([seed, i]). Records the surgery,
    so a checkpoint of the model rebuilds it. Returns the model."""
    paths = find_linears(model, targets)
    for p in paths:  # check every rank before changing anything
        m = model.get_submodule(p)
        check_rank(r, m.in_features, m.out_features, f"lora on {p}")
    for i, p in enumerate(paths):
        lora = LoRALinear.from_linear(model.get_submodule(p), r, alpha, [seed, i])
        model.set_submodule(p, lora)
    record_surgery(model, "lora", {"targets": paths, "r": int(r), "alpha": float(alpha)})
    return model


def lora_layers(model) -> list:
    """(path, LoRALinear) pairs of a model."""
    return [(p, m) for p, m in model.named_modules() if isinstance(m, LoRALinear)]


def merge_lora(model):
    """Fold every LoRA update into its weight and put plain Linear layers back: the model is a
    plain model again (its checkpoint records no LoRA surgery and loads as the base type)."""
    for p, m in lora_layers(model):
        model.set_submodule(p, m.to_linear())
    kept = [rec for rec in getattr(model, "surgery", []) if rec["name"] != "lora"]
    object.__setattr__(model, "surgery", kept)
    return model


def lora_method(model, lora_r=8, lora_alpha=16.0, lora_targets=DEFAULT_TARGETS):
    """--method=lora: freeze everything, add LoRA to the targets (A, B train), train a fresh
    task head too."""
    freeze(model)
    add_lora(model, lora_targets, lora_r, lora_alpha)
    for _, m in lora_layers(model):
        m.A.requires_grad_(True)
        m.B.requires_grad_(True)
    return unfreeze_new_head(model)


register_surgery("lora", add_lora)
register_method(
    "lora",
    lora_method,
    "LoRA (Hu et al. 2021): W + (alpha/r) A B on the target projections, only A, B (and a fresh "
    "head) train",
    {"lora_r": 8, "lora_alpha": 16.0, "lora_targets": DEFAULT_TARGETS},
)
