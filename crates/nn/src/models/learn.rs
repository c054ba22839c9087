//! LEARN: Learned Experts' Assessment-based Reconstruction Network (Chen et al. 2018, IEEE
//! Trans. Med. Imaging 37(6)), the backbone HyperFed conditions with a hypernetwork (Yang et al.
//! 2023, hypernetwork-based personalised federated learning for multi-institutional CT).
//!
//! Gradient descent on `½‖A x − y‖²` unrolled with a learned step and a learned regulariser
//! gradient per iteration: with `K = A / ‖A‖`, `g = y / ‖A‖` (`normalise = true`, the default;
//! `normalise = false` uses `K = A`, `g = y` as HyperFed does, and then `α_k` must be of the
//! order of `1/‖A‖²` for stability, e.g. a small `alpha_init`),
//!
//! `x_{k+1} = x_k − α_k Kᵀ(K x_k − g) − R_k(x_k)`,  `x_0 = FBP(y)`,
//!
//! `α_k` learned (initialised to `alpha_init`), `R_k` a three-layer CNN (LEARN: 5×5 convs,
//! 48 channels, ReLU). `K, Kᵀ` are the exact-adjoint autodiff ops.
//!
//! FiLM hooks, as HyperFed conditions LEARN (`models/hyperfed_LEARN.py` of
//! github.com/Zi-YuanYang/HyperFed: `prj_module` scales the data-consistency step,
//! `ConvBlock` modulates each of the three convolutions): per iteration `k`, four blocks
//! `4k … 4k + 3` of `[1, hidden, hidden, 1]` channels —
//! - block `4k`: the step, `α'_k = α_k(1 + γ_{4k}) + β_{4k}` per batch element (the paper:
//!   `weight_fed·γ + β`, then clamped to a protocol-dependent range, which we do not do);
//! - blocks `4k+1 … 4k+3`: the outputs of the three convolutions of `R_k`, before their
//!   activations ([`Cnn3::forward_film_each`]).
//!
//! Zero FiLM is the identity, so the unconditioned model is unchanged.

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
    /// Initial step `α_k` (for the normalised operator stable for `0 < α < 2`; without
    /// normalisation for `0 < α < 2/‖A‖²`).
    pub alpha_init: f32,
    /// Normalise the operator by `‖A‖` (`K = A/‖A‖`, `g = y/‖A‖`); `false` uses `A` and `y`
    /// as they are (HyperFed). Default `true`.
    pub normalise: bool,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            n_iter: 10,
            hidden: 48,
            kernel: 5,
            alpha_init: 0.5,
            normalise: true,
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
    normalise: bool,
}

impl LearnConfig {
    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [("learn.n_iter", self.n_iter), ("learn.hidden", self.hidden)] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        if self.kernel.is_multiple_of(2) {
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
            normalise: self.normalise,
        })
    }

    /// Parameters by formula: `n_iter · (params(1 → 1) of [`Cnn3`] + 1)`.
    pub fn num_params(&self) -> usize {
        self.n_iter * (Cnn3::num_params(1, self.hidden, 1, self.kernel, Activation::Relu) + 1)
    }
}

impl Learn {
    /// FiLM blocks per iteration: the step, then the three convolutions of `R_k`.
    pub const FILM_PER_ITER: usize = 4;

    /// Channels of the FiLM blocks: `[1, hidden, hidden, 1]` per iteration (see the module
    /// docs).
    pub fn film_channels(&self) -> Vec<usize> {
        (0..self.reg.len())
            .flat_map(|_| [1, self.hidden, self.hidden, 1])
            .collect()
    }

