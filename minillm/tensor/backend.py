"""Which array module holds the data: NumPy on the CPU, CuPy on a CUDA GPU.

The op code is written once against `xp`, the array module of its inputs, so the same forward and
backward functions run on both devices (docs/style.md section 1). CuPy is optional: it is looked up
only when a CuPy array exists or the user asks for the "cuda" device.
"""

import importlib
import sys

import numpy as np


def is_cupy_array(x) -> bool:
    """True for a cupy.ndarray (checked by module name: NumPy-only installs never import CuPy)."""
    return type(x).__module__.startswith("cupy")


def array_module(*arrays):
    """numpy, or cupy when any argument is a CuPy array."""
    for a in arrays:
        if is_cupy_array(a):
            return sys.modules["cupy"]
    return np


def device_of(x) -> str:
    """ "cuda" for a CuPy array, "cpu" otherwise."""
    return "cuda" if is_cupy_array(x) else "cpu"


class DeviceUnavailableError(RuntimeError):
    """The "cuda" device was asked for on a machine without CuPy or without a GPU."""


def load_cupy():
    """Import CuPy for the "cuda" device, or say what is missing (DeviceUnavailableError)."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as e:
        raise DeviceUnavailableError(
            "device 'cuda' needs CuPy and an NVIDIA GPU: pip install 'minillm[cuda]' "
            "(cupy-cuda13x) on a machine with a CUDA 13 driver"
        ) from e
    try:
        available = cupy.is_available()
    except Exception:  # noqa: BLE001 - CuPy raises several driver errors; all mean "no GPU"
        available = False
    if not available:
        raise DeviceUnavailableError(
            "device 'cuda' needs an NVIDIA GPU, and CuPy found none on this machine"
        )
    return cupy


def to_device(x, device: str):
    """Copy an array to "cpu" (NumPy) or "cuda" (CuPy); a no-op when it is already there."""
    if device == "cpu":
        return x.get() if is_cupy_array(x) else x
    if device == "cuda":
        return x if is_cupy_array(x) else load_cupy().asarray(x)
    raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")
