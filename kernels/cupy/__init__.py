"""CuPy backend: CUDA C kernels in ``<op>.cu`` beside each ``<op>.py`` host module.

The host functions take CuPy arrays (anything ``cupy.asarray`` accepts; they are cast to
C-contiguous float32, copying only when needed) and return CuPy float32 arrays. Sources are
compiled by NVRTC through ``cupy.RawModule`` on first use, with the options in ``_module.OPTIONS``.
"""
