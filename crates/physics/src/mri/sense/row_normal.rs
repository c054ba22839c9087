//! The normal operator `AᴴA` of SENSE with a column mask, one image row at a time (see the parent
//! module's docs): `F_xᴴ M F_x` by two length-`nx` FFTs with the mask in between, or, for a
//! non-5-smooth `nx`, as a circular convolution by FFTs of a 3-smooth length `L ≥ 2nx − 1` with
//! the precomputed real spectrum of the mask's kernel, its element-wise loops compiled for AVX2 and
//! AVX-512 and picked at run time ([`Isa`]).

use super::SenseOperator;
use crate::isa::Isa;
use crate::mri::fft::{Direction, Fft1};
use num_complex::Complex32;
use rayon::prelude::*;

pub(super) fn largest_prime_factor(mut n: usize) -> usize {
    let mut largest = 1;
    let mut p = 2;
    while p * p <= n {
        while n.is_multiple_of(p) {
            largest = p;
            n /= p;
        }
        p += 1;
    }
    largest.max(n)
}

/// `FFT_L(h_ext)/L` in `f64`, where `h_ext[d mod L] = h[d mod n]` for `|d| < n` and
/// `h[d] = (1/n) Σ_k M[(k + ⌊n/2⌋) mod n] e^{2πi k d / n}` (`n = cols.len()`, `L ≥ 2n − 1`). The mask
/// being real, `h[−d] = conj(h[d])`: `h_ext` is Hermitian and the spectrum real (tested).
pub(super) fn convolution_spectrum(cols: &[bool], len: usize) -> Vec<num_complex::Complex64> {
    let n = cols.len();
    let h = n / 2;
    // h0[d] = (1/n) Σ_k M[(k + h) mod n] e^{2πi k d / n}, in f64
    let kept: Vec<usize> = (0..n).filter(|&k| cols[(k + h) % n]).collect();
    let h0: Vec<num_complex::Complex64> = (0..n)
        .map(|d| {
            kept.iter()
                .map(|&k| {
                    let phase = 2.0 * std::f64::consts::PI * ((k * d) % n) as f64 / n as f64;
                    num_complex::Complex64::from_polar(1.0, phase)
                })
                .sum::<num_complex::Complex64>()
                / n as f64
        })
        .collect();
    // h_ext[d mod L] = h0[d mod n] for |d| < n; its length-L DFT, divided by L, in f64
    let mut ext = vec![num_complex::Complex64::default(); len];
    ext[..n].copy_from_slice(&h0);
    for d in 1..n {
        ext[len - d] = h0[n - d];
    }
    let mut p64 = rustfft::FftPlanner::<f64>::new();
    p64.plan_fft_forward(len).process(&mut ext);
    for v in &mut ext {
        *v /= len as f64;
    }
    ext
}

/// `F_xᴴ M F_x` (centred, column mask `M`) as a circular convolution done by FFTs of a 3-smooth
/// length `L ≥ 2nx − 1` (see the module docs).
#[derive(Clone)]
pub(super) struct RowConvolution {
    fft: Fft1,
    /// `FFT_L(h_ext) / L`, real because `h_ext` is Hermitian (`h_ext[−d] = conj(h_ext[d])`, the
    /// mask being real).
    spectrum: Vec<f32>,
}

impl std::fmt::Debug for RowConvolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowConvolution")
            .field("len", &self.fft.n)
            .finish()
    }
}

impl RowConvolution {
    pub(super) fn new(planner: &mut rustfft::FftPlanner<f32>, cols: &[bool]) -> Self {
        let n = cols.len();
        let mut len = 2 * n - 1;
        while largest_prime_factor(len) > 3 {
            len += 1;
        }
        let spectrum = convolution_spectrum(cols, len)
            .iter()
            .map(|v| v.re as f32)
            .collect();
        Self {
            fft: Fft1::new(planner, len),
            spectrum,
        }
    }
}

