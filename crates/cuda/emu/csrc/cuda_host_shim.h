// Just enough of CUDA C for the kernels in kernels/ to compile as host C++ and run serially.
//
// A "launch" loops over every block and every thread of the grid in order, setting the
// thread-local built-ins before each call. That is a valid schedule only for kernels without
// __syncthreads and without shared memory, which is all fedrecon's kernels; __syncthreads is
// deliberately not defined so a kernel that needs it fails to compile here.
#pragma once
#include <cmath>
#include <math.h>  // expf, sqrtf, fabsf in the global namespace, as in CUDA
#include <cstdint>

#define FEDRECON_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
    unsigned int x, y, z;
};
extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

// Serial: nothing can race.
static inline float atomicAdd(float* p, float v) {
    float old = *p;
    *p = old + v;
    return old;
}

using std::ceil;
using std::copysign;
using std::fmod;
using std::fabs;
using std::floor;
using std::fmax;
using std::fmin;
using std::sqrt;

// Run `kernel()` once per thread of a 1-D grid.
template <class F>
static void fedrecon_emulate_1d(unsigned int grid, unsigned int block, F kernel) {
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    for (unsigned int b = 0; b < grid; ++b) {
        for (unsigned int t = 0; t < block; ++t) {
            blockIdx = dim3{b, 0, 0};
            threadIdx = dim3{t, 0, 0};
            kernel();
        }
    }
}
