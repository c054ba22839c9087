//! Orthonormal 2-D DCT and FedFDD's low/high frequency split.
//!
//! # DCT
//! The orthonormal DCT-II of a length-`N` signal is
//! `X_k = s_k Σ_{n<N} x_n cos(π(2n+1)k / 2N)`, `s_0 = √(1/N)`, `s_k = √(2/N)` (k ≥ 1); its
//! inverse is the transpose, the orthonormal DCT-III. The 2-D transform of an `(ny, nx)` image
//! applies it along every row and then every column. [`Dct2d`] plans the unnormalised 1-D
//! transforms with `rustdct` and applies the `s_k` scaling around them; the tests compare it
//! with the dense `N×N` matrix formula.
//!
//! # Frequency split (FedFDD)
//! Chen, Li, Xu, Xu, Ouyang, Qin, "FedFDD: Federated Learning with Frequency Domain Decomposition
//! for Low-Dose CT Denoising", MIDL 2024: the input `x` is split by a circular low-pass mask in DCT space,
//! `M(u, v) = [√(u² + v²) ≤ r·D]` with `D = √(ny² + nx²)` the diagonal of the coefficient array and
//! `r` the cut-off fraction (FedFDD draws `r` uniformly in `[0.43, 0.50]`), into
//! `low = IDCT(M ⊙ DCT(x))` and `high = x − low`, so `low + high = x` up to one `f32` rounding.
//!
//! FedFDD's own mask ([`fedfdd_mask`], `afm()` in `config/utils.py` of
//! github.com/xuhang2019/FedFDD, drawn afresh for every image it loads) adds random high
//! frequencies to that disc: with `d(u, v) = √(u² + v²)`,
//! `M(u, v) = [d ≤ r·√(ny² + nx²)] ∨ B(u, v)`, `r ~ U(0.43, 0.50)`,
//! `B(u, v) ~ Bernoulli(d(u, v) / max d)`, `max d = √((ny−1)² + (nx−1)²)`.

use crate::error::{FedError, Result};
use rand::Rng;
use rustdct::{DctPlanner, TransformType2And3};
use std::sync::Arc;

/// FedFDD's range of random cut-off fractions of the diagonal.
pub const FEDFDD_CUTOFF_RANGE: (f64, f64) = (0.43, 0.50);

fn check_image(what: &str, ny: usize, nx: usize, len: usize) -> Result<()> {
    if ny == 0 || nx == 0 {
        return Err(FedError::field(
            "shape",
            format!("({ny}, {nx})"),
            "both sides must be ≥ 1",
        ));
    }
    if ny * nx != len {
        return Err(FedError::field(
            what,
            format!("{len} values"),
            format!("expected ny·nx = {} for shape ({ny}, {nx})", ny * nx),
        ));
    }
    Ok(())
}

/// A planned 1-D orthonormal DCT-II/III of length `n` (rustdct's unnormalised transforms, scaled).
struct Dct1d {
    plan: Arc<dyn TransformType2And3<f64>>,
    /// `s_0 = √(1/N)`.
    s0: f64,
    /// `s_k = √(2/N)`, k ≥ 1.
    sk: f64,
}

impl Dct1d {
    fn new(n: usize, planner: &mut DctPlanner<f64>) -> Self {
        Self {
            plan: planner.plan_dct2(n),
            s0: (1.0 / n as f64).sqrt(),
            sk: (2.0 / n as f64).sqrt(),
        }
    }
    fn scratch(&self) -> Vec<f64> {
        vec![0.0; self.plan.get_scratch_len()]
    }
    /// Orthonormal DCT-II of one contiguous line, in place.
    fn forward(&self, line: &mut [f64], scratch: &mut [f64]) {
        self.plan.process_dct2_with_scratch(line, scratch);
        line[0] *= self.s0;
        line[1..].iter_mut().for_each(|v| *v *= self.sk);
    }
    /// Orthonormal DCT-III (inverse) of one contiguous line, in place: rustdct's DCT-III is
    /// `x_n = X_0/2 + Σ_{k≥1} X_k cos(…)`, so `X_0` is scaled by `2 s_0`.
    fn inverse(&self, line: &mut [f64], scratch: &mut [f64]) {
        line[0] *= 2.0 * self.s0;
        line[1..].iter_mut().for_each(|v| *v *= self.sk);
        self.plan.process_dct3_with_scratch(line, scratch);
    }
}

/// A planned orthonormal 2-D DCT for `(ny, nx)` images (tested against the dense formula).
pub struct Dct2d {
    ny: usize,
    nx: usize,
    row: Dct1d,
    col: Dct1d,
}

impl std::fmt::Debug for Dct2d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dct2d({}, {})", self.ny, self.nx)
    }
}