impl SenseOperator {
    /// As [`Self::normal_columns`], with the row operator applied as the convolution `conv`, its
    /// loops compiled for `isa`.
    pub(super) fn normal_columns_convolution(
        &self,
        conv: &RowConvolution,
        isa: Isa,
        x: &[Complex32],
        z: &mut [Complex32],
    ) {
        let [_, nx] = self.domain;
        let coils = self.coils();
        let len = conv.fft.n;
        let fwd = conv.fft.plan(Direction::Forward);
        let inv = conv.fft.plan(Direction::Inverse);
        let scratch_len = conv.fft.scratch_len();
        z.par_chunks_mut(nx).enumerate().for_each_init(
            || {
                (
                    vec![Complex32::default(); len],
                    vec![Complex32::default(); scratch_len],
                )
            },
            |(t, scratch), (i, zr)| {
                let row = ConvolutionRow {
                    fwd: fwd.as_ref(),
                    inv: inv.as_ref(),
                    spectrum: &conv.spectrum,
                    maps: &self.maps[i * nx..],
                    coils,
                    n: nx * self.domain[0],
                };
                row.run(isa, &x[i * nx..(i + 1) * nx], zr, t, scratch);
            },
        );
    }

    /// `Σ_c conj(S_c) ⊙ F_xᴴ M F_x (S_c ⊙ x)` row by row (see the module docs). The centred
    /// transform `fftshift ∘ fft ∘ ifftshift` along x becomes: gather the row rotated left by
    /// `h = ⌊nx/2⌋`, FFT, keep bin `k` when column `(k + h) mod nx` is sampled, inverse FFT,
    /// scatter rotated right by `h`, scale by `1/nx`.
    pub(super) fn normal_columns(&self, cols: &[bool], x: &[Complex32], z: &mut [Complex32]) {
        let [ny, nx] = self.domain;
        let n = ny * nx;
        let h = nx / 2;
        let keep: Vec<bool> = (0..nx).map(|k| cols[(k + h) % nx]).collect();
        let scale = 1.0 / nx as f32;
        let fwd = self.row_fft.plan(Direction::Forward);
        let inv = self.row_fft.plan(Direction::Inverse);
        let scratch_len = self.row_fft.scratch_len();
        z.par_chunks_mut(nx).enumerate().for_each_init(
            || {
                (
                    vec![Complex32::default(); nx],
                    vec![Complex32::default(); scratch_len],
                )
            },
            |(t, scratch), (i, zr)| {
                let xr = &x[i * nx..(i + 1) * nx];
                zr.fill(Complex32::default());
                for s in self.maps.chunks_exact(n) {
                    let sr = &s[i * nx..(i + 1) * nx];
                    // t[k] = (S ⊙ x)[(k + h) mod nx]
                    for (k, tv) in t.iter_mut().enumerate() {
                        let j = if k + h < nx { k + h } else { k + h - nx };
                        *tv = sr[j] * xr[j];
                    }
                    fwd.process_with_scratch(t, scratch);
                    for (tv, &kp) in t.iter_mut().zip(&keep) {
                        if !kp {
                            *tv = Complex32::default();
                        }
                    }
                    inv.process_with_scratch(t, scratch);
                    // zr[j] += conj(S[j]) · t[(j − h) mod nx] / nx
                    for (j, (zv, sv)) in zr.iter_mut().zip(sr).enumerate() {
                        let k = if j >= h { j - h } else { j + nx - h };
                        *zv += sv.conj() * t[k] * scale;
                    }
                }
            },
        );
    }
}

