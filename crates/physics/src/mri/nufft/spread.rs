//! Spreading (type 1) and interpolation (type 2) between the sorted points and the fine grid,
//! monomorphised for each kernel width `2..=16`.
//!
//! Parallelism without races, deterministic for any number of threads: each type-1 subproblem
//! spreads into its own padded sub-grid, in parallel, and the sub-grids are then added into the
//! fine grid in a fixed order, parallel over fine-grid rows. Type 2 interpolates the sorted
//! points in parallel (reads only). Type 2's results move from the sorted order to the caller's
//! in a separate gather pass ([`gather`], reads prefetched). Type 1's values move into the sorted
//! order first, in a parallel scatter ([`scatter`]: sequential reads, random writes into a
//! huge-page buffer, `crate::huge_pages`), and the spreading loop then reads them in order.
//! Reading them in the caller's order inside the loop (prefetched, as FINUFFT does) spent about
//! a fifth of the loop waiting on TLB and cache misses: 10⁶ random points, 256², 1 thread,
//! ε 1e-6, 16.3–18.1 → 14.7–16.0 ms.
//!
//! **Instruction sets.** The loops are plain Rust over `[f32; W]` rows, vectorised by the
//! compiler; [`Isa`] compiles them a second and third time with AVX2 and AVX-512 enabled
//! and picks one at run time (the portable build targets SSE2 only: 4 lanes, where a width-8
//! kernel's complex row is 16 floats, one AVX-512 register). Rust fuses a multiply and an add
//! only where asked (`mul_add`: the kernel's Horner steps, fused in every variant), and the
//! vector width changes only how many independent row elements one instruction handles, so
//! every variant gives the same bits (tested).

use super::kernel::{HornerKernel, horner};
use super::points::SortedPoints;
use crate::isa::Isa;
use num_complex::Complex32;
use rayon::prelude::*;

/// View complex values as interleaved `(re, im)` floats.
pub(super) fn as_floats(v: &[Complex32]) -> &[f32] {
    // SAFETY: `Complex<f32>` is `#[repr(C)]` with fields `re, im`, so a slice of n complex values
    // has the layout of 2n contiguous `f32`s, with the same alignment; the lifetime is preserved.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), 2 * v.len()) }
}

pub(super) fn as_floats_mut(v: &mut [Complex32]) -> &mut [f32] {
    // SAFETY: as in `as_floats`; the exclusive borrow is carried over to the returned slice.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<f32>(), 2 * v.len()) }
}

/// How far ahead [`read_ahead`] announces its reads (in points).
const GATHER_AHEAD: usize = 32;

/// `src[idx[i]]`, with `src[idx[i + GATHER_AHEAD]]` announced (prefetched): the reads are
/// scattered over the whole array (points sorted into bins, read in their original order), so
/// they miss the caches and the TLB, and the prefetches keep many of those misses in flight.
#[inline(always)]
pub(super) fn read_ahead(src: &[Complex32], idx: &[u32], i: usize) -> Complex32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(&ahead) = idx.get(i + GATHER_AHEAD) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch only hints the cache; it never faults or reads the value.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(src.as_ptr().wrapping_add(ahead as usize).cast()) };
    }
    src[idx[i] as usize]
}

/// `out[i] = src[idx[i]]`, in parallel, reads prefetched ([`read_ahead`]).
pub(super) fn gather(src: &[Complex32], idx: &[u32], out: &mut [Complex32]) {
    out.par_chunks_mut(4096)
        .zip(idx.par_chunks(4096))
        .for_each(|(out, idx)| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = read_ahead(src, idx, i);
            }
        });
}

/// Where [`scatter`] may write: the start of a buffer shared by its tasks.
struct ScatterTarget(*mut Complex32);
// SAFETY: the tasks of `scatter` write through the pointer to disjoint elements only (see there).
unsafe impl Sync for ScatterTarget {}

