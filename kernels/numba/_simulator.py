"""Locks around two races in numba 0.68's CUDA simulator, which runs each CUDA thread as a Python
thread (NUMBA_ENABLE_CUDASIM=1). `install()` patches both when the simulator is on; on a real GPU
it does nothing.

1. `cuda.shared.array` gives a block's threads one array per source line through an unlocked
   check-then-set (`FakeCUDAShared.array`: look the line up; if absent, create and store). A
   thread preempted between the two steps stores a second array, and the block's threads then
   fill tiles the others never read: a wrong Numba matmul gradient, about one run in ten of the
   simulated tests with a 0.1 ms thread switch interval.
2. A device function runs inside `swapped_cuda_module`, which puts the fake `cuda` module into its
   module's globals and puts the real one back on exit. When the block's threads call a device
   function of another module (`_reduce.tree_sum`), the first thread to leave restores the real
   module while the others are still inside: "module 'numba.cuda' has no attribute 'threadIdx'",
   about one run in thirty. The patch counts the threads inside and restores on the last exit.
"""

import sys
import threading
from contextlib import contextmanager

import numpy as np
from numba import config, cuda, types
from numba.cuda.simulator import kernel, kernelapi
from numba.np import numpy_support

_LOCK = threading.Lock()
_SWAPPED = {}  # id(module globals) -> [threads inside, the globals that held the real module]


def _shared_array(self, shape, dtype):
    """FakeCUDAShared.array with the lookup and the store in one critical section."""
    if isinstance(dtype, types.Type):
        dtype = numpy_support.as_dtype(dtype)
    if shape == 0:  # dynamic shared memory: one buffer for all, no lookup to race
        count = self._dynshared_size // dtype.itemsize
        return np.frombuffer(self._dynshared.data, dtype=dtype, count=count)
    caller = sys._getframe(1)  # the kernel's line, as numba's traceback-based key
    key = (caller.f_code.co_filename, caller.f_lineno)
    with _LOCK:
        res = self._allocations.get(key)
        if res is None:
            res = self._allocations[key] = np.empty(shape, dtype)
    return res


@contextmanager
def _swapped_cuda_module(fn, fake_cuda_module):
    """numba's swapped_cuda_module, reference-counted per module: swap on the first entry,
    restore on the last exit."""
    globs = fn.__globals__
    with _LOCK:
        entry = _SWAPPED.get(id(globs))
        if entry is None:
            real = {k: v for k, v in globs.items() if v is cuda}
            globs.update(dict.fromkeys(real, fake_cuda_module))
            entry = _SWAPPED[id(globs)] = [0, real]
        entry[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            entry[0] -= 1
            if entry[0] == 0:
                globs.update(entry[1])
                del _SWAPPED[id(globs)]


def install() -> bool:
    """Patch the simulator when it is on; True if patched."""
    if not config.ENABLE_CUDASIM:
        return False
    kernelapi.FakeCUDAShared.array = _shared_array
    kernelapi.swapped_cuda_module = _swapped_cuda_module
    kernel.swapped_cuda_module = _swapped_cuda_module  # kernel.py imported the name
    return True