/// Ask for the cache lines of `v` ahead of their use (a hint; nothing off x86-64).
#[inline(always)]
fn prefetch(v: &[Complex32]) {
    #[cfg(target_arch = "x86_64")]
    for line in v.chunks(8) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch only hints the cache; it never faults or reads the value.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// One image row `i` of the convolution normal operator: for each coil `c`,
/// `t = FFT_L⁻¹(H ⊙ FFT_L(pad_L(S_c ⊙ x)))` and `z += conj(S_c) ⊙ t[..nx]`.
pub(super) struct ConvolutionRow<'a> {
    fwd: &'a dyn rustfft::Fft<f32>,
    inv: &'a dyn rustfft::Fft<f32>,
    /// `H = FFT_L(h_ext)/L`, real because `h_ext` is Hermitian.
    spectrum: &'a [f32],
    /// The maps `(coils, ny, nx)` from element `i·nx` on: coil `c`'s row `i` starts at `c·n`.
    maps: &'a [Complex32],
    coils: usize,
    /// `ny·nx`.
    n: usize,
}

impl ConvolutionRow<'_> {
    /// `zr` (row `i` of z) from `xr` (row `i` of x); `t` has length `L`, `scratch` the FFTs'.
    fn run(
        &self,
        isa: Isa,
        xr: &[Complex32],
        zr: &mut [Complex32],
        t: &mut [Complex32],
        scratch: &mut [Complex32],
    ) {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            row: &ConvolutionRow<'_>,
            xr: &[Complex32],
            zr: &mut [Complex32],
            t: &mut [Complex32],
            scratch: &mut [Complex32],
        ) {
            row.body(xr, zr, t, scratch)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2")]
        unsafe fn avx512(
            row: &ConvolutionRow<'_>,
            xr: &[Complex32],
            zr: &mut [Complex32],
            t: &mut [Complex32],
            scratch: &mut [Complex32],
        ) {
            row.body(xr, zr, t, scratch)
        }
        match isa {
            Isa::Baseline => self.body(xr, zr, t, scratch),
            // SAFETY: `Isa::Avx2` is only constructed by `detect` after the CPU reported AVX2 (and FMA).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2(self, xr, zr, t, scratch) },
            // SAFETY: `Isa::Avx512` is only constructed by `detect` after the CPU reported
            // AVX-512F/VL/DQ/BW and AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512(self, xr, zr, t, scratch) },
        }
    }

    #[inline(always)]
    fn body(
        &self,
        xr: &[Complex32],
        zr: &mut [Complex32],
        t: &mut [Complex32],
        scratch: &mut [Complex32],
    ) {
        let nx = xr.len();
        zr.fill(Complex32::default());
        for c in 0..self.coils {
            let sr = &self.maps[c * self.n..c * self.n + nx];
            // The next coil's map row (after the last coil, the first coil's next row) is its own
            // 3 KB stream, which the hardware prefetcher finds too late: it is asked for here, in
            // three groups of lines, one before each stretch of FFT work (one burst of 46 lines
            // would fill the line-fill buffers and stall). 1-thread CG-SENSE, 15 coils,
            // 640 × 368: 358 → 343 ms.
            let at = if c + 1 < self.coils {
                (c + 1) * self.n
            } else {
                nx
            };
            let next = self.maps.get(at..at + nx).unwrap_or(&[]);
            let third = next.len().div_ceil(3);
            let mut groups = next.chunks(third.max(1));
            prefetch(groups.next().unwrap_or(&[]));
            for ((tv, sv), xv) in t.iter_mut().zip(sr).zip(xr) {
                *tv = sv * xv;
            }
            t[nx..].fill(Complex32::default());
            self.fwd.process_with_scratch(t, scratch);
            prefetch(groups.next().unwrap_or(&[]));
            for (tv, &h) in t.iter_mut().zip(self.spectrum) {
                tv.re *= h;
                tv.im *= h;
            }
            self.inv.process_with_scratch(t, scratch);
            prefetch(groups.next().unwrap_or(&[]));
            for ((zv, sv), tv) in zr.iter_mut().zip(sr).zip(t.iter()) {
                *zv += sv.conj() * tv;
            }
        }
    }
}
