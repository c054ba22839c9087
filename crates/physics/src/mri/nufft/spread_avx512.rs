//! AVX-512 forms of the type-2 interpolation and type-1 spreading loops of `spread.rs`: a
//! point's complex kernel row (`2W ≤ 32` floats) is one or two masked vector registers, and its
//! `W` kernel values along each axis one masked register through Horner's rule. Written with
//! intrinsics because the compiler, left to vectorise the generic loops, split the rows into
//! two-float pieces. The same `f32` operations in the same order as the generic code (separate
//! multiply and add, rows accumulated in `a` order, the final sum over `d` the tree of
//! `spread::weigh_fast_axis`), so the results are bitwise those of the portable build.

use super::points::SortedPoints;
use super::spread::{SubGrid, footprint_in_box, footprint_inside};
use num_complex::Complex32;
use std::arch::x86_64::*;

/// Masks of the first `n ≤ 16` lanes and of lanes `16..n` (`n ≤ 32`), as the two halves of a row.
const fn masks(n: usize) -> (__mmask16, __mmask16) {
    let lo = if n >= 16 { 0xFFFF } else { (1u32 << n) - 1 };
    let hi = if n <= 16 { 0 } else { (1u32 << (n - 16)) - 1 };
    (lo as __mmask16, hi as __mmask16)
}

/// Points per batch of kernel evaluations.
const BATCH: usize = 8;

/// Where a point's values along the fast axis start in its [`KernelValues`] row: lane 8 when
/// both axes share one register (`W ≤ 8`), else lane 16.
const fn fast_offset(w: usize) -> usize {
    if w <= 8 { 8 } else { 16 }
}

/// The kernel values of one point: along the slow axis at lanes `0..W`, along the fast axis at
/// lanes `fast_offset(W)..`.
type KernelValues = [f32; 32];

/// `kernel::horner` at the slow and fast offsets of the sorted points `ks` (at most [`BATCH`])
/// into `out`: the points' Horner chains are independent, so evaluating them together overlaps
/// their latencies (one chain is a multiply and an add per degree, eight cycles). For `W ≤ 8`
/// both axes of a point share one register (`coef2`: each coefficient row twice, at lanes 0 and
/// 8). Every lane runs `kernel::horner`'s operations, so the values are bitwise its values.
///
/// # Safety
/// The CPU must support AVX-512F; `coef2` is [`duplicated_rows`] of `coef`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn kernel_values<const W: usize>(
    coef: &[[f32; W]],
    coef2: &[[f32; 16]],
    pts: &SortedPoints,
    ks: std::ops::Range<usize>,
    out: &mut [KernelValues; BATCH],
) {
    let n = ks.len();
    assert!(
        n <= BATCH && coef2.len() == coef.len(),
        "batch of {n} points"
    );
    let (mw, _) = masks(W);
    // SAFETY: the rows of `coef` hold `W` floats and the masks read those only; the rows of
    // `coef2` and of `out` hold 16 and 32 floats.
    unsafe {
        // every loop runs over the whole batch (a constant trip count, so the chains stay in
        // registers); lanes past `n` evaluate offset 0 and are not stored
        let (zs, zf): ([f32; BATCH], [f32; BATCH]) = (
            std::array::from_fn(|j| if j < n { pts.zs[ks.start + j] } else { 0.0 }),
            std::array::from_fn(|j| if j < n { pts.zf[ks.start + j] } else { 0.0 }),
        );
        if W <= 8 {
            let z: [__m512; BATCH] = std::array::from_fn(|j| {
                _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(zs[j]), _mm512_set1_ps(zf[j]))
            });
            let mut v = [_mm512_loadu_ps(coef2[0].as_ptr()); BATCH];
            for c in &coef2[1..] {
                let cv = _mm512_loadu_ps(c.as_ptr());
                for j in 0..BATCH {
                    v[j] = _mm512_fmadd_ps(v[j], z[j], cv);
                }
            }
            for j in 0..n {
                _mm512_storeu_ps(out[j].as_mut_ptr(), v[j]);
            }
        } else {
            let zs: [__m512; BATCH] = std::array::from_fn(|j| _mm512_set1_ps(zs[j]));
            let zf: [__m512; BATCH] = std::array::from_fn(|j| _mm512_set1_ps(zf[j]));
            let first = _mm512_maskz_loadu_ps(mw, coef[0].as_ptr());
            let (mut vs, mut vf) = ([first; BATCH], [first; BATCH]);
            for c in &coef[1..] {
                let cv = _mm512_maskz_loadu_ps(mw, c.as_ptr());
                for j in 0..BATCH {
                    vs[j] = _mm512_fmadd_ps(vs[j], zs[j], cv);
                    vf[j] = _mm512_fmadd_ps(vf[j], zf[j], cv);
                }
            }
            for j in 0..n {
                _mm512_storeu_ps(out[j].as_mut_ptr(), vs[j]);
                _mm512_storeu_ps(out[j].as_mut_ptr().add(16), vf[j]);
            }
        }
    }
}

