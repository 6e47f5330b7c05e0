# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · CUDA kernels: tiling, online softmax and FlashAttention, checked without a GPU
#
# Chapters 01-07 ran every op in NumPy. `kernels/` (shipped as `minillm.kernels`) holds the same
# hot ops written for an NVIDIA GPU, twice: in CUDA C (compiled by NVRTC through CuPy) and in
# Python with Numba's `@cuda.jit`. Every version is held against the NumPy reference it shares a
# name with. This notebook explains what the kernels do and runs them:
#
# 1. the CUDA execution model (grid, blocks, threads, shared memory, warps), read off
#    `kernels/numba/matmul.py`;
# 2. matmul, three versions, forward and backward, and block-wise computation (**C25**): a
#    tiled product summed over K tiles is the full product;
# 3. softmax (**F17**) and the *online* softmax, the recurrence FlashAttention is built on;
# 4. attention (**F5**, **F16-F18**): the naive three-launch version and the fused flash version
#    (C25 again: key tiles with a running max);
# 5. layer norm (**C14**), GELU (C14) and cross-entropy (**F8**, **F9**);
# 6. the CUDA C versions, compiled with NVRTC;
# 7. where the speed numbers would be (not measured yet);
# 8. how `Tensor(..., device="cuda")` routes ops to these kernels.
#
# **There is no GPU here.** Numba ships a CUDA *simulator*: with `NUMBA_ENABLE_CUDASIM=1` set
# before numba is imported, `@cuda.jit` kernels run on the CPU, each CUDA thread as a Python
# thread, one block at a time, with real shared arrays and real barriers. It exists to check
# correctness (indexing, tile edges, reductions), not speed: it is slower than a GPU by many
# orders of magnitude, and its cost grows with threads x barriers rather than with FLOPs.
# Numba reads the variable once, when it is first imported, so the first code cell sets it
# before anything imports numba. The same cell shortens Python's thread switch interval from
# 5 ms to 0.1 ms. The simulator's block manager polls its threads in a busy Python loop that
# lets go of the interpreter lock only once per interval, so each `syncthreads()` costs a few
# intervals; with the shorter one, barrier-heavy kernels run about ten times faster. The
# results do not change. Run the notebook with `NUMBA_ENABLE_CUDASIM=0` on a machine with a
# GPU and the same cells launch the same kernels on the device.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # must precede the first `import numba`
SIMULATOR = os.environ["NUMBA_ENABLE_CUDASIM"] == "1"  # False: run the kernels on a real GPU
if SIMULATOR:  # each simulated barrier costs a few GIL hand-overs: make them 50x more frequent
    sys.setswitchinterval(1e-4)
SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
# The simulator spends 0.1-1 ms per CUDA thread it runs (more with barriers), so every shape is
# small and ragged (no powers of two), enough to cross the tile and block edges of each version.
MM_SHAPES = ((2, 13, 11), (2, 11, 9)) if SMALL else ((2, 37, 29), (2, 29, 41))  # a, b
SOFTMAX_SHAPE = (3, 37) if SMALL else (4, 300)  # (N rows, C); 300 > 128 threads per row
ATTN_SHAPE = (1, 2, 7, 8) if SMALL else (1, 2, 13, 8)  # (B, H, T, D), causal
ROWS_SHAPE = (3, 19) if SMALL else (5, 37)  # layer norm (N, C), GELU, cross-entropy (N, V)
ARCH = "sm_90"  # the H100's architecture, for the NVRTC compile of the CUDA C sources

# %%
import inspect
import json
import re
import time
from pathlib import Path

import cupy
import matplotlib.pyplot as plt
import numba
import numpy as np
from matplotlib.patches import Rectangle
from minillm.kernels import OPS, best, registry
from minillm.kernels.numba import attention as nb_attention
from minillm.kernels.numba import matmul as nb_matmul
from numba import cuda

import minillm
from minillm.ops import dispatch
from minillm.ops.attention import attention_backward, attention_forward
from minillm.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from minillm.ops.gelu import gelu_backward, gelu_forward
from minillm.ops.layer_norm import layer_norm_backward, layer_norm_forward
from minillm.ops.softmax import logsumexp_forward, softmax_backward, softmax_forward
from minillm.tensor import Tensor
from minillm.tensor.primitives import matmul_backward, matmul_forward

ROOT = Path(minillm.__file__).resolve().parents[1]  # the repository (an editable install)
from minillm.kernels import TOLERANCES  # (atol, rtol) per op, as in tests/kernels
from minillm.kernels.nvrtc import compile_cubin  # NVRTC itself, through cuda-bindings: no GPU

assert bool(numba.config.ENABLE_CUDASIM) == SIMULATOR, "numba was imported before the setting"
assert SIMULATOR or cuda.is_available(), "NUMBA_ENABLE_CUDASIM=0 needs a CUDA GPU and driver"
print(
    "Numba kernels run on:", "the CUDA simulator (CPU)" if SIMULATOR else cuda.get_current_device()
)

f64 = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731 - the references run in float64
host = lambda x: x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)  # noqa: E731


def check(op, what, got, ref):
    """|got - ref| <= atol + rtol |ref| with the kernel tests' row for `op`; max |got - ref|."""
    got = host(got).astype(np.float64)
    atol, rtol = TOLERANCES[op]
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=f"{op}: {what}")
    return float(np.max(np.abs(got - ref), initial=0.0))


print("tolerances (atol, rtol):", TOLERANCES)

