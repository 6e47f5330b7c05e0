"""The primitive op table: forward/backward pairs on plain arrays.

Each forward returns `(out, cache)`; each backward takes `(dout, cache)` and returns one gradient
per input. Broadcasting binary ops sum the gradient back to each input's shape (`unbroadcast`).
Composites (softmax, layer norm, attention, ...) live in `minillm.ops`.
"""

from .backend import array_module


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, so g.shape == shape."""
    if g.shape == tuple(shape):
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=stretched, keepdims=True) if stretched else g


def add_forward(a, b):
    """y = a + b"""
    return a + b, (a.shape, b.shape)


def add_backward(dout, cache):
    """da = dy, db = dy (each summed back to its shape)"""
    return unbroadcast(dout, cache[0]), unbroadcast(dout, cache[1])


def sub_forward(a, b):
    """y = a - b"""
    return a - b, (a.shape, b.shape)


def sub_backward(dout, cache):
    """da = dy, db = -dy"""
    return unbroadcast(dout, cache[0]), unbroadcast(-dout, cache[1])


def mul_forward(a, b):
    """y = a * b"""
    return a * b, (a, b)


def mul_backward(dout, cache):
    """da = dy * b, db = dy * a"""
    a, b = cache
    return unbroadcast(dout * b, a.shape), unbroadcast(dout * a, b.shape)


def div_forward(a, b):
    """y = a / b. Integers (or booleans) on both sides give float32, minillm's and torch's
    default float, not NumPy's float64."""
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":  # int / int: float32 (no gradient)
        a, b = a.astype("float32"), b.astype("float32")
    return a / b, (a, b)


def div_backward(dout, cache):
    """da = dy / b, db = -dy * a / b^2"""
    a, b = cache
    db = -dout * (a / b) / b  # a / b^2 as (a / b) / b: b^2 under- or overflows first (torch)
    return unbroadcast(dout / b, a.shape), unbroadcast(db, b.shape)


def neg_forward(a):
    """y = -a"""
    return -a, None


def neg_backward(dout, cache):
    """da = -dy"""
    return (-dout,)


def pow_forward(a, p):
    """y = a^p for a constant exponent p"""
    return a**p, (a, p)


def pow_backward(dout, cache):
    """da = dy * p * a^(p-1); 0 for p = 0 (y = 1 is constant, also where a^(-1) is inf or nan, as
    torch); 1 / (2 sqrt a) for p = 1/2, nan for every a < 0 as torch's rsqrt"""
    a, p = cache
    xp = array_module(a)
    if p == 0:
        return (xp.zeros_like(dout),)  # d/da a^0 = 0, not 0 * a^(-1) = nan at a = 0
    if p == 0.5:  # sqrt: NumPy's pow gives IEEE's (-inf)^(-1/2) = +0, torch's rsqrt nan
        return (dout * (0.5 / xp.sqrt(a)),)
    return (dout * p * a ** (p - 1),)


def exp_forward(a):
    """y = e^a"""
    y = array_module(a).exp(a)
    return y, y


def exp_backward(dout, y):
    """da = dy * e^a = dy * y"""
    return (dout * y,)


def log_forward(a):
    """y = ln a"""
    return array_module(a).log(a), a


def log_backward(dout, a):
    """da = dy / a"""
    return (dout / a,)


def tanh_forward(a):
    """y = tanh a"""
    y = array_module(a).tanh(a)
    return y, y


def tanh_backward(dout, y):
    """da = dy * (1 - y^2)"""
    return (dout * (1 - y * y),)


def astype_forward(a, dtype):
    """y = a converted to `dtype` (float32 <-> float64; from int or bool: no gradient wanted)"""
    return a.astype(dtype, copy=False), a.dtype


def astype_backward(dout, dtype):
    """da = dy converted back to a's dtype (each input gets its gradient in its own dtype)"""
    return (dout.astype(dtype, copy=False),)


def matmul_forward(a, b):
    """y = a @ b, batched and broadcast like np.matmul (F13's X W)."""
    if (
        b.ndim == 2 and a.ndim > 2
    ):  # (..., K) @ (K, N): one big GEMM instead of a loop of small ones
        out = (a.reshape(-1, a.shape[-1]) @ b).reshape(*a.shape[:-1], b.shape[-1])  # (..., N)
        return out, (a, b)
    return a @ b, (a, b)


def matmul_backward(dout, cache):
    """dA = dY B^T, dB = A^T dY (summed over broadcast batch axes)."""
    a, b = cache
    xp = array_module(dout)
    if b.ndim == 2 and a.ndim > 2:
        d2 = dout.reshape(-1, dout.shape[-1])  # (..., N) -> (M, N)
        da = (d2 @ b.T).reshape(a.shape)  # (M, K) -> (..., K); a 3-D @ 2-D.T falls off BLAS
        return da, a.reshape(-1, a.shape[-1]).T @ d2
    a2 = a[None, :] if a.ndim == 1 else a  # (K,) -> (1, K)
    b2 = b[:, None] if b.ndim == 1 else b  # (K,) -> (K, 1)
    d2 = dout
    if b.ndim == 1:  # first, so that a 0-d dout (1-D @ 1-D) has an axis for the row to go before
        d2 = xp.expand_dims(d2, -1)  # put back the squeezed column axis
    if a.ndim == 1:
        d2 = xp.expand_dims(d2, -2)  # put back the squeezed row axis
    da = d2 @ xp.swapaxes(b2, -1, -2)
    db = xp.swapaxes(a2, -1, -2) @ d2
    da = unbroadcast(da, a2.shape).reshape(a.shape) if a.ndim == 1 else unbroadcast(da, a.shape)
    db = unbroadcast(db, b2.shape).reshape(b.shape) if b.ndim == 1 else unbroadcast(db, b.shape)
    return da, db
