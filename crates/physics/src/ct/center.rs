//! Centre-of-rotation search for parallel-beam sinograms.
//!
//! A measured scan rarely has its rotation axis exactly on the detector's middle cell. Both
//! searches here return the axis position as a fractional detector **cell index** `c` (cell `d`'s
//! centre is at index `d`, so a perfectly centred axis sits at `(n − 1)/2`) together with the
//! [`Detector::offset`] that makes [`crate::geometry`]'s conventions hold for the data.
//!
//! # Sign convention of the offset
//! In this crate the rotation axis is the origin, which every parallel ray of angle `θ` projects
//! to `s = x·cosθ + y·sinθ = 0`, and cell `d` sits at `u_d = (d − (n−1)/2)·Δ + offset`. The axis
//! lies at cell index `c` exactly when `u_c = 0`, i.e.
//!
//! `offset = −(c − (n−1)/2)·Δ`,  and conversely  `c = (n−1)/2 − offset/Δ`
//!
//! ([`offset_for_axis_index`], [`axis_index_for_offset`]). An axis to the *right* of the middle
//! cell (larger index) gives a *negative* offset. The tests simulate data with
//! [`Phantom::sinogram`](crate::phantom::Phantom::sinogram) on a detector with a known offset and
//! recover that offset through this formula.
//!
//! # (a) Opposite views ([`find_center_opposite_pairs`])
//! A parallel ray of angle `θ + π` through `s` is the ray of angle `θ` through `−s`, so
//! `p(θ + π, s) = p(θ, −s)`; with the axis at index `c`, `s ∝ d − c` and the mirror of cell `d` is
//! `2c − d`:
//!
//! `p(θ + π, d) = p(θ, 2c − d)`.
//!
//! For every view `θ_i` the view opposite it is looked up among the scan's angles (taken modulo
//! `2π`): if two views bracket `θ_i + π` with a gap no larger than twice the median angular step,
//! the opposite row is interpolated linearly between them in angle; otherwise the nearest view
//! is used if it lies within `angle_tolerance` of `θ_i + π` (default 1.5 × the median step, so that
//! the first and last views of a `[0, π)` scan pair up), and the view is skipped if not. The cost
//!
//! `J(c) = Σ_pairs Σ_d [p_opp(d) − p_i(2c − d)]² / #(terms)`,
//!
//! with `p_i` interpolated linearly at the fractional index `2c − d` and only the cells whose
//! mirror falls on the detector counted (a mean, so that the shrinking overlap at large shifts
//! does not bias the search), is minimised over `c` by a coarse grid followed by golden-section
//! search on the bracket around the best grid point (Kiefer 1953). This is the registration of a
//! projection with the mirrored projection 180° away that most beamline pipelines use, e.g. the
//! phase-correlation method of TomoPy's `find_center_pc` (Gürsoy et al. 2014, "TomoPy: a framework
//! for the analysis of synchrotron tomographic data", J. Synchrotron Rad. 21), written here as a
//! direct least-squares fit over all available pairs. Linear interpolation of one side blurs it
//! by a phase-dependent amount, which biases the sub-cell estimate slightly (measured in
//! `benches/README.md`).
//!
//! # (b) Image entropy ([`find_center_entropy`])
//! For scans without opposite views (e.g. `0..179°`). Donath, Marone, Stampanoni, Ruffino,
//! Meister & Muller (2006), "Automated determination of the center of rotation in tomography
//! data", J. Opt. Soc. Am. A 23(5), 1048–1057: a wrong axis smears every edge into a doubled arc,
//! which spreads the image's histogram; the right axis concentrates it. For each candidate `c` the
//! slice is reconstructed by FBP on the geometry's image grid with `offset = offset(c)`, the pixels
//! inside a centred disc (radius `mask_ratio` × half the shorter side) are binned into `bins`
//! equal bins of a range fixed once for all candidates, and the Shannon entropy
//! `H(c) = −Σ_b h_b·log₂ h_b` of the normalised histogram is minimised like `J` above. As in
//! TomoPy's `find_center` the histogram range is taken from the reconstruction at the middle of
//! the search interval, `[min, max]` with a negative minimum and a positive maximum each doubled;
//! values outside it are counted in the end bins. For parallel beam the ramp filtering does not
//! depend on the offset, so the sinogram is filtered once and only the back-projection is redone
//! per candidate (tested against a full [`Fbp`] per candidate).

