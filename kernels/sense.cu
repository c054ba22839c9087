// Coil-sensitivity weighting of multi-coil SENSE (Pruessmann et al. 1999, MRM 42(5)): the
// element-wise parts of fastMRI's sens_expand / sens_reduce around the centred FFT, mirroring
// `weight_by_maps` and `reduce_by_maps` in crates/physics/src/mri/sense.rs:
//
//   expand:  out_c = S_c ⊙ x                 (coils, ny, nx) from (ny, nx)
//   reduce:  x     = Σ_c conj(S_c) ⊙ t_c     (ny, nx) from (coils, ny, nx), coils summed in order
//
// Complex numbers are interleaved (re, im) float pairs, as Rust's Complex32. Both kernels take a
// batch: x is (batch, ny, nx), the coil arrays (batch, coils, ny, nx); the maps are shared.
#include "fedrecon.cuh"

// One thread per pixel and batch item; loops over coils.
extern "C" __global__ void sense_expand(long long n_pix, int coils, int batch,
                                        const float* __restrict__ maps,
                                        const float* __restrict__ x, float* __restrict__ out) {
    long long t = fedrecon_global_x();
    if (t >= n_pix * batch) return;
    long long ib = t / n_pix, p = t % n_pix;
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
    long long t = fedrecon_global_x();
    if (t >= n_pix * batch) return;
    long long ib = t / n_pix, p = t % n_pix;
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
