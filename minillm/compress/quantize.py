"""Post-training quantisation of a model's Linear layers (C4): QuantLinear and quantize_model.

The formulas (scales, zero points, rounding, int4 packing, the integer matmul) are plain array
functions in minillm/ops/quantize.py; this file is the layer that stores their results and the
surgery that swaps it in by path.
"""

import fnmatch

import numpy as np

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import Linear, Module
from ..ops import quantize as Q
from ..tensor import Tensor

MODES = ("dynamic", "weight_only")


class QuantLinear(Module):
    """y = x W + b with W stored as b-bit integers (C4): W_hat = (W_q - z) * s per output channel
    (per_channel) or per tensor, symmetric (z = 0) or asymmetric.

    mode "dynamic" (W8A8): each row of x is quantised on the fly, x_hat_m = s_x[m] * x_q[m], and

        y[m, n] = s_x[m] * s_w[n] * sum_k x_q[m, k] (W_q[k, n] - z[n])   + b[n]
                = s_x[m] * s_w[n] * (acc[m, n] - z[n] * sum_k x_q[m, k])  + b[n],
        acc = x_q @ W_q  int8 x int8 with int32 accumulation, dequantised once at the end.
    mode "weight_only": y = x W_hat + b (W dequantised each call; activations stay float).
    Buffers (saved, never trained): W_q int8 (in, out), or W_packed uint8 (ceil(in*out/2),) for
    4 bits; scale float32 (out,) or (1,); zero_point int8 (same shape); b float32 (out,) if any.
    Deviation: the rounding of x and W has no derivative; backward passes dy @ W_hat^T to x (the
    straight-through estimator), so layers before a quantised one still train."""

    def __init__(self, in_features, out_features, bits=8, per_channel=True, symmetric=True,
                 mode="dynamic", bias=False):  # fmt: skip
        super().__init__()
        Q.check_bits(bits)
        if mode not in MODES:
            raise ValueError(f"QuantLinear: mode must be one of {MODES}, got {mode!r}")
        self.in_features, self.out_features = in_features, out_features
        self.bits, self.per_channel, self.symmetric, self.mode = bits, per_channel, symmetric, mode
        n = out_features if per_channel else 1
        if bits == 8:
            self.register_buffer("W_q", np.zeros((in_features, out_features), np.int8))  # (in, out)
        else:
            self.register_buffer("W_packed", np.zeros(-(-in_features * out_features // 2),
                                                      np.uint8))  # fmt: skip
        self.register_buffer("scale", np.ones(n, np.float32))  # (out,) or (1,)
        self.register_buffer("zero_point", np.zeros(n, np.int8))  # (out,) or (1,)
        self.register_buffer("b", np.zeros(out_features, np.float32) if bias else None)  # (out,)

    @classmethod
    def from_linear(cls, linear: Linear, bits=8, per_channel=True, symmetric=True,
                    mode="dynamic"):  # fmt: skip
        """Quantise a float Linear's weight (and keep its bias in float)."""
        W = linear.W.numpy()  # (in, out)
        m = cls(linear.in_features, linear.out_features, bits, per_channel, symmetric, mode,
                linear.b is not None)  # fmt: skip
        axis = -1 if per_channel else None
        scale, zero = Q.quant_params(W, bits, symmetric, axis)  # (out,) or (1,)
        q = Q.quantize(W, scale, zero, bits, symmetric, axis)  # (in, out) int8
        m.set_weight(q)
        m.scale = scale.astype(np.float32)
        m.zero_point = zero.astype(np.int8)
        if linear.b is not None:
            m.b = linear.b.numpy().astype(np.float32)  # (out,)
        return m

    def set_weight(self, q) -> None:
        """Store the int8 (in, out) integer weight (packed two to a byte for 4 bits)."""
        if self.bits == 8:
            self.W_q = q
        else:
            self.W_packed = Q.pack_int4(q)

    def int_weight(self):
        """W_q (in, out) int8, unpacked."""
        shape = (self.in_features, self.out_features)
        return self.W_q if self.bits == 8 else Q.unpack_int4(self.W_packed, shape)

    def dequantized_weight(self):
        """W_hat = (W_q - z) * s, (in, out) float32."""
        axis = -1 if self.per_channel else None
        return Q.dequantize(self.int_weight(), self.scale, self.zero_point, axis)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"QuantLinear: input last dim {x.shape[-1]} != in_features {self.in_features}"
            )
        W_hat = self.dequantized_weight()  # (in, out) float32
        if self.mode == "weight_only":
            y = x @ Tensor(W_hat)  # (..., in) -> (..., out)
        else:
            y = Tensor.from_op(self._int8_forward(x.data), (x,),
                               lambda d: (d @ W_hat.T,), "quant_linear")  # fmt: skip
        return y if self.b is None else y + Tensor(self.b)

    def _int8_forward(self, x):
        """x (..., in) float -> y (..., out) float32 through int8 x int8 -> int32."""
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (..., K) -> (M, K)
        x_q, s_x = Q.quantize_rows(x2)  # (M, K) int8, (M,)
        acc = Q.int_matmul(x_q, self.int_weight())  # (M, K) @ (K, N) -> (M, N) int32
        if self.zero_point.any():
            row_sums = x_q.sum(axis=1, dtype=np.int32)  # (M,)
            acc = acc - row_sums[:, None] * self.zero_point.astype(np.int32)  # (M, N)
        y = acc * (s_x[:, None] * self.scale)  # (M, N) one dequantisation at the end
        return y.astype(np.float32).reshape(*lead, self.out_features)  # (..., N)

    def extra_repr(self):
        kind = "per-channel" if self.per_channel else "per-tensor"
        sym = "symmetric" if self.symmetric else "asymmetric"
        return f"{self.in_features}, {self.out_features}, int{self.bits} {kind} {sym}, {self.mode}"


def _linear_paths(model, skip):
    """Paths of the Linear layers (exact type: not TiedLinear) not matched by a skip pattern."""
    skip = list(skip)
    return [p for p, m in model.named_modules() if type(m) is Linear
            and not any(fnmatch.fnmatchcase(p, s) for s in skip)]  # fmt: skip


def quantize_model(model, bits=8, per_channel=True, skip=(), symmetric=True, mode="dynamic"):
    """Swap every Linear of `model` for a QuantLinear in place, except the paths matching a
    pattern of `skip` (fnmatch: "lm_head", "blocks.0.*"); return the swapped paths. Recorded in
    the model, so a saved checkpoint rebuilds through load_checkpoint. A tied output head
    (TiedLinear) reads the float embedding and is left alone."""
    Q.check_bits(bits)
    if mode not in MODES:
        raise ValueError(f"quantize_model: mode must be one of {MODES}, got {mode!r}")
    paths = _linear_paths(model, skip)
    for path in paths:
        old = model.get_submodule(path)
        model.set_submodule(path, QuantLinear.from_linear(old, bits, per_channel, symmetric, mode))
    args = dict(bits=bits, per_channel=per_channel, skip=list(skip), symmetric=symmetric,
                mode=mode)  # fmt: skip
    record_surgery(model, "quantize", args)
    return paths


register_surgery("quantize", quantize_model)


def weight_bytes(model) -> dict:
    """Bytes of the stored state: {"total", "float", "int"} over parameters and persistent
    buffers, a shared array once (what a checkpoint holds, less its header)."""
    seen, out = set(), {"total": 0, "float": 0, "int": 0}
    for a in model.state_dict().values():
        if id(a) in seen:
            continue
        seen.add(id(a))
        out["total"] += a.nbytes
        out["float" if a.dtype.kind == "f" else "int"] += a.nbytes
    return out
