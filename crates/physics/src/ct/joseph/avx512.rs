//! AVX-512 kernels: 16 rays (forward) or 16 pixels (transpose) per instruction, with the values
//! they need read as one window of 32 consecutive values and picked with register permutes
//! (`vpermt2ps`) instead of 16 scalar loads. Bitwise equal to the portable code: the same `f32`
//! operations in the same order (the gather's multiply-adds fused in both).

use super::gather::{LineGather, MAX_CANDS, RegularAngles};
use super::lines::{LINE_PAD, Lines, window_offset};
use super::ray::JosephRay;
use std::arch::x86_64::*;

/// Rays per forward run.
pub(super) const WIDE: usize = 16;

/// The unweighted sums of 16 rays that hit the image, all sampled along one axis, stepped in
/// lock-step over every step any of them takes, `lo = min k₀ ..= hi = max k₁`; `None` (for
/// the AVX2 kernel) if their samples do not fit one window of 32 values per step or the window
/// would leave the line's padding.
///
/// At each step the 16 samples lie within the 32 values of line `k` from `⌊m(ray 0)⌋ + lo_rel`
/// on ([`window_offset`]), so two vector loads and a permute fetch the 16 left neighbours, and
/// the same from one value on the 16 right ones. A ray's steps outside its own `k₀..=k₁` have
/// `m ≤ 0` or `m ≥ n_minor + 1`, so rounding `m` down puts both neighbours in the zero padding
/// (or `w = 0` at `m = 0`): those terms are `+0` and leave the sum's bits unchanged, and inside
/// `k₀..=k₁` the terms are the per-ray loop's (`m > 0`: rounding down is truncation). Hence the
/// per-ray loop's result, bitwise, for finite images, with no per-ray steps before or after the
/// common range.
///
/// `bk`, if given, holds `b·k` for every line `k` (`b` being every ray's `b`): each step's
/// `m = a + b·k` then takes one addition with its operand broadcast from memory, the same `f32`
/// operations as `a + b·(k as f32)`.
///
/// [`window_offset`]: super::lines::window_offset
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512DQ.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) unsafe fn integrate_run_avx512(
    rays: &[JosephRay; WIDE],
    lines: &Lines,
    bk: Option<&[f32]>,
) -> Option<[f32; WIDE]> {
    let x_major = rays[0].x_major;
    if !rays.iter().all(|r| r.x_major == x_major && r.k0 <= r.k1) {
        return None;
    }
    let lo = rays.iter().map(|r| r.k0 as usize).min()?;
    let hi = rays.iter().map(|r| r.k1 as usize).max()?;
    let lo_rel = window_offset(rays, lo, hi)?;
    if !lines.window_fits(&rays[0], lo, hi, lo_rel) {
        return None;
    }
    let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
    let mut out = [0.0f32; WIDE];
    // SAFETY: `a`, `b`, `out` are 16 `f32` each; the caller guarantees the features; the `b·k`
    // reads are at `k ≤ hi < bk.len()` (asserted); `window_fits` and `window_offset` passed.
    unsafe {
        let va = _mm512_loadu_ps(a.as_ptr());
        let s = match bk {
            Some(bk) => {
                assert!(
                    bk.len() > hi && b.iter().all(|x| x.to_bits() == b[0].to_bits()),
                    "b·k table of {} lines for steps to {hi}, or unequal b",
                    bk.len()
                );
                let p = bk.as_ptr();
                window_steps(lines, lo, hi, lo_rel, |k| {
                    _mm512_add_ps(va, _mm512_set1_ps(*p.add(k)))
                })
            }
            None => {
                let vb = _mm512_loadu_ps(b.as_ptr());
                window_steps(lines, lo, hi, lo_rel, |k| {
                    _mm512_add_ps(va, _mm512_mul_ps(vb, _mm512_set1_ps((k as i32) as f32)))
                })
            }
        };
        _mm512_storeu_ps(out.as_mut_ptr(), s);
    }
    Some(out)
}

/// The loop of [`integrate_run_avx512`], with each step's 16 `m` from `minor(k)`.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512DQ; `lines.window_fits(ray 0, lo, hi, lo_rel)`
/// and `window_offset` passed for these rays, whose `m` at step `k` is `minor(k)`.
#[target_feature(enable = "avx512f,avx512dq")]
#[inline]
unsafe fn window_steps(
    lines: &Lines,
    lo: usize,
    hi: usize,
    lo_rel: i32,
    minor: impl Fn(usize) -> __m512,
) -> __m512 {
    let p = lines.data.as_ptr();
    let mut s = _mm512_setzero_ps();
    // SAFETY: `window_fits` passed, so at every step both windows (from `⌊m(ray 0)⌋ + lo_rel`
    // and one on, 32 values each) lie inside line `k`'s storage, and `window_offset` passed, so
    // every lane's two neighbours lie in the window. The permutes use the low five bits of each
    // index only, so they never read outside their two registers.
    unsafe {
        for k in lo..=hi {
            let m = minor(k);
            let i0 = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(m);
            // m − ⌊m⌋, exact: the per-ray `m − (m as i32) as f32` in one instruction (m > 0)
            let w = _mm512_reduce_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(m);
            let first = _mm_cvtsi128_si32(_mm512_castsi512_si128(i0)) + lo_rel;
            let q = p
                .add(k * lines.stride)
                .offset(LINE_PAD as isize + first as isize);
            let idx = _mm512_sub_epi32(i0, _mm512_set1_epi32(first));
            // left and right neighbours from one window
            let (lo_w, hi_w) = (_mm512_loadu_ps(q), _mm512_loadu_ps(q.add(16)));
            let p0 = _mm512_permutex2var_ps(lo_w, idx, hi_w);
            let p1 =
                _mm512_permutex2var_ps(lo_w, _mm512_add_epi32(idx, _mm512_set1_epi32(1)), hi_w);
            s = _mm512_add_ps(
                s,
                _mm512_add_ps(p0, _mm512_mul_ps(w, _mm512_sub_ps(p1, p0))),
            );
        }
    }
    s
}

