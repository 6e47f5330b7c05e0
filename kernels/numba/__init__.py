"""Numba backend: ``@cuda.jit`` kernels, one module per op.

Host functions accept NumPy arrays (copied to the device as C-contiguous float32), Numba device
arrays, or CuPy arrays (used in place through ``__cuda_array_interface__``; these must already be
C-contiguous float32), and return Numba device arrays: call ``.copy_to_host()`` for NumPy, or
``cupy.asarray(out)`` for a zero-copy CuPy view.

Built-in ``numba.cuda`` of numba 0.68 is used because it ships the CUDA simulator: with
``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported, every kernel here runs on the CPU, one
Python thread per CUDA thread. The simulator has no warp shuffles, so these kernels reduce through
shared memory only; the warp-shuffle versions live in the CuPy backend.
"""

from . import _simulator

_simulator.install()  # numba's simulator allocates shared arrays racily (see _simulator.py)