use crate::ct::fbp::{Fbp, FbpOptions, PixelDrivenBackprojector, view_spans};
use crate::error::{PhysicsError, Result, check_finite, check_len};
use crate::geometry::{Detector, ParallelBeam};
use crate::linop::LinearOperator;
use rayon::prelude::*;
use std::f64::consts::PI;

/// `Detector::offset` for a rotation axis at fractional cell index `axis_index`:
/// `−(axis_index − (n−1)/2)·spacing` (see the module docs).
pub fn offset_for_axis_index(detector: &Detector, axis_index: f64) -> f64 {
    -(axis_index - (detector.n as f64 - 1.0) / 2.0) * detector.spacing
}

/// Fractional cell index of the rotation axis for a given `offset`: `(n−1)/2 − offset/spacing`.
pub fn axis_index_for_offset(detector: &Detector, offset: f64) -> f64 {
    (detector.n as f64 - 1.0) / 2.0 - offset / detector.spacing
}

/// Where and how finely to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CenterSearch {
    /// Candidate axis positions `[lo, hi]` as fractional cell indices; default the middle half of
    /// the detector, `(n−1)/2 ± n/4`.
    pub range: Option<(f64, f64)>,
    /// Step of the coarse grid, in cells.
    pub coarse_step: f64,
    /// Width of the final golden-section bracket, in cells.
    pub tolerance: f64,
}

impl Default for CenterSearch {
    fn default() -> Self {
        Self {
            range: None,
            coarse_step: 0.5,
            tolerance: 0.01,
        }
    }
}

impl CenterSearch {
    fn interval(&self, n: usize) -> Result<(f64, f64)> {
        if !(self.coarse_step.is_finite() && self.coarse_step > 0.0) {
            return Err(PhysicsError::argument(
                "coarse_step",
                self.coarse_step,
                "must be finite and > 0 (cells)",
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(PhysicsError::argument(
                "tolerance",
                self.tolerance,
                "must be finite and > 0 (cells)",
            ));
        }
        let mid = (n as f64 - 1.0) / 2.0;
        let (lo, hi) = self
            .range
            .unwrap_or((mid - n as f64 / 4.0, mid + n as f64 / 4.0));
        if !(lo.is_finite() && hi.is_finite() && lo < hi && lo >= 0.0 && hi <= n as f64 - 1.0) {
            return Err(PhysicsError::argument(
                "range",
                format!("[{lo}, {hi}]"),
                format!(
                    "must be an interval lo < hi of cell indices inside the detector [0, {}]",
                    n - 1
                ),
            ));
        }
        Ok((lo, hi))
    }
}

/// The result of a centre search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CenterEstimate {
    /// Fractional detector cell index of the rotation axis.
    pub axis_index: f64,
    /// The [`Detector::offset`] that puts the axis at the origin (see the module docs).
    pub offset: f64,
    /// The cost at `axis_index` (mean squared mismatch, or entropy in bits).
    pub cost: f64,
    /// Number of cost evaluations.
    pub evaluations: usize,
}

/// Minimise `f` over `[lo, hi]`: coarse grid of step `step`, then golden-section search on the
/// bracket of the best grid point down to `tol`. Returns `(argmin, min, evaluations)`.
fn grid_then_golden(
    f: impl Fn(f64) -> f64 + Sync,
    lo: f64,
    hi: f64,
    step: f64,
    tol: f64,
) -> (f64, f64, usize) {
    let n = ((hi - lo) / step).floor() as usize + 1;
    let mut grid: Vec<f64> = (0..n).map(|k| lo + k as f64 * step).collect();
    if hi - grid[n - 1] > 1e-9 * step {
        grid.push(hi);
    }
    let vals: Vec<f64> = grid.par_iter().map(|&c| f(c)).collect();
    let mut evals = grid.len();
    let k = vals
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k)
        .expect("grid is not empty");
    let (mut a, mut b) = (grid[k.saturating_sub(1)], grid[(k + 1).min(grid.len() - 1)]);
    let (mut best_c, mut best_v) = (grid[k], vals[k]);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut x1 = b - g * (b - a);
    let mut x2 = a + g * (b - a);
    let (mut f1, mut f2) = (f(x1), f(x2));
    evals += 2;
    while b - a > tol {
        if f1 <= f2 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            f2 = f(x2);
        }
        evals += 1;
    }
    for (c, v) in [(x1, f1), (x2, f2)] {
        if v < best_v {
            (best_c, best_v) = (c, v);
        }
    }
    (best_c, best_v, evals)
}

