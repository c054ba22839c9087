// Shared definitions for fedrecon's hand-written CUDA kernels.
//
// Every kernel file is compiled on its own by NVRTC at run time (crates/cuda prepends this header
// to it, so the kernels never need an include path), and as plain host C++ by the emulation crate
// (crates/cuda/emu), which defines the CUDA built-ins first (FEDRECON_EMULATION).
//
// Floating point: the kernels are compiled with --fmad=false --ftz=false --prec-div=true
// --prec-sqrt=true (and the emulation with -ffp-contract=off), so every + − × ÷ √ is one correctly
// rounded IEEE operation, exactly as in the Rust CPU code they mirror.
#pragma once

// ---- tuning constants -------------------------------------------------------------------------
// Threads per block of the one-thread-per-ray Joseph kernels (the launcher reads it back from
// the Rust side's `JOSEPH_BLOCK`; keep the two equal).
#define FEDRECON_JOSEPH_BLOCK 128
// Threads per block of joseph_transpose (one thread per element of the transposed image).
#define FEDRECON_JOSEPH_TRANSPOSE_BLOCK 256
// Threads per block of the element-wise SENSE kernels.
#define FEDRECON_SENSE_BLOCK 256
// Threads per block of the one-thread-per-point NUFFT gridding kernels.
#define FEDRECON_NUFFT_BLOCK 128
// Threads per block of the FFT passes (one thread per radix-R butterfly), the NUFFT
// deapodisation/crop and the SENSE shift/mask kernels.
#define FEDRECON_FFT_BLOCK 256
// Largest FFT radix kept in registers; larger prime factors take the O(R) re-reading path.
#define FEDRECON_FFT_REG_RADIX 8
// Threads per block of the FBP kernels (filter: one thread per output sample; back-projection:
// one thread per pixel).
#define FEDRECON_FBP_BLOCK 128
// Largest ES kernel width (FINUFFT's MAX_NSPREAD; `MAX_KERNEL_WIDTH` in nufft.rs).
#define FEDRECON_NUFFT_MAX_WIDTH 16

// ---- Joseph ray table ---------------------------------------------------------------------------
// One prepared ray is 3 floats (a, b, weight) in `ray_f` and 3 ints (k0, k1, x_major) in `ray_i`:
// the padded minor index at step k is m' = a + b·k, valid iff 0 < m' < n_minor + 1, for
// k0 ≤ k ≤ k1 (no step when k0 > k1); weight is the path length per step.
#define FEDRECON_RAY_F 3
#define FEDRECON_RAY_I 3

// Geometry kinds of joseph_prepare_rays.
#define FEDRECON_PARALLEL 0
#define FEDRECON_FAN_FLAT 1
#define FEDRECON_FAN_CURVED 2

// Global index of this thread along x.
static __device__ __forceinline__ long long fedrecon_global_x() {
    return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}

// Thread of a launch over `batch` items of `n` elements each, one thread per element: false for
// the threads past the end; else its global index *t, item *ib and element *p within the item.
static __device__ __forceinline__ bool fedrecon_batched(long long n, int batch, long long* t,
                                                        long long* ib, long long* p) {
    *t = fedrecon_global_x();
    if (*t >= n * batch) return false;
    *ib = *t / n;
    *p = *t % n;
    return true;
}
