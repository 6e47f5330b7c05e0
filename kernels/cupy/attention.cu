// Scaled dot-product attention, forward and backward, on q (BH, T, D), k and v (BH, S, D):
//   S = q k^T * scale, P = softmax(S) over keys (masked keys get P = 0; a row with every key
//   masked gets P = 0 and output 0), O = P v                                    (F5, F16-F18)
//   backward: dV = P^T dO, dP = dO V^T, Delta = rowsum(dP * P) = rowsum(dO * O),
//             dS = P * (dP - Delta), dQ = dS K * scale, dK = dS^T Q * scale
// Held against minillm.ops.attention (host: attention.py). Causal masking is top-left aligned
// (key s visible to query t iff s <= t, as PyTorch's is_causal); a boolean mask (1 = may
// attend) is read in place through broadcast strides (see _shapes.attention_dims).
//
// Versions:
//   v1_naive  three launches forward: scores = q k^T (matmul.cu v1), one block per row applies
//             scale and masks and takes the softmax in place, O = P v (matmul.cu v1). The
//             (BH, T, S) score matrix goes through global memory three times and is kept for the
//             backward (five launches: two matmuls, the row softmax backward, two matmuls).
//   v2_flash  FlashAttention-style fused forward: a block owns BR query rows (one per thread,
//             q and the output row in registers) and streams BC-key tiles of K and V through
//             shared memory; an online softmax (running max m, sum l, output rescaled by
//             exp(m_old - m_new)) means S and P are never stored. Saves the row's
//             logsumexp L = m + log l (+inf for a fully masked row, so exp(s - L) = 0).
//             Causal blocks skip the key tiles above the diagonal. K and V tiles are read as
//             float4 broadcasts: one shared load per four multiply-adds, not one per one.
//             Backward (FlashAttention-2): Delta = rowsum(O * dO) (one warp per row), then
//             dK, dV by one thread per key looping over query tiles, and dQ by one thread per
//             query looping over key tiles, each recomputing P = exp(q.k * scale - L): two
//             passes instead of atomics, deterministic.
//   Head dims up to 64: D is padded to the template's DMAX (16, 32 or 64) with zeros. (DMAX 128
//   needs > 255 registers per thread in this one-thread-per-row layout.)
#include "common.cuh"

#define MASK_PARAMS                                                                      \
    const unsigned char *__restrict__ mask, int has_mask, int mH, long long msB, long long msH, \
        long long msT, long long msS, int causal
#define MASK_ARGS mask, has_mask, mH, msB, msH, msT, msS, causal

// May query t of head bh attend key s?
__device__ __forceinline__ bool allowed(MASK_PARAMS, int bh, int t, int s) {
    if (causal && s > t) return false;
    if (!has_mask) return true;
    return mask[(bh / mH) * msB + (bh % mH) * msH + t * msT + s * msS] != 0;
}

// ---- v1_naive: in-place masked softmax of the (BH, T, S) scores, one block per (t, bh) row ----
extern "C" __global__ void attn_softmax_fwd_v1_naive(float* __restrict__ P, int T, int S,
                                                     float scale, MASK_PARAMS) {
    extern __shared__ float buf[];  // blockDim.x floats
    const int t = blockIdx.x, bh = blockIdx.y;
    float* row = P + ((long long)bh * T + t) * S;
    float m = NEG_INF;
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
        const float x = allowed(MASK_ARGS, bh, t, s) ? row[s] * scale : NEG_INF;
        row[s] = x;
        m = fmaxf(m, x);
    }
    m = smem_tree_max(m, buf);
    float z = 0.f;
    for (int s = threadIdx.x; s < S; s += blockDim.x) z += exp_sub(row[s], m);
    z = smem_tree_sum(z, buf);
    const float inv = z > 0.f ? 1.f / z : 0.f;  // fully masked row: P = 0
    for (int s = threadIdx.x; s < S; s += blockDim.x) row[s] = exp_sub(row[s], m) * inv;
}

