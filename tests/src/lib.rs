//! Shared helpers of fedrecon's cross-crate and real-data tests (`tests/tests/*.rs`).
//!
//! - [`shared_data`]: locate a file of the real test data in `shared/data` (a sibling of the
//!   repository's clone), or skip (fail with `FEDRECON_REQUIRE_DATA=1`).
//! - Image measures used as pass/fail criteria on real data, where no ground truth exists:
//!   [`masked_entropy`], [`relative_residual`], and the outer boundary of a reconstructed disc
//!   ([`boundary_points`], [`fit_circle`]).
//! - [`fit_disc_sinogram`]: least-squares fit of a uniform disc to a sinogram in any geometry
//!   (edge-tangent initialisation, then Gauss–Newton on the analytic sinogram).

use fedrecon_physics::ct::center::histogram_entropy;
use fedrecon_physics::geometry::{CtGeometry, Ray};
use fedrecon_physics::linop::LinearOperator;
use fedrecon_physics::phantom::{Ellipse, Phantom};

/// `shared/data/<rel>`, or `None` after a skip (a failure with `FEDRECON_REQUIRE_DATA=1`): see
/// [`fedrecon_physics::test_env`].
pub use fedrecon_physics::test_env::shared_data;

/// Flat indices of the pixels of an `(ny, nx)` image inside the centred disc of radius
/// `ratio · min(ny, nx)/2` pixels.
pub fn disc_indices(ny: usize, nx: usize, ratio: f64) -> Vec<usize> {
    let r = ratio * nx.min(ny) as f64 / 2.0;
    let (cy, cx) = ((ny as f64 - 1.0) / 2.0, (nx as f64 - 1.0) / 2.0);
    (0..ny * nx)
        .filter(|&k| ((k / nx) as f64 - cy).powi(2) + ((k % nx) as f64 - cx).powi(2) <= r * r)
        .collect()
}

/// Entropy (bits) of the 64-bin histogram of `img` over `[lo, hi]` on the pixels `mask`.
pub fn masked_entropy(img: &[f32], mask: &[usize], lo: f64, hi: f64) -> f64 {
    histogram_entropy(mask.iter().map(|&k| img[k]), lo, hi, 64)
}

