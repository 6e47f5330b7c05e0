"""Comparison helpers of the kernel tests: tolerances, host copies, the llm.c-style check."""

import numpy as np
from minillm.kernels import TOLERANCES


def to_host(x):
    """A NumPy copy of a NumPy, CuPy or Numba device array."""
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


def assert_close(out, ref, op, what, shape):
    """Fail naming the op, the shape, the output and the worst index."""
    out = to_host(out).astype(np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"{op} {what} for shape {shape}: {out.shape} != {ref.shape}"
    atol, rtol = TOLERANCES[op]
    out, ref = out.reshape(out.shape or (1,)), ref.reshape(ref.shape or (1,))  # 0-d: a loss
    err = np.abs(out - ref) - (atol + rtol * np.abs(ref))
    both_nan = np.isnan(out) & np.isnan(ref)
    err[both_nan] = -1.0
    err[np.isnan(err)] = np.inf
    if err.size and err.max() > 0:
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        raise AssertionError(
            f"{op} {what} for shape {shape}: at index {tuple(int(j) for j in i)} got {out[i]!r}, "
            f"reference {ref[i]!r} (atol {atol}, rtol {rtol})"
        )


def rand(rng, *shape, scale=1.0):
    """float32 normal samples, the kernels' dtype."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def f64(x):
    return np.asarray(x, dtype=np.float64)