// dS = P * (dP - rowsum(P * dP)) * scale, in place on dP (the scale of dQ and dK folded in).
extern "C" __global__ void attn_softmax_bwd_v1_naive(const float* __restrict__ P,
                                                     float* __restrict__ dP, int S, float scale) {
    extern __shared__ float buf[];
    const long long off = (long long)blockIdx.x * S;
    float dot = 0.f;
    for (int s = threadIdx.x; s < S; s += blockDim.x) dot += P[off + s] * dP[off + s];
    dot = smem_tree_sum(dot, buf);
    for (int s = threadIdx.x; s < S; s += blockDim.x)
        dP[off + s] = P[off + s] * (dP[off + s] - dot) * scale;
}

// ---- v2_flash forward: grid (ceil(T / BR), BH), BR threads ----
template <int DMAX, int BR, int BC>
__global__ void __launch_bounds__(BR)
    attn_fwd_v2_flash(const float* __restrict__ Q, const float* __restrict__ K,
                      const float* __restrict__ V, float* __restrict__ O, float* __restrict__ L,
                      int T, int S, int D, float scale, MASK_PARAMS) {
    // every thread reads the same Ks[j][d..d+3]: one 128-bit broadcast load per 4 multiply-adds
    __shared__ __align__(16) float Ks[BC][DMAX];
    __shared__ __align__(16) float Vs[BC][DMAX];
    __shared__ float Ss[BC][BR];  // the tile's scores, one column per thread (conflict-free)
    const int bh = blockIdx.y, t0 = blockIdx.x * BR, t = t0 + threadIdx.x;
    const bool active = t < T;
    Q += (long long)bh * T * D;
    K += (long long)bh * S * D;
    V += (long long)bh * S * D;
    float q[DMAX], o[DMAX];
#pragma unroll
    for (int d = 0; d < DMAX; ++d) {
        q[d] = active && d < D ? Q[(long long)t * D + d] * scale : 0.f;
        o[d] = 0.f;
    }
    float m = NEG_INF, l = 0.f;
    const int s_end = causal ? min(S, t0 + BR) : S;  // keys past the tile's last query: masked
    for (int s0 = 0; s0 < s_end; s0 += BC) {
        for (int i = threadIdx.x; i < BC * DMAX; i += BR) {  // coalesced along d
            const int j = i / DMAX, d = i % DMAX;
            const bool in = s0 + j < S && d < D;
            Ks[j][d] = in ? K[(long long)(s0 + j) * D + d] : 0.f;
            Vs[j][d] = in ? V[(long long)(s0 + j) * D + d] : 0.f;
        }
        __syncthreads();
        if (active) {
            float mt = NEG_INF;
            // j loops stay rolled (unrolling BC x DMAX multiply-adds made NVRTC take minutes);
            // the d loops unroll so q[] and o[] stay in registers
#pragma unroll 1
            for (int j = 0; j < BC; ++j) {
                float x = NEG_INF;
                if (s0 + j < S && allowed(MASK_ARGS, bh, t, s0 + j)) {
                    x = 0.f;
#pragma unroll
                    for (int d = 0; d < DMAX; d += 4) {
                        const float4 k4 = *reinterpret_cast<const float4*>(&Ks[j][d]);
                        x += q[d] * k4.x + q[d + 1] * k4.y + q[d + 2] * k4.z + q[d + 3] * k4.w;
                    }
                }
                Ss[j][threadIdx.x] = x;
                mt = fmaxf(mt, x);
            }
            const float mn = fmaxf(m, mt);
            if (mn != NEG_INF) {  // else every key so far is masked: nothing to add
                const float alpha = exp_sub(m, mn);  // rescale what was summed under the old max
                l *= alpha;
#pragma unroll
                for (int d = 0; d < DMAX; ++d) o[d] *= alpha;
#pragma unroll 1
                for (int j = 0; j < BC; ++j) {
                    const float p = exp_sub(Ss[j][threadIdx.x], mn);
                    l += p;
#pragma unroll
                    for (int d = 0; d < DMAX; d += 4) {
                        const float4 v4 = *reinterpret_cast<const float4*>(&Vs[j][d]);
                        o[d] += p * v4.x;
                        o[d + 1] += p * v4.y;
                        o[d + 2] += p * v4.z;
                        o[d + 3] += p * v4.w;
                    }
                }
                m = mn;
            }
        }
        __syncthreads();
    }
    if (active) {
        const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
        for (int d = 0; d < DMAX; ++d)  // compile-time indices keep o[] in registers
            if (d < D) O[((long long)bh * T + t) * D + d] = o[d] * inv;
        L[(long long)bh * T + t] = l > 0.f ? m + logf(l) : POS_INF;
    }
}

