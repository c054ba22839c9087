//! The direct non-uniform DFT in `f64`: the slow, obviously-correct reference both NUFFT types
//! are tested against (`O(M · ny · nx)`).

use super::points::check_trajectory;
use crate::error::Result;
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use std::f64::consts::PI;

/// Phases `exp(sign·2πi·k·c)` for integer pixel coordinates `c`, reduced modulo one in `f64`.
fn phases(k: f64, coords: impl Iterator<Item = i64>, sign: f64) -> Vec<Complex64> {
    coords
        .map(|c| {
            let t = (k * c as f64).rem_euclid(1.0);
            Complex64::from_polar(1.0, sign * 2.0 * PI * t)
        })
        .collect()
}

/// The reference type 2: `y_m = Σ_{i,j} f(i, j) exp(−2πi (kx_m x_j + ky_m y_i))` summed directly in
/// `f64` (the phase factorises per axis), `O(M · ny · nx)`.
pub fn nudft2_type2(f: &[Complex32], ny: usize, nx: usize, traj: &[f32]) -> Result<Vec<Complex64>> {
    crate::error::check_len("f (ny, nx)", &[ny, nx], f.len())?;
    let m = check_trajectory(traj)?;
    Ok((0..m)
        .into_par_iter()
        .map(|p| {
            let ex = phases(
                traj[2 * p] as f64,
                (0..nx as i64).map(|j| j - (nx / 2) as i64),
                -1.0,
            );
            let ey = phases(
                traj[2 * p + 1] as f64,
                (0..ny as i64).map(|i| i - (ny / 2) as i64),
                -1.0,
            );
            let mut acc = Complex64::default();
            for i in 0..ny {
                let mut row = Complex64::default();
                for j in 0..nx {
                    let v = f[i * nx + j];
                    row += Complex64::new(v.re as f64, v.im as f64) * ex[j];
                }
                acc += row * ey[i];
            }
            acc
        })
        .collect())
}

/// The reference type 1: `f(i, j) = Σ_m c_m exp(+2πi (kx_m x_j + ky_m y_i))` summed directly in
/// `f64`, `O(M · ny · nx)`.
pub fn nudft2_type1(c: &[Complex32], ny: usize, nx: usize, traj: &[f32]) -> Result<Vec<Complex64>> {
    let m = check_trajectory(traj)?;
    crate::error::check_len("c (M)", &[m], c.len())?;
    let mut f = vec![Complex64::default(); ny * nx];
    for p in 0..m {
        let ex = phases(
            traj[2 * p] as f64,
            (0..nx as i64).map(|j| j - (nx / 2) as i64),
            1.0,
        );
        let ey = phases(
            traj[2 * p + 1] as f64,
            (0..ny as i64).map(|i| i - (ny / 2) as i64),
            1.0,
        );
        let v = Complex64::new(c[p].re as f64, c[p].im as f64);
        for i in 0..ny {
            let vy = v * ey[i];
            for j in 0..nx {
                f[i * nx + j] += vy * ex[j];
            }
        }
    }
    Ok(f)
}
