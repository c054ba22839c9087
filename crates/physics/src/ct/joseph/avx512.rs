//! AVX-512 kernels: 16 rays (forward) or 16 pixels (transpose) per instruction, with the values
//! they need read as one window of 32 consecutive values and picked with register permutes
//! (`vpermt2ps`) instead of 16 scalar loads. Bitwise equal to the portable code: the same `f32`
//! operations in the same order (the gather's multiply-adds fused in both).

use super::gather::{LineGather, MAX_CANDS, RegularAngles, WINDOW};
use super::lines::{LINE_PAD, Lines};
use super::ray::JosephRay;
use std::arch::x86_64::*;

/// Rays per forward run.
pub(super) const WIDE: usize = 16;

/// [`Lines::integrate_steps`] of 16 rays over their common steps `lo..=hi`, in lock-step,
/// continuing from `acc`. At each step the 16 rays' samples lie within the 32 values of line `k`
/// from `m₀(ray 0) + lo_rel` on ([`window_offset`] checked that for the whole range), so two
/// vector loads and two permutes fetch all 32 neighbours.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn integrate_window_avx512(
    rays: &[JosephRay; WIDE],
    lines: &Lines,
    lo: usize,
    hi: usize,
    lo_rel: i32,
    acc: [f32; WIDE],
) -> [f32; WIDE] {
    lines.check_steps(&rays[0], lo, hi);
    assert!(
        (-(WINDOW as i32) + 2..=0).contains(&lo_rel),
        "window offset {lo_rel}"
    );
    let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
    let p = lines.data.as_ptr();
    let mut out = acc;
    // SAFETY: `a`, `b`, `out` are 16 `f32` each. Ray 0 passed `check_steps` for `lo..=hi`, so at
    // every step its `m₀ ∈ 0..=n_minor`; the window then starts at
    // `k·stride + LINE_PAD + m₀ + lo_rel ≥ k·stride + 2` and ends (32 values) at
    // `k·stride + LINE_PAD + n_minor + 32 < (k + 1)·stride ≤ data.len()`. The permutes use the
    // low five bits of each index only, so they never read outside the two registers.
    unsafe {
        let (va, vb) = (_mm512_loadu_ps(a.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
        let mut s = _mm512_loadu_ps(out.as_ptr());
        let one = _mm512_set1_epi32(1);
        for k in lo..=hi {
            let m = _mm512_add_ps(va, _mm512_mul_ps(vb, _mm512_set1_ps((k as i32) as f32)));
            let i0 = _mm512_cvttps_epi32(m);
            let w = _mm512_sub_ps(m, _mm512_cvtepi32_ps(i0));
            let first = _mm_cvtsi128_si32(_mm512_castsi512_si128(i0)) + lo_rel;
            let q = p.add(k * lines.stride + LINE_PAD).offset(first as isize);
            let (wlo, whi) = (_mm512_loadu_ps(q), _mm512_loadu_ps(q.add(16)));
            let idx = _mm512_sub_epi32(i0, _mm512_set1_epi32(first));
            let p0 = _mm512_permutex2var_ps(wlo, idx, whi);
            let p1 = _mm512_permutex2var_ps(wlo, _mm512_add_epi32(idx, one), whi);
            s = _mm512_add_ps(
                s,
                _mm512_add_ps(p0, _mm512_mul_ps(w, _mm512_sub_ps(p1, p0))),
            );
        }
        _mm512_storeu_ps(out.as_mut_ptr(), s);
    }
    out
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

/// [`gather_line_avx512`] with `N` candidates per pixel, unrolled.
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
    // SAFETY: `windows` returns two slices of `WINDOW + MAX_CANDS − 1` values, so the 32 values
    // from any of the first `N ≤ MAX_CANDS` positions lie inside them; each block's 16 values lie
    // inside `line` (asserted above); the permutes use the low five bits of each index only, so
    // they never read outside their two registers.
    unsafe {
        let lanes = _mm512_setr_ps(
            0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
        );
        let (inv, off, bk) = (
            _mm512_set1_ps(g.inv_delta),
            _mm512_set1_ps(g.offset),
            _mm512_set1_ps(g.bk),
        );
        let (one, sixteen) = (_mm512_set1_ps(1.0), _mm512_set1_ps(16.0));
        // pixels t of the block (exact small integers, so stepping by 16 is exact)
        let mut tv = _mm512_add_ps(_mm512_set1_ps((g.blocks.start * 16 + 1) as f32), lanes);
        for blk in g.blocks.clone() {
            let t = tv;
            tv = _mm512_add_ps(tv, sixteen);
            let first = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(
                _mm512_fmsub_ps(t, inv, off),
            );
            let rs = _mm_cvtsi128_si32(_mm512_castsi512_si128(first));
            let Some(s) = g.window_start(rs) else {
                continue;
            };
            let (a, v) = g.windows(s);
            let idx0 = _mm512_sub_epi32(first, _mm512_set1_epi32(rs));
            let out = line.as_mut_ptr().add(blk * 16);
            let mut acc = _mm512_loadu_ps(out);
            for c in 0..N {
                // candidate c of each lane: index idx0 in the window shifted by c
                let (ac, vc) = (a.as_ptr().add(c), v.as_ptr().add(c));
                let mv =
                    _mm512_permutex2var_ps(_mm512_loadu_ps(ac), idx0, _mm512_loadu_ps(ac.add(16)));
                let vv =
                    _mm512_permutex2var_ps(_mm512_loadu_ps(vc), idx0, _mm512_loadu_ps(vc.add(16)));
                // min(|d|, 1): the smaller magnitude of d and 1, sign cleared
                // m = a + b·k exactly as the forward computes it
                let r = _mm512_range_ps::<0b1010>(_mm512_sub_ps(_mm512_add_ps(mv, bk), t), one);
                acc = _mm512_fmadd_ps(vv, _mm512_sub_ps(one, r), acc);
            }
            _mm512_storeu_ps(out, acc);
        }
    }
}