/// [`RegularAngles::gather_tile`] with each line by [`gather_line_avx512`]: the whole tile in
/// one function compiled for AVX-512, so the per-line set-up inlines.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ and FMA.
#[target_feature(enable = "avx512f,avx512dq,fma")]
pub(super) unsafe fn gather_tile_avx512(
    r: &RegularAngles,
    v: &[f32],
    x_major: bool,
    k0: usize,
    tile: &mut [f32],
    n_minor: usize,
) {
    r.gather_tile(v, x_major, k0, tile, n_minor, |g, line| {
        // SAFETY: this function's caller guarantees the features.
        unsafe { gather_line_avx512(g, line) }
    })
}

/// [`LineGather::accumulate_portable`] with 16 pixels per vector: the same `f32` operations in
/// the same order (the candidates' values read from two 32-value windows by permutes).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ and FMA.
#[target_feature(enable = "avx512f,avx512dq,fma")]
#[inline]
unsafe fn gather_line_avx512(g: &LineGather<'_>, line: &mut [f32]) {
    match g.cands {
        // SAFETY: this function's caller guarantees the features.
        1 => unsafe { gather_line_avx512_n::<1>(g, line) },
        // SAFETY: as above.
        2 => unsafe { gather_line_avx512_n::<2>(g, line) },
        // SAFETY: as above.
        3 => unsafe { gather_line_avx512_n::<3>(g, line) },
        // SAFETY: as above.
        4 => unsafe { gather_line_avx512_n::<4>(g, line) },
        n => panic!("{n} candidates per pixel (at most {MAX_CANDS})"),
    }
}

/// [`gather_line_avx512`] with `N` candidates per pixel, unrolled. Per block of 16 pixels: their
/// first candidates (multiply-subtract, round down), their offsets from the first pixel's
/// (the window's start), the window of `a` and of `v` (two vector loads each), and per candidate
/// two permutes, the weight (`m = a + b·k`, subtract, range, subtract) and one multiply-add. Loads
/// are kept few on purpose: the unaligned 64-byte loads straddle cache lines and, at two per
/// cycle, were the bottleneck when each candidate loaded its own shifted window.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ and FMA.
#[target_feature(enable = "avx512f,avx512dq,fma")]
#[inline]
unsafe fn gather_line_avx512_n<const N: usize>(g: &LineGather<'_>, line: &mut [f32]) {
    assert!(
        g.blocks.end * 16 <= line.len(),
        "line of {} values",
        line.len()
    );
    // SAFETY: `windows` returns two slices of `WINDOW` = 32 values, read as two vectors each;
    // each block's 16 values lie inside `line` (asserted above); the permutes use the low five
    // bits of each index only, so they never read outside their two registers.
    unsafe {
        let (inv, off, bk) = (
            _mm512_set1_ps(g.inv_delta),
            _mm512_set1_ps(g.offset),
            _mm512_set1_ps(g.bk),
        );
        let one = _mm512_set1_ps(1.0);
        let lanes = _mm512_setr_ps(
            0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
        );
        let sixteen = _mm512_set1_ps(16.0);
        let mut tv = _mm512_add_ps(_mm512_set1_ps((g.blocks.start * 16 + 1) as f32), lanes);
        for b in g.blocks.clone() {
            let t = tv;
            tv = _mm512_add_ps(tv, sixteen);
            let first = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(
                _mm512_fmsub_ps(t, inv, off),
            );
            let first0 = _mm512_castsi512_si128(first);
            let Some(s) = g.window_start(_mm_cvtsi128_si32(first0)) else {
                continue;
            };
            // lane 0 broadcast within the vector registers
            let idx0 = _mm512_sub_epi32(first, _mm512_broadcastd_epi32(first0));
            let (a, v) = g.windows(s);
            let (a, v) = (a.as_ptr(), v.as_ptr());
            let (a_lo, a_hi) = (_mm512_loadu_ps(a), _mm512_loadu_ps(a.add(16)));
            let (v_lo, v_hi) = (_mm512_loadu_ps(v), _mm512_loadu_ps(v.add(16)));
            let out = line.as_mut_ptr().add(b * 16);
            let mut acc = _mm512_loadu_ps(out);
            let mut idx = idx0;
            for c in 0..N {
                if c > 0 {
                    idx = _mm512_add_epi32(idx, _mm512_set1_epi32(1));
                }
                // candidate c of each lane: index idx0 + c of the window
                let mv = _mm512_permutex2var_ps(a_lo, idx, a_hi);
                let vv = _mm512_permutex2var_ps(v_lo, idx, v_hi);
                // min(|d|, 1): the smaller magnitude of d and 1, sign cleared
                // m = a + b·k exactly as the forward computes it; m − t is then exact (Sterbenz)
                let r = _mm512_range_ps::<0b1010>(_mm512_sub_ps(_mm512_add_ps(mv, bk), t), one);
                acc = _mm512_fmadd_ps(vv, _mm512_sub_ps(one, r), acc);
            }
            _mm512_storeu_ps(out, acc);
        }
    }
}