// ---- v2_flash backward ----
// Delta[r] = sum_d O[r, d] dO[r, d]: one warp per row, 8 rows per 256-thread block.
extern "C" __global__ void attn_bwd_delta(const float* __restrict__ O,
                                          const float* __restrict__ dO, float* __restrict__ Delta,
                                          long long R, int D) {
    const long long r = blockIdx.x * 8LL + threadIdx.x / 32;
    if (r >= R) return;
    float s = 0.f;
    for (int d = threadIdx.x % 32; d < D; d += 32) s += O[r * D + d] * dO[r * D + d];
    s = warp_sum(s);
    if (threadIdx.x % 32 == 0) Delta[r] = s;
}

// dK, dV: grid (ceil(S / BC), BH), BC threads, one key row each (its k and v in shared memory,
// padded to DMAX + 1 floats per row so the threads' rows fall in different banks).
template <int DMAX, int BC, int BR>
__global__ void __launch_bounds__(BC)
    attn_bwd_dkdv_v2_flash(const float* __restrict__ Q, const float* __restrict__ K,
                           const float* __restrict__ V, const float* __restrict__ dO,
                           const float* __restrict__ L, const float* __restrict__ Delta,
                           float* __restrict__ dK, float* __restrict__ dV, int T, int S, int D,
                           float scale, MASK_PARAMS) {
    __shared__ float Kj[BC][DMAX + 1], Vj[BC][DMAX + 1];
    __shared__ float Qs[BR][DMAX], dOs[BR][DMAX], Ls[BR], Ds[BR];
    const int bh = blockIdx.y, s0 = blockIdx.x * BC, tid = threadIdx.x, s = s0 + tid;
    const bool active = s < S;
    const long long qoff = (long long)bh * T * D, koff = (long long)bh * S * D;
    for (int i = tid; i < BC * DMAX; i += BC) {
        const int j = i / DMAX, d = i % DMAX;
        const bool in = s0 + j < S && d < D;
        Kj[j][d] = in ? K[koff + (long long)(s0 + j) * D + d] : 0.f;
        Vj[j][d] = in ? V[koff + (long long)(s0 + j) * D + d] : 0.f;
    }
    float dk[DMAX], dv[DMAX];
#pragma unroll
    for (int d = 0; d < DMAX; ++d) dk[d] = dv[d] = 0.f;
    const int t_begin = causal ? (s0 / BR) * BR : 0;  // earlier queries never see these keys
    for (int t0 = t_begin; t0 < T; t0 += BR) {
        __syncthreads();  // the previous tile is fully read (and Kj/Vj written, first time)
        for (int i = tid; i < BR * DMAX; i += BC) {
            const int r = i / DMAX, d = i % DMAX;
            const bool in = t0 + r < T && d < D;
            Qs[r][d] = in ? Q[qoff + (long long)(t0 + r) * D + d] : 0.f;
            dOs[r][d] = in ? dO[qoff + (long long)(t0 + r) * D + d] : 0.f;
        }
        for (int r = tid; r < BR; r += BC) {
            Ls[r] = t0 + r < T ? L[(long long)bh * T + t0 + r] : POS_INF;
            Ds[r] = t0 + r < T ? Delta[(long long)bh * T + t0 + r] : 0.f;
        }
        __syncthreads();
        if (!active) continue;
#pragma unroll 1
        for (int r = 0; r < BR && t0 + r < T; ++r) {
            if (!allowed(MASK_ARGS, bh, t0 + r, s)) continue;
            float x = 0.f, dp = 0.f;
#pragma unroll
            for (int d = 0; d < DMAX; ++d) {
                x += Qs[r][d] * Kj[tid][d];
                dp += dOs[r][d] * Vj[tid][d];
            }
            const float p = expf(x * scale - Ls[r]);  // L = +inf (fully masked row): p = 0
            const float ds = p * (dp - Ds[r]);
#pragma unroll
            for (int d = 0; d < DMAX; ++d) {
                dv[d] += p * dOs[r][d];
                dk[d] += ds * Qs[r][d];
            }
        }
    }
    if (active) {
#pragma unroll
        for (int d = 0; d < DMAX; ++d) {
            if (d < D) {
                dK[koff + (long long)s * D + d] = dk[d] * scale;
                dV[koff + (long long)s * D + d] = dv[d];
            }
        }
    }
}

