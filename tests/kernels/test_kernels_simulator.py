"""Races in numba's CUDA simulator, locked by kernels/numba/_simulator.py: one shared array per
source line and block, and the fake cuda module kept while any thread is in a device function."""

import sys
import threading
import time
from types import FunctionType

import numpy as np
import pytest
from minillm.kernels.numba import _simulator
from numba import cuda
from numba.cuda.simulator import kernel, kernelapi


def _race(n, body):
    """Run body(i) on n threads released together, switching threads as often as Python allows."""
    start = threading.Barrier(n)

    def thread(i):
        start.wait()
        body(i)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=thread, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.cudasim
def test_shared_array_lookup_gives_every_thread_the_same_array(numba_sim):
    assert kernelapi.FakeCUDAShared.array is _simulator._shared_array, "install() did not run"
    shared = kernelapi.FakeCUDAShared(0)
    arrays = [None] * 64

    def lookup(i):  # all threads reach the lookup together, as a block's threads do
        arrays[i] = shared.array((4, 4), np.float32)

    _race(len(arrays), lookup)
    distinct = {id(a) for a in arrays}
    assert len(distinct) == 1, f"{len(distinct)} different shared arrays for one line and block"
    other = shared.array((2,), np.float32)  # another line: another array
    assert other is not arrays[0] and other.shape == (2,)


@pytest.mark.cudasim
def test_device_function_keeps_the_fake_cuda_module_until_the_last_thread_leaves(numba_sim):
    assert kernel.swapped_cuda_module is _simulator._swapped_cuda_module, "install() did not run"
    globs = {"cuda": cuda}  # a device function's module, as _reduce.py
    fn = FunctionType((lambda: None).__code__, globs)
    fake = object()  # the launch's fake cuda module
    seen = []

    def call(i):
        with kernel.swapped_cuda_module(fn, fake):
            for _ in range(20):
                seen.append(globs["cuda"] is fake)
                time.sleep(0)  # let the other threads in and out meanwhile

    _race(32, call)
    assert all(seen), f"{seen.count(False)} of {len(seen)} reads inside saw the real module"
    assert globs["cuda"] is cuda, "the real module was not put back"
