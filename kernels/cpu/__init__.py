"""CPU backend: ``@njit`` loops (Numba) on NumPy arrays, one module per op.

The readable NumPy code in minillm/ops makes one pass over memory per ufunc, on one core. These
kernels fuse each op's elementwise chain into one loop per row or per element, vectorised with
AVX2, and leave the matrix products to NumPy's BLAS. Each module has numbered ``VERSIONS`` with
the reference's signature, held to the reference in tests/kernels/test_kernels_cpu.py. The
dispatcher (minillm/tensor/dispatch.py) runs ``kernels.best("cpu", op)`` on float32 NumPy arrays
when Numba is installed; ``dispatch.use_cpu("reference")`` runs the readable code instead.

The kernels run serially, with no thread pool of their own, and are compiled on first use and
cached: _math.py says why, with the measurements.
"""
