//! Exact ray-length projector (Siddon 1985) — the slow, obviously-correct reference.
//!
//! Siddon (1985), "Fast calculation of the exact radiological path for a three-dimensional CT
//! array", Med. Phys. 12(2). The image is piecewise constant on square pixels; a ray's line integral
//! is `Σ_pixels L(ray ∩ pixel) · f(pixel)` with `L` the exact intersection length. All crossings of
//! the ray with the grid lines are computed in `f64`, sorted, and every segment is assigned to the
//! pixel containing its midpoint. The transpose scatters the same lengths.

use crate::ct::scatter_by_angle_chunks;
use crate::geometry::{CtGeometry, ImageGrid, Ray};
use crate::linop::LinearOperator;
use rayon::prelude::*;

/// Call `f(pixel_index, length)` for every pixel the ray crosses.
pub fn trace_exact(ray: &Ray, grid: &ImageGrid, mut f: impl FnMut(usize, f64)) {
    let (nx, ny, h) = (grid.nx as f64, grid.ny as f64, grid.pixel_size);
    let (hx, hy) = (nx * h / 2.0, ny * h / 2.0);
    let [ox, oy] = ray.origin;
    let [vx, vy] = ray.dir;
    let (mut tmin, mut tmax) = (f64::NEG_INFINITY, f64::INFINITY);
    for (o, v, half) in [(ox, vx, hx), (oy, vy, hy)] {
        if v == 0.0 {
            if o <= -half || o >= half {
                return;
            }
        } else {
            let (t1, t2) = ((-half - o) / v, (half - o) / v);
            tmin = tmin.max(t1.min(t2));
            tmax = tmax.min(t1.max(t2));
        }
    }
    if tmax <= tmin {
        return;
    }
    let mut ts = vec![tmin, tmax];
    if vx != 0.0 {
        for j in 0..=grid.nx {
            let t = ((j as f64 - nx / 2.0) * h - ox) / vx;
            if t > tmin && t < tmax {
                ts.push(t);
            }
        }
    }
    if vy != 0.0 {
        for i in 0..=grid.ny {
            let t = ((ny / 2.0 - i as f64) * h - oy) / vy;
            if t > tmin && t < tmax {
                ts.push(t);
            }
        }
    }
    ts.sort_by(f64::total_cmp);
    for w in ts.windows(2) {
        let len = w[1] - w[0];
        if len <= 0.0 {
            continue;
        }
        let tm = 0.5 * (w[0] + w[1]);
        let (x, y) = (ox + tm * vx, oy + tm * vy);
        let j = (x / h + nx / 2.0).floor();
        let i = (ny / 2.0 - y / h).floor();
        if j >= 0.0 && j < nx && i >= 0.0 && i < ny {
            f(i as usize * grid.nx + j as usize, len);
        }
    }
}

/// Exact ray-length projector for any [`CtGeometry`]; domain `(ny, nx)`, range
/// `(n_angles, n_detectors)`.
#[derive(Debug, Clone)]
pub struct SiddonProjector {
    geom: CtGeometry,
    dom: [usize; 2],
    ran: [usize; 2],
}

impl SiddonProjector {
    /// Projector on a validated geometry.
    pub fn new(geom: impl Into<CtGeometry>) -> Self {
        let geom = geom.into();
        Self {
            dom: geom.image_shape(),
            ran: geom.sino_shape(),
            geom,
        }
    }
}

