//! LEARN: Learned Experts' Assessment-based Reconstruction Network (Chen et al. 2018, IEEE
//! Trans. Med. Imaging 37(6)), the backbone HyperFed conditions with a hypernetwork (Yang et al.
//! 2023, hypernetwork-based personalised federated learning for multi-institutional CT).
//!
//! Gradient descent on `½‖A x − y‖²` unrolled with a learned step and a learned regulariser
//! gradient per iteration: with `K = A / ‖A‖`, `g = y / ‖A‖`,
//!
//! `x_{k+1} = x_k − α_k Kᵀ(K x_k − g) − R_k(x_k)`,  `x_0 = FBP(y)`,
//!
//! `α_k` learned (initialised to `alpha_init`), `R_k` a three-layer CNN (LEARN: 5×5 convs,
//! 48 channels, ReLU). `K, Kᵀ` are the exact-adjoint autodiff ops.
//!
//! FiLM hooks: the last hidden layer of each `R_k`: `n_iter` blocks of `hidden` channels.

use super::blocks::{Activation, Cnn3};
use crate::error::{NnError, Result};
use crate::film::Film;
use crate::physics::CtPhysics;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// LEARN hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearnConfig {
    /// Unrolled iterations.
    pub n_iter: usize,
    /// Hidden channels of each regulariser CNN (LEARN: 48).
    pub hidden: usize,
    /// Kernel size, odd (LEARN: 5).
    pub kernel: usize,
    /// Initial step `α_k` for the normalised operator (stable for `0 < α < 2`).
    pub alpha_init: f32,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            n_iter: 10,
            hidden: 48,
            kernel: 5,
            alpha_init: 0.5,
        }
    }
}

/// The LEARN network.
#[derive(Module, Debug)]
pub struct Learn {
    reg: Vec<Cnn3>,
    /// `α_k`, `[n_iter]`.
    alpha: Param<Tensor<1>>,
    hidden: usize,
}

impl LearnConfig {
    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [("learn.n_iter", self.n_iter), ("learn.hidden", self.hidden)] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        if self.kernel % 2 == 0 {
            return Err(NnError::argument(
                "learn.kernel",
                self.kernel,
                "must be odd",
            ));
        }
        if !self.alpha_init.is_finite() {
            return Err(NnError::argument(
                "learn.alpha_init",
                self.alpha_init,
                "must be finite",
            ));
        }
        Ok(())
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<Learn> {
        self.validate()?;
        Ok(Learn {
            reg: (0..self.n_iter)
                .map(|_| Cnn3::new(1, self.hidden, 1, self.kernel, Activation::Relu, device))
                .collect(),
            alpha: Param::from_tensor(Tensor::full([self.n_iter], self.alpha_init, device)),
            hidden: self.hidden,
        })
    }

    /// Parameters by formula: `n_iter · (params(1 → 1) of [`Cnn3`] + 1)`.
    pub fn num_params(&self) -> usize {
        self.n_iter * (Cnn3::num_params(1, self.hidden, 1, self.kernel, Activation::Relu) + 1)
    }
}

impl Learn {
    /// Channels of the FiLM blocks: `[hidden; n_iter]`.
    pub fn film_channels(&self) -> Vec<usize> {
        vec![self.hidden; self.reg.len()]
    }

    /// The unrolled LEARN iterations from the FBP start:
    /// sinograms `y` `[B, 1, n_angles, n_det]` → images `[B, 1, ny, nx]`.
    pub fn forward(&self, y: Tensor<4>, ct: &CtPhysics, film: Option<&Film>) -> Result<Tensor<4>> {
        // x_0 = FBP(y): [B, 1, ny, nx]
        let mut x = ct.fbp_batch(&y)?;
        // g = y/‖A‖: [B, 1, na, nd]
        let g = y.mul_scalar(1.0 / ct.op_norm);
        let alpha = self.alpha.val();
        for (k, reg) in self.reg.iter().enumerate() {
            // K x − g: [B, 1, na, nd]
            let r = ct.project_normalised(x.clone())? - g.clone();
            // Kᵀ(K x − g): [B, 1, ny, nx]
            let grad = ct.backproject_normalised(r)?;
            // α_k: [1, 1, 1, 1]
            let a = alpha.clone().narrow(0, k, 1).reshape([1, 1, 1, 1]);
            x = x.clone() - grad * a - reg.forward(x, film, k);
        }
        Ok(x)
    }
}
