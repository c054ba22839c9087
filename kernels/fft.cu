// Batched complex FFTs of any length, for the oversampled NUFFT grid and SENSE's centred FFT:
// Stockham's autosort formulation (Stockham 1966; the GPU form of Govindaraju, Lloyd, Dotsenko,
// Smith, Manferdelli 2008, "High performance discrete Fourier transforms on graphics processors",
// SC'08), mixed radix, one launch per pass, ping-ponging between two buffers. Written here
// rather than calling cuFFT so that the same FFT also runs in the host emulation of the tests.
//
// A length n = r₁·r₂·…·r_P is transformed in P passes. Before pass p the data hold DFTs of length
// ns = r₁⋯r_{p−1}; with R = r_p, thread j ∈ [0, n/R) reads the R elements x[j + r·n/R],
// multiplies element r by the twiddle ω_n^{r·(j mod ns)·n/(ns·R)} (ω_n = exp(∓2πi/n)), takes their
// length-R DFT and writes output q to position (j div ns)·ns·R + (j mod ns) + q·ns. After the last
// pass (ns·R = n) the destination holds X[k] = Σ_j x[j]·ω_n^{jk}, in natural order (no bit
// reversal). The host picks the radices (4s first, then 2, 3, 5, 7, then any remaining prime,
// `FftPlan1D` in crates/cuda/src/tables.rs); every twiddle, including the radix-R DFT's own
// ω_R^{rq} = ω_n^{rq·n/R}, is read from one table of exp(−2πi k/n), k < n, computed on the host
// in double precision and rounded once to float (conjugated here for the inverse transform).
//
// Memory access: a transform is addressed as base + e·elem_stride with base = outer·outer_stride
// + inner·inner_stride, so the same kernel runs along rows (elem_stride 1; consecutive threads take
// consecutive j, whose reads x[j + r·n/R] and writes are contiguous) and along columns
// (elem_stride = row length; `inner_fastest` puts consecutive threads on consecutive columns, so
// every access of a warp is one contiguous row segment). No shared memory: each pass is a
// bandwidth-bound sweep, which is what a batched 2-D grid FFT of NUFFT size needs.
//
// Radices up to FEDRECON_FFT_REG_RADIX are held in registers (R² complex multiplies); a larger
// prime factor (e.g. 23 in 368) is computed by re-reading its R inputs for each of the R outputs,
// which is O(n·R) per pass — correct for any length, fast for smooth ones.
#include "fedrecon.cuh"

static __device__ __forceinline__ void fft_twiddle(const float* __restrict__ tw, long long k,
                                                   float sign, float* wr, float* wi) {
    *wr = tw[2 * k];
    *wi = sign * tw[2 * k + 1];
}

// One Stockham pass of `howmany = n_inner · n_outer` transforms of length `n` (interleaved
// complex floats). `inverse` selects exp(+2πi …); no scaling. `src` and `dst` must not overlap.
extern "C" __global__ void fft_stockham_pass(int n, int radix, int ns, long long n_inner,
                                             long long inner_stride, long long n_outer,
                                             long long outer_stride, long long elem_stride,
                                             int inner_fastest, int inverse,
                                             const float* __restrict__ tw,
                                             const float* __restrict__ src,
                                             float* __restrict__ dst) {
    long long t = fedrecon_global_x();
    long long nr = n / radix;
    if (t >= nr * n_inner * n_outer) return;
    long long j, inner, outer;
    if (inner_fastest) {
        inner = t % n_inner;
        long long rest = t / n_inner;
        j = rest % nr;
        outer = rest / nr;
    } else {
        j = t % nr;
        long long rest = t / nr;
        inner = rest % n_inner;
        outer = rest / n_inner;
    }
    long long base = outer * outer_stride + inner * inner_stride;
    float sign = inverse ? -1.0f : 1.0f;
    long long jm = j % ns;
    long long step = (long long)n / ((long long)ns * radix);
    long long out0 = (j / ns) * ns * radix + jm;
    if (radix <= FEDRECON_FFT_REG_RADIX) {
        float vr[FEDRECON_FFT_REG_RADIX], vi[FEDRECON_FFT_REG_RADIX];
        for (int r = 0; r < radix; ++r) {
            long long e = 2 * (base + (j + r * nr) * elem_stride);
            float xr = src[e], xi = src[e + 1], wr, wi;
            fft_twiddle(tw, r * jm * step, sign, &wr, &wi);
            vr[r] = xr * wr - xi * wi;
            vi[r] = xr * wi + xi * wr;
        }
        for (int q = 0; q < radix; ++q) {
            float ar = 0.0f, ai = 0.0f;
            for (int r = 0; r < radix; ++r) {
                float wr, wi;
                fft_twiddle(tw, ((long long)r * q % radix) * nr, sign, &wr, &wi);
                ar += vr[r] * wr - vi[r] * wi;
                ai += vr[r] * wi + vi[r] * wr;
            }
            long long e = 2 * (base + (out0 + q * ns) * elem_stride);
            dst[e] = ar;
            dst[e + 1] = ai;
        }
    } else {
        for (int q = 0; q < radix; ++q) {
            float ar = 0.0f, ai = 0.0f;
            for (int r = 0; r < radix; ++r) {
                long long e = 2 * (base + (j + r * nr) * elem_stride);
                float xr = src[e], xi = src[e + 1], wr, wi;
                fft_twiddle(tw, r * jm * step, sign, &wr, &wi);
                float v_r = xr * wr - xi * wi, v_i = xr * wi + xi * wr;
                fft_twiddle(tw, ((long long)r * q % radix) * nr, sign, &wr, &wi);
                ar += v_r * wr - v_i * wi;
                ai += v_r * wi + v_i * wr;
            }
            long long e = 2 * (base + (out0 + q * ns) * elem_stride);
            dst[e] = ar;
            dst[e + 1] = ai;
        }
    }
}