fn check_sino(geom: &ParallelBeam, sino: &[f32]) -> Result<()> {
    check_len(
        "sinogram",
        &[geom.angles.len(), geom.detector.n],
        sino.len(),
    )?;
    check_finite("sinogram", sino)?;
    if geom.detector.n < 2 {
        return Err(PhysicsError::geometry(
            "detectors",
            geom.detector.n,
            "a centre search needs at least two detector cells",
        ));
    }
    Ok(())
}

/// Settings of [`find_center_opposite_pairs`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OppositePairOptions {
    /// Search interval and precision.
    pub search: CenterSearch,
    /// Largest mismatch (radians) between `θ + π` and the nearest view when no two views bracket
    /// `θ + π`; default 1.5 × the median angular step.
    pub angle_tolerance: Option<f64>,
}

/// One view and the row opposite it (`θ + π`), the latter as one or two weighted source rows.
#[derive(Debug, Clone, PartialEq)]
pub struct OppositePair {
    /// The view `θ_i`.
    pub view: usize,
    /// `(view, weight)` terms whose weighted sum is the row at `θ_i + π`.
    pub opposite: Vec<(usize, f64)>,
}

/// For every view, the (interpolated) row opposite it, as described in the module docs.
pub fn opposite_pairs(angles: &[f64], angle_tolerance: Option<f64>) -> Result<Vec<OppositePair>> {
    if let Some((k, a)) = angles.iter().enumerate().find(|(_, a)| !a.is_finite()) {
        return Err(PhysicsError::geometry(
            "angles",
            format!("angles[{k}] = {a}"),
            "must be finite",
        ));
    }
    let n = angles.len();
    if n < 2 {
        return Ok(Vec::new());
    }
    let two_pi = 2.0 * PI;
    let reduced: Vec<f64> = angles.iter().map(|a| a.rem_euclid(two_pi)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| reduced[a].total_cmp(&reduced[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| reduced[i]).collect();
    let mut gaps: Vec<f64> = (0..n)
        .map(|k| {
            if k + 1 == n {
                sorted[0] + two_pi - sorted[k]
            } else {
                sorted[k + 1] - sorted[k]
            }
        })
        .collect();
    let gap_of = gaps.clone();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[n / 2].max(gaps[(n - 1) / 2]);
    let tol = angle_tolerance.unwrap_or(1.5 * median);
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(PhysicsError::argument(
            "angle_tolerance",
            tol,
            "must be finite and ≥ 0 (radians)",
        ));
    }
    let dist = |a: f64, b: f64| {
        let d = (a - b).rem_euclid(two_pi);
        d.min(two_pi - d)
    };
    let mut pairs = Vec::new();
    for i in 0..n {
        let t = (reduced[i] + PI).rem_euclid(two_pi);
        // sorted position k with sorted[k] ≤ t < sorted[k+1] (cyclically)
        let above = sorted.partition_point(|&v| v <= t);
        let k = (above + n - 1) % n;
        let k1 = (k + 1) % n;
        let gap = gap_of[k];
        let from_k = (t - sorted[k]).rem_euclid(two_pi);
        let opposite = if gap <= 2.0 * median + 1e-12 && gap > 0.0 {
            let w = (from_k / gap).clamp(0.0, 1.0);
            vec![(order[k], 1.0 - w), (order[k1], w)]
        } else {
            let (d0, d1) = (dist(sorted[k], t), dist(sorted[k1], t));
            let (j, d) = if d0 <= d1 { (k, d0) } else { (k1, d1) };
            if d > tol {
                continue;
            }
            vec![(order[j], 1.0)]
        };
        if opposite.iter().any(|&(j, w)| j == i && w > 0.0) {
            continue;
        }
        pairs.push(OppositePair { view: i, opposite });
    }
    Ok(pairs)
}

/// Linear interpolation of `row` at fractional index `t`, `None` outside `[0, n−1]`.
#[inline]
fn lerp_at(row: &[f32], t: f64) -> Option<f64> {
    let n = row.len();
    if !(t >= 0.0 && t <= (n - 1) as f64) {
        return None;
    }
    let k = (t.floor() as usize).min(n - 2);
    let f = t - k as f64;
    Some(row[k] as f64 * (1.0 - f) + row[k + 1] as f64 * f)
}

/// The mean squared mismatch `J(c)` of the module docs for the given pairs (rows of `sino` have
/// length `n_det`; `opp` holds the opposite row of each pair). Returns `+∞` when no cell has its
/// mirror on the detector.
fn pair_cost(sino: &[f32], n_det: usize, pairs: &[OppositePair], opp: &[Vec<f32>], c: f64) -> f64 {
    let (sum, count) = pairs
        .iter()
        .zip(opp)
        .map(|(p, q)| {
            let row = &sino[p.view * n_det..(p.view + 1) * n_det];
            let mut s = 0.0;
            let mut m = 0usize;
            for (d, &qd) in q.iter().enumerate() {
                if let Some(v) = lerp_at(row, 2.0 * c - d as f64) {
                    s += (qd as f64 - v).powi(2);
                    m += 1;
                }
            }
            (s, m)
        })
        .fold((0.0, 0usize), |(a, b), (s, m)| (a + s, b + m));
    if count == 0 {
        f64::INFINITY
    } else {
        sum / count as f64
    }
}

/// Centre of rotation from views 180° apart (method (a) of the module docs). `geom.detector`
/// gives the cell count and pitch (its offset is ignored); `sino` is `(n_angles, n_det)`.
pub fn find_center_opposite_pairs(
    geom: &ParallelBeam,
    sino: &[f32],
    opts: &OppositePairOptions,
) -> Result<CenterEstimate> {
    check_sino(geom, sino)?;
    let det = geom.detector;
    let (lo, hi) = opts.search.interval(det.n)?;
    let pairs = opposite_pairs(&geom.angles, opts.angle_tolerance)?;
    if pairs.is_empty() {
        return Err(PhysicsError::argument(
            "angles",
            format!("{} views", geom.angles.len()),
            "no view has an opposite view (θ + π) within the angle tolerance; use find_center_entropy",
        ));
    }
    let n = det.n;
    let opp: Vec<Vec<f32>> = pairs
        .iter()
        .map(|p| {
            let mut row = vec![0.0f64; n];
            for &(j, w) in &p.opposite {
                for (r, &v) in row.iter_mut().zip(&sino[j * n..(j + 1) * n]) {
                    *r += w * v as f64;
                }
            }
            row.into_iter().map(|v| v as f32).collect()
        })
        .collect();
    let (c, cost, evaluations) = grid_then_golden(
        |c| pair_cost(sino, n, &pairs, &opp, c),
        lo,
        hi,
        opts.search.coarse_step,
        opts.search.tolerance,
    );
    Ok(CenterEstimate {
        axis_index: c,
        offset: offset_for_axis_index(&det, c),
        cost,
        evaluations,
    })
}

/// Settings of [`find_center_entropy`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropyOptions {
    /// Search interval and precision (default coarse step 1 cell, tolerance 0.02 cells).
    pub search: CenterSearch,
    /// Number of histogram bins (TomoPy: 64).
    pub bins: usize,
    /// Radius of the evaluated disc as a fraction of half the image's shorter side, in `(0, 1]`.
    pub mask_ratio: f64,
    /// FBP filter settings.
    pub fbp: FbpOptions,
}

