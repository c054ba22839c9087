//! The Toeplitz-embedded normal operator of the type-2 NUFFT.
//!
//! [`ToeplitzNormal`] is `Aᴴ W A` (W diagonal weights, default 1) applied as a convolution with the
//! point-spread function on a 2× grid: `K(d) = Σ_m w_m exp(2πi k_m·d)` is one type-1 transform
//! onto `(2ny, 2nx)` at plan time, then each application is two FFTs of size `(2ny, 2nx)`
//! (Wajer & Pruessmann 2001, "Major speedup of reconstruction for sensitivity encoding with
//! arbitrary trajectories", Proc. ISMRM; Fessler et al. 2005, "Toeplitz-based iterative image
//! reconstruction for MRI with correction for magnetic field inhomogeneity", IEEE TSP 53(9)).

use super::NufftOptions;
use super::plan::NufftPlan;
use super::points::check_trajectory;
use crate::error::Result;
use crate::linop::LinearOperator;
use crate::mri::fft::{Direction, Fft2Plan};
use num_complex::Complex32;
use rayon::prelude::*;

/// `Aᴴ W A` for the type-2 NUFFT `A` of a trajectory, by circulant embedding on a `(2ny, 2nx)`
/// grid: `(Aᴴ W A x)(p) = Σ_q K(p − q) x(q)` with `K(d) = Σ_m w_m exp(2πi k_m·d)`, `|d_y| < ny`,
/// `|d_x| < nx`. Self-adjoint for real weights.
#[derive(Debug, Clone)]
pub struct ToeplitzNormal {
    shape: [usize; 2],
    /// `FFT(K embedded) / (4·ny·nx)` on the `(2ny, 2nx)` grid.
    lambda: Vec<Complex32>,
    plan: Fft2Plan,
}

impl ToeplitzNormal {
    /// Build from a trajectory (and optional real weights) for `(ny, nx)` images; one type-1 NUFFT
    /// onto `(2ny, 2nx)` computes `K` to the tolerance in `options`.
    pub fn new(
        ny: usize,
        nx: usize,
        traj: &[f32],
        weights: Option<&[f32]>,
        options: NufftOptions,
    ) -> Result<Self> {
        let m = check_trajectory(traj)?;
        let c: Vec<Complex32> = match weights {
            None => vec![Complex32::new(1.0, 0.0); m],
            Some(w) => {
                crate::error::check_len("weights (M)", &[m], w.len())?;
                crate::error::check_finite("weights", w)?;
                w.iter().map(|&v| Complex32::new(v, 0.0)).collect()
            }
        };
        let (my, mx) = (2 * ny, 2 * nx);
        let psf_plan = NufftPlan::new(my, mx, traj, options)?;
        let mut k = vec![Complex32::default(); my * mx];
        psf_plan.type1(&c, &mut k)?;
        // pixel (i, j) of the 2× grid is the offset d = (i − ny, j − nx); store it at (d mod 2n)
        let mut lambda = vec![Complex32::default(); my * mx];
        for i in 0..my {
            for j in 0..mx {
                lambda[((i + ny) % my) * mx + (j + nx) % mx] = k[i * mx + j];
            }
        }
        let plan = Fft2Plan::new(my, mx)?;
        plan.fft2(&mut lambda, Direction::Forward, &mut Vec::new())?;
        let s = 1.0 / (my * mx) as f32;
        lambda.iter_mut().for_each(|v| *v *= s);
        Ok(Self {
            shape: [ny, nx],
            lambda,
            plan,
        })
    }
}

impl LinearOperator<Complex32> for ToeplitzNormal {
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        let [ny, nx] = self.shape;
        let mx = 2 * nx;
        let mut buf = vec![Complex32::default(); 4 * ny * nx];
        for i in 0..ny {
            buf[i * mx..i * mx + nx].copy_from_slice(&x[i * nx..(i + 1) * nx]);
        }
        let mut scratch = Vec::new();
        self.plan
            .fft2(&mut buf, Direction::Forward, &mut scratch)
            .expect("shape fixed at construction");
        buf.par_iter_mut()
            .zip(&self.lambda)
            .for_each(|(b, l)| *b *= l);
        self.plan
            .fft2(&mut buf, Direction::Inverse, &mut scratch)
            .expect("shape fixed at construction");
        for i in 0..ny {
            y[i * nx..(i + 1) * nx].copy_from_slice(&buf[i * mx..i * mx + nx]);
        }
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        // Aᴴ W A is Hermitian for real W
        self.apply_forward(y, x)
    }
}