/// `out[pts.inv[k]] = src[k]` for every `k`: `src` (in the caller's order) in the sorted order,
/// in parallel over blocks of `k`. The reads and the index stream are sequential; the writes go
/// to random positions of `out`, best a [`crate::huge_pages::HugePageBuffer`] (no TLB misses).
pub(super) fn scatter(src: &[Complex32], pts: &SortedPoints, out: &mut [Complex32]) {
    let inv = &pts.inv;
    assert!(
        src.len() == inv.len() && out.len() == inv.len(),
        "scatter of {} values through {} indices into {}",
        src.len(),
        inv.len(),
        out.len()
    );
    let target = ScatterTarget(out.as_mut_ptr());
    let target = &target;
    src.par_chunks(4096)
        .zip(inv.par_chunks(4096))
        .for_each(|(s, i)| {
            for (v, &j) in s.iter().zip(i) {
                let j = j as usize;
                assert!(j < inv.len(), "sorted position {j} out of range");
                // SAFETY: `j < out.len()` (checked above). `pts.inv` is a permutation of
                // `0..M` (the inverse of `perm`, which the counting sort in `SortedPoints::new`
                // fills with each original index once, and nothing changes afterwards), so no
                // two `k`, in this task or another, write the same element, and `out` is
                // borrowed exclusively for the whole call.
                unsafe { *target.0.add(j) = *v };
            }
        });
}

/// `$body` (a call of a generic function of `W, W2`, with arguments `$arg: $ty`) compiled for
/// the baseline and for AVX2 (`#[inline(always)]` callees inlined into a function with AVX2's
/// target features), and `$body512` (the hand-written AVX-512 form) for AVX-512, picked by
/// `$isa`.
macro_rules! dispatch_isa {
    (
        $isa:expr, <$w:ident, $w2:ident>, ($($arg:ident: $ty:ty),*) -> $ret:ty, $body:expr,
        avx512: $body512:expr
    ) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<const $w: usize, const $w2: usize>($($arg: $ty),*) -> $ret {
            $body
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
        unsafe fn avx512<const $w: usize, const $w2: usize>($($arg: $ty),*) -> $ret {
            $body512
        }
        fn baseline<const $w: usize, const $w2: usize>($($arg: $ty),*) -> $ret {
            $body
        }
        match $isa {
            Isa::Baseline => baseline::<$w, $w2>($($arg),*),
            // SAFETY: `Isa::Avx2` is only constructed by `detect` after the CPU reported
            // AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::<$w, $w2>($($arg),*) },
            // SAFETY: `Isa::Avx512` is only constructed by `detect` after the CPU reported
            // AVX-512F/VL/DQ/BW, AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::<$w, $w2>($($arg),*) },
        }
    }};
}

/// A subproblem's sub-grid: `rs` rows of `rf` interleaved complex values, row `r` starting at
/// float `start + r·stride` of `data` (`stride ≥ 2·rf`; the AVX-512 loop pads rows to whole
/// 64-byte lines).
pub(super) struct SubGrid {
    pub(super) data: Vec<f32>,
    pub(super) start: usize,
    pub(super) stride: usize,
}

impl SubGrid {
    /// A zeroed sub-grid of `rs × rf` complex values with rows packed (`stride = 2·rf`).
    pub(super) fn packed(rs: usize, rf: usize) -> Self {
        Self {
            data: vec![0.0; rs * rf * 2],
            start: 0,
            stride: 2 * rf,
        }
    }

    /// A zeroed sub-grid of `rs × rf` complex values whose rows start on 64-byte boundaries
    /// (`stride` a multiple of 16 floats), with one line of slack after the last row, so that
    /// the two lines a row window of ≤ 16 floats touches are always inside `data[start..]`.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn line_aligned(rs: usize, rf: usize) -> Self {
        let stride = (2 * rf).next_multiple_of(16);
        // up to 15 floats to reach the first boundary
        let data = vec![0f32; rs * stride + 16 + 15];
        let start = data.as_ptr().align_offset(64);
        assert!(
            start < 16,
            "a f32 buffer reaches a 64-byte boundary within 16 floats"
        );
        Self {
            data,
            start,
            stride,
        }
    }

    /// Row `r`'s `2·rf` floats.
    fn row(&self, r: usize, rf: usize) -> &[f32] {
        &self.data[self.start + r * self.stride..][..2 * rf]
    }
}

/// Spread one subproblem's points (values `c` in sorted order) into its own sub-grid `rs × rf`
/// complex, interleaved.
#[inline(always)]
fn spread_subproblem<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    range: std::ops::Range<usize>,
    bbox: [i64; 4],
    coef: &[[f32; W]],
    c: &[Complex32],
) -> SubGrid {
    let [_, rs, _, rf] = bbox;
    let rf = rf as usize;
    let mut grid = SubGrid::packed(rs as usize, rf);
    let sub = &mut grid.data;
    for k in range {
        let v = c[k];
        let ks = horner(coef, pts.zs[k]);
        let kf = horner(coef, pts.zf[k]);
        let mut vf = [0f32; W2];
        for d in 0..W {
            vf[2 * d] = v.re * kf[d];
            vf[2 * d + 1] = v.im * kf[d];
        }
        let (bs, bf) = footprint_in_box::<W>(pts, k, bbox);
        for (a, &ka) in ks.iter().enumerate() {
            let off = ((bs + a) * rf + bf) * 2;
            let row: &mut [f32; W2] = (&mut sub[off..off + W2]).try_into().expect("row of W2");
            for e in 0..W2 {
                row[e] += ka * vf[e];
            }
        }
    }
    grid
}

