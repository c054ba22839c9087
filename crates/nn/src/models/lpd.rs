//! Learned Primal-Dual reconstruction (Adler & Öktem 2018, "Learned Primal-Dual Reconstruction",
//! IEEE Trans. Med. Imaging 37(6)).
//!
//! With the normalised operator `K = A / ‖A‖` and data `g = y / ‖A‖` (so `K f = g` has the same
//! solution `f` as `A f = y`), primal memory `f ∈ ℝ^{N_p×ny×nx}` and dual memory
//! `h ∈ ℝ^{N_d×n_a×n_d}`, both starting at zero, iteration `i = 1 … I` is
//!
//! `h ← h + Γ_i([h, K f⁽²⁾, g])`,   `f ← f + Λ_i([f, Kᵀ h⁽¹⁾])`,
//!
//! with `f⁽²⁾` the second primal channel (the first if `N_p = 1`), `h⁽¹⁾` the first dual channel,
//! and `Γ_i, Λ_i` three-layer CNNs (3×3 convs, 32 channels, PReLU). The output is `f⁽¹⁾`. The
//! paper's defaults are `I = 10`, `N_p = N_d = 5`. `K` and `Kᵀ` are the exact-adjoint autodiff
//! ops of [`crate::ops`], so gradients flow through the physics exactly.
//!
//! FiLM hooks: per iteration the dual block, then the primal block (last hidden layer, `hidden`
//! channels each): `2·I` blocks.

use super::blocks::{Activation, Cnn3};
use crate::error::{NnError, Result};
use crate::film::Film;
use crate::physics::CtPhysics;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Learned Primal-Dual hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LpdConfig {
    /// Unrolled iterations `I` (paper: 10).
    pub n_iter: usize,
    /// Primal memory channels `N_p` (paper: 5).
    pub n_primal: usize,
    /// Dual memory channels `N_d` (paper: 5).
    pub n_dual: usize,
    /// Hidden channels of each block (paper: 32).
    pub hidden: usize,
    /// Hidden activation (paper: PReLU).
    pub activation: Activation,
}

impl Default for LpdConfig {
    fn default() -> Self {
        Self {
            n_iter: 10,
            n_primal: 5,
            n_dual: 5,
            hidden: 32,
            activation: Activation::Prelu,
        }
    }
}

/// The Learned Primal-Dual network.
#[derive(Module, Debug)]
pub struct Lpd {
    primal: Vec<Cnn3>,
    dual: Vec<Cnn3>,
    n_primal: usize,
    n_dual: usize,
    hidden: usize,
}

impl LpdConfig {
    /// Checks the hyper-parameters (all ≥ 1).
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("lpd.n_iter", self.n_iter),
            ("lpd.n_primal", self.n_primal),
            ("lpd.n_dual", self.n_dual),
            ("lpd.hidden", self.hidden),
        ] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        Ok(())
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<Lpd> {
        self.validate()?;
        let (np, nd, h, a) = (self.n_primal, self.n_dual, self.hidden, self.activation);
        Ok(Lpd {
            primal: (0..self.n_iter)
                .map(|_| Cnn3::new(np + 1, h, np, 3, a, device))
                .collect(),
            dual: (0..self.n_iter)
                .map(|_| Cnn3::new(nd + 2, h, nd, 3, a, device))
                .collect(),
            n_primal: np,
            n_dual: nd,
            hidden: h,
        })
    }

    /// Parameters by formula: `I·(params(N_p+1 → N_p) + params(N_d+2 → N_d))` of [`Cnn3`].
    pub fn num_params(&self) -> usize {
        let (np, nd, h, a) = (self.n_primal, self.n_dual, self.hidden, self.activation);
        self.n_iter
            * (Cnn3::num_params(np + 1, h, np, 3, a) + Cnn3::num_params(nd + 2, h, nd, 3, a))
    }
}

impl Lpd {
    /// Channels of the FiLM blocks: `[hidden; 2·I]` (dual, primal per iteration).
    pub fn film_channels(&self) -> Vec<usize> {
        vec![self.hidden; 2 * self.primal.len()]
    }

    /// The learned primal-dual iterations from zero primal and dual states:
    /// sinograms `y` `[B, 1, n_angles, n_det]` → images `[B, 1, ny, nx]`.
    pub fn forward(&self, y: Tensor<4>, ct: &CtPhysics, film: Option<&Film>) -> Result<Tensor<4>> {
        let [b, _, na, nd] = y.dims();
        let [ny, nx] = ct.image_shape;
        let device = y.device();
        // g = y/‖A‖: [B, 1, na, nd]
        let g = y.mul_scalar(1.0 / ct.op_norm);
        // f: [B, N_p, ny, nx], h: [B, N_d, na, nd]
        let mut f = Tensor::<4>::zeros([b, self.n_primal, ny, nx], &device);
        let mut h = Tensor::<4>::zeros([b, self.n_dual, na, nd], &device);
        let fi = if self.n_primal > 1 { 1 } else { 0 };
        for (i, (dual, primal)) in self.dual.iter().zip(&self.primal).enumerate() {
            // K f⁽²⁾: [B, 1, ny, nx] → [B, 1, na, nd]
            let f2 = f.clone().narrow(1, fi, 1);
            let kf = ct.project_normalised(f2)?;
            // dual update: [B, N_d + 2, na, nd] → [B, N_d, na, nd]
            h = h.clone() + dual.forward(Tensor::cat(vec![h, kf, g.clone()], 1), film, 2 * i);
            // Kᵀ h⁽¹⁾: [B, 1, na, nd] → [B, 1, ny, nx]
            let h1 = h.clone().narrow(1, 0, 1);
            let kth = ct.backproject_normalised(h1)?;
            // primal update: [B, N_p + 1, ny, nx] → [B, N_p, ny, nx]
            f = f.clone() + primal.forward(Tensor::cat(vec![f, kth], 1), film, 2 * i + 1);
        }
        // [B, 1, ny, nx]
        Ok(f.narrow(1, 0, 1))
    }
}
