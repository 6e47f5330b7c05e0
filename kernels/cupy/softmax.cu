// Softmax over the last axis of an (R, C) row-major array, and its backward.
//   s = exp(x - max x) / sum exp(x - max x)        (F17, max-subtracted)
//   dx = s * (dy - sum(dy * s))
// Held against minillm.ops.softmax (host: softmax.py). One block per row.
//
// Versions:
//   v1_smem_reduce   three passes over the row (max, sum of exp, write); each reduction is a
//                    shared-memory tree with a __syncthreads per level (log2(blockDim) barriers).
//   v2_warp_shuffle  the same passes, reduced with __shfl_xor_sync inside each warp and one
//                    32-float shared array across warps: two barriers per reduction.
//   v3_online_warp   online softmax: each thread keeps (running max m, sum z) and rescales z when
//                    m grows, so max and sum come from one pass; (m, z) pairs merge by shuffles.
//                    Two passes over the row instead of three (the idea behind FlashAttention).
// Backward: v1 reduces sum(dy*s) with the shared tree; v2 and v3 share the warp-shuffle kernel.
#include "common.cuh"

extern "C" __global__ void softmax_fwd_v1_smem_reduce(const float* __restrict__ x,
                                                      float* __restrict__ s, int C) {
    extern __shared__ float buf[];  // blockDim.x floats
    const float* xr = x + (long long)blockIdx.x * C;
    float* sr = s + (long long)blockIdx.x * C;
    float m = NEG_INF;
    for (int i = threadIdx.x; i < C; i += blockDim.x) m = fmaxf(m, xr[i]);
    m = smem_tree_max(m, buf);
    float z = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) z += expf(xr[i] - m);
    const float inv = 1.f / smem_tree_sum(z, buf);
    for (int i = threadIdx.x; i < C; i += blockDim.x) sr[i] = expf(xr[i] - m) * inv;
}

extern "C" __global__ void softmax_fwd_v2_warp_shuffle(const float* __restrict__ x,
                                                       float* __restrict__ s, int C) {
    __shared__ float red[32];
    const float* xr = x + (long long)blockIdx.x * C;
    float* sr = s + (long long)blockIdx.x * C;
    float m = NEG_INF;
    for (int i = threadIdx.x; i < C; i += blockDim.x) m = fmaxf(m, xr[i]);
    m = block_max(m, red);
    float z = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) z += expf(xr[i] - m);
    const float inv = 1.f / block_sum(z, red);
    for (int i = threadIdx.x; i < C; i += blockDim.x) sr[i] = expf(xr[i] - m) * inv;
}

extern "C" __global__ void softmax_fwd_v3_online_warp(const float* __restrict__ x,
                                                      float* __restrict__ s, int C) {
    __shared__ float red_m[32], red_z[32];
    const float* xr = x + (long long)blockIdx.x * C;
    float* sr = s + (long long)blockIdx.x * C;
    float m = NEG_INF, z = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) online_merge(m, z, xr[i], 1.f);
    block_online(m, z, red_m, red_z);
    const float inv = 1.f / z;
    for (int i = threadIdx.x; i < C; i += blockDim.x) sr[i] = expf(xr[i] - m) * inv;
}

extern "C" __global__ void softmax_bwd_v1_smem_reduce(const float* __restrict__ dy,
                                                      const float* __restrict__ s,
                                                      float* __restrict__ dx, int C) {
    extern __shared__ float buf[];
    const long long off = (long long)blockIdx.x * C;
    float dot = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) dot += dy[off + i] * s[off + i];
    dot = smem_tree_sum(dot, buf);
    for (int i = threadIdx.x; i < C; i += blockDim.x) dx[off + i] = s[off + i] * (dy[off + i] - dot);
}

extern "C" __global__ void softmax_bwd_warp_shuffle(const float* __restrict__ dy,
                                                    const float* __restrict__ s,
                                                    float* __restrict__ dx, int C) {
    __shared__ float red[32];
    const long long off = (long long)blockIdx.x * C;
    float dot = 0.f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) dot += dy[off + i] * s[off + i];
    dot = block_sum(dot, red);
    for (int i = threadIdx.x; i < C; i += blockDim.x) dx[off + i] = s[off + i] * (dy[off + i] - dot);
}