impl Dct2d {
    /// Plan for `(ny, nx)`.
    pub fn new(ny: usize, nx: usize) -> Result<Self> {
        check_image("shape", ny, nx, ny * nx)?;
        let mut p = DctPlanner::new();
        Ok(Self {
            ny,
            nx,
            row: Dct1d::new(nx, &mut p),
            col: Dct1d::new(ny, &mut p),
        })
    }
    fn apply(&self, x: &[f64], inverse: bool) -> Result<Vec<f64>> {
        check_image("image", self.ny, self.nx, x.len())?;
        let (ny, nx) = (self.ny, self.nx);
        let mut out = x.to_vec();
        let mut scratch = self.row.scratch();
        for r in out.chunks_mut(nx) {
            if inverse {
                self.row.inverse(r, &mut scratch)
            } else {
                self.row.forward(r, &mut scratch)
            }
        }
        let mut scratch = self.col.scratch();
        let mut col = vec![0.0; ny];
        for c in 0..nx {
            for i in 0..ny {
                col[i] = out[i * nx + c];
            }
            if inverse {
                self.col.inverse(&mut col, &mut scratch)
            } else {
                self.col.forward(&mut col, &mut scratch)
            }
            for i in 0..ny {
                out[i * nx + c] = col[i];
            }
        }
        Ok(out)
    }
    /// Orthonormal 2-D DCT-II.
    pub fn forward(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.apply(x, false)
    }
    /// Orthonormal 2-D DCT-III (the inverse).
    pub fn inverse(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.apply(x, true)
    }
}

/// Draw a FedFDD cut-off fraction uniformly in [`FEDFDD_CUTOFF_RANGE`].
pub fn random_cutoff(rng: &mut impl Rng) -> f64 {
    let (lo, hi) = FEDFDD_CUTOFF_RANGE;
    rng.random_range(lo..=hi)
}

/// FedFDD's random mask over the `(ny, nx)` DCT coefficients (see the module docs), row-major,
/// and its cut-off fraction `r`: the RNG draws `r` first, then one Bernoulli per coefficient in
/// row-major order (deterministic for a seeded `rng`).
pub fn fedfdd_mask(ny: usize, nx: usize, rng: &mut impl Rng) -> (Vec<bool>, f64) {
    let r = random_cutoff(rng);
    let rad = r * ((ny * ny + nx * nx) as f64).sqrt();
    let dmax = (((ny.saturating_sub(1)).pow(2) + (nx.saturating_sub(1)).pow(2)) as f64).sqrt();
    let mask = (0..ny * nx)
        .map(|i| {
            let (u, v) = ((i / nx) as f64, (i % nx) as f64);
            let d = (u * u + v * v).sqrt();
            let extra = dmax > 0.0 && rng.random_bool((d / dmax).clamp(0.0, 1.0));
            d <= rad || extra
        })
        .collect();
    (mask, r)
}

/// The circular DCT low-pass split of `(ny, nx)` images at cut-off fraction `r` of the diagonal.
#[derive(Debug)]
pub struct FreqSplit {
    dct: Dct2d,
    mask: Vec<bool>,
    cutoff: f64,
}

