// Helpers shared by the .cu files of this package. _module.source() pastes this file in place of
// `#include "common.cuh"`, so CuPy's compile cache (keyed on the source text) sees its changes.
#pragma once

// NVRTC defines no INFINITY/FLT_MAX macros: build the infinities from their bit patterns.
#define NEG_INF __int_as_float(0xff800000)
#define POS_INF __int_as_float(0x7f800000)

// exp(a - b), with exp(-inf - b) = 0 even when b is -inf too (a masked or empty row).
__device__ __forceinline__ float exp_sub(float a, float b) {
    return a == NEG_INF ? 0.f : expf(a - b);
}

// ---- shared-memory tree reductions (v1 kernels; blockDim.x a power of two, buf blockDim.x) ----
__device__ float smem_tree_sum(float v, float* buf) {
    const int tid = threadIdx.x;
    buf[tid] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) buf[tid] += buf[tid + s];
        __syncthreads();
    }
    const float r = buf[0];
    __syncthreads();  // buf is reused by the next reduction
    return r;
}

__device__ float smem_tree_max(float v, float* buf) {
    const int tid = threadIdx.x;
    buf[tid] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) buf[tid] = fmaxf(buf[tid], buf[tid + s]);
        __syncthreads();
    }
    const float r = buf[0];
    __syncthreads();
    return r;
}

// ---- warp-shuffle reductions (v2+ kernels): every lane gets the result ----
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide sum/max: shuffle within each warp, then across the warps through red[32].
// blockDim.x a multiple of 32; every thread gets the result.
__device__ float block_sum(float v, float* red) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();  // red may still be read by a previous call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    return warp_sum(lane < nwarps ? red[lane] : 0.f);
}

__device__ float block_max(float v, float* red) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    return warp_max(lane < nwarps ? red[lane] : NEG_INF);
}

// Online-softmax pair (m, z) = (running max, sum of exp(x - m)): merge (m2, z2) into (m, z).
__device__ __forceinline__ void online_merge(float& m, float& z, float m2, float z2) {
    const float mn = fmaxf(m, m2);
    z = z * exp_sub(m, mn) + z2 * exp_sub(m2, mn);
    m = mn;
}

__device__ __forceinline__ void warp_online(float& m, float& z) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
        const float z2 = __shfl_xor_sync(0xffffffffu, z, o);
        online_merge(m, z, m2, z2);
    }
}

// Block-wide online merge through red_m[32], red_z[32]; every thread gets the row's (m, z).
__device__ void block_online(float& m, float& z, float* red_m, float* red_z) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    warp_online(m, z);
    __syncthreads();
    if (lane == 0) {
        red_m[warp] = m;
        red_z[warp] = z;
    }
    __syncthreads();
    m = lane < nwarps ? red_m[lane] : NEG_INF;
    z = lane < nwarps ? red_z[lane] : 0.f;
    warp_online(m, z);
}
