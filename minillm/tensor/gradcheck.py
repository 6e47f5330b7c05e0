"""Finite-difference gradient check: does an op's hand-written backward match its forward?"""

import numpy as np

from .tensor import Tensor


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check d fn / d input for every input that requires grad, by central differences in float64.

    L = sum(fn(*inputs) * G) for a fixed random G, so every output element is checked at once:
        numeric  dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
        analytic dL/dx_i = x.grad after fn(*inputs).backward(G)
    Passes when |analytic - numeric| <= atol + rtol * |numeric| everywhere (docs/style.md, 5).
    Returns True, or raises AssertionError naming the op, the input, its shape and the worst index.
    """
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {x.dtype}; use float64 for finite differences"
            )
    out = fn(*inputs)
    op = getattr(fn, "__name__", "fn")
    op = out._op if op == "<lambda>" else op
    G = np.random.default_rng(seed).standard_normal(out.shape)  # (same shape as the output)
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    out.backward(G)
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = np.zeros(x.shape) if x.grad is None else x.grad
        numeric = np.zeros(x.shape)
        saved = x.data
        x.data = np.array(saved, order="C")  # a contiguous copy (any strides, 0-d) to perturb
        flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
        try:
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                plus = float((fn(*inputs).data * G).sum())
                flat[j] = orig - eps
                minus = float((fn(*inputs).data * G).sum())
                flat[j] = orig
                numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        finally:
            x.data = saved
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if (err > 0).any():
            k = tuple(int(n) for n in np.unravel_index(int(np.argmax(err)), x.shape))
            raise AssertionError(
                f"gradcheck failed for op '{op}', input {i} of shape {x.shape}: at index {k} "
                f"analytic {analytic[k]:.6g} vs numeric {numeric[k]:.6g}"
            )
    return True