    /// The unrolled LEARN iterations from the FBP start:
    /// sinograms `y` `[B, 1, n_angles, n_det]` → images `[B, 1, ny, nx]`.
    pub fn forward(&self, y: Tensor<4>, ct: &CtPhysics, film: Option<&Film>) -> Result<Tensor<4>> {
        let b = y.dims()[0];
        // x_0 = FBP(y): [B, 1, ny, nx]
        let mut x = ct.fbp_batch(&y)?;
        // g = y/‖A‖ (or y): [B, 1, na, nd]
        let g = if self.normalise {
            y.mul_scalar(1.0 / ct.op_norm)
        } else {
            y
        };
        let alpha = self.alpha.val();
        for (k, reg) in self.reg.iter().enumerate() {
            let f0 = Self::FILM_PER_ITER * k;
            // Kᵀ(K x − g): [B, 1, ny, nx]
            let grad = if self.normalise {
                let r = ct.project_normalised(x.clone())? - g.clone();
                ct.backproject_normalised(r)?
            } else {
                ct.backproject(ct.project(x.clone())? - g.clone())?
            };
            // α_k: [1, 1, 1, 1], or per batch element α_k(1 + γ) + β: [B, 1, 1, 1]
            let a = alpha.clone().narrow(0, k, 1).reshape([1, 1, 1, 1]);
            let a = match film {
                Some(f) => f.apply(f0, a.expand([b, 1, 1, 1])),
                None => a,
            };
            x = x.clone() - grad * a - reg.forward_film_each(x, film, f0 + 1);
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::film::HypernetworkConfig;
    use burn::tensor::TensorData;
    use fedrecon_physics::geometry::equispaced_angles;
    use fedrecon_physics::{Detector, ImageGrid, ParallelBeam};

    fn setup(normalise: bool) -> (CtPhysics, Tensor<4>, LearnConfig) {
        let dev = Device::flex();
        let geom = ParallelBeam::new(
            ImageGrid::square(12).unwrap(),
            equispaced_angles(16, std::f64::consts::PI),
            Detector::new(18, 1.0, 0.0).unwrap(),
        )
        .unwrap();
        let ct = CtPhysics::new(geom).unwrap();
        let [na, nd] = ct.sino_shape;
        let v: Vec<f32> = (0..2 * na * nd)
            .map(|i| ((i * 7919) % 97) as f32 / 97.0)
            .collect();
        let y = Tensor::from_data(TensorData::new(v, [2, 1, na, nd]), &dev);
        let cfg = LearnConfig {
            n_iter: 2,
            hidden: 3,
            kernel: 3,
            alpha_init: if normalise {
                0.5
            } else {
                0.5 / ct.op_norm.powi(2)
            },
            normalise,
        };
        (ct, y, cfg)
    }

    fn host(t: Tensor<4>) -> Vec<f32> {
        crate::train::tensor_to_vec(t).unwrap()
    }

    #[test]
    fn step_film_changes_only_the_step() {
        let dev = Device::flex();
        for normalise in [true, false] {
            let (ct, y, cfg) = setup(normalise);
            let net = crate::unseeded_init(|| cfg.init(&dev)).unwrap();
            let ch = net.film_channels();
            assert_eq!(ch, vec![1, 3, 3, 1, 1, 3, 3, 1]);
            // γ = 1 on the steps only: α' = 2α
            let mut film = Film::zeros(2, &ch, &dev);
            for k in 0..cfg.n_iter {
                film.scale[Learn::FILM_PER_ITER * k] = Tensor::ones([2, 1], &dev);
            }
            let with_film = host(net.forward(y.clone(), &ct, Some(&film)).unwrap());
            // the same network with α doubled and no FiLM
            let doubled = Learn {
                alpha: Param::from_tensor(net.alpha.val().mul_scalar(2.0)),
                ..net.clone()
            };
            let plain = host(doubled.forward(y.clone(), &ct, None).unwrap());
            assert_eq!(with_film, plain, "normalise = {normalise}");
            let orig = host(net.forward(y.clone(), &ct, None).unwrap());
            assert_ne!(orig, plain);
            // zero FiLM is the identity, bit for bit
            let zero = Film::zeros(2, &ch, &dev);
            assert_eq!(
                host(net.forward(y.clone(), &ct, Some(&zero)).unwrap()),
                orig
            );
        }
    }

    #[test]
    fn normalisation_off_uses_the_raw_operator() {
        let dev = Device::flex();
        // α/‖A‖² on A equals α on A/‖A‖ up to rounding
        let (ct, y, on) = setup(true);
        let (_, _, off) = setup(false);
        let a = crate::unseeded_init(|| on.init(&dev)).unwrap();
        assert_eq!(off.alpha_init, 0.5 / ct.op_norm.powi(2));
        // the same convolutions, α/‖A‖², the raw operator
        let b = Learn {
            alpha: Param::from_tensor(a.alpha.val().mul_scalar(1.0 / ct.op_norm.powi(2))),
            normalise: false,
            ..a.clone()
        };
        let (ya, yb) = (
            host(a.forward(y.clone(), &ct, None).unwrap()),
            host(b.forward(y, &ct, None).unwrap()),
        );
        let scale = ya.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = ya
            .iter()
            .zip(&yb)
            .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(err <= 1e-4 * scale, "{err} vs {scale}");
        let v = |n: &Learn| {
            n.alpha
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
        };
        assert_ne!(v(&a), v(&b));
    }

    #[test]
    fn gradients_reach_the_hypernetwork_through_every_hook() {
        let dev = Device::flex();
        let ad = dev.clone().autodiff();
        let (ct, y, cfg) = setup(true);
        let cfg = LearnConfig { hidden: 8, ..cfg };
        // fixed weights (drawn under the seed): no channel of this draw is dead everywhere
        let net = crate::seeded_init(&ad, 5, || cfg.init(&ad)).unwrap();
        let ch = net.film_channels();
        let hc = HypernetworkConfig {
            protocol_dim: 3,
            hidden: 5,
            hidden_layers: 1,
            ..Default::default()
        };
        let hyper = crate::unseeded_init(|| hc.init(&ch, &ad)).unwrap();
        let p = Tensor::<2>::from_data(
            TensorData::new(vec![0.1f32, -0.4, 0.7, 0.2, 0.3, -0.1], [2, 3]),
            &ad,
        );
        let film = hyper.forward(p);
        let out = net
            .forward(y.clone().to_device(&ad), &ct, Some(&film))
            .unwrap();
        let loss = (out.clone() * out).mean();
        let grads = loss.backward();
        let g = crate::train::device_grads(&hyper, &grads);
        // the last layer starts at zero, so its gradient carries the FiLM sensitivities: every
        // block's (step and three convolutions') slice of it is non-zero
        let last = g
            .last()
            .unwrap()
            .as_ref()
            .expect("gradient of the last bias");
        let v = last
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let mut o = 0;
        for (b, &c) in ch.iter().enumerate() {
            let n = v[o..o + 2 * c].iter().filter(|x| **x != 0.0).count();
            assert!(n > 0, "block {b}: no gradient");
            o += 2 * c;
        }
    }
}