impl Default for EntropyOptions {
    fn default() -> Self {
        Self {
            search: CenterSearch {
                range: None,
                coarse_step: 1.0,
                tolerance: 0.02,
            },
            bins: 64,
            mask_ratio: 1.0,
            fbp: FbpOptions::default(),
        }
    }
}

/// FBP reconstructions of one parallel-beam sinogram for any detector offset, filtering once.
#[derive(Debug)]
pub struct OffsetFbp {
    geom: ParallelBeam,
    filtered: Vec<f32>,
    spans: Vec<f64>,
}

impl OffsetFbp {
    /// Filter `sino` once for `geom` (whose own offset is irrelevant).
    pub fn new(geom: &ParallelBeam, sino: &[f32], opts: &FbpOptions) -> Result<Self> {
        let fbp = Fbp::new(geom.clone(), opts)?;
        let filtered = fbp.filter_sinogram(sino)?;
        Ok(Self {
            geom: geom.clone(),
            filtered,
            spans: view_spans(&geom.angles, PI).spans,
        })
    }
    /// The FBP image with the detector shifted to `offset`.
    pub fn reconstruct(&self, offset: f64) -> Result<Vec<f32>> {
        let d = self.geom.detector;
        let g = ParallelBeam::new(
            self.geom.image,
            self.geom.angles.clone(),
            Detector::new(d.n, d.spacing, offset)?,
        )?;
        PixelDrivenBackprojector::new(g)
            .with_view_weights(&self.spans)?
            .forward_vec(&self.filtered)
    }
}