# %% [markdown]
# Every comparison below is the kernel tests' (llm.c's): the kernel runs on float32 inputs, the
# NumPy reference runs on the *same* inputs in float64, and each element must satisfy
# $|out - ref| \le atol + rtol\,|ref|$ with the per-op row of `tests/kernels/kernel_check.py`
# printed above. A float32 sum of K products carries a rounding error of order
# $K \cdot 6\times10^{-8}$ times the sum of their magnitudes, so the ops with long sums
# (matmul, layer norm, attention, cross-entropy) allow rtol $10^{-4}$, softmax and GELU
# $10^{-5}$.
#
# ## 1. The CUDA execution model in one picture
#
# A kernel is one function that many threads run at once. A launch `kern[grid, block](args)`
# names how many:
#
# - the **grid** is made of **blocks**, indexed by `blockIdx.x/.y/.z`. Blocks are independent:
#   the GPU runs them on its streaming multiprocessors (132 on an H100) in any order, and they
#   cannot wait for each other inside one launch;
# - a **block** holds up to 1024 **threads**, indexed by `threadIdx.x/.y/.z`. It runs on one SM,
#   its threads share a small fast on-chip **shared memory** (`cuda.shared.array`, up to
#   228 KB per SM on an H100), and they can wait for each other at a barrier
#   (`cuda.syncthreads()`);
# - a **warp** is 32 consecutive threads of a block (x fastest). A warp issues one instruction
#   for all 32 threads together. When its 32 loads hit 32 consecutive floats, the load is one
#   128-byte transaction (**coalesced**); scattered addresses cost up to 32 transactions;
# - memory, from slow to fast: **global** memory (HBM, 3.35 TB/s on an H100, hundreds of cycles
#   away), **shared** memory (per block, on chip), **registers** (per thread; Numba's
#   `cuda.local.array` lives there when the compiler can keep it there).
#
# Here is the simplest kernel of the library, matmul `v1_naive`, as it is in
# `kernels/numba/matmul.py`. One thread computes one element `C[z, m, n]`:

# %%
print(inspect.getsource(nb_matmul._v1_naive.py_func))

# %% [markdown]
# - `n = blockIdx.x * blockDim.x + threadIdx.x` is the thread's global column. `threadIdx.x`
#   runs along N, so the 32 threads of a warp read 32 consecutive elements of a row of B and
#   write 32 consecutive elements of C: both coalesced. (Running x along M instead would make
#   every warp's access stride-N.)
# - `blockIdx.z` is the batch index: one grid covers every matrix of the batch.
# - The grid is rounded up to whole blocks, so threads past the ragged edge exist and must do
#   nothing: that is the `if m < M and n < N` guard.
# - A and B arrive flat, with element strides `(batch, row, col)`. The backward's transposed
#   operands are the same memory read with swapped strides, so $dA = dY B^\top$ and
#   $dB = A^\top dY$ are two more launches of the same kernel, with no transpose copy
#   (`kernels/_matmul_host.py`).
#
# `v1_naive` reads every element of A N times and every element of B M times from global memory.
# `v2_smem_tiles` is the first fix, and the picture below is its launch for a
# (37, 29) @ (29, 41) product with 16 x 16 tiles: one block per 16 x 16 tile of C (grey: threads
# past the edge), and the strips of A and B that the highlighted block reads, in K tiles of 16.

