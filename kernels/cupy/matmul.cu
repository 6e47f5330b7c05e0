// Batched float32 matmul: C[z] = A[z] @ B[z], A (Bt, M, K), B (Bt, K, N), C (Bt, M, N) row-major.
// Held against minillm.tensor.primitives.matmul_forward / matmul_backward (host: matmul.py).
//
// Versions (Simon Boehm's SGEMM worklog, llm.c dev/cuda style):
//   v1_naive          one thread per C element, threadIdx.x along N so B loads and C stores
//                     coalesce; every A and B element is read from global memory M or N times.
//   v2_smem_tiles     32x32 tiles of A and B staged in shared memory: each global element is read
//                     once per tile instead of once per output, 32x less global traffic.
//   v3_reg_block_2d   each thread computes an 8x8 block of C as outer products of an A column
//                     slice and a B row slice held in registers: 16x fewer shared loads per FMA.
//   v4_float4         v3 with 128-bit (float4) global loads/stores and float4 shared reads;
//                     needs row-major operands (the host copies transposed views) and uses the
//                     vector path only when K, N are multiples of 4, scalar loads otherwise.
//
// v1-v3 read A and B through element strides (batch, row, col), so the backward's transposed
// operands (dY B^T, A^T dY) are views, not copies. C is always contiguous.
// NVRTC notes: no <cstdint>, no INFINITY; 64-bit offsets via long long.

extern "C" __global__ void matmul_v1_naive(const float* __restrict__ A,
                                           const float* __restrict__ B, float* __restrict__ C,
                                           int M, int N, int K, long long sAb, long long sAm,
                                           long long sAk, long long sBb, long long sBk,
                                           long long sBn) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int m = blockIdx.y * blockDim.y + threadIdx.y;
    const long long z = blockIdx.z;
    if (m >= M || n >= N) return;
    const float* a = A + z * sAb + m * sAm;
    const float* b = B + z * sBb + n * sBn;
    float acc = 0.f;
    for (int k = 0; k < K; ++k) acc += a[k * sAk] * b[k * sBk];
    C[(z * M + m) * N + n] = acc;
}

template <int TILE>
__global__ void matmul_v2_smem_tiles(const float* __restrict__ A, const float* __restrict__ B,
                                     float* __restrict__ C, int M, int N, int K, long long sAb,
                                     long long sAm, long long sAk, long long sBb, long long sBk,
                                     long long sBn) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int n = blockIdx.x * TILE + tx;
    const int m = blockIdx.y * TILE + ty;
    const long long z = blockIdx.z;
    A += z * sAb;
    B += z * sBb;
    float acc = 0.f;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        // zero-fill outside the matrix so ragged edges need no test in the inner loop
        As[ty][tx] = (m < M && k0 + tx < K) ? A[m * sAm + (k0 + tx) * sAk] : 0.f;
        Bs[ty][tx] = (k0 + ty < K && n < N) ? B[(k0 + ty) * sBk + n * sBn] : 0.f;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];  // As: broadcast, Bs: stride 1
        __syncthreads();
    }
    if (m < M && n < N) C[(z * M + m) * N + n] = acc;
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    matmul_v3_reg_block_2d(const float* __restrict__ A, const float* __restrict__ B,
                           float* __restrict__ C, int M, int N, int K, long long sAb,
                           long long sAm, long long sAk, long long sBb, long long sBk,
                           long long sBn) {
    constexpr int NT = (BM / TM) * (BN / TN);
    __shared__ float As[BK][BM];  // transposed: a column of the A tile is contiguous
    __shared__ float Bs[BK][BN];
    const int tid = threadIdx.x;
    const int tcol = tid % (BN / TN), trow = tid / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const long long z = blockIdx.z;
    A += z * sAb;
    B += z * sBb;
    float acc[TM][TN] = {};
    float ra[TM], rb[TN];
    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int i = tid; i < BM * BK; i += NT) {  // consecutive threads: consecutive k
            const int r = i / BK, c = i % BK, gm = m0 + r, gk = k0 + c;
            As[c][r] = (gm < M && gk < K) ? A[gm * sAm + gk * sAk] : 0.f;
        }
        for (int i = tid; i < BK * BN; i += NT) {  // consecutive threads: consecutive n
            const int r = i / BN, c = i % BN, gk = k0 + r, gn = n0 + c;
            Bs[r][c] = (gk < K && gn < N) ? B[gk * sBk + gn * sBn] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
#pragma unroll
            for (int i = 0; i < TM; ++i) ra[i] = As[k][trow * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) rb[j] = Bs[k][tcol * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += ra[i] * rb[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int gm = m0 + trow * TM + i;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int gn = n0 + tcol * TN + j;
            if (gm < M && gn < N) C[(z * M + gm) * N + gn] = acc[i][j];
        }
    }
}

