// Filtered back-projection on the GPU: the filtering step and a fast pixel-driven back-projector,
// mirroring `Fbp` and `PixelDrivenBackprojector` in crates/physics/src/ct/fbp.rs (Kak & Slaney
// 1988, "Principles of Computerized Tomographic Imaging", ch. 3; Parker 1982 short-scan weights).
//
// Filtering. The CPU filters each zero-padded row by FFT: Q = IDFT(DFT(p')·R) on the padded
// length N ≥ 2·n_det − 1, cropped to n_det, with p' the pre-weighted row (fan cosine × Parker
// weights) and R the windowed ramp response (including 1/τ or 1/α). Because N ≥ 2·n_det − 1 this
// circular convolution never wraps onto the kept samples, so it equals the direct sum
//
//   Q[a, j] = Σ_{d < n_det} g(j − d) · pre[a, d] · p[a, d],   g(l) = IDFT(R)(l mod N), |l| < n_det,
//
// which is what fbp_filter_rows computes, one thread per (view, detector) output. The host builds
// g from the CPU's own `filter_response` in double precision (`FbpTables` in
// crates/cuda/src/tables.rs); the sum runs in float.
//   Memory access: the 2·n_det − 1 kernel taps are read at g[j − d]: for a fixed d consecutive
//   threads (consecutive j) read consecutive taps (coalesced), while p[a, d] and pre[a, d] are the
//   same address for the whole warp (a broadcast). No shared memory is needed for that pattern.
//
// Back-projection. fbp_backproject_pixel_driven is the *pixel-driven* back-projector B of the
// CPU module, not the matched transpose of the Joseph projector (that is joseph_backward): for each
// pixel centre P and view k the fractional detector index t_k(P) of the ray through P is computed
// and the filtered row is interpolated linearly there (zero beyond the detector),
//
//   f(P) = Σ_k w_k · W_k(P) · Q_k(t_k(P)),
//
// with the view weights w_k and the fan distance weight W_k = 1/U² (flat) or 1/L² (equiangular).
// The arithmetic is `row_coords` and the accumulation loop of fbp.rs operation for operation (the
// same double-precision set-up rounded to float, the same float operations in the same order, the
// same atan polynomial), so with --fmad=false it reproduces the CPU bit for bit.
//   Memory access: one thread per pixel, consecutive threads along an image row; for one view their
//   detector positions t_k(P) are increasing and close together, so the reads of the filtered row
//   are nearly contiguous and served from L1/L2; every thread writes its pixel once.
#include "fedrecon.cuh"

// out[b, a, j] = Σ_d g[j − d + n_det − 1] · pre[a, d] · sino[b, a, d].
extern "C" __global__ void fbp_filter_rows(int n_angles, int n_det, int batch,
                                           const float* __restrict__ pre,
                                           const float* __restrict__ g,
                                           const float* __restrict__ sino,
                                           float* __restrict__ out) {
    long long t = fedrecon_global_x();
    long long n_rays = (long long)n_angles * n_det;
    if (t >= n_rays) return;
    long long a = t / n_det;
    int j = (int)(t % n_det);
    const float* w = pre + a * n_det;
    const float* taps = g + (j + n_det - 1);
    for (int ib = 0; ib < batch; ++ib) {
        const float* p = sino + ib * n_rays + a * n_det;
        float acc = 0.0f;
        for (int d = 0; d < n_det; ++d) acc += taps[-d] * (w[d] * p[d]);
        out[ib * n_rays + t] = acc;
    }
}

// `atan_f32` of fbp.rs: Abramowitz & Stegun 4.4.47 on [0, 1], atan z = π/2 − atan(1/z) beyond.
static __device__ __forceinline__ float fbp_atan(float z) {
    float a = fabsf(z);
    int flip = a > 1.0f;
    float inv = 1.0f / a;
    float x = a < inv ? a : inv;
    float x2 = x * x;
    float p = 0.0028662257f;
    p = p * x2 - 0.0161657367f;
    p = p * x2 + 0.0429096138f;
    p = p * x2 - 0.0752896400f;
    p = p * x2 + 0.1065626393f;
    p = p * x2 - 0.1420889944f;
    p = p * x2 + 0.1999355085f;
    p = p * x2 - 0.3333314528f;
    float r = x + x * x2 * p;
    if (flip) r = 1.57079632679489661923f - r;
    return copysignf(r, z);
}

// Filtered row value at padded index k (0 and n_det + 1 are the zero padding).
static __device__ __forceinline__ float fbp_fetch(const float* __restrict__ q, int n_det, int k) {
    return (k >= 1 && k <= n_det) ? q[k - 1] : 0.0f;
}

// img[b] = B q[b]. `views` holds (cos θ, sin θ) per view (the host's double cos/sin), `view_w`
// the float view weights; `k0` = −offset/Δ + (n_det − 1)/2 + 1 as float; `fbp_weight` selects the
// fan distance weight. `kind` is FEDRECON_PARALLEL, FEDRECON_FAN_FLAT or FEDRECON_FAN_CURVED.
extern "C" __global__ void fbp_backproject_pixel_driven(
    int kind, int ny, int nx, int n_angles, int n_det, int batch, double h, double sod, double sdd,
    double det_spacing, float k0, int fbp_weight, const double* __restrict__ views,
    const float* __restrict__ view_w, const float* __restrict__ q, float* __restrict__ img) {
    long long t = fedrecon_global_x();
    long long n_pix = (long long)ny * nx;
    if (t >= n_pix) return;
    int i = (int)(t / nx), j = (int)(t % nx);
    double y = (((double)ny - 1.0) / 2.0 - (double)i) * h;
    double x0 = (0.0 - ((double)nx - 1.0) / 2.0) * h;
    float upper = (float)(n_det + 1);
    float fj = (float)j;
    long long n_rays = (long long)n_angles * n_det;
    for (int ib = 0; ib < batch; ++ib) {
        float o = 0.0f;
        for (int v = 0; v < n_angles; ++v) {
            double c = views[2 * v], s = views[2 * v + 1];
            float vw = view_w[v];
            float tt, wt;
            if (kind == FEDRECON_PARALLEL) {
                float a = (float)((x0 * c + y * s) / det_spacing) + k0;
                float b = (float)(h * c / det_spacing);
                tt = a + b * fj;
                wt = vw;
            } else {
                float r = (float)sod;
                float pe0 = (float)(x0 * c + y * s);
                float pd0 = (float)(-x0 * s + y * c);
                float dpe = (float)(h * c), dpd = (float)(-h * s);
                float scale = (float)(sdd / det_spacing);
                float pe = pe0 + dpe * fj;
                float inv = 1.0f / (r + pd0 + dpd * fj);
                if (kind == FEDRECON_FAN_FLAT) {
                    float ri = r * inv;
                    tt = pe * inv * scale + k0;
                    wt = fbp_weight ? vw * ri * ri : vw;
                } else {
                    float z = pe * inv;
                    wt = fbp_weight ? vw * inv * inv / (1.0f + z * z) : vw;
                    tt = fbp_atan(z) * scale + k0;
                }
            }
            if (!(tt >= 0.0f && tt < upper)) {
                tt = 0.0f;
                wt = 0.0f;
            }
            int k = (int)tt;
            float f = tt - (float)k;
            const float* qa = q + ib * n_rays + (long long)v * n_det;
            float lo = fbp_fetch(qa, n_det, k), up = fbp_fetch(qa, n_det, k + 1);
            o += wt * (lo + f * (up - lo));
        }
        img[ib * n_pix + t] = o;
    }
}