/// `‖A x − y‖ / ‖y‖`.
pub fn relative_residual<O: LinearOperator<f32> + ?Sized>(a: &O, x: &[f32], y: &[f32]) -> f64 {
    let ax = a.forward_vec(x).expect("shapes match");
    let num: f64 = ax
        .iter()
        .zip(y)
        .map(|(p, q)| (*p as f64 - *q as f64).powi(2))
        .sum();
    let den: f64 = y.iter().map(|q| (*q as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// A uniform disc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disc {
    /// Centre x.
    pub x: f64,
    /// Centre y.
    pub y: f64,
    /// Radius.
    pub r: f64,
    /// Value inside.
    pub value: f64,
}

impl Disc {
    /// As a one-ellipse phantom.
    pub fn phantom(&self) -> Phantom {
        Phantom {
            name: "disc".into(),
            ellipses: vec![Ellipse {
                value: self.value,
                a: self.r,
                b: self.r,
                x: self.x,
                y: self.y,
                phi: 0.0,
            }],
        }
    }
}

/// Result of [`fit_disc_sinogram`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscFit {
    /// The fitted disc.
    pub disc: Disc,
    /// `‖sinogram(disc) − data‖ / ‖data‖`.
    pub relative_residual: f64,
    /// RMS distance (length units) of the data's shadow-edge rays from the fitted circle.
    pub edge_rms: f64,
}

/// Solve the small dense system `m · x = b` (Gaussian elimination with partial pivoting).
fn solve_dense<const N: usize>(mut m: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for c in 0..N {
        let p = (c..N).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[p][c].abs() < 1e-300 {
            return None;
        }
        m.swap(c, p);
        b.swap(c, p);
        for r in c + 1..N {
            let f = m[r][c] / m[c][c];
            for k in c..N {
                m[r][k] -= f * m[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = [0.0; N];
    for c in (0..N).rev() {
        let s: f64 = (c + 1..N).map(|k| m[c][k] * x[k]).sum();
        x[c] = (b[c] - s) / m[c][c];
    }
    Some(x)
}

/// Unit normal `n` and offset `n·o` of a ray's line.
fn line_of(ray: &Ray) -> ([f64; 2], f64) {
    let n = [-ray.dir[1], ray.dir[0]];
    (n, n[0] * ray.origin[0] + n[1] * ray.origin[1])
}

/// Fit a uniform disc to `sino` (line integrals, `geom.sino_shape()`).
///
/// 1. In each view, the first and last cells above `edge_level · max(sino)` mark the shadow's
///    edges; the ray through each edge (interpolated between cells) is tangent to the disc, so
///    with the ray's unit normal `n` and offset `n·o`, `n·c ± r = n·o` (sign by side): a linear
///    least-squares problem in `(c_x, c_y, r)`.
/// 2. Gauss–Newton on `‖sinogram(disc) − sino‖²` over `(c_x, c_y, r, value)` with central
///    finite-difference Jacobians of the analytic sinogram ([`Phantom::sinogram`]), the value
///    solved in closed form at every step.
pub fn fit_disc_sinogram(
    geom: &CtGeometry,
    sino: &[f32],
    edge_level: f64,
    iterations: usize,
) -> DiscFit {
    let [na, nd] = geom.sino_shape();
    let peak = sino.iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    let thr = edge_level * peak;
    // (n, offset, side) per edge ray; side +1: the disc lies on the +n side of the line
    let mut edges: Vec<([f64; 2], f64, f64)> = Vec::new();
    let det = *geom.detector();
    for a in 0..na {
        let row = &sino[a * nd..(a + 1) * nd];
        let Some(first) = row.iter().position(|&v| v as f64 > thr) else {
            continue;
        };
        let last = row
            .iter()
            .rposition(|&v| v as f64 > thr)
            .expect("first exists");
        if first == 0 || last + 1 == nd {
            continue;
        }
        let cross = |lo: usize, hi: usize| {
            let (vl, vh) = (row[lo] as f64, row[hi] as f64);
            lo as f64 + (thr - vl) / (vh - vl) * (hi as f64 - lo as f64)
        };
        let theta = geom.angles()[a];
        for (t, inward) in [
            (cross(first - 1, first), 1.0),
            (cross(last + 1, last), -1.0),
        ] {
            let u = det.u(t);
            let (n, off) = line_of(&geom.ray_at(theta, u));
            // the disc lies on the side of the edge line where a ray a little further inside
            // passes; take that ray's point nearest the isocentre
            let probe = geom.ray_at(theta, u + inward * 0.5 * det.spacing);
            let t = -(probe.origin[0] * probe.dir[0] + probe.origin[1] * probe.dir[1]);
            let q = [
                probe.origin[0] + t * probe.dir[0],
                probe.origin[1] + t * probe.dir[1],
            ];
            let side = (n[0] * q[0] + n[1] * q[1] - off).signum();
            edges.push((n, off, side));
        }
    }
    // n·c − off = side·r: the centre is at distance r on the inward side
    let mut m = [[0.0; 3]; 3];
    let mut b = [0.0; 3];
    for &(n, off, side) in &edges {
        let row = [n[0], n[1], -side];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += row[i] * row[j];
            }
            b[i] += row[i] * off;
        }
    }
    let [cx, cy, r] = solve_dense(m, b).unwrap_or([0.0, 0.0, 1.0]);
    let edge_rms = (edges
        .iter()
        .map(|&(n, off, side)| (n[0] * cx + n[1] * cy - side * r - off).powi(2))
        .sum::<f64>()
        / edges.len().max(1) as f64)
        .sqrt();
    let data: Vec<f64> = sino.iter().map(|&v| v as f64).collect();
    let model = |p: [f64; 3]| -> Vec<f64> {
        Disc {
            x: p[0],
            y: p[1],
            r: p[2].abs(),
            value: 1.0,
        }
        .phantom()
        .sinogram(geom)
        .into_iter()
        .map(|v| v as f64)
        .collect()
    };
    let best_value = |s: &[f64]| {
        let num: f64 = s.iter().zip(&data).map(|(a, b)| a * b).sum();
        let den: f64 = s.iter().map(|a| a * a).sum();
        if den > 0.0 { num / den } else { 0.0 }
    };
    let mut p = [cx, cy, r.abs()];
    let h = 1e-3 * det.spacing.max(geom.image().pixel_size);
    for _ in 0..iterations {
        let s0 = model(p);
        let v = best_value(&s0);
        let res: Vec<f64> = s0.iter().zip(&data).map(|(a, b)| v * a - b).collect();
        let mut jac = Vec::with_capacity(3);
        for k in 0..3 {
            let (mut pp, mut pm) = (p, p);
            pp[k] += h;
            pm[k] -= h;
            let (sp, sm) = (model(pp), model(pm));
            jac.push(
                sp.iter()
                    .zip(&sm)
                    .map(|(a, b)| v * (a - b) / (2.0 * h))
                    .collect::<Vec<f64>>(),
            );
        }
        let mut jtj = [[0.0; 3]; 3];
        let mut jtr = [0.0; 3];
        for i in 0..3 {
            for j in 0..3 {
                jtj[i][j] = jac[i].iter().zip(&jac[j]).map(|(a, b)| a * b).sum();
            }
            jtr[i] = -jac[i].iter().zip(&res).map(|(a, b)| a * b).sum::<f64>();
        }
        let Some(step) = solve_dense(jtj, jtr) else {
            break;
        };
        let old = res.iter().map(|x| x * x).sum::<f64>();
        // damped step: halve until the cost does not increase
        let mut t = 1.0;
        loop {
            let q = [p[0] + t * step[0], p[1] + t * step[1], p[2] + t * step[2]];
            let s = model(q);
            let v = best_value(&s);
            let new: f64 = s.iter().zip(&data).map(|(a, b)| (v * a - b).powi(2)).sum();
            if new <= old || t < 1e-3 {
                if new <= old {
                    p = q;
                }
                break;
            }
            t *= 0.5;
        }
    }
    let s = model(p);
    let value = best_value(&s);
    let num: f64 = s
        .iter()
        .zip(&data)
        .map(|(a, b)| (value * a - b).powi(2))
        .sum();
    let den: f64 = data.iter().map(|b| b * b).sum();
    DiscFit {
        disc: Disc {
            x: p[0],
            y: p[1],
            r: p[2].abs(),
            value,
        },
        relative_residual: (num / den).sqrt(),
        edge_rms,
    }
}

/// Bilinear interpolation of an `(ny, nx)` image at fractional `(row, col)`, 0 outside.
fn bilinear(img: &[f32], ny: usize, nx: usize, r: f64, c: f64) -> f64 {
    if !(r >= 0.0 && c >= 0.0 && r <= (ny - 1) as f64 && c <= (nx - 1) as f64) {
        return 0.0;
    }
    let (i, j) = (
        (r.floor() as usize).min(ny - 2),
        (c.floor() as usize).min(nx - 2),
    );
    let (fr, fc) = (r - i as f64, c - j as f64);
    let at = |i: usize, j: usize| img[i * nx + j] as f64;
    (1.0 - fr) * ((1.0 - fc) * at(i, j) + fc * at(i, j + 1))
        + fr * ((1.0 - fc) * at(i + 1, j) + fc * at(i + 1, j + 1))
}

/// Outer boundary points of a bright object in an image on `grid`: along each direction `φ`
/// (radians, counter-clockwise from +x) from `centre` (physical coordinates), march inward from
/// radius `r_start` in steps of a quarter pixel and return the first point where the image rises
/// above `level` (linearly interpolated between the two samples), in physical coordinates.
pub fn boundary_points(
    img: &[f32],
    grid: &fedrecon_physics::geometry::ImageGrid,
    centre: [f64; 2],
    directions: &[f64],
    r_start: f64,
    level: f64,
) -> Vec<[f64; 2]> {
    let (ny, nx) = (grid.ny, grid.nx);
    let step = 0.25 * grid.pixel_size;
    let value = |x: f64, y: f64| {
        let c = x / grid.pixel_size + (nx as f64 - 1.0) / 2.0;
        let r = (ny as f64 - 1.0) / 2.0 - y / grid.pixel_size;
        bilinear(img, ny, nx, r, c)
    };
    let mut out = Vec::new();
    for &phi in directions {
        let (s, c) = phi.sin_cos();
        let at = |t: f64| value(centre[0] + t * c, centre[1] + t * s);
        let mut t = r_start;
        let mut prev = at(t);
        while t > step {
            let next = at(t - step);
            if prev <= level && next > level {
                let f = (level - prev) / (next - prev);
                let tb = t - f * step;
                out.push([centre[0] + tb * c, centre[1] + tb * s]);
                break;
            }
            prev = next;
            t -= step;
        }
    }
    out
}

/// Algebraic least-squares circle through points (Kåsa 1976, "A circle fitting procedure and its
/// error analysis", IEEE Trans. Instrum. Meas. 25): minimise `Σ (x² + y² + D·x + E·y + F)²`;
/// returns `(centre, radius)`.
pub fn fit_circle(points: &[[f64; 2]]) -> Option<([f64; 2], f64)> {
    let mut m = [[0.0; 3]; 3];
    let mut b = [0.0; 3];
    for p in points {
        let row = [p[0], p[1], 1.0];
        let rhs = -(p[0] * p[0] + p[1] * p[1]);
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += row[i] * row[j];
            }
            b[i] += row[i] * rhs;
        }
    }
    let [d, e, f] = solve_dense(m, b)?;
    let c = [-d / 2.0, -e / 2.0];
    let r2 = c[0] * c[0] + c[1] * c[1] - f;
    (r2 > 0.0).then(|| (c, r2.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedrecon_physics::geometry::{Detector, DetectorShape, FanBeam, ImageGrid, ParallelBeam};
    use std::f64::consts::PI;

    fn fan(angles: Vec<f64>) -> CtGeometry {
        FanBeam::new(
            ImageGrid::new(64, 64, 1.0).unwrap(),
            angles,
            Detector::new(300, 0.4, 0.0).unwrap(),
            400.0,
            550.0,
            DetectorShape::Flat,
        )
        .unwrap()
        .into()
    }

    /// The edge-tangent fit and the Gauss–Newton refinement recover a disc in parallel and fan
    /// geometry.
    #[test]
    fn disc_fit_recovers_a_known_disc() {
        let truth = Disc {
            x: 6.0,
            y: -9.0,
            r: 30.0,
            value: 0.02,
        };
        let par: CtGeometry = ParallelBeam::new(
            ImageGrid::new(64, 64, 1.0).unwrap(),
            (0..60).map(|k| k as f64 * PI / 60.0).collect(),
            Detector::new(120, 1.0, 0.0).unwrap(),
        )
        .unwrap()
        .into();
        let limited = fan((0..=60).map(|k| (k as f64).to_radians()).collect());
        for g in [par, limited] {
            let sino = truth.phantom().sinogram(&g);
            let edge = fit_disc_sinogram(&g, &sino, 0.05, 0);
            let d = edge.disc;
            assert!(
                (d.x - truth.x).abs() < 0.1 && (d.y - truth.y).abs() < 0.1,
                "{edge:?}"
            );
            // the threshold crossing is interpolated linearly across a square-root edge: within
            // a fraction of a cell of the rim
            assert!((d.r - truth.r).abs() < 0.3, "{edge:?}");
            let gn = fit_disc_sinogram(&g, &sino, 0.05, 6);
            let d = gn.disc;
            assert!(
                (d.x - truth.x).abs() < 1e-3
                    && (d.y - truth.y).abs() < 1e-3
                    && (d.r - truth.r).abs() < 1e-3
                    && (d.value - truth.value).abs() < 1e-6,
                "{gn:?}"
            );
            assert!(gn.relative_residual < 1e-4, "{gn:?}");
        }
    }

    /// On a limited-angle fan scan of an off-centre disc, data read with the wrong handedness
    /// (detector reversed) is inconsistent with every disc: the tangent residual grows, while
    /// the mirror twin (angles negated *and* detector reversed) fits exactly as well, the disc
    /// mirrored in x.
    #[test]
    fn edge_fit_detects_the_wrong_handedness_but_not_a_mirror() {
        let truth = Disc {
            x: 8.0,
            y: 5.0,
            r: 30.0,
            value: 0.02,
        };
        let deg: Vec<f64> = (0..=60).map(|k| (k as f64).to_radians()).collect();
        let sino = truth.phantom().sinogram(&fan(deg.clone()));
        let nd = 300;
        let flipped: Vec<f32> = sino
            .chunks_exact(nd)
            .flat_map(|r| r.iter().rev().copied())
            .collect();
        let negated: Vec<f64> = deg.iter().map(|a| -a).collect();
        let right = fit_disc_sinogram(&fan(deg.clone()), &sino, 0.05, 0);
        let wrong = fit_disc_sinogram(&fan(deg), &flipped, 0.05, 0);
        let twin = fit_disc_sinogram(&fan(negated), &flipped, 0.05, 0);
        assert!(
            wrong.edge_rms > 5.0 * right.edge_rms,
            "{right:?} vs {wrong:?}"
        );
        assert!(
            (twin.edge_rms - right.edge_rms).abs() < 1e-9,
            "{right:?} vs {twin:?}"
        );
        assert!(
            (twin.disc.x + right.disc.x).abs() < 1e-9 && (twin.disc.y - right.disc.y).abs() < 1e-9
        );
    }

    #[test]
    fn boundary_and_circle_fit_find_a_rasterised_disc() {
        let grid = ImageGrid::new(96, 96, 0.5).unwrap();
        let truth = Disc {
            x: 2.0,
            y: -3.0,
            r: 15.0,
            value: 1.0,
        };
        let img = truth.phantom().rasterize(&grid, 4);
        let dirs: Vec<f64> = (0..36).map(|k| k as f64 * PI / 18.0).collect();
        let pts = boundary_points(&img, &grid, [0.0, 0.0], &dirs, 23.0, 0.5);
        assert_eq!(pts.len(), 36);
        let (c, r) = fit_circle(&pts).unwrap();
        assert!(
            (c[0] - 2.0).abs() < 0.05 && (c[1] + 3.0).abs() < 0.05,
            "{c:?}"
        );
        assert!((r - 15.0).abs() < 0.05, "{r}");
        assert!(fit_circle(&[[0.0, 0.0], [1.0, 1.0]]).is_none());
    }
}