/// Type-1 spreading of `c` (sorted order, see [`scatter`]) onto the `nfs × nff` grid
/// (interleaved complex).
fn spread<const W: usize, const W2: usize>(
    isa: Isa,
    pts: &SortedPoints,
    coef: &[[f32; W]],
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
) {
    let subs: Vec<SubGrid> = pts
        .subproblems
        .par_iter()
        .map(|(r, bbox)| {
            let (range, bbox, cs) = (r.clone(), *bbox, c);
            dispatch_isa!(
                isa,
                <W, W2>,
                (
                    pts: &SortedPoints,
                    range: std::ops::Range<usize>,
                    bbox: [i64; 4],
                    coef: &[[f32; W]],
                    cs: &[Complex32]
                ) -> SubGrid,
                spread_subproblem::<W, W2>(pts, range, bbox, coef, cs),
                // SAFETY: expanded inside the AVX-512 function, which has the features
                avx512: unsafe {
                    super::spread_avx512::spread_subproblem_avx512::<W, W2>(
                        pts, range, bbox, coef, cs,
                    )
                }
            )
        })
        .collect();
    // add the sub-grids in subproblem order, parallel over fine-grid rows (each row has one owner)
    grid.par_chunks_mut(2 * nff)
        .enumerate()
        .for_each(|(g, row)| {
            row.fill(0.0);
            for ((_, [s0, rs, f0, rf]), sub) in pts.subproblems.iter().zip(&subs) {
                let (rs, rf) = (*rs as usize, *rf as usize);
                let mut r = (g as i64 - s0).rem_euclid(nfs as i64) as usize;
                while r < rs {
                    let src = sub.row(r, rf);
                    let mut col = f0.rem_euclid(nff as i64) as usize;
                    let mut done = 0;
                    while done < rf {
                        let len = (rf - done).min(nff - col);
                        for (d, s) in row[2 * col..2 * (col + len)]
                            .iter_mut()
                            .zip(&src[2 * done..2 * (done + len)])
                        {
                            *d += *s;
                        }
                        done += len;
                        col = 0;
                    }
                    r += nfs;
                }
            }
        });
}

/// Type-2 interpolation from the `nfs × nff` grid (rows `ld ≥ nff` complex values apart) at
/// every sorted point into `out` (sorted order).
#[allow(clippy::too_many_arguments)]
fn interp<const W: usize, const W2: usize>(
    isa: Isa,
    pts: &SortedPoints,
    coef: &[[f32; W]],
    grid: &[f32],
    nfs: usize,
    nff: usize,
    ld: usize,
    out: &mut [Complex32],
) {
    out.par_chunks_mut(4096).enumerate().for_each(|(b, chunk)| {
        dispatch_isa!(
            isa,
            <W, W2>,
            (
                pts: &SortedPoints,
                coef: &[[f32; W]],
                grid: &[f32],
                nfs: usize,
                nff: usize,
                ld: usize,
                b: usize,
                chunk: &mut [Complex32]
            ) -> (),
            interp_chunk::<W, W2>(pts, coef, grid, nfs, nff, ld, b * 4096, chunk),
            // SAFETY: expanded inside the AVX-512 function, which has the features
            avx512: unsafe {
                super::spread_avx512::interp_chunk_avx512::<W, W2>(
                    pts,
                    coef,
                    grid,
                    nfs,
                    nff,
                    ld,
                    b * 4096,
                    chunk,
                    |k| interp_point::<W, W2>(pts, coef, grid, nfs, nff, ld, k),
                )
            }
        )
    });
}

/// [`interp`] of the sorted points `k0..k0 + chunk.len()` into `chunk`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn interp_chunk<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    grid: &[f32],
    nfs: usize,
    nff: usize,
    ld: usize,
    k0: usize,
    chunk: &mut [Complex32],
) {
    for (i, o) in chunk.iter_mut().enumerate() {
        *o = interp_point::<W, W2>(pts, coef, grid, nfs, nff, ld, k0 + i);
    }
}

