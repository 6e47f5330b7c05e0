"""Run the CuPy backend's CUDA C and host code on the CPU (tests only).

`emulated_cupy(monkeypatch)` compiles each kernels/cupy/*.cu with g++ against
cuda_emu/cuda_emu.h (one coroutine per CUDA thread, real barriers and warp shuffles) and
points the CuPy host modules at it: their `cupy` becomes a NumPy-backed stand-in and their
kernels come from the emulator, so the same host functions and the same kernel sources run as
on a GPU, only slowly. It checks the launch arguments as CuPy would pass them: arrays as
pointers, NumPy int32/int64/float32 scalars by value, and the kernel's parameter count.
"""

import ctypes
import fcntl
import hashlib
import importlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from minillm.kernels import OPS
from minillm.kernels.cupy import _module

HEADER = Path(__file__).with_name("cuda_emu") / "cuda_emu.h"
_BUILD = Path(tempfile.gettempdir()) / "minillm-cuda-emu"
_LIBS: dict[str, ctypes.CDLL] = {}

_LAUNCHER = """
#include <map>
#include <utility>
namespace emu_reg {
template <typename... A, size_t... I>
void call(void (*k)(A...), void** a, std::index_sequence<I...>) {
    k(*static_cast<std::remove_reference_t<A>*>(a[I])...);
}
template <typename... A>
std::pair<int, std::function<void(void**)>> wrap(void (*k)(A...)) {
    return {(int)sizeof...(A), [k](void** a) { call(k, a, std::index_sequence_for<A...>{}); }};
}
}  // namespace emu_reg
extern "C" int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                          unsigned by, unsigned bz, size_t smem, int nargs, void** args,
                          char* err, int errlen) {
    static const std::map<std::string, std::pair<int, std::function<void(void**)>>> table = {
%s
    };
    try {
        auto it = table.find(name);
        if (it == table.end()) throw std::runtime_error(std::string("no kernel ") + name);
        if (it->second.first != nargs)
            throw std::runtime_error(std::string(name) + " takes " +
                                     std::to_string(it->second.first) + " arguments, got " +
                                     std::to_string(nargs));
        auto f = it->second.second;
        emu::launch(dim3(gx, gy, gz), dim3(bx, by, bz), smem, [&] { f(args); });
        return 0;
    } catch (const std::exception& e) {
        snprintf(err, errlen, "%%s", e.what());
        return 1;
    }
}
"""


def compiler_missing() -> str | None:
    """Why the emulator cannot be built here, or None."""
    return None if shutil.which("g++") else "needs g++ to build the CUDA emulator"


def build(src: str, names, stem: str) -> ctypes.CDLL:
    """Compile CUDA C `src` for the emulator; `names` are the kernels (name expressions) to
    export through emu_launch. Cached by content, across pytest workers too."""
    # dynamic shared memory: one aligned buffer per launch
    src = re.sub(
        r"extern __shared__ (\w+) (\w+)\[\];",
        r"\1* \2 = reinterpret_cast<\1*>(emu::dynamic_smem.data());",
        src,
    )
    table = ",\n".join(f'        {{"{n}", emu_reg::wrap(&{n})}}' for n in names)
    text = f'#include "{HEADER}"\n{src}\n{_LAUNCHER % table}'
    key = hashlib.sha256((text + HEADER.read_text()).encode()).hexdigest()[:16]
    if key not in _LIBS:
        _BUILD.mkdir(exist_ok=True)
        so = _BUILD / f"{stem}-{key}.so"
        with open(so.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one pytest-xdist worker builds, the others wait
            if not so.exists():
                _compile(text, so)
        _LIBS[key] = ctypes.CDLL(str(so))
    return _LIBS[key]


def _compile(text: str, so: Path) -> None:
    cpp, tmp = so.with_suffix(".cpp"), so.with_suffix(".tmp")
    cpp.write_text(text)
    cmd = ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-w", str(cpp), "-o", str(tmp)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"g++ failed on the emulated {so.stem}:\n{done.stderr[-4000:]}")
    tmp.replace(so)
    cpp.unlink()


def _arg(a):
    if isinstance(a, np.ndarray):
        return ctypes.c_void_p(a.ctypes.data)
    if isinstance(a, np.int32):
        return ctypes.c_int32(a)
    if isinstance(a, np.int64):
        return ctypes.c_int64(a)
    if isinstance(a, np.float32):
        return ctypes.c_float(a)
    raise TypeError(
        f"kernel argument {a!r} of type {type(a).__name__}: CuPy would pass it with "
        "an unchecked C type; pass a NumPy int32/int64/float32 scalar"
    )


class EmuKernel:
    """Callable like a cupy.RawKernel: kernel(grid, block, args, shared_mem=bytes)."""

    def __init__(self, lib, name):
        self.lib, self.name = lib, name

    def __call__(self, grid, block, args, shared_mem=0):
        grid, block = (tuple(grid) + (1, 1))[:3], (tuple(block) + (1, 1))[:3]
        if 0 in grid or 0 in block:  # as CUDA: host code must skip the launch for empty inputs
            raise RuntimeError(
                f"emulated launch of {self.name}: grid {grid}, block {block}: invalid "
                "configuration argument (CUDA refuses an empty launch)"
            )
        values = [_arg(a) for a in args]
        ptrs = (ctypes.c_void_p * len(values))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values]
        )
        err = ctypes.create_string_buffer(512)
        rc = self.lib.emu_launch(
            self.name.encode(),
            *map(ctypes.c_uint, grid + block),
            ctypes.c_size_t(shared_mem),
            ctypes.c_int(len(values)),
            ptrs,
            err,
            ctypes.c_int(len(err)),
        )
        if rc:
            raise RuntimeError(f"emulated launch of {self.name}: {err.value.decode()}")


class _Module:
    def __init__(self, cu_file, names):
        self.lib, self.names = build(_module.source(cu_file), names, Path(cu_file).stem), names

    def get_function(self, name):
        assert name in self.names, f"{name} is not among the module's name expressions"
        return EmuKernel(self.lib, name)


class EmuArray(np.ndarray):
    """A NumPy array with CuPy's `.data.ptr` (the host modules check alignment with it)."""

    @property
    def data(self):
        return SimpleNamespace(ptr=self.ctypes.data)


def _emu(x):
    return x.view(EmuArray) if isinstance(x, np.ndarray) else x


def _stand_in():
    """The part of the cupy namespace the host modules use, on NumPy."""
    return SimpleNamespace(
        float32=np.float32,
        int64=np.int64,
        uint8=np.uint8,
        empty=lambda shape, dtype=np.float32: _emu(np.empty(shape, dtype)),
        zeros=lambda shape, dtype=np.float32: _emu(np.zeros(shape, dtype)),
        empty_like=lambda a: _emu(np.empty_like(a)),
        asarray=lambda a, dtype=None, order=None: _emu(np.asarray(a, dtype=dtype, order=order)),
        ascontiguousarray=lambda a, dtype=None: _emu(np.ascontiguousarray(a, dtype=dtype)),
    )


def emulated_cupy(monkeypatch):
    """Point every kernels/cupy host module at the emulator for one test."""
    shim = _stand_in()
    monkeypatch.setattr(_module, "cupy", shim)
    monkeypatch.setattr(_module, "_module", _Module)
    for op in OPS:
        mod = importlib.import_module(f"minillm.kernels.cupy.{op}")
        monkeypatch.setattr(mod, "cupy", shim)
        if hasattr(mod, "as_strided"):
            monkeypatch.setattr(
                mod,
                "as_strided",
                lambda x, shape, strides: _emu(
                    np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
                ),
            )