impl LinearOperator<f32> for SiddonProjector {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[f32], y: &mut [f32]) {
        let grid = *self.geom.image();
        y.par_chunks_mut(self.ran[1])
            .enumerate()
            .for_each(|(a, row)| {
                for (d, out) in row.iter_mut().enumerate() {
                    let mut acc = 0.0f64;
                    trace_exact(&self.geom.ray(a, d), &grid, |p, l| acc += l * x[p] as f64);
                    *out = acc as f32;
                }
            });
    }
    fn apply_adjoint(&self, y: &[f32], x: &mut [f32]) {
        let grid = *self.geom.image();
        let n_det = self.ran[1];
        scatter_by_angle_chunks(
            self.ran[0],
            2 * grid.len(),
            x,
            || vec![0.0f64; grid.len()],
            |a, acc: &mut Vec<f64>| {
                for d in 0..n_det {
                    let v = y[a * n_det + d] as f64;
                    if v != 0.0 {
                        trace_exact(&self.geom.ray(a, d), &grid, |p, l| acc[p] += l * v);
                    }
                }
            },
            |acc, img| img.iter_mut().zip(acc).for_each(|(o, v)| *o += *v as f32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::JosephProjector;
    use crate::geometry::{Detector, DetectorShape, FanBeam, ParallelBeam};
    use crate::linop::testing::assert_adjoint;
    use crate::scalar::norm;

    #[test]
    fn siddon_adjoint() {
        let img = ImageGrid::new(13, 17, 0.7).unwrap();
        let det = Detector::new(23, 0.9, 0.4).unwrap();
        assert_adjoint(
            &SiddonProjector::new(ParallelBeam::new(img, vec![0.0, 0.3, 1.2, 2.9], det).unwrap()),
            1e-5,
        );
        let fan = FanBeam::new(
            img,
            vec![0.1, 2.0, 4.0],
            det,
            30.0,
            50.0,
            DetectorShape::Curved,
        )
        .unwrap();
        assert_adjoint(&SiddonProjector::new(fan), 1e-5);
    }

    #[test]
    fn exact_lengths_of_a_diagonal() {
        // the main diagonal of an n×n unit grid crosses n pixels, each over √2
        let grid = ImageGrid::square(5).unwrap();
        let ray = Ray {
            origin: [0.0, 0.0],
            dir: [
                std::f64::consts::FRAC_1_SQRT_2,
                -std::f64::consts::FRAC_1_SQRT_2,
            ],
        };
        let mut hits = Vec::new();
        trace_exact(&ray, &grid, |p, l| hits.push((p, l)));
        assert_eq!(hits.len(), 5);
        for (k, (p, l)) in hits.iter().enumerate() {
            assert_eq!(*p, k * 5 + k);
            assert!((l - std::f64::consts::SQRT_2).abs() < 1e-12);
        }
    }

    #[test]
    fn joseph_agrees_with_exact_lengths_on_smooth_images() {
        // Different discretisations (piecewise-constant pixels vs linear interpolation) of the
        // same line integrals: on a Gaussian of σ = 12 pixels they differ by O(h²/σ²) < 1 %
        // (measured 0.03 % parallel, 0.26 % fan); a wrong weight, offset or axis would differ by
        // tens of percent. The parallel detector (96 cells) puts rays through pixel centres: a ray
        // lying exactly on a grid line is ambiguous for Siddon (the line belongs to one pixel)
        // while Joseph splits it 50/50, a legitimate difference of up to 1 %.
        let n = 64;
        let img: Vec<f32> = (0..n * n)
            .map(|p| {
                let (i, j) = ((p / n) as f64, (p % n) as f64);
                let (x, y) = ((j - 31.5) / 12.0, (i - 31.5) / 12.0);
                (-(x * x + y * y)).exp() as f32
            })
            .collect();
        for g in [
            CtGeometry::from(ParallelBeam::standard(n, 30, 96).unwrap()),
            FanBeam::new(
                ImageGrid::square(n).unwrap(),
                crate::geometry::equispaced_angles(30, std::f64::consts::TAU),
                Detector::new(120, 1.5, 0.0).unwrap(),
                100.0,
                180.0,
                DetectorShape::Flat,
            )
            .unwrap()
            .into(),
        ] {
            let a = JosephProjector::new(g.clone()).forward_vec(&img).unwrap();
            let b = SiddonProjector::new(g).forward_vec(&img).unwrap();
            let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            let rel = norm(&diff) / norm(&b);
            eprintln!("Joseph vs Siddon relative L2 {rel}");
            assert!(rel < 5e-3, "Joseph vs Siddon relative L2 {rel}");
        }
    }
}