/// The interpolated value at sorted point `k` (grid rows `ld` complex values apart).
#[inline(always)]
fn interp_point<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    grid: &[f32],
    nfs: usize,
    nff: usize,
    ld: usize,
    k: usize,
) -> Complex32 {
    let ks = horner(coef, pts.zs[k]);
    let kf = horner(coef, pts.zf[k]);
    let (ls, lf) = (pts.ls[k] as i64, pts.lf[k] as i64);
    let mut acc = [0f32; W2];
    if let Some((ls, lf)) = footprint_inside::<W>(pts, k, nfs, nff) {
        for (a, &ka) in ks.iter().enumerate() {
            let off = ((ls + a) * ld + lf) * 2;
            let row: &[f32; W2] = grid[off..off + W2].try_into().expect("row of W2");
            for e in 0..W2 {
                acc[e] += ka * row[e];
            }
        }
    } else {
        let mut fi = [0usize; W];
        for (d, f) in fi.iter_mut().enumerate() {
            *f = (lf + d as i64).rem_euclid(nff as i64) as usize;
        }
        for (a, &ka) in ks.iter().enumerate() {
            let r = (ls + a as i64).rem_euclid(nfs as i64) as usize;
            for d in 0..W {
                let off = (r * ld + fi[d]) * 2;
                acc[2 * d] += ka * grid[off];
                acc[2 * d + 1] += ka * grid[off + 1];
            }
        }
    }
    weigh_fast_axis::<W>(&acc, &kf)
}

/// The first cell `(ls, lf)` of sorted point `k`'s `W × W` footprint if the footprint lies inside
/// the `nfs × nff` grid (`None`: it wraps around).
#[inline(always)]
pub(super) fn footprint_inside<const W: usize>(
    pts: &SortedPoints,
    k: usize,
    nfs: usize,
    nff: usize,
) -> Option<(usize, usize)> {
    let (ls, lf) = (pts.ls[k] as i64, pts.lf[k] as i64);
    (ls >= 0 && ls as usize + W <= nfs && lf >= 0 && lf as usize + W <= nff)
        .then_some((ls as usize, lf as usize))
}

/// `Σ_d acc_d · kf[d]` over the `W` interleaved complex values `acc_d`: the last step of a
/// type-2 interpolation. The products are padded with `+0` to `P` = 8 terms (16 for `W > 8`) and
/// summed as a tree, `p_d + p_{d+h}` for `h = P/2, …, 1`: the order in which one or two 16-lane
/// registers reduce in three (four) vector additions (`spread_avx512`), so that every
/// instruction set gives these bits.
#[inline(always)]
pub(super) fn weigh_fast_axis<const W: usize>(acc: &[f32], kf: &[f32]) -> Complex32 {
    const { assert!(W <= 16, "at most 16 kernel values") };
    let mut p = [Complex32::default(); 16];
    for (d, &k) in kf[..W].iter().enumerate() {
        p[d] = Complex32::new(acc[2 * d] * k, acc[2 * d + 1] * k);
    }
    let mut h = if W > 8 { 8 } else { 4 };
    while h > 0 {
        for d in 0..h {
            p[d] = Complex32::new(p[d].re + p[d + h].re, p[d].im + p[d + h].im);
        }
        h /= 2;
    }
    p[0]
}

/// The first cell `(bs, bf)` of sorted point `k`'s `W × W` footprint in its subproblem's sub-grid
/// `bbox = [s0, rs, f0, rf]`; panics if the footprint leaves the box (the boxes are built around
/// their points' footprints).
#[inline(always)]
pub(super) fn footprint_in_box<const W: usize>(
    pts: &SortedPoints,
    k: usize,
    bbox: [i64; 4],
) -> (usize, usize) {
    let [s0, rs, f0, rf] = bbox;
    let (bs, bf) = (pts.ls[k] as i64 - s0, pts.lf[k] as i64 - f0);
    assert!(
        bs >= 0 && bs + W as i64 <= rs && bf >= 0 && bf + W as i64 <= rf,
        "point {k} outside its subproblem's box"
    );
    (bs as usize, bf as usize)
}

