// Cross-entropy of logits (N, V) against class ids (N,), fused with the softmax: the
// probabilities are never stored. Rows whose target is ignore_index count for nothing.
//   l_n = logsumexp(z_n) - z_{n, y_n};  loss = sum_n l_n / #valid ("mean"), sum ("sum"), l ("none")
//   dz_n = (exp(z_n - lse_n) - onehot(y_n)) * dl_n   (dl_n = dloss / #valid for "mean")
// Held against minillm.ops.cross_entropy (host: cross_entropy.py).
//
// Versions:
//   v1_smem_reduce   one block per row: a max pass and a sum-of-exp pass, each reduced by a
//                    shared-memory tree; the row's lse is kept for the backward.
//   v2_online_warp   one block per row, one pass: online (max, rescaled sum) per thread,
//                    merged with warp shuffles (see softmax.cu v3).
// Both share ce_reduce (one block sums the row losses and counts the valid rows, in a fixed
// order: deterministic) and ce_bwd (one block per row recomputes exp(z - lse) and writes dz).
#include "common.cuh"

extern "C" __global__ void ce_fwd_v1_smem_reduce(const float* __restrict__ logits,
                                                 const long long* __restrict__ targets,
                                                 float* __restrict__ losses, float* __restrict__ lse,
                                                 int V, long long ignore_index) {
    extern __shared__ float buf[];
    const float* z = logits + (long long)blockIdx.x * V;
    float m = NEG_INF;
    for (int i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, z[i]);
    m = smem_tree_max(m, buf);
    float s = 0.f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(z[i] - m);
    s = smem_tree_sum(s, buf);
    if (threadIdx.x == 0) {
        const float L = m + logf(s);
        const long long t = targets[blockIdx.x];
        lse[blockIdx.x] = L;
        losses[blockIdx.x] = t == ignore_index ? 0.f : L - z[t];
    }
}

extern "C" __global__ void ce_fwd_v2_online_warp(const float* __restrict__ logits,
                                                 const long long* __restrict__ targets,
                                                 float* __restrict__ losses, float* __restrict__ lse,
                                                 int V, long long ignore_index) {
    __shared__ float red_m[32], red_z[32];
    const float* z = logits + (long long)blockIdx.x * V;
    float m = NEG_INF, s = 0.f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) online_merge(m, s, z[i], 1.f);
    block_online(m, s, red_m, red_z);
    if (threadIdx.x == 0) {
        const float L = m + logf(s);
        const long long t = targets[blockIdx.x];
        lse[blockIdx.x] = L;
        losses[blockIdx.x] = t == ignore_index ? 0.f : L - z[t];
    }
}

// One block (blockDim a power of two): out = sum(losses) / #valid ("mean", mean=1) or the sum.
extern "C" __global__ void ce_reduce(const float* __restrict__ losses,
                                     const long long* __restrict__ targets, int N,
                                     long long ignore_index, int mean, float* __restrict__ out,
                                     float* __restrict__ n_valid) {
    extern __shared__ float buf[];
    float s = 0.f, c = 0.f;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        s += losses[i];
        c += targets[i] != ignore_index ? 1.f : 0.f;
    }
    s = smem_tree_sum(s, buf);
    c = smem_tree_sum(c, buf);
    if (threadIdx.x == 0) {
        out[0] = mean ? s / c : s;  // no valid row: 0/0 = nan, as PyTorch and the reference
        n_valid[0] = c;
    }
}

// dz[n, :] for row n = blockIdx.x. dloss is one float ("mean"/"sum") or N floats ("none",
// per_row=1); "mean" divides by n_valid[0].
extern "C" __global__ void ce_bwd(const float* __restrict__ logits,
                                  const long long* __restrict__ targets,
                                  const float* __restrict__ lse, const float* __restrict__ dloss,
                                  const float* __restrict__ n_valid, float* __restrict__ dlogits,
                                  int V, long long ignore_index, int per_row, int mean) {
    const long long off = (long long)blockIdx.x * V;
    const long long t = targets[blockIdx.x];
    float g = 0.f;
    if (t != ignore_index) g = (per_row ? dloss[blockIdx.x] : dloss[0]) / (mean ? n_valid[0] : 1.f);
    const float L = lse[blockIdx.x];
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        dlogits[off + i] = g * (expf(logits[off + i] - L) - (i == t ? 1.f : 0.f));
}
