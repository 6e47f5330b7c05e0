"""The FlashAttention kernels of the Numba backend (host code and notes: attention.py).

Forward: a block owns BR query rows, one per thread (q and the output row in local arrays), and
streams BC-key tiles of K and V through shared memory with an online softmax (running max m,
sum l, output rescaled by exp(m_old - m_new)); it saves the row logsumexp L, +inf for a row
with every key masked so that exp(s - L) = 0. Backward (FlashAttention-2): Delta = rowsum(O dO),
then dK, dV with one thread per key looping over query tiles and dQ with one thread per query
looping over key tiles, both recomputing P = exp(q.k scale - L), dS = P (dP - Delta).
"""

import functools
import math

from numba import cuda, float32

from ._reduce import NEG_INF, exp_sub, fmax

POS_INF = float32(math.inf)


@cuda.jit(device=True)
def allowed(mask, has_mask, mH, msB, msH, msT, msS, causal, bh, t, s):
    """May query t of head bh attend key s?"""
    if causal and s > t:
        return False
    if not has_mask:
        return True
    return mask[(bh // mH) * msB + (bh % mH) * msH + t * msT + s * msS] != 0


@functools.cache
def flash_kernels(D, BR, BC):
    @cuda.jit
    def fwd(Q, K, V, O, L, scale, mask, has_mask, mH, msB, msH, msT, msS, causal):
        Ks = cuda.shared.array((BC, D), float32)
        Vs = cuda.shared.array((BC, D), float32)
        q = cuda.local.array(D, float32)
        o = cuda.local.array(D, float32)
        sc = cuda.local.array(BC, float32)
        T, S = Q.shape[1], K.shape[1]
        tid, bh, t0 = cuda.threadIdx.x, cuda.blockIdx.y, cuda.blockIdx.x * BR
        t = t0 + tid
        active = t < T
        for d in range(D):
            q[d] = Q[bh, t, d] * scale if active else float32(0.0)
            o[d] = 0
        m, l = NEG_INF, float32(0.0)
        s_end = (
            S if not causal or t0 + BR > S else t0 + BR
        )  # keys past the tile's last query: masked
        for s0 in range(0, s_end, BC):
            for i in range(tid, BC * D, BR):
                j, d = i // D, i % D
                Ks[j, d] = K[bh, s0 + j, d] if s0 + j < S else float32(0.0)
                Vs[j, d] = V[bh, s0 + j, d] if s0 + j < S else float32(0.0)
            cuda.syncthreads()
            if active:
                mt = NEG_INF
                for j in range(BC):
                    x = NEG_INF
                    if s0 + j < S and allowed(
                        mask, has_mask, mH, msB, msH, msT, msS, causal, bh, t, s0 + j
                    ):
                        x = float32(0.0)
                        for d in range(D):
                            x += q[d] * Ks[j, d]
                    sc[j] = x
                    mt = fmax(mt, x)
                mn = fmax(m, mt)
                if mn != NEG_INF:  # else every key so far is masked: nothing to add
                    alpha = exp_sub(m, mn)  # rescale what was summed under the old max
                    l *= alpha
                    for d in range(D):
                        o[d] *= alpha
                    for j in range(BC):
                        p = exp_sub(sc[j], mn)
                        l += p
                        for d in range(D):
                            o[d] += p * Vs[j, d]
                    m = mn
            cuda.syncthreads()
        if active:
            inv = float32(1.0) / l if l > 0 else float32(0.0)
            for d in range(D):
                O[bh, t, d] = o[d] * inv
            L[bh, t] = m + math.log(l) if l > 0 else POS_INF

    @cuda.jit
    def delta(O, dO, Delta):
        """Delta[r] = sum_d O[r, d] dO[r, d]; one thread per row"""
        r = cuda.grid(1)
        if r < O.shape[0]:
            s = float32(0.0)
            for d in range(D):
                s += O[r, d] * dO[r, d]
            Delta[r] = s

    @cuda.jit
    def dkdv(Q, K, V, dO, L, Delta, dK, dV, scale, mask, has_mask, mH, msB, msH, msT, msS, causal):
        Qs = cuda.shared.array((BR, D), float32)
        dOs = cuda.shared.array((BR, D), float32)
        Ls = cuda.shared.array(BR, float32)
        Ds = cuda.shared.array(BR, float32)
        k = cuda.local.array(D, float32)
        v = cuda.local.array(D, float32)
        dk = cuda.local.array(D, float32)
        dv = cuda.local.array(D, float32)
        T, S = Q.shape[1], K.shape[1]
        tid, bh, s0 = cuda.threadIdx.x, cuda.blockIdx.y, cuda.blockIdx.x * BC
        s = s0 + tid  # this thread's key
        active = s < S
        for d in range(D):
            k[d] = K[bh, s, d] if active else float32(0.0)
            v[d] = V[bh, s, d] if active else float32(0.0)
            dk[d] = 0
            dv[d] = 0
        t_begin = (s0 // BR) * BR if causal else 0  # earlier queries never see these keys
        for t0 in range(t_begin, T, BR):
            cuda.syncthreads()  # the previous tile is fully read
            for i in range(tid, BR * D, BC):
                r, d = i // D, i % D
                Qs[r, d] = Q[bh, t0 + r, d] if t0 + r < T else float32(0.0)
                dOs[r, d] = dO[bh, t0 + r, d] if t0 + r < T else float32(0.0)
            for r in range(tid, BR, BC):
                Ls[r] = L[bh, t0 + r] if t0 + r < T else POS_INF
                Ds[r] = Delta[bh, t0 + r] if t0 + r < T else float32(0.0)
            cuda.syncthreads()
            if active:
                for r in range(BR):
                    t = t0 + r
                    if t < T and allowed(mask, has_mask, mH, msB, msH, msT, msS, causal, bh, t, s):
                        x, dp = float32(0.0), float32(0.0)
                        for d in range(D):
                            x += Qs[r, d] * k[d]
                            dp += dOs[r, d] * v[d]
                        p = math.exp(x * scale - Ls[r])  # L = +inf (fully masked row): p = 0
                        ds = p * (dp - Ds[r])
                        for d in range(D):
                            dv[d] += p * dOs[r, d]
                            dk[d] += ds * Qs[r, d]
        if active:
            for d in range(D):
                dK[bh, s, d] = dk[d] * scale
                dV[bh, s, d] = dv[d]

    @cuda.jit
    def dq(Q, K, V, dO, L, Delta, dQ, scale, mask, has_mask, mH, msB, msH, msT, msS, causal):
        Ks = cuda.shared.array((BC, D), float32)
        Vs = cuda.shared.array((BC, D), float32)
        q = cuda.local.array(D, float32)
        do = cuda.local.array(D, float32)
        acc = cuda.local.array(D, float32)
        T, S = Q.shape[1], K.shape[1]
        tid, bh, t0 = cuda.threadIdx.x, cuda.blockIdx.y, cuda.blockIdx.x * BR
        t = t0 + tid  # this thread's query
        active = t < T
        for d in range(D):
            q[d] = Q[bh, t, d] if active else float32(0.0)
            do[d] = dO[bh, t, d] if active else float32(0.0)
            acc[d] = 0
        Lt = L[bh, t] if active else POS_INF
        Dt = Delta[bh, t] if active else float32(0.0)
        s_end = S if not causal or t0 + BR > S else t0 + BR
        for s0 in range(0, s_end, BC):
            cuda.syncthreads()
            for i in range(tid, BC * D, BR):
                j, d = i // D, i % D
                Ks[j, d] = K[bh, s0 + j, d] if s0 + j < S else float32(0.0)
                Vs[j, d] = V[bh, s0 + j, d] if s0 + j < S else float32(0.0)
            cuda.syncthreads()
            if active:
                for j in range(BC):
                    s = s0 + j
                    if s < S and allowed(mask, has_mask, mH, msB, msH, msT, msS, causal, bh, t, s):
                        x, dp = float32(0.0), float32(0.0)
                        for d in range(D):
                            x += q[d] * Ks[j, d]
                            dp += do[d] * Vs[j, d]
                        ds = math.exp(x * scale - Lt) * (dp - Dt)
                        for d in range(D):
                            acc[d] += ds * Ks[j, d]
        if active:
            for d in range(D):
                dQ[bh, t, d] = acc[d] * scale

    return fwd, delta, dkdv, dq