macro_rules! with_width {
    ($w:expr, $f:ident, $coef:expr, ($($arg:expr),*)) => {
        match $w {
            2 => $f::<2, 4>($($arg,)* &$coef.rows::<2>()),
            3 => $f::<3, 6>($($arg,)* &$coef.rows::<3>()),
            4 => $f::<4, 8>($($arg,)* &$coef.rows::<4>()),
            5 => $f::<5, 10>($($arg,)* &$coef.rows::<5>()),
            6 => $f::<6, 12>($($arg,)* &$coef.rows::<6>()),
            7 => $f::<7, 14>($($arg,)* &$coef.rows::<7>()),
            8 => $f::<8, 16>($($arg,)* &$coef.rows::<8>()),
            9 => $f::<9, 18>($($arg,)* &$coef.rows::<9>()),
            10 => $f::<10, 20>($($arg,)* &$coef.rows::<10>()),
            11 => $f::<11, 22>($($arg,)* &$coef.rows::<11>()),
            12 => $f::<12, 24>($($arg,)* &$coef.rows::<12>()),
            13 => $f::<13, 26>($($arg,)* &$coef.rows::<13>()),
            14 => $f::<14, 28>($($arg,)* &$coef.rows::<14>()),
            15 => $f::<15, 30>($($arg,)* &$coef.rows::<15>()),
            16 => $f::<16, 32>($($arg,)* &$coef.rows::<16>()),
            w => unreachable!("kernel width {w} is validated to 2..=16 at plan time"),
        }
    };
}

fn spread_dispatch<const W: usize, const W2: usize>(
    isa: Isa,
    pts: &SortedPoints,
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
    coef: &[[f32; W]],
) {
    spread::<W, W2>(isa, pts, coef, c, nfs, nff, grid)
}

#[allow(clippy::too_many_arguments)]
fn interp_dispatch<const W: usize, const W2: usize>(
    isa: Isa,
    pts: &SortedPoints,
    grid: &[f32],
    nfs: usize,
    nff: usize,
    ld: usize,
    out: &mut [Complex32],
    coef: &[[f32; W]],
) {
    interp::<W, W2>(isa, pts, coef, grid, nfs, nff, ld, out)
}

/// Type-1 spreading of `c` (sorted order, see [`scatter`]) onto the `nfs × nff` grid, for a
/// kernel of `width`.
#[allow(clippy::too_many_arguments)]
pub(super) fn spread_points(
    isa: Isa,
    width: usize,
    coef: &HornerKernel,
    pts: &SortedPoints,
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
) {
    with_width!(width, spread_dispatch, coef, (isa, pts, c, nfs, nff, grid))
}

/// Type-2 interpolation from the `nfs × nff` grid (rows `ld ≥ nff` complex values apart, see
/// `plan::padded_row`) into `out` (sorted order), for a kernel of `width`.
#[allow(clippy::too_many_arguments)]
pub(super) fn interp_points(
    isa: Isa,
    width: usize,
    coef: &HornerKernel,
    pts: &SortedPoints,
    grid: &[f32],
    nfs: usize,
    nff: usize,
    ld: usize,
    out: &mut [Complex32],
) {
    assert!(
        ld >= nff && grid.len() == 2 * nfs * ld,
        "grid of {nfs} rows of {ld} ≥ {nff} complex values"
    );
    with_width!(
        width,
        interp_dispatch,
        coef,
        (isa, pts, grid, nfs, nff, ld, out)
    )
}

#[cfg(test)]
mod tests {
    use super::super::kernel::{EsKernel, HornerKernel};
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A kernel of width `w` (β = 2.3 w), `m` random points sorted for an `nfs × nff` grid, and
    /// a random grid: the setting of the instruction-set and padding tests.
    fn random_case(
        rng: &mut StdRng,
        w: usize,
        m: usize,
        nfs: usize,
        nff: usize,
    ) -> (HornerKernel, SortedPoints, Vec<f32>) {
        let kernel = EsKernel {
            width: w,
            beta: 2.3 * w as f64,
        };
        let horner = HornerKernel::new(&kernel, 1e-7);
        let traj: Vec<f32> = (0..2 * m).map(|_| rng.random_range(-0.5f32..0.5)).collect();
        let pts = SortedPoints::new(&traj, nfs, nff, w);
        let grid: Vec<f32> = (0..2 * nfs * nff)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        (horner, pts, grid)
    }

    /// Whether two complex vectors have the same bits.
    fn same_bits(a: &[Complex32], b: &[Complex32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(a, b)| a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits())
    }

