//! The lock-step loops of [`Lines::integrate_steps`] and [`JosephRay::scatter_lanes`] written out
//! in AVX2 intrinsics for eight lanes, bitwise equal to the portable code.

use super::lines::{LINE_PAD, Lines};
use super::ray::JosephRay;
use super::{BLOCK_SHIFT, LANES};

/// [`Lines::integrate_steps`] of eight rays over their common steps `lo..=hi`, in lock-step,
/// continuing from `acc`: the same `f32` operations in the same order as the one-ray loop, so
/// bitwise the same result; each lane loads its two neighbours with one 8-byte read.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn integrate_lines_avx2(
    rays: &[JosephRay; LANES],
    lines: &Lines,
    lo: usize,
    hi: usize,
    acc: [f32; LANES],
) -> [f32; LANES] {
    use std::arch::x86_64::*;
    const { assert!(LANES == 8, "the AVX2 kernel handles eight lanes") };
    for r in rays {
        lines.check_steps(r, lo, hi);
    }
    assert!(
        lines.data.len() < i32::MAX as usize,
        "image too large for 32-bit indices"
    );
    let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
    let p = lines.data.as_ptr();
    let mut out = acc;
    // SAFETY: `a`, `b`, `out` are eight `f32` each, `ix` eight `i32`. Every ray passed
    // `check_steps` for `lo..=hi`, so at each step `k` of that range lane `j` reads the two values
    // at `ix[j] = k·stride + LINE_PAD + m₀` and `ix[j] + 1`, both `< data.len() < 2³¹` (see
    // `Lines::integrate_steps`).
    unsafe {
        let (va, vb) = (_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
        let mut acc = _mm256_loadu_ps(out.as_ptr());
        let mut ix = [0i32; LANES];
        let pair = |i: i32| _mm_castpd_ps(_mm_load_sd(p.add(i as usize).cast::<f64>()));
        let two = |i: i32, j: i32| {
            _mm_castpd_ps(_mm_loadh_pd(
                _mm_castps_pd(pair(i)),
                p.add(j as usize).cast::<f64>(),
            ))
        };
        for k in lo..=hi {
            let m = _mm256_add_ps(va, _mm256_mul_ps(vb, _mm256_set1_ps((k as i32) as f32)));
            let i0 = _mm256_cvttps_epi32(m);
            let w = _mm256_sub_ps(m, _mm256_cvtepi32_ps(i0));
            let idx = _mm256_add_epi32(i0, _mm256_set1_epi32((k * lines.stride + LINE_PAD) as i32));
            _mm256_storeu_si256(ix.as_mut_ptr().cast(), idx);
            // keep the indices in memory: eight scalar loads are cheaper than the eight
            // vector-to-register extractions the compiler would otherwise emit
            std::hint::black_box(&mut ix);
            // (p0, p1) of lanes 0,1 | 4,5 and of lanes 2,3 | 6,7, then split into p0s and p1s
            let y0 = _mm256_set_m128(two(ix[4], ix[5]), two(ix[0], ix[1]));
            let y1 = _mm256_set_m128(two(ix[6], ix[7]), two(ix[2], ix[3]));
            let p0 = _mm256_shuffle_ps::<0b10_00_10_00>(y0, y1);
            let p1 = _mm256_shuffle_ps::<0b11_01_11_01>(y0, y1);
            acc = _mm256_add_ps(
                acc,
                _mm256_add_ps(p0, _mm256_mul_ps(w, _mm256_sub_ps(p1, p0))),
            );
        }
        _mm256_storeu_ps(out.as_mut_ptr(), acc);
    }
    out
}

/// [`JosephRay::scatter_lanes`] written out in AVX2 for eight lanes: the same `f32` operations
/// in the same order, so bitwise the same result; the eight read-modify-writes per step stay
/// scalar (8 bytes each) and in lane order.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn scatter_lanes_avx2(
    rays: &[JosephRay; LANES],
    v: [f32; LANES],
    blk: &mut [[f32; 2]],
    kb: usize,
    lo: usize,
    hi: usize,
) {
    use std::arch::x86_64::*;
    const { assert!(LANES == 8, "the AVX2 kernel handles eight lanes") };
    for r in rays {
        r.check_segment(blk.len(), kb, lo, hi);
    }
    let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
    let p = blk.as_mut_ptr().cast::<f32>();
    for k in lo..=hi {
        let mut ix = [0i32; LANES];
        let mut pairs = [0.0f32; 2 * LANES];
        // SAFETY: the loads and stores below read the local arrays `a`, `b`, `v` and write `ix`,
        // `pairs` (eight `f32` / `i32` each, sixteen for `pairs`), exactly their sizes.
        unsafe {
            let m = _mm256_add_ps(
                _mm256_loadu_ps(a.as_ptr()),
                _mm256_mul_ps(
                    _mm256_loadu_ps(b.as_ptr()),
                    _mm256_set1_ps((k as i32) as f32),
                ),
            );
            let i0 = _mm256_cvttps_epi32(m);
            let w = _mm256_sub_ps(m, _mm256_cvtepi32_ps(i0));
            let vv = _mm256_loadu_ps(v.as_ptr());
            let vw = _mm256_mul_ps(vv, w);
            let low = _mm256_sub_ps(vv, vw);
            // lane j's pair (v − vw, vw) at pairs[2j..2j + 2]
            let (il, ih) = (_mm256_unpacklo_ps(low, vw), _mm256_unpackhi_ps(low, vw));
            _mm256_storeu_ps(pairs.as_mut_ptr(), _mm256_permute2f128_ps::<0x20>(il, ih));
            _mm256_storeu_ps(
                pairs.as_mut_ptr().add(LANES),
                _mm256_permute2f128_ps::<0x31>(il, ih),
            );
            let idx = _mm256_add_epi32(
                _mm256_slli_epi32::<BLOCK_SHIFT>(i0),
                _mm256_set1_epi32((k - kb) as i32),
            );
            _mm256_storeu_si256(ix.as_mut_ptr().cast(), idx);
            // keep the indices in memory: eight scalar loads are cheaper than the eight
            // vector-to-register extractions the compiler would otherwise emit
            std::hint::black_box(&mut ix);
        }
        for j in 0..LANES {
            // SAFETY: every ray passed `check_segment` for `lo..=hi` ∋ `k`, so (as in
            // `lane_samples`) `ix[j] = m₀·BLOCK + (k − kb)` with `0 ≤ ix[j] < blk.len()`: the pair
            // at `2·ix[j]` lies inside `blk`, viewed as `f32`s.
            unsafe {
                let q = p.add(2 * ix[j] as usize);
                *q += pairs[2 * j];
                *q.add(1) += pairs[2 * j + 1];
            }
        }
    }
}
