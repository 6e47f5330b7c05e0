// GELU and its derivative, elementwise over a flat float32 array.
//   erf form  (approximate="none"): y = 0.5 x (1 + erf(x / sqrt 2)),
//                                   dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
//   tanh form (approximate="tanh"): u = sqrt(2/pi) (x + 0.044715 x^3), y = 0.5 x (1 + tanh u),
//             dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// Held against minillm.ops.gelu (host: gelu.py).
// Deviation: erff here is CUDA's (max error 2 ulp); the reference uses Abramowitz & Stegun
// 7.1.26 (|error| <= 1.5e-7), so the two agree to about 1e-7.
//
// Versions:
//   v1_elementwise  one thread per element in a grid-stride loop.
//   v2_float4       the same with 128-bit loads and stores (4 elements per thread per step):
//                   fewer memory instructions; a scalar tail handles n % 4 and unaligned bases.

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float gelu_f(float x, int tanh_form) {
    if (tanh_form) return 0.5f * x * (1.f + tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
    return 0.5f * x * (1.f + erff(x * INV_SQRT_2));
}

__device__ __forceinline__ float gelu_df(float x, int tanh_form) {
    if (tanh_form) {
        const float t = tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x));
        const float du = SQRT_2_OVER_PI * (1.f + 3.f * 0.044715f * x * x);
        return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du;
    }
    return 0.5f * (1.f + erff(x * INV_SQRT_2)) + x * expf(-0.5f * x * x) * INV_SQRT_2PI;
}

// backward=0: out = gelu(x); backward=1: out = dy * gelu'(x)
extern "C" __global__ void gelu_v1_elementwise(const float* __restrict__ x,
                                               const float* __restrict__ dy,
                                               float* __restrict__ out, long long n,
                                               int tanh_form, int backward) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        out[i] = backward ? dy[i] * gelu_df(x[i], tanh_form) : gelu_f(x[i], tanh_form);
}

// n4 = number of float4 vectors processed vectorised (the host sets 0 when a base is not
// 16-byte aligned); elements [4*n4, n) are done one by one.
extern "C" __global__ void gelu_v2_float4(const float* __restrict__ x,
                                          const float* __restrict__ dy, float* __restrict__ out,
                                          long long n, long long n4, int tanh_form, int backward) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long tid = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    for (long long i = tid; i < n4; i += stride) {
        const float4 v = reinterpret_cast<const float4*>(x)[i];
        float4 r;
        if (backward) {
            const float4 g = reinterpret_cast<const float4*>(dy)[i];
            r = make_float4(g.x * gelu_df(v.x, tanh_form), g.y * gelu_df(v.y, tanh_form),
                            g.z * gelu_df(v.z, tanh_form), g.w * gelu_df(v.w, tanh_form));
        } else {
            r = make_float4(gelu_f(v.x, tanh_form), gelu_f(v.y, tanh_form),
                            gelu_f(v.z, tanh_form), gelu_f(v.w, tanh_form));
        }
        reinterpret_cast<float4*>(out)[i] = r;
    }
    for (long long i = 4 * n4 + tid; i < n; i += stride)
        out[i] = backward ? dy[i] * gelu_df(x[i], tanh_form) : gelu_f(x[i], tanh_form);
}