/// Each coefficient row of `coef` (`W ≤ 8`) at lanes `0..W` and `8..8 + W` of 16 (zeros
/// elsewhere); empty for wider kernels.
fn duplicated_rows<const W: usize>(coef: &[[f32; W]]) -> Vec<[f32; 16]> {
    if W > 8 {
        return vec![[0.0; 16]; coef.len()];
    }
    coef.iter()
        .map(|c| {
            let mut r = [0f32; 16];
            r[..W].copy_from_slice(c);
            r[8..8 + W].copy_from_slice(c);
            r
        })
        .collect()
}

/// `spread::interp_chunk` for the points whose `W × W` footprint lies inside the grid (the others
/// by `generic`, which wraps around).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512VL, AVX-512DQ and AVX-512BW.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn interp_chunk_avx512<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    grid: &[f32],
    nfs: usize,
    nff: usize,
    ld: usize,
    k0: usize,
    chunk: &mut [Complex32],
    generic: impl Fn(usize) -> Complex32,
) {
    const {
        assert!(
            W <= 16 && W2 == 2 * W,
            "kernel rows of at most 16 complex values"
        )
    };
    assert!(
        ld >= nff && grid.len() == 2 * nfs * ld,
        "fine grid of {nfs} rows of {ld} ≥ {nff}"
    );
    let (m_lo, m_hi) = masks(W2);
    let coef2 = duplicated_rows(coef);
    let fo = fast_offset(W);
    let (dup_lo, dup_hi) = (pair_lanes(0), pair_lanes(8));
    let mut kv = [[0f32; 32]; BATCH];
    for (b, outs) in chunk.chunks_mut(BATCH).enumerate() {
        let kb = k0 + b * BATCH;
        // SAFETY: the features are the caller's; `coef2` is `duplicated_rows(coef)`.
        unsafe { kernel_values(coef, &coef2, pts, kb..kb + outs.len(), &mut kv) };
        for (j, o) in outs.iter_mut().enumerate() {
            let k = kb + j;
            let Some((ls, lf)) = footprint_inside::<W>(pts, k, nfs, nff) else {
                *o = generic(k);
                continue;
            };
            // SAFETY: the features are the caller's; `kv[j]` holds 32 floats, so the 16 from
            // `fo ≤ 16` on; row `a` of the footprint starts at `((ls + a)·ld + lf)·2` with
            // `ls + a < nfs` and `lf + W ≤ nff ≤ ld`, so its `W2 = 2W` floats end at most at
            // `2·nfs·ld = grid.len()`; the masks read the row's `W2` floats only.
            unsafe {
                let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
                let mut p = grid.as_ptr().add((ls * ld + lf) * 2);
                for &ka in &kv[j][..W] {
                    let ka = _mm512_set1_ps(ka);
                    lo = _mm512_add_ps(lo, _mm512_mul_ps(ka, _mm512_maskz_loadu_ps(m_lo, p)));
                    if W2 > 16 {
                        hi = _mm512_add_ps(
                            hi,
                            _mm512_mul_ps(ka, _mm512_maskz_loadu_ps(m_hi, p.add(16))),
                        );
                    }
                    p = p.add(2 * ld);
                }
                // `spread::weigh_fast_axis`: products (+0 past the row), then the tree
                let kf = _mm512_loadu_ps(kv[j].as_ptr().add(fo));
                let mut s = _mm512_mul_ps(lo, _mm512_permutexvar_ps(dup_lo, kf));
                if W2 > 16 {
                    s = _mm512_add_ps(s, _mm512_mul_ps(hi, _mm512_permutexvar_ps(dup_hi, kf)));
                }
                // pair d + 4 onto pair d (256-bit halves swapped), then d + 2 (128-bit blocks
                // swapped in pairs), then d + 1 (pairs swapped within a block)
                s = _mm512_add_ps(s, _mm512_shuffle_f32x4::<0b01_00_11_10>(s, s));
                s = _mm512_add_ps(s, _mm512_shuffle_f32x4::<0b10_11_00_01>(s, s));
                s = _mm512_add_ps(
                    s,
                    _mm512_castpd_ps(_mm512_permute_pd::<0b0101_0101>(_mm512_castps_pd(s))),
                );
                let mut out = [0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), _mm512_castps512_ps128(s));
                *o = Complex32::new(out[0], out[1]);
            }
        }
    }
}

