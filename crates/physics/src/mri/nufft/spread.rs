//! Spreading (type 1) and interpolation (type 2) between the sorted points and the fine grid,
//! monomorphised for each kernel width `2..=16`.
//!
//! Parallelism without races, deterministic for any number of threads: each type-1 subproblem
//! spreads into its own padded sub-grid, in parallel, and the sub-grids are then added into the
//! fine grid in a fixed order, parallel over fine-grid rows. Type 2 interpolates the sorted
//! points in parallel (reads only). Values move between the caller's order and the sorted order
//! in separate gather passes.

use super::kernel::{HornerKernel, horner};
use super::points::SortedPoints;
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

/// Spread one subproblem's points (values `c` in sorted order) into its own sub-grid
/// `rs × rf` complex, interleaved.
fn spread_subproblem<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    range: std::ops::Range<usize>,
    bbox: [i64; 4],
    coef: &[[f32; W]],
    c: &[Complex32],
) -> Vec<f32> {
    let [s0, rs, f0, rf] = bbox;
    let rf = rf as usize;
    let mut sub = vec![0f32; rs as usize * rf * 2];
    for k in range {
        let v = c[k];
        let ks = horner(coef, pts.zs[k]);
        let kf = horner(coef, pts.zf[k]);
        let mut vf = [0f32; W2];
        for d in 0..W {
            vf[2 * d] = v.re * kf[d];
            vf[2 * d + 1] = v.im * kf[d];
        }
        let bs = (pts.ls[k] as i64 - s0) as usize;
        let bf = (pts.lf[k] as i64 - f0) as usize;
        for (a, &ka) in ks.iter().enumerate() {
            let off = ((bs + a) * rf + bf) * 2;
            let row: &mut [f32; W2] = (&mut sub[off..off + W2]).try_into().expect("row of W2");
            for e in 0..W2 {
                row[e] += ka * vf[e];
            }
        }
    }
    sub
}

/// Type-1 spreading of `c` (original order) onto the `nfs × nff` grid (interleaved complex).
fn spread<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
) {
    // gather the values into sorted order first: a streaming pass with independent loads, so
    // the spreading loop reads them sequentially
    let cs: Vec<Complex32> = pts.perm.par_iter().map(|&k| c[k]).collect();
    let subs: Vec<Vec<f32>> = pts
        .subproblems
        .par_iter()
        .map(|(r, bbox)| spread_subproblem::<W, W2>(pts, r.clone(), *bbox, coef, &cs))
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
                    let src = &sub[r * rf * 2..(r + 1) * rf * 2];
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

/// Type-2 interpolation from the `nfs × nff` grid at every sorted point into `out` (sorted order).
fn interp<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    grid: &[f32],
    nfs: usize,
    nff: usize,
    out: &mut [Complex32],
) {
    out.par_chunks_mut(4096).enumerate().for_each(|(b, chunk)| {
        for (i, o) in chunk.iter_mut().enumerate() {
            let k = b * 4096 + i;
            let ks = horner(coef, pts.zs[k]);
            let kf = horner(coef, pts.zf[k]);
            let (ls, lf) = (pts.ls[k] as i64, pts.lf[k] as i64);
            let mut acc = [0f32; W2];
            if ls >= 0 && ls as usize + W <= nfs && lf >= 0 && lf as usize + W <= nff {
                let (ls, lf) = (ls as usize, lf as usize);
                for (a, &ka) in ks.iter().enumerate() {
                    let off = ((ls + a) * nff + lf) * 2;
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
                        let off = (r * nff + fi[d]) * 2;
                        acc[2 * d] += ka * grid[off];
                        acc[2 * d + 1] += ka * grid[off + 1];
                    }
                }
            }
            let (mut re, mut im) = (0f32, 0f32);
            for d in 0..W {
                re += acc[2 * d] * kf[d];
                im += acc[2 * d + 1] * kf[d];
            }
            *o = Complex32::new(re, im);
        }
    });
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
    pts: &SortedPoints,
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
    coef: &[[f32; W]],
) {
    spread::<W, W2>(pts, coef, c, nfs, nff, grid)
}

fn interp_dispatch<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    grid: &[f32],
    nfs: usize,
    nff: usize,
    out: &mut [Complex32],
    coef: &[[f32; W]],
) {
    interp::<W, W2>(pts, coef, grid, nfs, nff, out)
}

/// Type-1 spreading of `c` (original order) onto the `nfs × nff` grid, for a kernel of `width`.
pub(super) fn spread_points(
    width: usize,
    coef: &HornerKernel,
    pts: &SortedPoints,
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
) {
    with_width!(width, spread_dispatch, coef, (pts, c, nfs, nff, grid))
}

/// Type-2 interpolation from the `nfs × nff` grid into `out` (sorted order), for a kernel of
/// `width`.
pub(super) fn interp_points(
    width: usize,
    coef: &HornerKernel,
    pts: &SortedPoints,
    grid: &[f32],
    nfs: usize,
    nff: usize,
    out: &mut [Complex32],
) {
    with_width!(width, interp_dispatch, coef, (pts, grid, nfs, nff, out))
}