# %%
M, K, N, TILE = 37, 29, 41, 16
bx, by = 1, 1  # the highlighted block: columns 16-31 (blockIdx.x), rows 16-31 (blockIdx.y)
up = lambda n: -(-n // TILE) * TILE  # noqa: E731 - n rounded up to whole tiles
grid = (up(N) // TILE, up(M) // TILE)
print(
    f"grid {grid + (1,)} of {TILE}x{TILE} blocks: {grid[0] * grid[1] * TILE**2} threads for "
    f"{M * N} outputs; K = {K} is {-(-K // TILE)} tiles of A and B per block"
)
assert grid == (3, 3) and grid[0] * grid[1] * TILE**2 >= M * N


def draw(ax, rows, cols, title, tiles):
    """A rows x cols matrix (origin top left) on a TILE grid, rounded up to whole tiles;
    tiles: (row, col, color) of the tiles to highlight."""
    ax.add_patch(Rectangle((0, 0), up(cols), up(rows), color="0.9"))  # idle threads
    ax.add_patch(Rectangle((0, 0), cols, rows, fc="white", ec="black"))
    for i in range(0, up(cols) + 1, TILE):
        ax.axvline(i, c="0.6", lw=0.8, ls="--")
    for i in range(0, up(rows) + 1, TILE):
        ax.axhline(i, c="0.6", lw=0.8, ls="--")
    for r0, c0, color in tiles:
        h, w = min(TILE, rows - r0), min(TILE, cols - c0)
        ax.add_patch(Rectangle((c0, r0), w, h, color=color, alpha=0.6))
    ax.set(xlim=(0, up(cols)), ylim=(up(rows), 0), aspect="equal", title=title)


fig, axes = plt.subplots(1, 3, figsize=(12, 4), width_ratios=[up(K), up(N), up(N)])
ktiles = ["tab:orange", "gold"]  # K tile 0, K tile 1
draw(
    axes[0],
    M,
    K,
    f"A ({M}x{K}): rows of blockIdx.y={by}",
    [(by * TILE, k * TILE, c) for k, c in enumerate(ktiles)],
)
draw(
    axes[1],
    K,
    N,
    f"B ({K}x{N}): columns of blockIdx.x={bx}",
    [(k * TILE, bx * TILE, c) for k, c in enumerate(ktiles)],
)
draw(axes[2], M, N, f"C ({M}x{N}): one block per tile", [(by * TILE, bx * TILE, "tab:red")])
for i in range(grid[0]):
    for j in range(grid[1]):
        axes[2].text(i * TILE + 8, j * TILE + 8, f"({i},{j})", ha="center", va="center", size=8)
for w in range(0, TILE, 2):  # warps of the highlighted block: 2 rows of 16 threads each
    axes[2].plot([bx * TILE, bx * TILE + TILE], [by * TILE + w] * 2, c="k", lw=0.4)
axes[2].set_xlabel("(x, y) = blockIdx; lines: 8 warps of 2 x 16 threads")
axes[0].set_xlabel("K tile 0 (orange), K tile 1 (gold, ragged)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The red block loops over K in two steps. At each step its 256 threads copy one 16 x 16 tile
# of A (orange, then gold) and one of B into shared memory (one element each, coalesced), wait
# at `syncthreads()`, and each thread adds 16 products from shared memory to its one
# accumulator, then waits again before the tiles are overwritten. Elements past the edge are
# loaded as zeros, so the inner loop needs no test. The grey threads have no output to write.
#
# ## 2. Matmul: three versions, forward and backward
#
# The Numba versions (the CUDA C file `kernels/cupy/matmul.cu` has a fourth, `v4_float4`):
#
# | version | idea | global loads per multiply-add |
# |---|---|---|
# | `v1_naive` | one thread per C element | 2 |
# | `v2_smem_tiles` | 16 x 16 tiles of A and B staged in shared memory | 2 / 16 |
# | `v3_reg_block_2d` | 64 x 64 tile of C per block, 4 x 4 per thread, in registers | 2 / 64 |
#
# Each runs here in the simulator on a batched, ragged product, forward and backward, against
# `minillm.tensor.primitives.matmul_forward` / `matmul_backward`. The time column is the
# simulator's, which counts Python threads and barriers: it says nothing about GPU speed.

# %%
a_shape, b_shape = MM_SHAPES
rng = np.random.default_rng(0)
a = rng.standard_normal(a_shape).astype(np.float32)  # (Bt, M, K)
b = (rng.standard_normal(b_shape) / np.sqrt(a_shape[-1])).astype(np.float32)  # (Bt, K, N)
y_ref, mm_cache = matmul_forward(f64(a), f64(b))  # (Bt, M, N)
dy = rng.standard_normal(y_ref.shape).astype(np.float32)  # (Bt, M, N)
da_ref, db_ref = matmul_backward(f64(dy), mm_cache)

print(f"{a_shape} @ {b_shape}    max |kernel - reference|")
print(f"{'version':18s} {'y':>9s} {'da':>9s} {'db':>9s}   simulator s")
for name, pair in registry("numba", "matmul").items():
    t0 = time.perf_counter()
    y, cache = pair(a, b)
    da, db = pair.backward(dy, cache)
    secs = time.perf_counter() - t0
    errs = [
        check("matmul", f"{name} {w} for {a_shape} @ {b_shape}", got, ref)
        for w, got, ref in (("y", y, y_ref), ("da", da, da_ref), ("db", db, db_ref))
    ]
    print(f"{name:18s} " + " ".join(f"{e:9.1e}" for e in errs) + f"   {secs:6.1f}")

# %% [markdown]
# ### Block-wise computation (C25)
#
# C25 names block-wise computation as the way to get both parallelism and memory savings. A
# matmul splits two ways:
#
# - **over the output**: the tile $C_{IJ}$ needs only row strip $A_{I,:}$ and column strip
#   $B_{:,J}$, so every tile is an independent block, and the GPU runs them in parallel;
# - **over K**: $C_{IJ} = \sum_{k} A_{I,k} B_{k,J}$, summed tile by tile. Only one tile of A and
#   one of B need to be on chip at a time, and each element loaded there is used `tile` times.
#
# In NumPy, on the first matrix of the batch above:

# %%
A, B = f64(a[0]), f64(b[0])  # (M, K), (K, N)
Mm, Kk = A.shape
Nn = B.shape[1]
t = 4
acc = np.zeros((Mm, Nn))  # (M, N), one K tile at a time
for k0 in range(0, Kk, t):
    acc += A[:, k0 : k0 + t] @ B[k0 : k0 + t, :]
np.testing.assert_allclose(acc, A @ B, rtol=1e-12, atol=1e-12)
for i0 in range(0, Mm, t):  # every output tile from its own strips
    for j0 in range(0, Nn, t):
        tile_ij = A[i0 : i0 + t, :] @ B[:, j0 : j0 + t]
        np.testing.assert_allclose(tile_ij, (A @ B)[i0 : i0 + t, j0 : j0 + t], rtol=1e-12)
print(
    f"K = {Kk} in {-(-Kk // t)} tiles of {t}, and {-(-Mm // t) * -(-Nn // t)} output tiles: "
    "both give A @ B"
)

# %% [markdown]
# What that buys, counted for a 4096³ product: `v1_naive` asks global memory for $2MNK$
# floats, a 16 x 16 tiled version for $2MNK/16$, and a 32 x 32 one (the CUDA C `v2`) for
# $2MNK/32$. The multiply-adds take 2 ms at the H100's FP32 peak, while `v1`'s requests
# would take 164 ms at HBM bandwidth: a naive matmul waits on memory, and tiling is what lets
# it compute instead. These are counts of requests, not measurements: the GPU's caches catch
# part of `v1`'s repeats. Then the kernels themselves, with tiles much smaller than the matrices, so
# that every block sums over several K tiles with a ragged last one: `make_v2(tile=4)` and
# `make_v3` with 8 x 8 block tiles and 2 x 2 per thread build the same kernel code with other
# tile sizes.

# %%
n4k = 4096
for label, loads in (("v1_naive", 2), ("tiles of 16", 2 / 16), ("tiles of 32", 2 / 32)):
    gb = loads * n4k**3 * 4 / 1e9
    print(f"{label:12s} {gb:7.1f} GB requested = {gb / 3350 * 1e3:6.1f} ms at 3.35 TB/s")
print(f"for {2 * n4k**3 / 1e9:.0f} GFLOP = {2 * n4k**3 / 66.9e12 * 1e3:.1f} ms at 66.9 TFLOP/s")

Mc, Kc, Nc = 13, 11, 9  # (2, 13, 11) @ (2, 11, 9): K = 4 + 4 + 3 in tiles of 4
c25_a, c25_b = a[:, :Mc, :Kc], b[:, :Kc, :Nc]
c25_y, c25_cache = matmul_forward(f64(c25_a), f64(c25_b))  # (2, Mc, Nc)
c25_dy = dy[:, :Mc, :Nc]
c25_da, c25_db = matmul_backward(f64(c25_dy), c25_cache)
small_tiles = {  # name: (pair, output tile rows, cols, K tile)
    "v2_smem_tiles, tile 4": (nb_matmul.make_v2(tile=4), 4, 4, 4),
    "v3_reg_block_2d, 8x8/2x2": (nb_matmul.make_v3(BM=8, BN=8, BK=4, TM=2, TN=2), 8, 8, 4),
}
for name, (pair, tm, tn, tk) in small_tiles.items():
    y, cache = pair(c25_a, c25_b)
    da, db = pair.backward(c25_dy, cache)
    for w, got, ref in (("y", y, c25_y), ("da", da, c25_da), ("db", db, c25_db)):
        check("matmul", f"{name} {w}", got, ref)
    grid = (-(-Nc // tn), -(-Mc // tm), 2)
    print(f"{name:26s} y, da, db = the reference: grid {grid}, K = {Kc} in {-(-Kc // tk)} tiles")

# %% [markdown]
# `v3_reg_block_2d` goes one step further than shared memory: per k step each thread loads 4
# values of A and 4 of B into registers and does 4 x 4 = 16 multiply-adds from them. That is 2
# multiply-adds per shared-memory load, where `v2` does one per 2 loads: 4x fewer shared loads
# for the same math. In the CUDA C version a thread owns 8 x 8 outputs (64 multiply-adds per
# 16 loads, 8x fewer). This is the ladder of Simon Boehm's SGEMM
# worklog, which on an A6000 goes from 1.3 % of cuBLAS (naive) to 12.8 % (shared tiles) and
# 68.7 % (2-D register blocking).
#
# ## 3. Softmax and the online softmax
#
# The softmax kernels give one block to each row. `v1_smem_reduce` makes three passes over the
# row: the max, the sum of $e^{x_i - m}$ (F17's max-subtracted form), then the write. Each
# reduction is a tree in shared memory. The **online softmax** (Milakov & Gimelshein 2018) gets
# the max and the sum in one pass. Keep a running max $m$ and a running sum $z$ of
# $e^{x_i - m}$, and when a new element raises the max, rescale the sum so far:
# $$m' = \max(m, x_i), \qquad z' = z\,e^{m - m'} + e^{x_i - m'}.$$
# In a few NumPy lines, on one row:

# %%
row = (rng.standard_normal(SOFTMAX_SHAPE[1]) * 3).astype(np.float64)  # (C,)
m, z = -np.inf, 0.0
trace_m, trace_z = [], []
for x_i in row:
    m_new = max(m, x_i)
    z = z * np.exp(m - m_new) + np.exp(x_i - m_new)  # exp(-inf) = 0 on the first element
    m = m_new
    trace_m.append(m)
    trace_z.append(z)
assert m == row.max()
np.testing.assert_allclose(z, np.exp(row - row.max()).sum(), rtol=1e-13)
np.testing.assert_allclose(np.exp(row - m) / z, softmax_forward(row)[0], rtol=1e-13)


def merge(p, q):
    """Two (max, sum) pairs of disjoint parts of a row -> the pair of their union."""
    m_pq = max(p[0], q[0])
    return m_pq, p[1] * np.exp(p[0] - m_pq) + q[1] * np.exp(q[0] - m_pq)


parts = [(c.max(), np.exp(c - c.max()).sum()) for c in np.array_split(row, 4)]  # 4 "threads"
m_tree, z_tree = merge(merge(parts[0], parts[1]), merge(parts[2], parts[3]))  # the tree
assert m_tree == m
np.testing.assert_allclose(z_tree, z, rtol=1e-13)
print(f"one pass: max {m:.3f}, sum {z:.4f}; four chunks merged as a tree give the same pair")

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(row, ".", c="0.6", label="$x_i$")
ax.step(range(len(row)), trace_m, where="post", label="running max $m$")
ax.plot(trace_z, "o-", ms=3, label="running sum $z$ (drops when $m$ grows)")
ax.set_xlabel("element i of the row")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The pairs merge like numbers (the `merge` above is associative), so each thread runs the
# recurrence over its own elements and a shared-memory tree merges the block's pairs. That is
# Numba `v2_online_smem`: two passes over the row (one for $(m, z)$, one to write) instead of
# three. The CUDA C `v3_online_warp` merges with warp shuffles instead of shared memory. Both
# Numba versions run here against `minillm.ops.softmax`, with one $-\infty$ logit in the first
# row (a masked entry, whose probability must be exactly 0).

# %%
x = (rng.standard_normal(SOFTMAX_SHAPE) * 3).astype(np.float32)  # (N, C)
x[0, 0] = -np.inf
s_ref, _ = softmax_forward(f64(x))
dy_s = rng.standard_normal(SOFTMAX_SHAPE).astype(np.float32)  # (N, C)
dx_ref = softmax_backward(f64(dy_s), s_ref)
for name, pair in registry("numba", "softmax").items():
    s, cache = pair(x)
    dx = pair.backward(dy_s, cache)
    errs = [
        check("softmax", f"{name} {w} {SOFTMAX_SHAPE}", g, r)
        for w, g, r in (("s", s, s_ref), ("dx", dx, dx_ref))
    ]
    assert host(s)[0, 0] == 0.0, f"softmax {name}: a -inf logit got probability {host(s)[0, 0]}"
    print(f"{name:16s} {SOFTMAX_SHAPE}: max |s - ref| {errs[0]:.1e}, max |dx - ref| {errs[1]:.1e}")

# %% [markdown]
# ## 4. Attention: naive and flash
#
# $O = \mathrm{softmax}(QK^\top/\sqrt{d_k} + \text{mask})\,V$ (F5: scores F16, scaled softmax
# F17, weighted sum F18).
#
# - `v1_naive` is three launches: the scores $QK^\top$ (the matmul `v1` kernel on strided
#   views), one block per row for the scale, the causal mask and the softmax in place, then
#   $PV$. The (B·H, T, S) matrix P goes through global memory three times and is kept for the
#   backward.
# - `v2_flash` is FlashAttention's forward. A block owns a tile of queries, one per thread,
#   with $q$ and the output row in registers, and streams tiles of K and V through shared
#   memory. It keeps the online softmax of section 3 per query, now with a vector: when the max
#   grows, the output accumulated so far is rescaled too. S and P never exist in memory; only
#   each row's logsumexp $L$ is kept, and the backward recomputes $P = e^{s - L}$ from it
#   (FlashAttention-2's backward, with dK/dV and dQ in two passes instead of atomics). This is
#   C25 for attention: blocks over queries, and a running reduction over key tiles.
#
# The same recurrence for one query over key tiles of 3, in NumPy:

# %%
B_, H_, T_, D_ = ATTN_SHAPE
q = rng.standard_normal(ATTN_SHAPE).astype(np.float32)  # (B, H, T, D)
k = rng.standard_normal(ATTN_SHAPE).astype(np.float32)  # (B, H, S, D), S = T
v = rng.standard_normal(ATTN_SHAPE).astype(np.float32)  # (B, H, S, D)
o_ref, attn_cache = attention_forward(f64(q), f64(k), f64(v), is_causal=True)  # (B, H, T, D)
scale = 1 / np.sqrt(D_)

t_q, BC = T_ - 1, 3  # the last query sees every key (causal)
q1, K1, V1 = f64(q[0, 0, t_q]), f64(k[0, 0, : t_q + 1]), f64(v[0, 0, : t_q + 1])
m, l, o = -np.inf, 0.0, np.zeros(D_)  # running max, sum and unnormalised output (D,)
for s0 in range(0, t_q + 1, BC):
    s_tile = K1[s0 : s0 + BC] @ q1 * scale  # (BC,) scores of one key tile
    m_new = max(m, s_tile.max())
    p = np.exp(s_tile - m_new)  # (BC,)
    l = l * np.exp(m - m_new) + p.sum()
    o = o * np.exp(m - m_new) + p @ V1[s0 : s0 + BC]  # (D,) rescale, then add the tile
    m = m_new
np.testing.assert_allclose(o / l, o_ref[0, 0, t_q], rtol=1e-12, atol=1e-12)
print(
    f"query {t_q}: {-(-(t_q + 1) // BC)} key tiles of {BC} with a running max give the "
    "reference output row"
)

# %% [markdown]
# Now the kernels, causal, forward and backward, against `attention_forward` /
# `attention_backward`. The registered `v2_flash` uses 64-query by 32-key tiles, which one tile
# covers here, so a build with 4 x 4 tiles (`make_v2(BR=4, BC=4)`) runs too: several query
# blocks, several key tiles, and causal blocks that skip the key tiles above the diagonal.

# %%
do = rng.standard_normal(ATTN_SHAPE).astype(np.float32)  # (B, H, T, D)
grads_ref = attention_backward(f64(do), attn_cache)
attn_versions = {
    **registry("numba", "attention"),
    "v2_flash, 4x4 tiles": nb_attention.make_v2(BR=4, BC=4),
}
caches = {}
for name, pair in attn_versions.items():
    t0 = time.perf_counter()
    o, cache = pair(q, k, v, is_causal=True)
    grads = pair.backward(do, cache)
    secs = time.perf_counter() - t0
    errs = [
        check("attention", f"{name} {w} {ATTN_SHAPE} causal", g, r)
        for w, g, r in zip(("o", "dq", "dk", "dv"), (o, *grads), (o_ref, *grads_ref))
    ]
    caches[name] = cache
    print(
        f"{name:20s} max err o {errs[0]:.1e}, dq {errs[1]:.1e}, dk {errs[2]:.1e}, "
        f"dv {errs[3]:.1e}  ({secs:.1f} s simulated)"
    )

# %% [markdown]
# What each keeps for the backward (peeking into the opaque caches): `v1_naive` the whole
# probability matrix P, `v2_flash` one logsumexp per query, which must equal
# $\log\sum_{s \le t} e^{q_t\cdot k_s/\sqrt{d}}$ from the reference's scores. At T = S = 1024
# that is 1024 times less memory per head.

# %%
P_kept = host(caches["v1_naive"][3])  # (B*H, T, S)
L_kept = host(caches["v2_flash"][4])  # (B*H, T)
scores = f64(q) @ np.swapaxes(f64(k), -1, -2) * scale  # (B, H, T, S)
scores[..., ~np.tril(np.ones((T_, T_), bool))] = -np.inf
L_ref = logsumexp_forward(scores)[0].reshape(B_ * H_, T_)  # (B*H, T)
check("attention", "v2_flash logsumexp L", L_kept, L_ref)
check("attention", "v1_naive probabilities P", P_kept, attn_cache[3].reshape(P_kept.shape))
print(
    f"v1_naive keeps P {P_kept.shape}: {P_kept.size} floats; v2_flash keeps L {L_kept.shape}: "
    f"{L_kept.size} floats"
)

fig, axes = plt.subplots(1, H_, figsize=(3.5 * H_ + 1, 3.3), layout="constrained")
for h, ax in enumerate(np.atleast_1d(axes)):
    im = ax.imshow(attn_cache[3][0, h], cmap="viridis", vmin=0, vmax=1)
    ax.set(title=f"head {h}", xlabel="key s", ylabel="query t")
fig.suptitle("causal attention weights of the reference (batch 0)")
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# Causal attention: row t spreads its weight over keys 0..t and gives the keys above the
# diagonal exactly 0 (the first query can only attend to itself). Random q and k make the
# weights unstructured; chapter 06 shows the maps of a trained model.
#
# ## 5. Layer norm, GELU and cross-entropy
#
# - **layer norm** (C14): `v1_two_pass` computes the mean, then the mean of $(x-\mu)^2$;
#   `v2_welford` gets both in one pass with Welford's update per thread and a tree merge of
#   (count, mean, M2) triples (Chan, Golub & LeVeque). The backward's $d\gamma$ and $d\beta$
#   come from a column kernel that sums over rows in a fixed order (deterministic, no atomics).
# - **GELU** (C14): `v1_elementwise`, a grid-stride loop over both forms (erf, and GPT-2's tanh).
# - **cross-entropy** (F8, F9 as the mean over tokens): `v1_smem_reduce` fuses the softmax into
#   the loss; it keeps each row's logsumexp, and the backward recomputes
#   $e^{z - \mathrm{lse}} - \mathrm{onehot}$, so the (N, V) probabilities are never stored.
#   One row here has the ignored target -100.
#
# Every output, forward and backward, against the reference:

# %%
N_r, C_r = ROWS_SHAPE
xr = (rng.standard_normal(ROWS_SHAPE) + 3).astype(np.float32)  # (N, C), an offset mean
gamma = rng.standard_normal(C_r).astype(np.float32)  # (C,)
beta = rng.standard_normal(C_r).astype(np.float32)  # (C,)
dyr = rng.standard_normal(ROWS_SHAPE).astype(np.float32)  # (N, C)
targets = rng.integers(0, C_r, size=N_r)  # (N,)
targets[1] = -100  # an ignored row (padding)
dloss = np.asarray(rng.standard_normal(), dtype=np.float32)  # () upstream gradient of the mean

table = []
ln_y, ln_cache = layer_norm_forward(f64(xr), f64(gamma), f64(beta), 1e-5)
ln_ref = {"y": ln_y, "mean": ln_cache[2], "rstd": ln_cache[3]}
ln_ref.update(zip(("dx", "dgamma", "dbeta"), layer_norm_backward(f64(dyr), ln_cache)))
for name, pair in registry("numba", "layer_norm").items():
    y, cache = pair(xr, gamma, beta, 1e-5)
    got = {"y": y, "mean": cache[2], "rstd": cache[3]}
    got.update(zip(("dx", "dgamma", "dbeta"), pair.backward(dyr, cache)))
    table += [
        ("layer_norm", name, w, check("layer_norm", f"{name} {w}", got[w], ln_ref[w]))
        for w in ln_ref
    ]

for form in ("none", "tanh"):
    g_y, g_cache = gelu_forward(f64(xr) - 3, form)
    g_dx = gelu_backward(f64(dyr), g_cache, form)
    for name, pair in registry("numba", "gelu").items():
        y, cache = pair(xr - np.float32(3), approximate=form)
        dx = pair.backward(dyr, cache, approximate=form)
        table += [
            ("gelu", f"{name} ({form})", w, check("gelu", f"{name} {form} {w}", g, r))
            for w, g, r in (("y", y, g_y), ("dx", dx, g_dx))
        ]

ce_loss, ce_cache = cross_entropy_forward(f64(xr), targets, -100, "mean")
ce_dz = cross_entropy_backward(f64(dloss), ce_cache)
for name, pair in registry("numba", "cross_entropy").items():
    loss, cache = pair(xr, targets, ignore_index=-100, reduction="mean")
    dz = pair.backward(dloss, cache)
    table += [
        ("cross_entropy", name, w, check("cross_entropy", f"{name} {w}", g, r))
        for w, g, r in (("loss", loss, ce_loss), ("dlogits", dz, ce_dz))
    ]
    assert not host(dz)[1].any(), "cross_entropy: the ignored row must get a zero gradient"

print(f"{'op':14s} {'version':24s} {'output':8s} {'max |err|':>10s}   (atol, rtol)")
for op, name, what, err in table:
    print(f"{op:14s} {name:24s} {what:8s} {err:10.1e}   {TOLERANCES[op]}")

# %% [markdown]
# ## 6. The CUDA C versions: compiled, not run
#
# `kernels/cupy/*.cu` hold the CUDA C versions, launched by CuPy (`cupy.RawModule`). They need a
# GPU to run, and this machine has none, so they are not run here. The kernel tests run them
# on the CPU through an emulator of the execution model (`tests/kernels/cuda_emu`), and on a real
# GPU with `pytest -m gpu`. What runs without a GPU is the compiler: CuPy compiles each source
# with NVRTC on first use, and NVRTC ships as a pip package (`nvidia-cuda-nvrtc`, driven through
# `cuda-bindings`). Below, each file is compiled as CuPy would compile it for an H100 (`sm_90`),
# with CuPy's own flags and the exact kernel names (template instantiations included) that its
# host module launches. The same check runs in `tests/kernels/test_kernels_compile.py` (for
# sm_75 and sm_90). ptxas's `-v` report then gives each kernel's registers, shared memory and
# spills, with no GPU and no nvcc.

# %%
from cuda.bindings import nvrtc
from minillm.kernels.cupy import _module as cu_module

options = cu_module.OPTIONS + cu_module.CUPY_ADDED_OPTIONS + (f"-arch={ARCH}", "-Xptxas=-v")
_, major, minor = nvrtc.nvrtcVersion()
print(f"NVRTC {major}.{minor}, options:", " ".join(options))
print(f"{'op':14s} {'CuPy versions (best by design first)':58s}")
for op in OPS:
    names = sorted(registry("cupy", op), key=lambda n: n != best("cupy", op))
    print(f"{op:14s} {', '.join(names)}")

kernels_built = []
t0 = time.perf_counter()
for op in OPS:
    mod = sys.modules[f"minillm.kernels.cupy.{op}"]  # imported by registry() above
    ok, log, lowered = compile_cubin(
        cu_module.source(mod.CU_FILE), mod.CU_FILE, mod.KERNEL_NAMES, options
    )
    assert ok, f"NVRTC failed on kernels/cupy/{mod.CU_FILE}:\n{log}"
    assert set(lowered) == set(mod.KERNEL_NAMES), f"{op}: kernels missing from the module"
    assert "warning" not in log.lower(), f"NVRTC warnings on {mod.CU_FILE}:\n{log}"
    name_of = {mangled: expr for expr, mangled in lowered.items()}
    for chunk in log.split("Compiling entry function '")[1:]:  # ptxas's report, one per kernel
        smem = re.search(r"(\d+) bytes smem", chunk)
        kernels_built.append(
            (
                mod.CU_FILE,
                name_of[chunk.split("'")[0]],
                int(re.search(r"Used (\d+) registers", chunk)[1]),
                int(smem[1]) if smem else 0,
                int(re.search(r"(\d+) bytes spill stores", chunk)[1]),
            )
        )
print(
    f"compiled {len(OPS)} files, {len(kernels_built)} kernels for {ARCH} in "
    f"{time.perf_counter() - t0:.1f} s\n"
)
print(f"{'file':18s} {'kernel':52s} {'regs':>4s} {'smem B':>7s} {'spill B':>7s}")
for file, kname, regs, smem, spill in kernels_built:
    print(f"{file:18s} {kname:52s} {regs:4d} {smem:7d} {spill:7d}")
assert len(kernels_built) == sum(
    len(sys.modules[f"minillm.kernels.cupy.{o}"].KERNEL_NAMES) for o in OPS
)
assert all(regs <= 255 for _, _, regs, _, _ in kernels_built)  # the hardware's per-thread limit
spilled = [(kname, regs, spill) for _, kname, regs, _, spill in kernels_built if spill]
print("\nkernels that spill registers to local memory:", spilled or "none")
assert all(regs == 255 for _, regs, _ in spilled), "a kernel spills below the register cap"

# %% [markdown]
# Registers are the price of reuse. The register-blocked matmuls hold 64 accumulators per
# thread (~125 registers), and the flash attention forward at D = 64 holds q, the output row and
# a tile of scores (168). A thread can have at most 255 registers; past that, ptxas spills
# values to local memory, which lives in slow global memory behind the caches. The flash dK/dV
# backward at D = 64 (`attn_bwd_dkdv_v2_flash<64, 32, 32>`) hits that cap: each thread owns one
# key and accumulates its dK and dV rows in registers, 2 x 64 floats, besides the loop's
# temporaries. The table shows its spill stores (about 200 bytes per thread with the pip
# package's NVRTC 13.5 when this was written; docs/kernels.md's build with nvcc 13.0 reported
# none). A warp-cooperative layout, several
# threads per key, is the fix a later version can make. More registers
# per thread also leave fewer threads resident per SM (65,536 registers per SM): that trade-off
# is for a benchmark to settle.
#
# ## 7. Speed: not measured yet
#
# None of this has been timed on a GPU: our sessions had none. `best(backend, op)` is therefore
# a design expectation (more work per thread, fewer passes over memory), not a measurement.
# On a GPU machine, `make bench-gpu` runs `benchmarks/bench_kernels.py`. It validates every
# version, times forward and backward with CUDA events against cuBLAS (`cupy.matmul`), the
# device-to-device copy and torch's SDPA, and writes
# `benchmarks/results/kernels-<date>.json`. This cell plots the newest such file if there is
# one.

# %%
results = sorted((ROOT / "benchmarks" / "results").glob("kernels-*.json"))
if not results:
    print("no GPU benchmark results yet (benchmarks/results/kernels-*.json): run `make bench-gpu`")
else:
    bench = json.loads(results[-1].read_text())
    rows = [r for r in bench["results"] if "fwd_of_limit" in r]  # skipped sizes have none
    labels = [f"{r['op']} {r['size']} {r['backend']}/{r['version']}" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.25 * len(rows) + 1))
    ax.barh(labels, [100 * r["fwd_of_limit"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("forward, % of cuBLAS SGEMM (matmul, attention) or of copy bandwidth")
    ax.set_title(f"{results[-1].name}: {bench.get('device', '?')}")
    ax.tick_params(axis="y", labelsize=7)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## 8. The GPU backend: how a Tensor reaches these kernels
#
# `Tensor(x, device="cuda")` keeps its data as a CuPy array, and every op runs the same array
# code with `xp = cupy`. For the hot ops (matmul, softmax, layer norm, attention,
# cross-entropy, GELU) the Tensor wrapper asks `minillm.ops.dispatch` for a (forward, backward)
# pair. On CuPy arrays that is the CuPy kernel version chosen for the op, by default
# `best("cupy", op)`. `"builtin"` chooses the reference code on CuPy instead (cuBLAS and CuPy's
# own kernels). A call the kernels cannot take (float64, a float mask, dropout, D > 64 for
# `v2_flash`) falls back to the reference, and `dispatch.trace()` records which ran and why.
# NumPy arrays always run the reference. On a GPU machine:
#
# ```python
# import minillm.functional as F
#
# x = Tensor(np.random.randn(4, 64, 96).astype(np.float32), device="cuda", requires_grad=True)
# w = Tensor(np.random.randn(96, 32).astype(np.float32), device="cuda", requires_grad=True)
# with dispatch.use(matmul="v2_smem_tiles"), dispatch.trace() as routes:
#     F.softmax(x @ w).sum().backward()  # each backward is the chosen version's backward
# print(routes)  # [Route(op='matmul', version='v2_smem_tiles', reason=None),
# #                 Route(op='softmax', version='v3_online_warp', reason=None)]
# ```
#
# The settings work without a GPU; only the launch needs one:

# %%
print("default versions:", dispatch.current_versions())
assert dispatch.current_versions() == {op: best("cupy", op) for op in OPS}
with dispatch.use(matmul="v2_smem_tiles", softmax="builtin") as chosen:
    print("inside use():   ", chosen)
    assert chosen["matmul"] == "v2_smem_tiles" and chosen["softmax"] == "builtin"
assert dispatch.current_versions()["matmul"] == best("cupy", "matmul")  # restored on exit
try:
    dispatch.set_versions(matmul="v9_tensor_cores")
except ValueError as e:
    print("ValueError:", e)
else:
    raise AssertionError("dispatch accepted a version that does not exist")

with dispatch.trace() as routes:
    Tensor(a) @ Tensor(b)  # NumPy data: the reference runs, nothing is dispatched
assert routes == []

if cupy.is_available():  # a GPU: the product runs the default CuPy matmul kernel
    with dispatch.trace() as routes:
        Tensor(a, device="cuda") @ Tensor(b, device="cuda")
    print(routes)
    assert [r.version for r in routes] == [best("cupy", "matmul")]
else:
    try:
        Tensor(a, device="cuda")
    except RuntimeError as e:
        print("RuntimeError:", e)
    else:
        raise AssertionError("Tensor(device='cuda') succeeded without a GPU")

# %% [markdown]
# ## Summary
#
# - A CUDA kernel is one function run by a grid of blocks of threads. Blocks are independent
#   (parallelism); a block's threads share on-chip memory and barriers (reuse).
# - **C25, block-wise computation**, is the same idea at every scale. Matmul splits C into
#   independent tiles and sums K tile by tile, so one tile of A and B at a time is on chip and
#   each loaded element is reused. Softmax splits a row across threads and merges (max, sum)
#   pairs. Attention streams key tiles with a running max, so the T x S matrix never exists.
# - Every Numba version ran here in the simulator, forward and backward, on ragged shapes, and
#   matched the float64 NumPy reference within the kernel tests' tolerances. Every CUDA C source
#   compiled with NVRTC for sm_90 with no warning; only the flash dK/dV kernel at D = 64 spills,
#   at the 255-register cap.
# - What is *not* known yet is the speed: the GPU benchmark has not been run. `tests/kernels`
#   and docs/kernels.md have the rest: the emulator that runs the CUDA C, the GPU tests, and the
#   version notes.
