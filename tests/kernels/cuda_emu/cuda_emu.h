// cuda_emu.h: a small CPU emulator of the CUDA execution model, for running kernels/cupy/*.cu on
// machines without a GPU (tests only; see cuda_emu.py).
//
// Each CUDA thread of a block is a ucontext coroutine; blocks run one after another. A thread
// runs until it reaches __syncthreads() (block barrier) or a warp shuffle (warp barrier), then
// the next thread runs. A barrier opens when every thread of its group has arrived; if none
// can open (a thread exited, or waits at another barrier: a barrier inside divergent code),
// the launch fails with a message. __shared__ variables become function statics: one block runs at a time,
// so they are shared by exactly the threads of that block, like on the GPU.
#pragma once
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float __int_as_float(unsigned v) {
    float f;
    std::memcpy(&f, &v, 4);
    return f;
}
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
using std::max;
using std::min;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static

namespace emu {
enum State { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE };
struct Thread {
    ucontext_t ctx;
    dim3 idx;
    int linear = 0;
    State state = RUNNABLE;
};
inline std::vector<Thread> threads;
inline std::vector<std::vector<char>> stacks;
inline std::vector<float> shuffle_slots;
inline Thread* cur = nullptr;
inline ucontext_t scheduler;
inline dim3 block_idx, block_dim, grid_dim;
inline std::vector<float4> dynamic_smem;  // float4: 16-byte aligned
inline std::function<void()> body;
constexpr size_t STACK = 64 * 1024;

inline void wait(State s) {
    cur->state = s;
    swapcontext(&cur->ctx, &scheduler);
}

inline void trampoline() {
    body();
    cur->state = DONE;  // uc_link returns to the scheduler
}

inline int warp_of(int linear) { return linear / 32; }

// Run every thread of the current block to completion.
inline void run_block() {
    const int n = (int)threads.size();
    for (;;) {
        for (auto& t : threads) {
            if (t.state != RUNNABLE) continue;
            cur = &t;
            swapcontext(&scheduler, &t.ctx);
        }
        int done = 0, at_block = 0;
        for (auto& t : threads) done += t.state == DONE, at_block += t.state == AT_BLOCK_BARRIER;
        if (done == n) return;
        bool opened = false;
        for (int w = 0; w * 32 < n; ++w) {  // a warp barrier opens when its whole warp is there
            int lo = w * 32, hi = std::min(n, lo + 32), waiting = 0, live = 0;
            for (int i = lo; i < hi; ++i) {
                live += threads[i].state != DONE;
                waiting += threads[i].state == AT_WARP_BARRIER;
            }
            if (waiting && waiting == hi - lo) {
                for (int i = lo; i < hi; ++i) threads[i].state = RUNNABLE;
                opened = true;
            } else if (waiting && waiting == live) {
                throw std::runtime_error("warp shuffle with exited lanes in warp " +
                                         std::to_string(w));
            }
        }
        // strict: every thread of the block must reach __syncthreads (none may have exited;
        // CUDA calls a barrier in divergent code undefined)
        if (!opened && at_block == n) {
            for (auto& t : threads)
                if (t.state == AT_BLOCK_BARRIER) t.state = RUNNABLE;
            opened = true;
        }
        if (!opened)
            throw std::runtime_error(
                "deadlock in block (" + std::to_string(block_idx.x) + "," +
                std::to_string(block_idx.y) + "," + std::to_string(block_idx.z) + "): " +
                std::to_string(at_block) + " threads at __syncthreads, " +
                std::to_string(n - done - at_block) + " at a warp shuffle, " +
                std::to_string(done) + " exited");
    }
}

inline void launch(dim3 grid, dim3 block, size_t smem, std::function<void()> kernel) {
    const int n = (int)(block.x * block.y * block.z);
    if (n < 1 || n > 1024) throw std::runtime_error("block of " + std::to_string(n) + " threads");
    grid_dim = grid;
    block_dim = block;
    dynamic_smem.assign(smem / sizeof(float4) + 1, float4{});
    body = std::move(kernel);
    threads.assign(n, Thread{});
    if ((int)stacks.size() < n) stacks.resize(n, std::vector<char>(STACK));
    shuffle_slots.assign(n, 0.f);
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                block_idx = dim3(bx, by, bz);
                for (int i = 0; i < n; ++i) {
                    Thread& t = threads[i];
                    t.linear = i;
                    t.idx = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
                    t.state = RUNNABLE;
                    getcontext(&t.ctx);
                    t.ctx.uc_stack.ss_sp = stacks[i].data();
                    t.ctx.uc_stack.ss_size = STACK;
                    t.ctx.uc_link = &scheduler;
                    makecontext(&t.ctx, trampoline, 0);
                }
                run_block();
            }
}
}  // namespace emu

#define threadIdx (emu::cur->idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)

inline void __syncthreads() { emu::wait(emu::AT_BLOCK_BARRIER); }

template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask) {
    const int me = emu::cur->linear, src = (me & ~31) | ((me & 31) ^ lane_mask);
    emu::shuffle_slots[me] = (float)v;
    emu::wait(emu::AT_WARP_BARRIER);  // every lane has written its value
    const T r = src < (int)emu::shuffle_slots.size() ? (T)emu::shuffle_slots[src] : v;
    emu::wait(emu::AT_WARP_BARRIER);  // every lane has read before the slots are reused
    return r;
}