impl FreqSplit {
    /// A split at cut-off fraction `cutoff` ∈ (0, 1] of the diagonal `√(ny² + nx²)`.
    pub fn new(ny: usize, nx: usize, cutoff: f64) -> Result<Self> {
        if !(cutoff > 0.0 && cutoff <= 1.0) {
            return Err(FedError::field("cutoff", cutoff, "must be in (0, 1]"));
        }
        let dct = Dct2d::new(ny, nx)?;
        let rad = cutoff * ((ny * ny + nx * nx) as f64).sqrt();
        let mask = (0..ny * nx)
            .map(|i| {
                let (u, v) = ((i / nx) as f64, (i % nx) as f64);
                (u * u + v * v).sqrt() <= rad
            })
            .collect();
        Ok(Self { dct, mask, cutoff })
    }
    /// A split at a FedFDD random cut-off drawn from `rng`.
    pub fn random(ny: usize, nx: usize, rng: &mut impl Rng) -> Result<Self> {
        Self::new(ny, nx, random_cutoff(rng))
    }
    /// The cut-off fraction.
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }
    /// The low-pass mask over DCT coefficients, row-major `(ny, nx)`.
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }
    /// `(low, high)` with `low = IDCT(M ⊙ DCT(x))`, `high = x − low`.
    pub fn split(&self, image: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        self.split_masked(image, &self.mask)
    }

    /// [`Self::split`] with another mask `mask` of the same `(ny, nx)` coefficients (e.g. a
    /// [`fedfdd_mask`]).
    pub fn split_masked(&self, image: &[f32], mask: &[bool]) -> Result<(Vec<f32>, Vec<f32>)> {
        if mask.len() != self.mask.len() {
            return Err(FedError::field(
                "mask",
                format!("{} entries", mask.len()),
                format!("expected {} (ny·nx)", self.mask.len()),
            ));
        }
        let x: Vec<f64> = image.iter().map(|&v| v as f64).collect();
        let mut c = self.dct.forward(&x)?;
        for (c, &m) in c.iter_mut().zip(mask) {
            if !m {
                *c = 0.0;
            }
        }
        let low = self.dct.inverse(&c)?;
        let high: Vec<f32> = x.iter().zip(&low).map(|(a, b)| (a - b) as f32).collect();
        Ok((low.into_iter().map(|v| v as f32).collect(), high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::f64::consts::PI;

    /// The dense orthonormal DCT-II matrix `C[k][n] = s_k cos(π(2n+1)k / 2N)`, row-major `N×N`
    /// (the direct formula: the slow reference for [`Dct2d`]).
    fn dct_matrix(n: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * n];
        for k in 0..n {
            let s = if k == 0 {
                (1.0 / n as f64).sqrt()
            } else {
                (2.0 / n as f64).sqrt()
            };
            for i in 0..n {
                c[k * n + i] = s * (PI * (2 * i + 1) as f64 * k as f64 / (2 * n) as f64).cos();
            }
        }
        c
    }

    /// `out = C_y · x · C_xᵀ` (forward) or `C_yᵀ · x · C_x` (inverse), densely.
    fn dense_2d(x: &[f64], ny: usize, nx: usize, inverse: bool) -> Vec<f64> {
        let (cy, cx) = (dct_matrix(ny), dct_matrix(nx));
        let at = |c: &[f64], n: usize, k: usize, i: usize| {
            if inverse { c[i * n + k] } else { c[k * n + i] }
        };
        let mut rows = vec![0.0; ny * nx];
        for r in 0..ny {
            for k in 0..nx {
                rows[r * nx + k] = (0..nx).map(|i| at(&cx, nx, k, i) * x[r * nx + i]).sum();
            }
        }
        let mut out = vec![0.0; ny * nx];
        for k in 0..ny {
            for c in 0..nx {
                out[k * nx + c] = (0..ny).map(|i| at(&cy, ny, k, i) * rows[i * nx + c]).sum();
            }
        }
        out
    }

    fn dct2_reference(x: &[f64], ny: usize, nx: usize) -> Result<Vec<f64>> {
        check_image("image", ny, nx, x.len())?;
        Ok(dense_2d(x, ny, nx, false))
    }

    fn idct2_reference(x: &[f64], ny: usize, nx: usize) -> Result<Vec<f64>> {
        check_image("coefficients", ny, nx, x.len())?;
        Ok(dense_2d(x, ny, nx, true))
    }

    fn random_image(ny: usize, nx: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..ny * nx).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn dct_matrix_is_orthonormal() {
        for n in [1, 2, 5, 8] {
            let c = dct_matrix(n);
            for a in 0..n {
                for b in 0..n {
                    let d: f64 = (0..n).map(|i| c[a * n + i] * c[b * n + i]).sum();
                    let e = if a == b { 1.0 } else { 0.0 };
                    assert!((d - e).abs() < 1e-12, "n={n} ({a},{b}) {d}");
                }
            }
        }
    }

    #[test]
    fn fast_dct_matches_dense_reference() {
        for (ny, nx) in [
            (1, 1),
            (1, 7),
            (2, 3),
            (6, 5),
            (8, 8),
            (13, 16),
            (32, 20),
            (17, 64),
        ] {
            let x = random_image(ny, nx, (ny * 100 + nx) as u64);
            let d = Dct2d::new(ny, nx).unwrap();
            let f = d.forward(&x).unwrap();
            let r = dct2_reference(&x, ny, nx).unwrap();
            let err = f
                .iter()
                .zip(&r)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-10, "forward ({ny},{nx}) err {err}");
            let fi = d.inverse(&x).unwrap();
            let ri = idct2_reference(&x, ny, nx).unwrap();
            let err = fi
                .iter()
                .zip(&ri)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-10, "inverse ({ny},{nx}) err {err}");
            let back = d.inverse(&f).unwrap();
            let err = back
                .iter()
                .zip(&x)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-10, "roundtrip ({ny},{nx}) err {err}");
        }
        assert!(Dct2d::new(4, 4).unwrap().forward(&[0.0; 15]).is_err());
    }

    #[test]
    fn split_sums_to_the_image_and_low_is_band_limited() {
        let (ny, nx) = (24, 20);
        let img: Vec<f32> = random_image(ny, nx, 3).iter().map(|&v| v as f32).collect();
        let s = FreqSplit::new(ny, nx, 0.45).unwrap();
        let (low, high) = s.split(&img).unwrap();
        for ((l, h), x) in low.iter().zip(&high).zip(&img) {
            assert!(
                (l + h - x).abs() <= 1e-6 * (1.0 + x.abs()),
                "{l} + {h} vs {x}"
            );
        }
        // the low part has no energy outside the mask, the high part none inside
        let d = Dct2d::new(ny, nx).unwrap();
        let cl = d
            .forward(&low.iter().map(|&v| v as f64).collect::<Vec<_>>())
            .unwrap();
        let ch = d
            .forward(&high.iter().map(|&v| v as f64).collect::<Vec<_>>())
            .unwrap();
        let rad = 0.45 * ((ny * ny + nx * nx) as f64).sqrt();
        for i in 0..ny * nx {
            let (u, v) = ((i / nx) as f64, (i % nx) as f64);
            let inside = (u * u + v * v).sqrt() <= rad;
            assert_eq!(s.mask()[i], inside);
            let stray = if inside { ch[i] } else { cl[i] };
            assert!(stray.abs() < 1e-5, "coef {i} inside={inside}: {stray}");
        }
        // cut-off 1 keeps everything
        let (low, high) = FreqSplit::new(ny, nx, 1.0).unwrap().split(&img).unwrap();
        assert!(high.iter().all(|h| h.abs() < 1e-5));
        assert!(low.iter().zip(&img).all(|(l, x)| (l - x).abs() < 1e-5));
        assert!(
            FreqSplit::new(4, 4, 0.0)
                .unwrap_err()
                .to_string()
                .contains("cutoff")
        );
    }

    #[test]
    fn fedfdd_mask_statistics_and_determinism() {
        let (ny, nx) = (32, 24);
        let diag = ((ny * ny + nx * nx) as f64).sqrt();
        let dmax = (((ny - 1) * (ny - 1) + (nx - 1) * (nx - 1)) as f64).sqrt();
        let mut rng = StdRng::seed_from_u64(11);
        let (mut lo, mut hi) = (1.0f64, 0.0f64);
        let (mut extra, mut expected) = (0.0, 0.0);
        let draws = 400;
        for _ in 0..draws {
            let (m, r) = fedfdd_mask(ny, nx, &mut rng);
            assert!((0.43..=0.50).contains(&r), "{r}");
            lo = lo.min(r);
            hi = hi.max(r);
            // the mask holds the whole disc of radius r·diag: the largest full disc, as a
            // fraction of the diagonal, is at least r ≥ 0.43
            let mut full = f64::INFINITY;
            for i in 0..ny * nx {
                let (u, v) = ((i / nx) as f64, (i % nx) as f64);
                let d = (u * u + v * v).sqrt();
                if d <= r * diag {
                    assert!(m[i], "coefficient {i} inside the disc is masked out");
                } else {
                    expected += d / dmax;
                    extra += m[i] as u8 as f64;
                    if !m[i] {
                        full = full.min(d);
                    }
                }
            }
            assert!(full / diag >= 0.43, "{}", full / diag);
        }
        // the cut-offs cover the range; the extra high frequencies appear with probability d/max d
        assert!(lo < 0.44 && hi > 0.49, "cut-offs in [{lo}, {hi}]");
        let rel = (extra - expected).abs() / expected;
        assert!(rel < 0.02, "extra {extra} vs expected {expected}");
        // deterministic for a seed, different for another
        let draw = |seed| fedfdd_mask(ny, nx, &mut StdRng::seed_from_u64(seed));
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5).0, draw(6).0);
        // a split with it still sums to the image; a mask of the wrong size is an error
        let img: Vec<f32> = random_image(ny, nx, 2).iter().map(|&v| v as f32).collect();
        let s = FreqSplit::new(ny, nx, 0.45).unwrap();
        let (l, h) = s.split_masked(&img, &draw(5).0).unwrap();
        assert!(
            l.iter()
                .zip(&h)
                .zip(&img)
                .all(|((a, b), x)| (a + b - x).abs() < 1e-5)
        );
        assert!(
            s.split_masked(&img, &[true; 3])
                .unwrap_err()
                .to_string()
                .contains("mask")
        );
    }

    #[test]
    fn random_cutoff_is_seeded_and_in_range() {
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50).map(|_| random_cutoff(&mut rng)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!(a.iter().all(|r| (0.43..=0.50).contains(r)));
        let mut rng = StdRng::seed_from_u64(1);
        let s = FreqSplit::random(8, 8, &mut rng).unwrap();
        assert!((0.43..=0.50).contains(&s.cutoff()));
    }
}
