"""Device-array helpers of the Numba backend (argument conversion, zeros, grid sizes)."""

import numpy as np
from numba import cuda


def _on_device(x, name: str, op: str, dtype):
    if x is None:
        raise TypeError(f"{op}: {name} is None")
    if cuda.devicearray.is_cuda_ndarray(x):
        arr = x
    elif hasattr(x, "__cuda_array_interface__"):  # CuPy, PyTorch, ... (not under the simulator)
        arr = cuda.as_cuda_array(x)
    else:
        return cuda.to_device(np.asarray(x, dtype=dtype, order="C"))  # keeps 0-d arrays 0-d
    if arr.dtype != dtype:
        raise TypeError(f"{op}: device array {name} must be {np.dtype(dtype)}; got {arr.dtype}")
    if not arr.is_c_contiguous():
        raise ValueError(f"{op}: device array {name} must be C-contiguous")
    return arr


def f32(x, name: str, op: str):
    """x as a C-contiguous float32 device array."""
    return _on_device(x, name, op, np.float32)


def i64(x, name: str, op: str):
    """x as a C-contiguous int64 device array (class ids)."""
    return _on_device(x, name, op, np.int64)


def u8(x, name: str, op: str):
    """x (a boolean mask) as a C-contiguous uint8 device array; bool device arrays are viewed."""
    if not isinstance(x, np.ndarray) and getattr(x, "dtype", None) == np.bool_:
        x = (cuda.as_cuda_array(x) if hasattr(x, "__cuda_array_interface__") else x).view(np.uint8)
    return _on_device(x, name, op, np.uint8)


def empty(shape):
    return cuda.device_array(shape, dtype=np.float32)


def zeros(shape):
    return cuda.to_device(np.zeros(shape, dtype=np.float32))


def flat(x):
    """A 1-D view of a C-contiguous device array."""
    return x.reshape(x.size)


def blocks(n: int, per_block: int) -> int:
    """Number of blocks of `per_block` threads (or items) that cover n."""
    return (n + per_block - 1) // per_block