/// Lane `2d` and `2d + 1` take lane `first + d` (`d < 8`): kernel value `d` against the `(re, im)`
/// of an interleaved row.
#[target_feature(enable = "avx512f")]
fn pair_lanes(first: i32) -> __m512i {
    _mm512_setr_epi32(
        first,
        first,
        first + 1,
        first + 1,
        first + 2,
        first + 2,
        first + 3,
        first + 3,
        first + 4,
        first + 4,
        first + 5,
        first + 5,
        first + 6,
        first + 6,
        first + 7,
        first + 7,
    )
}

/// `spread::spread_subproblem`: each point's kernel row times its value (`c`, in sorted order),
/// added into `W` rows of the sub-grid (`rs × rf` complex; `bbox = [s0, rs, f0, rf]`).
///
/// For `W ≤ 8` (every width `σ = 2` and `σ = 1.25` choose down to their smallest `ε`) the rows
/// of the sub-grid are padded to whole 64-byte lines and a point's row of `2W ≤ 16` floats is
/// added as the two aligned lines it touches: its kernel row rotated into place, added under a
/// mask. Consecutive points overlap at different offsets, so unaligned read-modify-writes made
/// every load wait for the previous point's stores to reach the cache (a partial overlap cannot
/// be forwarded) and split every access in two; aligned lines are forwarded whole. Lanes outside
/// the mask keep their bits, so the sums are those of the portable loop.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512VL, AVX-512DQ and AVX-512BW.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
pub(super) unsafe fn spread_subproblem_avx512<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    range: std::ops::Range<usize>,
    bbox: [i64; 4],
    coef: &[[f32; W]],
    c: &[Complex32],
) -> SubGrid {
    const {
        assert!(
            W <= 16 && W2 == 2 * W,
            "kernel rows of at most 16 complex values"
        )
    };
    let [_, rs, _, rf] = bbox;
    let (rs, rf) = (rs as usize, rf as usize);
    let mut grid = if W2 <= 16 {
        SubGrid::line_aligned(rs, rf)
    } else {
        SubGrid::packed(rs, rf)
    };
    let stride = grid.stride;
    let sub = &mut grid.data[grid.start..];
    let (m_lo, m_hi) = masks(W2);
    let (dup_lo, dup_hi) = (pair_lanes(0), pair_lanes(8));
    let coef2 = duplicated_rows(coef);
    let fo = fast_offset(W);
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut kv = [[0f32; 32]; BATCH];
    let mut kb = range.start;
    while kb < range.end {
        let n = BATCH.min(range.end - kb);
        // SAFETY: the features are the caller's; `coef2` is `duplicated_rows(coef)`.
        unsafe { kernel_values(coef, &coef2, pts, kb..kb + n, &mut kv) };
        for (j, kvj) in kv[..n].iter().enumerate() {
            let k = kb + j;
            let v = c[k];
            let (bs, bf) = footprint_in_box::<W>(pts, k, bbox);
            // SAFETY: the features are the caller's; `kvj` holds 32 floats, so the 16 from
            // `fo ≤ 16` on. Row `a` of the footprint starts at float `(bs + a)·stride + 2·bf` of
            // `sub` with `bs + a < rs` and `2·bf + W2 ≤ 2·rf ≤ stride` (`footprint_in_box`).
            // Aligned form (`W2 ≤ 16`): its lines start at `q = that − o` (`o < 16`) and `q + 16`,
            // and end at most at `(rs − 1)·stride + 2·rf − W2 + 32 ≤ rs·stride + 16 ≤ sub.len()`;
            // `sub` starts on a 64-byte boundary and `stride` is a multiple of 16, so `q` is one.
            // Packed form: the row's `W2` floats end by `rs·rf·2 = sub.len()`; the masks touch
            // those only.
            unsafe {
                let kf = _mm512_loadu_ps(kvj.as_ptr().add(fo));
                // (re, im) in every pair of lanes, times kernel value d in lanes 2d, 2d + 1
                let val = _mm512_castpd_ps(_mm512_set1_pd(f64::from_bits(
                    (u64::from(v.im.to_bits()) << 32) | u64::from(v.re.to_bits()),
                )));
                let vf_lo = _mm512_mul_ps(val, _mm512_permutexvar_ps(dup_lo, kf));
                if W2 <= 16 {
                    let o = (2 * bf) % 16;
                    // lane l of the first line takes element l − o of the row, of the second
                    // element l + 16 − o: one rotation serves both
                    let rot = _mm512_and_si512(
                        _mm512_sub_epi32(iota, _mm512_set1_epi32(o as i32)),
                        _mm512_set1_epi32(15),
                    );
                    let vf = _mm512_permutexvar_ps(rot, vf_lo);
                    let spread = (u32::from(m_lo)) << o;
                    let (first, second) = (spread as __mmask16, (spread >> 16) as __mmask16);
                    for (a, &ka) in kvj[..W].iter().enumerate() {
                        let q = sub.as_mut_ptr().add((bs + a) * stride + 2 * bf - o);
                        let t = _mm512_mul_ps(_mm512_set1_ps(ka), vf);
                        let x = _mm512_load_ps(q);
                        _mm512_store_ps(q, _mm512_mask_add_ps(x, first, x, t));
                        let y = _mm512_load_ps(q.add(16));
                        _mm512_store_ps(q.add(16), _mm512_mask_add_ps(y, second, y, t));
                    }
                    continue;
                }
                let vf_hi = _mm512_mul_ps(val, _mm512_permutexvar_ps(dup_hi, kf));
                for (a, &ka) in kvj[..W].iter().enumerate() {
                    let p = sub.as_mut_ptr().add((bs + a) * stride + bf * 2);
                    let ka = _mm512_set1_ps(ka);
                    let row = _mm512_maskz_loadu_ps(m_lo, p);
                    _mm512_mask_storeu_ps(p, m_lo, _mm512_add_ps(row, _mm512_mul_ps(ka, vf_lo)));
                    let q = p.add(16);
                    let row = _mm512_maskz_loadu_ps(m_hi, q);
                    _mm512_mask_storeu_ps(q, m_hi, _mm512_add_ps(row, _mm512_mul_ps(ka, vf_hi)));
                }
            }
        }
        kb += n;
    }
    grid
}