    /// The parallel scatter puts every value at its sorted position, on any number of threads,
    /// and the gather brings it back.
    #[test]
    fn scatter_sorts_the_values_and_gather_undoes_it() {
        let mut rng = StdRng::seed_from_u64(9);
        let m = 20_000;
        let traj: Vec<f32> = (0..2 * m).map(|_| rng.random_range(-0.5f32..0.5)).collect();
        let pts = SortedPoints::new(&traj, 64, 96, 6);
        let c: Vec<Complex32> = (0..m).map(|i| Complex32::new(i as f32, 1.0)).collect();
        let mut naive = vec![Complex32::default(); m];
        for (k, &j) in pts.inv.iter().enumerate() {
            naive[j as usize] = c[k];
        }
        assert!(
            naive.iter().enumerate().any(|(j, v)| v.re != j as f32),
            "not sorted at all"
        );
        for threads in [1, 3] {
            let sorted = crate::linop::testing::on_threads(threads, || {
                let mut sorted = vec![Complex32::default(); m];
                scatter(&c, &pts, &mut sorted);
                sorted
            });
            assert_eq!(sorted, naive, "{threads} threads");
            let mut back = vec![Complex32::default(); m];
            gather(&sorted, &pts.inv, &mut back);
            assert_eq!(back, c);
        }
    }

    /// Interpolating from a grid whose rows are padded (`ld > nff`, as `NufftPlan::type2` lays
    /// out its fine grid) gives the bits of the packed grid, and never reads the padding (NaN
    /// there would show), for every instruction set, points that wrap included.
    #[test]
    fn padded_rows_interpolate_like_packed_rows() {
        let mut rng = StdRng::seed_from_u64(5);
        for (w, m, nfs, nff) in [(5, 700, 40, 64), (7, 900, 36, 48), (11, 300, 44, 32)] {
            let (horner, pts, grid) = random_case(&mut rng, w, m, nfs, nff);
            let ld = super::super::plan::padded_row(nff);
            assert!(ld > nff, "nff = {nff}: the test needs padding");
            let mut padded = vec![f32::NAN; 2 * nfs * ld];
            for r in 0..nfs {
                padded[2 * r * ld..2 * r * ld + 2 * nff]
                    .copy_from_slice(&grid[2 * r * nff..2 * (r + 1) * nff]);
            }
            for isa in Isa::available() {
                let mut a = vec![Complex32::default(); m];
                interp_points(isa, w, &horner, &pts, &grid, nfs, nff, nff, &mut a);
                let mut b = vec![Complex32::default(); m];
                interp_points(isa, w, &horner, &pts, &padded, nfs, nff, ld, &mut b);
                assert!(a.iter().all(|v| v.norm() > 0.0));
                assert!(
                    same_bits(&a, &b),
                    "w = {w}, {isa:?}: padded rows give other values"
                );
            }
        }
    }

    /// Every instruction-set variant spreads and interpolates to the same bits, for kernel widths
    /// on both sides of the AVX-512 form's one-register limit (`W ≤ 8`), points that wrap around
    /// the grid, and batches that do not fill up.
    #[test]
    fn instruction_set_variants_agree_bitwise() {
        let isas = Isa::available();
        if isas.len() == 1 {
            println!("only the baseline instruction set on this CPU; nothing to compare");
            return;
        }
        let mut rng = StdRng::seed_from_u64(11);
        for (w, m, nfs, nff) in [
            (3, 301, 32, 40),
            (7, 1203, 48, 36),
            (8, 999, 64, 64),
            (11, 517, 40, 56),
        ] {
            let (horner, pts, grid) = random_case(&mut rng, w, m, nfs, nff);
            let c: Vec<Complex32> = (0..m)
                .map(|_| Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
                .collect();
            let run = |isa| {
                let mut spread = vec![0f32; 2 * nfs * nff];
                spread_points(isa, w, &horner, &pts, &c, nfs, nff, &mut spread);
                let mut interp = vec![Complex32::default(); m];
                interp_points(isa, w, &horner, &pts, &grid, nfs, nff, nff, &mut interp);
                (spread, interp)
            };
            let (s0, i0) = run(Isa::Baseline);
            assert!(s0.iter().any(|v| *v != 0.0) && i0.iter().any(|v| v.norm() > 0.0));
            for &isa in &isas[1..] {
                let (s, i) = run(isa);
                assert!(
                    s.iter().zip(&s0).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "w = {w}: {isa:?} spreading differs"
                );
                assert!(same_bits(&i, &i0), "w = {w}: {isa:?} interpolation differs");
            }
        }
    }
}
