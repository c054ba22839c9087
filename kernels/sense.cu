// Coil-sensitivity weighting of multi-coil SENSE (Pruessmann et al. 1999, MRM 42(5)): the
// element-wise parts of fastMRI's sens_expand / sens_reduce around the centred FFT, mirroring
// `weight_by_maps` and `reduce_by_maps` in crates/physics/src/mri/sense.rs:
//
//   expand:  out_c = S_c ⊙ x                 (coils, ny, nx) from (ny, nx)
//   reduce:  x     = Σ_c conj(S_c) ⊙ t_c     (ny, nx) from (coils, ny, nx), coils summed in order
//
// Complex numbers are interleaved (re, im) float pairs, as Rust's Complex32. Both kernels take a
// batch: x is (batch, ny, nx), the coil arrays (batch, coils, ny, nx); the maps are shared.
//
// Memory access. Element-wise, one thread per pixel and batch item (FEDRECON_SENSE_BLOCK per
// block, FEDRECON_FFT_BLOCK for sense_roll_mask): consecutive threads touch consecutive pixels
// of every array, so all reads and writes are coalesced (8-byte complex pairs); each thread loops
// over the coils, reading each coil plane at the same pixel offset. sense_roll_mask writes to
// (i + sy) mod ny, (j + sx) mod nx: contiguous except at the one wrap-around per row.
#include "fedrecon.cuh"

// One thread per pixel and batch item; loops over coils.
extern "C" __global__ void sense_expand(long long n_pix, int coils, int batch,
                                        const float* __restrict__ maps,
                                        const float* __restrict__ x, float* __restrict__ out) {
    long long t, ib, p;
    if (!fedrecon_batched(n_pix, batch, &t, &ib, &p)) return;
    float xr = x[2 * t], xi = x[2 * t + 1];
    for (int c = 0; c < coils; ++c) {
        long long q = c * n_pix + p;
        float sr = maps[2 * q], si = maps[2 * q + 1];
        long long o = (ib * coils + c) * n_pix + p;
        out[2 * o] = sr * xr - si * xi;
        out[2 * o + 1] = sr * xi + si * xr;
    }
}

// One thread per pixel and batch item; the coil sum runs in coil order, as on the CPU.
extern "C" __global__ void sense_reduce(long long n_pix, int coils, int batch,
                                        const float* __restrict__ maps,
                                        const float* __restrict__ t_coils, float* __restrict__ x) {
    long long t, ib, p;
    if (!fedrecon_batched(n_pix, batch, &t, &ib, &p)) return;
    float accr = 0.0f, acci = 0.0f;
    for (int c = 0; c < coils; ++c) {
        long long q = c * n_pix + p;
        float sr = maps[2 * q], si = maps[2 * q + 1];
        long long o = (ib * coils + c) * n_pix + p;
        float tr = t_coils[2 * o], ti = t_coils[2 * o + 1];
        // conj(s) · t, written as num_complex evaluates it: (sr·tr − (−si)·ti, sr·ti + (−si)·tr)
        accr += sr * tr - (-si) * ti;
        acci += sr * ti + (-si) * tr;
    }
    x[2 * t] = accr;
    x[2 * t + 1] = acci;
}

// The exact parts of the centred FFT and the sampling mask: a circular shift of every
// (ny, nx) image by (sy, sx) with a scale, dst[(i + sy) mod ny, (j + sx) mod nx] = scale·src[i, j]
// (fastMRI's ifftshift is the shift by (⌈ny/2⌉, ⌈nx/2⌉), fftshift by (⌊ny/2⌋, ⌊nx/2⌋)). With
// `use_mask`, entries whose mask value (a (ny, nx) 0/1 array, read at the source position when
// `mask_at_src`, else at the destination) is 0 are written as +0.0, as `SamplingMask::apply`
// does. One thread per source pixel and batch item.
extern "C" __global__ void sense_roll_mask(int ny, int nx, int batch, int sy, int sx, float scale,
                                           int use_mask, int mask_at_src,
                                           const float* __restrict__ mask,
                                           const float* __restrict__ src,
                                           float* __restrict__ dst) {
    long long n_pix = (long long)ny * nx, t, ib, p;
    if (!fedrecon_batched(n_pix, batch, &t, &ib, &p)) return;
    int i = (int)(p / nx), j = (int)(p % nx);
    long long q = (long long)((i + sy) % ny) * nx + (j + sx) % nx;
    int keep = !use_mask || mask[mask_at_src ? p : q] != 0.0f;
    long long o = 2 * (ib * n_pix + q);
    dst[o] = keep ? src[2 * t] * scale : 0.0f;
    dst[o + 1] = keep ? src[2 * t + 1] * scale : 0.0f;
}