// Four consecutive floats p[col..col+3] of row `row`, zero outside (nrows, ncols); one 128-bit
// load when `vec` (row length a multiple of 4 and 16-byte aligned base) and all four are inside.
__device__ __forceinline__ float4 load4(const float* __restrict__ p, int row, int col, int nrows,
                                        int ncols, bool vec) {
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (row >= nrows) return v;
    const float* q = p + (long long)row * ncols + col;
    if (vec && col + 3 < ncols) return *reinterpret_cast<const float4*>(q);
    if (col < ncols) v.x = q[0];
    if (col + 1 < ncols) v.y = q[1];
    if (col + 2 < ncols) v.z = q[2];
    if (col + 3 < ncols) v.w = q[3];
    return v;
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    matmul_v4_float4(const float* __restrict__ A, const float* __restrict__ B,
                     float* __restrict__ C, int M, int N, int K, int vec_a, int vec_b, int vec_c) {
    static_assert(BK % 4 == 0 && BN % 4 == 0 && TM % 4 == 0 && TN % 4 == 0, "float4 tiles");
    constexpr int NT = (BM / TM) * (BN / TN);
    __shared__ __align__(16) float As[BK][BM];
    __shared__ __align__(16) float Bs[BK][BN];
    const int tid = threadIdx.x;
    const int tcol = tid % (BN / TN), trow = tid / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const long long z = blockIdx.z;
    A += z * M * K;
    B += z * K * N;
    C += z * M * N;
    float acc[TM][TN] = {};
    float ra[TM], rb[TN];
    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int i = tid; i < BM * BK / 4; i += NT) {
            const int r = i / (BK / 4), c = (i % (BK / 4)) * 4;
            const float4 v = load4(A, m0 + r, k0 + c, M, K, vec_a);
            As[c + 0][r] = v.x;  // transpose on the way in
            As[c + 1][r] = v.y;
            As[c + 2][r] = v.z;
            As[c + 3][r] = v.w;
        }
        for (int i = tid; i < BK * BN / 4; i += NT) {
            const int r = i / (BN / 4), c = (i % (BN / 4)) * 4;
            *reinterpret_cast<float4*>(&Bs[r][c]) = load4(B, k0 + r, n0 + c, K, N, vec_b);
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
#pragma unroll
            for (int i = 0; i < TM; i += 4) {  // 128-bit shared loads
                const float4 t = *reinterpret_cast<const float4*>(&As[k][trow * TM + i]);
                ra[i] = t.x, ra[i + 1] = t.y, ra[i + 2] = t.z, ra[i + 3] = t.w;
            }
#pragma unroll
            for (int j = 0; j < TN; j += 4) {
                const float4 t = *reinterpret_cast<const float4*>(&Bs[k][tcol * TN + j]);
                rb[j] = t.x, rb[j + 1] = t.y, rb[j + 2] = t.z, rb[j + 3] = t.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += ra[i] * rb[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int gm = m0 + trow * TM + i;
        if (gm >= M) break;
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
            const int gn = n0 + tcol * TN + j;
            float* c = C + (long long)gm * N + gn;
            if (vec_c && gn + 3 < N) {
                *reinterpret_cast<float4*>(c) =
                    make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
            } else {
#pragma unroll
                for (int jj = 0; jj < 4; ++jj)
                    if (gn + jj < N) c[jj] = acc[i][j + jj];
            }
        }
    }
}
