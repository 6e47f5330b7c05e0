// Layer norm over the last axis of an (R, C) row-major array, and its backward.
//   mu = mean(x), var = mean((x - mu)^2) (biased), rstd = 1/sqrt(var + eps)   (eps inside sqrt)
//   y = (x - mu) * rstd * gamma + beta
//   xhat = (x - mu) rstd, g = dy gamma:  dx = rstd (g - mean(g) - xhat mean(g xhat)),
//   dgamma = sum_rows dy xhat, dbeta = sum_rows dy
// Held against minillm.ops.layer_norm (host: layer_norm.py). gamma/beta may be absent (flags).
//
// Versions:
//   v1_two_pass       one block per row; pass 1 sums x for mu, pass 2 sums (x - mu)^2: the
//                     textbook-stable two-pass variance, each sum a shared-memory tree.
//   v2_welford        one block per row; one pass: each thread runs Welford's update on its
//                     elements, then (n, mean, M2) triples merge in a shared tree (Chan et al.).
//   v3_welford_warp   one warp per row (8 rows per 256-thread block): Welford per lane, merged
//                     with __shfl_xor_sync, no shared memory and no __syncthreads. Rows of a
//                     few hundred to a few thousand floats are too short to keep a block busy.
// Backward: dx by one block per row with tree sums (v1, v2) or one warp per row (v3); dgamma and
// dbeta by a column kernel: 32 columns x 8 row-strided threads per block, summed in shared
// memory, deterministic (no atomics).
#include "common.cuh"

__device__ __forceinline__ float affine(float xhat, const float* gamma, const float* beta, int i,
                                        int has_gamma, int has_beta) {
    const float g = has_gamma ? gamma[i] : 1.f;
    return has_beta ? xhat * g + beta[i] : xhat * g;
}

extern "C" __global__ void layernorm_fwd_v1_two_pass(const float* __restrict__ x,
                                                     const float* __restrict__ gamma,
                                                     const float* __restrict__ beta,
                                                     float* __restrict__ y, float* __restrict__ mean,
                                                     float* __restrict__ rstd, int C, float eps,
                                                     int has_gamma, int has_beta) {
    extern __shared__ float buf[];  // blockDim.x floats
    const long long off = (long long)blockIdx.x * C;
    float s = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += x[off + i];
    const float mu = smem_tree_sum(s, buf) / C;
    float v = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float d = x[off + i] - mu;
        v += d * d;
    }
    const float r = rsqrtf(smem_tree_sum(v, buf) / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        y[off + i] = affine((x[off + i] - mu) * r, gamma, beta, i, has_gamma, has_beta);
    if (threadIdx.x == 0) {
        mean[blockIdx.x] = mu;
        rstd[blockIdx.x] = r;
    }
}

// Merge Welford triple (nb, mb, m2b) into (n, m, m2): Chan, Golub & LeVeque's parallel update.
__device__ __forceinline__ void welford_merge(float& n, float& m, float& m2, float nb, float mb,
                                              float m2b) {
    const float nt = n + nb;
    if (nt == 0.f) return;
    const float d = mb - m, wb = nb / nt;
    m += d * wb;
    m2 += m2b + d * d * n * wb;
    n = nt;
}

extern "C" __global__ void layernorm_fwd_v2_welford(const float* __restrict__ x,
                                                    const float* __restrict__ gamma,
                                                    const float* __restrict__ beta,
                                                    float* __restrict__ y, float* __restrict__ mean,
                                                    float* __restrict__ rstd, int C, float eps,
                                                    int has_gamma, int has_beta) {
    extern __shared__ float buf[];  // 3 * blockDim.x floats: n | mean | M2
    float* bn = buf;
    float* bm = buf + blockDim.x;
    float* b2 = buf + 2 * blockDim.x;
    const int tid = threadIdx.x;
    const long long off = (long long)blockIdx.x * C;
    float n = 0.f, m = 0.f, m2 = 0.f;
    for (int i = tid; i < C; i += blockDim.x) {  // Welford: one pass, no catastrophic cancel
        const float xi = x[off + i];
        n += 1.f;
        const float d = xi - m;
        m += d / n;
        m2 += d * (xi - m);
    }
    bn[tid] = n, bm[tid] = m, b2[tid] = m2;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            welford_merge(n, m, m2, bn[tid + s], bm[tid + s], b2[tid + s]);
            bn[tid] = n, bm[tid] = m, b2[tid] = m2;
        }
        __syncthreads();
    }
    const float mu = bm[0], r = rsqrtf(b2[0] / C + eps);
    for (int i = tid; i < C; i += blockDim.x)
        y[off + i] = affine((x[off + i] - mu) * r, gamma, beta, i, has_gamma, has_beta);
    if (tid == 0) {
        mean[blockIdx.x] = mu;
        rstd[blockIdx.x] = r;
    }
}

