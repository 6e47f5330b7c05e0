"""Low-precision forward and backward on a rounded working copy of a model (C23, the compute half
of mixed precision; the loss scaler is optim.GradScaler).

    with low_precision(model, "float16"):    # weights, module outputs and their gradients in fp16
        _, loss = model(x, y)
        scaler.scale(loss).backward()
    # here: the float32 master weights are back; .grad holds float16 numbers (as float32 arrays)

Micikevicius et al. 2018 keep a float32 master copy of the weights and run forward and backward
on a float16 copy; a GPU multiplies float16 operands and accumulates in float32 (tensor cores,
and reductions like softmax and layer norm in float32). This module does the same on the CPU by
rounding: inside the block

- every parameter holds its value rounded to the format (the working copy; the master values
  come back on exit);
- every module's output is rounded to the format, and so is the gradient flowing back into it;
- on exit every parameter's .grad is rounded to the format (a float16 weight's gradient).

The arrays stay float32 and each op computes in float32 between the roundings: the numbers that
cross a module boundary, both ways, are float16 (or bfloat16) numbers, with float16's overflow
(above 65504 -> inf) and underflow (2^-25, half the smallest subnormal, and below -> 0). NumPy's
own float16 arithmetic is not used: it has no BLAS, and a (768, 128) @ (128, 512) product takes
about 1 s against 8 ms in float32.

Formats: "float16" is IEEE binary16 (NumPy's cast: round to nearest even, subnormals, inf).
"bfloat16" is emulated, as NumPy has no such dtype: the float32 bit pattern rounded to its top
16 bits (1 sign, 8 exponent, 7 mantissa bits) by round to nearest even; nan stays nan, and values
past bfloat16's largest round to inf. "float32" leaves everything as it is.
"""

import contextlib

import numpy as np

from ..tensor import Tensor
from ..tensor.backend import array_module

FORMATS = ("float32", "float16", "bfloat16")
# the largest finite value, the smallest normal and the smallest subnormal of each format
RANGES = {
    "float16": (65504.0, 2.0**-14, 2.0**-24),
    "bfloat16": (float.fromhex("0x1.fep+127"), 2.0**-126, 2.0**-133),
    "float32": (float(np.finfo(np.float32).max), 2.0**-126, 2.0**-149),
}


def round_to_format(x, fmt: str):
    """The array x (float32 or float64) with each value rounded to the nearest number of fmt,
    in x's dtype (a float64 x goes to bfloat16 through float32)."""
    xp = array_module(x)
    if fmt == "float32":
        return x
    if fmt == "float16":
        with np.errstate(over="ignore"):  # values past 65504 become inf, on purpose
            return x.astype(xp.float16).astype(x.dtype)
    if fmt == "bfloat16":
        u = x.astype(xp.float32).view(xp.uint32)
        lsb = (u >> 16) & 1  # round half to even: ties go to the neighbour with a 0 low bit
        rounded = ((u + xp.uint32(0x7FFF) + lsb) & xp.uint32(0xFFFF0000)).view(xp.float32)
        return xp.where(xp.isnan(x), x, rounded).astype(x.dtype)
    raise ValueError(f"round_to_format: fmt must be one of {FORMATS}, got {fmt!r}")


def to_format(x: Tensor, fmt: str, record=None) -> Tensor:
    """x rounded to fmt as a graph op; its backward rounds the gradient to fmt as well.
    record(array), when given, receives each incoming gradient before rounding."""
    out = round_to_format(x.data, fmt)

    def backward(dout):
        if record is not None:
            record(dout)
        return (round_to_format(dout, fmt),)

    return Tensor.from_op(out, (x,), backward, f"to_{fmt}")


def _round_output(fmt, record=None):
    def hook(module, args, output):
        return to_format(output, fmt, record) if isinstance(output, Tensor) else None

    return hook


@contextlib.contextmanager
def low_precision(model, fmt: str):
    """Run the block on model's working copy in fmt (see the module docstring); on exit the
    master weights are back and every .grad is rounded to fmt. Expects the gradients cleared
    before (a training step), since .grad is rounded as a whole."""
    if fmt not in FORMATS:
        raise ValueError(f"low_precision: fmt must be one of {FORMATS}, got {fmt!r}")
    if fmt == "float32":
        yield model
        return
    params = model.parameters()
    masters = [p.data for p in params]
    hooks = [m.register_forward_hook(_round_output(fmt)) for m in model.modules()]
    for p in params:
        p.data = round_to_format(p.data, fmt)  # the working copy
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the scaler's to see
            yield model
    finally:
        for h in hooks:
            h.remove()
        for p, master in zip(params, masters):
            p.data = master
            if p.grad is not None:
                p.grad = round_to_format(p.grad, fmt)


@contextlib.contextmanager
def record_output_grads(model, fmt: str = "float32"):
    """Collect the gradient arriving at every module's output during backwards inside the block
    (a list of arrays, taken before any rounding), with the outputs rounded to fmt as
    low_precision does. For looking at how small activation gradients are (C23)."""
    grads = []
    hooks = [m.register_forward_hook(_round_output(fmt, grads.append)) for m in model.modules()]
    try:
        yield grads
    finally:
        for h in hooks:
            h.remove()
