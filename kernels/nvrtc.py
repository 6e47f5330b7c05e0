"""Compile CUDA C with NVRTC itself (the compiler CuPy uses), no GPU needed.

The tests compile every CuPy source this way, and notebook 08 prints the register report; it needs
the `cuda` extra's `cuda-bindings` and `nvidia-cuda-nvrtc`, not a GPU or a driver."""

from cuda.bindings import nvrtc


def _log(prog) -> str:
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    buf = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, buf)
    return buf.decode(errors="replace").rstrip("\x00").strip()


def compile_cubin(source: str, filename: str, names, options) -> tuple[bool, str, dict]:
    """(ok, log, lowered names) of compiling `source` with NVRTC, instantiating `names`.

    `names` are CuPy's name_expressions: extern "C" kernel names and template instantiations.
    """
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), filename.encode(), 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, err
    try:
        for n in names:
            (err,) = nvrtc.nvrtcAddNameExpression(prog, n.encode())
            assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, (n, err)
        opts = [o.encode() for o in options]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        log = _log(prog)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return False, log, {}
        lowered = {n: nvrtc.nvrtcGetLoweredName(prog, n.encode())[1].decode() for n in names}
        return True, log, lowered
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