extern "C" __global__ void layernorm_fwd_v3_welford_warp(
    const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
    float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd, int R, int C,
    float eps, int has_gamma, int has_beta) {
    const int lane = threadIdx.x % 32;
    const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= R) return;  // whole warps leave together: the shuffles below stay full-warp
    const float* xr = x + row * C;
    float n = 0.f, m = 0.f, m2 = 0.f;
    for (int i = lane; i < C; i += 32) {
        const float xi = xr[i];
        n += 1.f;
        const float d = xi - m;
        m += d / n;
        m2 += d * (xi - m);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float nb = __shfl_xor_sync(0xffffffffu, n, o);
        const float mb = __shfl_xor_sync(0xffffffffu, m, o);
        const float m2b = __shfl_xor_sync(0xffffffffu, m2, o);
        welford_merge(n, m, m2, nb, mb, m2b);
    }
    const float r = rsqrtf(m2 / C + eps);
    for (int i = lane; i < C; i += 32)
        y[row * C + i] = affine((xr[i] - m) * r, gamma, beta, i, has_gamma, has_beta);
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

extern "C" __global__ void layernorm_bwd_dx_smem(const float* __restrict__ dy,
                                                 const float* __restrict__ x,
                                                 const float* __restrict__ gamma,
                                                 const float* __restrict__ mean,
                                                 const float* __restrict__ rstd,
                                                 float* __restrict__ dx, int C, int has_gamma) {
    extern __shared__ float buf[];
    const long long off = (long long)blockIdx.x * C;
    const float mu = mean[blockIdx.x], r = rstd[blockIdx.x];
    float sg = 0.f, sgx = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float g = has_gamma ? dy[off + i] * gamma[i] : dy[off + i];
        sg += g;
        sgx += g * (x[off + i] - mu) * r;
    }
    const float mg = smem_tree_sum(sg, buf) / C, mgx = smem_tree_sum(sgx, buf) / C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float g = has_gamma ? dy[off + i] * gamma[i] : dy[off + i];
        dx[off + i] = r * (g - mg - (x[off + i] - mu) * r * mgx);
    }
}

extern "C" __global__ void layernorm_bwd_dx_warp(const float* __restrict__ dy,
                                                 const float* __restrict__ x,
                                                 const float* __restrict__ gamma,
                                                 const float* __restrict__ mean,
                                                 const float* __restrict__ rstd,
                                                 float* __restrict__ dx, int R, int C,
                                                 int has_gamma) {
    const int lane = threadIdx.x % 32;
    const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= R) return;
    const long long off = row * C;
    const float mu = mean[row], r = rstd[row];
    float sg = 0.f, sgx = 0.f;
    for (int i = lane; i < C; i += 32) {
        const float g = has_gamma ? dy[off + i] * gamma[i] : dy[off + i];
        sg += g;
        sgx += g * (x[off + i] - mu) * r;
    }
    const float mg = warp_sum(sg) / C, mgx = warp_sum(sgx) / C;
    for (int i = lane; i < C; i += 32) {
        const float g = has_gamma ? dy[off + i] * gamma[i] : dy[off + i];
        dx[off + i] = r * (g - mg - (x[off + i] - mu) * r * mgx);
    }
}

// dgamma[c] = sum_r dy[r, c] xhat[r, c], dbeta[c] = sum_r dy[r, c]. Block (32, 8): threadIdx.x
// picks the column (coalesced across the warp), threadIdx.y strides over rows; the 8 partial
// sums per column meet in shared memory.
extern "C" __global__ void layernorm_bwd_dparams(const float* __restrict__ dy,
                                                 const float* __restrict__ x,
                                                 const float* __restrict__ mean,
                                                 const float* __restrict__ rstd,
                                                 float* __restrict__ dgamma,
                                                 float* __restrict__ dbeta, int R, int C) {
    __shared__ float sg[8][33], sb[8][33];  // +1 column: no bank conflicts on the transposed read
    const int c = blockIdx.x * 32 + threadIdx.x;
    float g = 0.f, b = 0.f;
    if (c < C) {
        for (int r = threadIdx.y; r < R; r += 8) {
            const long long i = (long long)r * C + c;
            g += dy[i] * (x[i] - mean[r]) * rstd[r];
            b += dy[i];
        }
    }
    sg[threadIdx.y][threadIdx.x] = g;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
#pragma unroll
        for (int k = 1; k < 8; ++k) g += sg[k][threadIdx.x], b += sb[k][threadIdx.x];
        dgamma[c] = g;
        dbeta[c] = b;
    }
}