// dQ: grid (ceil(T / BR), BH), BR threads, one query row each (q and dO rows in padded shared
// memory, dq in registers), looping over BC-key tiles.
template <int DMAX, int BR, int BC>
__global__ void __launch_bounds__(BR)
    attn_bwd_dq_v2_flash(const float* __restrict__ Q, const float* __restrict__ K,
                         const float* __restrict__ V, const float* __restrict__ dO,
                         const float* __restrict__ L, const float* __restrict__ Delta,
                         float* __restrict__ dQ, int T, int S, int D, float scale, MASK_PARAMS) {
    __shared__ float Qi[BR][DMAX + 1], dOi[BR][DMAX + 1];
    __shared__ float Ks[BC][DMAX], Vs[BC][DMAX];
    const int bh = blockIdx.y, t0 = blockIdx.x * BR, tid = threadIdx.x, t = t0 + tid;
    const bool active = t < T;
    const long long qoff = (long long)bh * T * D, koff = (long long)bh * S * D;
    for (int i = tid; i < BR * DMAX; i += BR) {
        const int r = i / DMAX, d = i % DMAX;
        const bool in = t0 + r < T && d < D;
        Qi[r][d] = in ? Q[qoff + (long long)(t0 + r) * D + d] : 0.f;
        dOi[r][d] = in ? dO[qoff + (long long)(t0 + r) * D + d] : 0.f;
    }
    const float Lt = active ? L[(long long)bh * T + t] : POS_INF;
    const float Dt = active ? Delta[(long long)bh * T + t] : 0.f;
    float dq[DMAX];
#pragma unroll
    for (int d = 0; d < DMAX; ++d) dq[d] = 0.f;
    const int s_end = causal ? min(S, t0 + BR) : S;
    for (int s0 = 0; s0 < s_end; s0 += BC) {
        __syncthreads();
        for (int i = tid; i < BC * DMAX; i += BR) {
            const int j = i / DMAX, d = i % DMAX;
            const bool in = s0 + j < S && d < D;
            Ks[j][d] = in ? K[koff + (long long)(s0 + j) * D + d] : 0.f;
            Vs[j][d] = in ? V[koff + (long long)(s0 + j) * D + d] : 0.f;
        }
        __syncthreads();
        if (!active) continue;
#pragma unroll 1
        for (int j = 0; j < BC && s0 + j < S; ++j) {
            if (!allowed(MASK_ARGS, bh, t, s0 + j)) continue;
            float x = 0.f, dp = 0.f;
#pragma unroll
            for (int d = 0; d < DMAX; ++d) {
                x += Qi[tid][d] * Ks[j][d];
                dp += dOi[tid][d] * Vs[j][d];
            }
            const float ds = expf(x * scale - Lt) * (dp - Dt);
#pragma unroll
            for (int d = 0; d < DMAX; ++d) dq[d] += ds * Ks[j][d];
        }
    }
    if (active) {
#pragma unroll
        for (int d = 0; d < DMAX; ++d)
            if (d < D) dQ[qoff + (long long)t * D + d] = dq[d] * scale;
    }
}