/// Indices of the pixels inside the centred disc of radius `ratio · min(nx, ny)/2` pixels.
fn disc_mask(ny: usize, nx: usize, ratio: f64) -> Vec<usize> {
    let r = ratio * nx.min(ny) as f64 / 2.0;
    let (cy, cx) = ((ny as f64 - 1.0) / 2.0, (nx as f64 - 1.0) / 2.0);
    (0..ny * nx)
        .filter(|&k| {
            let (i, j) = ((k / nx) as f64, (k % nx) as f64);
            (i - cy).powi(2) + (j - cx).powi(2) <= r * r
        })
        .collect()
}

/// Shannon entropy (bits) of the histogram of `values` over `bins` equal bins of `[lo, hi]`,
/// values outside counted in the end bins.
pub fn histogram_entropy(values: impl Iterator<Item = f32>, lo: f64, hi: f64, bins: usize) -> f64 {
    let mut h = vec![0usize; bins];
    let mut total = 0usize;
    let scale = bins as f64 / (hi - lo);
    for v in values {
        let b = ((v as f64 - lo) * scale).floor();
        let b = if b < 0.0 {
            0
        } else {
            (b as usize).min(bins - 1)
        };
        h[b] += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    h.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Centre of rotation by minimising the entropy of the FBP image's histogram (method (b) of the
/// module docs). The reconstruction grid is `geom.image`; `geom.detector` gives the cell count
/// and pitch (its offset is ignored); `sino` is `(n_angles, n_det)`.
pub fn find_center_entropy(
    geom: &ParallelBeam,
    sino: &[f32],
    opts: &EntropyOptions,
) -> Result<CenterEstimate> {
    check_sino(geom, sino)?;
    if opts.bins < 2 {
        return Err(PhysicsError::argument(
            "bins",
            opts.bins,
            "the histogram needs at least two bins",
        ));
    }
    let r = opts.mask_ratio;
    if !(r.is_finite() && r > 0.0 && r <= 1.0) {
        return Err(PhysicsError::argument("mask_ratio", r, "must be in (0, 1]"));
    }
    let det = geom.detector;
    let (lo, hi) = opts.search.interval(det.n)?;
    let fbp = OffsetFbp::new(geom, sino, &opts.fbp)?;
    let mask = disc_mask(geom.image.ny, geom.image.nx, r);
    if mask.is_empty() {
        return Err(PhysicsError::argument(
            "mask_ratio",
            r,
            "the mask holds no pixel of the image",
        ));
    }
    let mid = fbp.reconstruct(offset_for_axis_index(&det, 0.5 * (lo + hi)))?;
    let (mut hmin, mut hmax) = mask
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |m, &k| {
            (m.0.min(mid[k] as f64), m.1.max(mid[k] as f64))
        });
    if hmin < 0.0 {
        hmin *= 2.0;
    }
    if hmax > 0.0 {
        hmax *= 2.0;
    }
    if hmax <= hmin {
        return Err(PhysicsError::argument(
            "sinogram",
            "constant reconstruction",
            "the FBP image is constant, so its entropy cannot locate the axis",
        ));
    }
    let bins = opts.bins;
    let cost = |c: f64| -> f64 {
        match fbp.reconstruct(offset_for_axis_index(&det, c)) {
            Ok(img) => histogram_entropy(mask.iter().map(|&k| img[k]), hmin, hmax, bins),
            Err(_) => f64::INFINITY,
        }
    };
    let (c, cost, evaluations) =
        grid_then_golden(cost, lo, hi, opts.search.coarse_step, opts.search.tolerance);
    Ok(CenterEstimate {
        axis_index: c,
        offset: offset_for_axis_index(&det, c),
        cost,
        evaluations: evaluations + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{CtGeometry, ImageGrid, equispaced_angles};
    use crate::phantom::Phantom;

    /// An off-centre, asymmetric phantom on a `n × n` unit grid.
    fn phantom(n: usize) -> Phantom {
        let p = Phantom::modified_shepp_logan().scaled(0.42 * n as f64);
        Phantom {
            name: "shifted".into(),
            ellipses: p
                .ellipses
                .iter()
                .map(|e| crate::phantom::Ellipse {
                    x: e.x + 3.0,
                    y: e.y - 2.0,
                    ..*e
                })
                .collect(),
        }
    }

    /// The phantom's sinogram on `n_det` unit cells with `offset`, each cell the mean of 4
    /// analytic line integrals across its width (a detector aperture, as in a real scan; point
    /// samples of the ellipses' square-root edges alias differently in opposite views).
    fn scan(n: usize, n_det: usize, angles: Vec<f64>, offset: f64) -> (ParallelBeam, Vec<f32>) {
        const SUB: usize = 4;
        let image = ImageGrid::square(n).unwrap();
        let g =
            ParallelBeam::new(image, angles, Detector::new(n_det, 1.0, offset).unwrap()).unwrap();
        let fine = ParallelBeam::new(
            image,
            g.angles.clone(),
            Detector::new(SUB * n_det, 1.0 / SUB as f64, offset).unwrap(),
        )
        .unwrap();
        let sino = phantom(n)
            .sinogram(&CtGeometry::Parallel(fine))
            .chunks_exact(SUB)
            .map(|c| c.iter().sum::<f32>() / SUB as f32)
            .collect();
        (g, sino)
    }

    #[test]
    fn offset_and_axis_index_are_inverse_and_signed_as_documented() {
        let d = Detector::new(9, 2.0, 0.0).unwrap();
        assert_eq!(offset_for_axis_index(&d, 4.0), 0.0);
        // axis one cell to the right of the middle → offset −spacing
        assert_eq!(offset_for_axis_index(&d, 5.0), -2.0);
        assert_eq!(axis_index_for_offset(&d, -2.0), 5.0);
        // the geometry agrees: with that offset, cell 5 sits at u = 0
        let shifted = Detector::new(9, 2.0, -2.0).unwrap();
        assert_eq!(shifted.u(5.0), 0.0);
    }

    #[test]
    fn opposite_pairs_interpolate_and_pair_the_ends_of_a_half_scan() {
        // full circle, 8 views: each view's opposite is exactly another view
        let full = equispaced_angles(8, 2.0 * PI);
        let p = opposite_pairs(&full, None).unwrap();
        assert_eq!(p.len(), 8);
        for q in &p {
            let (j, w) = q
                .opposite
                .iter()
                .copied()
                .fold((0, 0.0), |m, t| if t.1 > m.1 { t } else { m });
            assert!((w - 1.0).abs() < 1e-12 && j == (q.view + 4) % 8, "{q:?}");
        }
        // half scan [0, π): only the first and last views pair up (one step apart)
        let half = equispaced_angles(10, PI);
        let p = opposite_pairs(&half, None).unwrap();
        let views: Vec<usize> = p.iter().map(|q| q.view).collect();
        assert_eq!(views, vec![0, 9]);
        assert_eq!(p[0].opposite, vec![(9, 1.0)]);
        assert!(
            opposite_pairs(&half, Some(0.5 * PI / 10.0))
                .unwrap()
                .is_empty()
        );
        // irregular full scan: θ + π falls between two views → linear weights in angle
        let irregular = vec![0.0, 0.5 * PI, 0.9 * PI, 1.3 * PI, 1.5 * PI];
        let p = opposite_pairs(&irregular, None).unwrap();
        let q = p.iter().find(|q| q.view == 0).unwrap();
        assert_eq!(q.opposite.len(), 2);
        assert_eq!((q.opposite[0].0, q.opposite[1].0), (2, 3));
        assert!((q.opposite[0].1 - 0.75).abs() < 1e-12 && (q.opposite[1].1 - 0.25).abs() < 1e-12);
    }

    /// (a) on a full circle and on an inclusive `[0, π]` scan: the known offset is recovered.
    #[test]
    fn opposite_pairs_recover_a_known_offset() {
        for (angles, offset) in [
            (equispaced_angles(120, 2.0 * PI), 3.3),
            ((0..=90).map(|k| k as f64 * PI / 90.0).collect(), -5.6),
        ] {
            let (g, sino) = scan(64, 101, angles, offset);
            let est =
                find_center_opposite_pairs(&g, &sino, &OppositePairOptions::default()).unwrap();
            assert!(
                (est.offset - offset).abs() < 0.25,
                "offset {} recovered as {} (axis index {})",
                offset,
                est.offset,
                est.axis_index
            );
            assert!((est.axis_index - axis_index_for_offset(&g.detector, offset)).abs() < 0.25);
        }
    }

    /// (b) on a `[0, π)` scan, which has no opposite views; (a) there has only the first and last
    /// views, one step short of opposite, and still finds the axis.
    #[test]
    fn both_methods_recover_a_known_offset_on_a_half_scan() {
        for offset in [4.4, -2.7] {
            let (g, sino) = scan(64, 101, equispaced_angles(90, PI), offset);
            let est = find_center_entropy(&g, &sino, &EntropyOptions::default()).unwrap();
            assert!(
                (est.offset - offset).abs() < 0.25,
                "entropy: offset {offset} recovered as {} (axis index {})",
                est.offset,
                est.axis_index
            );
            let est =
                find_center_opposite_pairs(&g, &sino, &OppositePairOptions::default()).unwrap();
            assert!(
                (est.offset - offset).abs() < 0.25,
                "pairs: offset {offset} recovered as {} (axis index {})",
                est.offset,
                est.axis_index
            );
        }
    }

    /// The filter-once path equals a full FBP with the shifted detector.
    #[test]
    fn offset_fbp_matches_a_full_fbp() {
        let (g, sino) = scan(24, 41, equispaced_angles(30, PI), 0.0);
        let fast = OffsetFbp::new(&g, &sino, &FbpOptions::default()).unwrap();
        for offset in [-2.3, 0.0, 1.7] {
            let mut gs = g.clone();
            gs.detector.offset = offset;
            let reference = Fbp::new(gs, &FbpOptions::default())
                .unwrap()
                .reconstruct(&sino)
                .unwrap();
            let got = fast.reconstruct(offset).unwrap();
            let err = got
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-5, "offset {offset}: max |Δ| = {err}");
        }
    }

    #[test]
    fn histogram_entropy_of_known_histograms() {
        // all in one bin → 0 bits; uniform over 4 bins → 2 bits; out-of-range values clamp
        assert_eq!(
            histogram_entropy([0.5f32; 10].into_iter(), 0.0, 4.0, 4),
            0.0
        );
        let v = [0.5f32, 1.5, 2.5, 3.5];
        assert!((histogram_entropy(v.into_iter(), 0.0, 4.0, 4) - 2.0).abs() < 1e-12);
        let v = [-10.0f32, 0.5, 3.5, 99.0];
        assert!((histogram_entropy(v.into_iter(), 0.0, 4.0, 4) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn invalid_input_is_an_error_naming_the_field() {
        let (g, sino) = scan(16, 25, equispaced_angles(20, PI), 0.0);
        let pairs = OppositePairOptions::default();
        let e = find_center_opposite_pairs(&g, &sino[1..], &pairs).unwrap_err();
        assert!(e.to_string().contains("sinogram"), "{e}");
        let mut bad = sino.clone();
        bad[7] = f32::NAN;
        let e = find_center_opposite_pairs(&g, &bad, &pairs).unwrap_err();
        assert!(
            e.to_string().contains("non-finite") && e.to_string().contains("7"),
            "{e}"
        );
        let strict = OppositePairOptions {
            angle_tolerance: Some(1e-3),
            ..pairs
        };
        let e = find_center_opposite_pairs(&g, &sino, &strict).unwrap_err();
        assert!(e.to_string().contains("`angles`"), "{e}");
        let e = find_center_opposite_pairs(
            &g,
            &sino,
            &OppositePairOptions {
                angle_tolerance: Some(f64::NAN),
                ..pairs
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("angle_tolerance"), "{e}");
        for (search, field) in [
            (
                CenterSearch {
                    range: Some((10.0, 5.0)),
                    ..CenterSearch::default()
                },
                "`range`",
            ),
            (
                CenterSearch {
                    range: Some((0.0, 30.0)),
                    ..CenterSearch::default()
                },
                "`range`",
            ),
            (
                CenterSearch {
                    coarse_step: 0.0,
                    ..CenterSearch::default()
                },
                "coarse_step",
            ),
            (
                CenterSearch {
                    tolerance: -1.0,
                    ..CenterSearch::default()
                },
                "tolerance",
            ),
        ] {
            let e = find_center_opposite_pairs(&g, &sino, &OppositePairOptions { search, ..pairs })
                .unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
            let e = find_center_entropy(
                &g,
                &sino,
                &EntropyOptions {
                    search,
                    ..EntropyOptions::default()
                },
            )
            .unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
        let e = find_center_entropy(
            &g,
            &sino,
            &EntropyOptions {
                bins: 1,
                ..EntropyOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("bins"), "{e}");
        let e = find_center_entropy(
            &g,
            &sino,
            &EntropyOptions {
                mask_ratio: 1.5,
                ..EntropyOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("mask_ratio"), "{e}");
        let e = find_center_entropy(&g, &vec![0.0; sino.len()], &EntropyOptions::default())
            .unwrap_err();
        assert!(e.to_string().contains("constant"), "{e}");
    }
}
