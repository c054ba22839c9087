//! Adam over named parameters (Kingma & Ba 2015, "Adam: a method for stochastic optimization",
//! ICLR) with bias correction, optional decoupled weight decay (Loshchilov & Hutter 2019, AdamW)
//! and clipping of the global gradient norm `‖g‖₂ ≤ c` (`g ← g · c/‖g‖`, Pascanu et al. 2013):
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η_t (m̂/(√v̂ + ε) + λθ)`,
//! `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`; arithmetic in `f64`, state in `f32`.
//!
//! This host version over [`ParamSet`]s is the slow, obviously correct reference: training runs
//! [`super::DeviceAdam`] on the model's device, which is tested against it, and a checkpoint
//! stores the state in this form ([`super::DeviceAdam::to_host`]).

use crate::error::{NnError, Result};
use crate::params::ParamSet;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Gradients, Tensor};

/// Adam's state over named parameters (see the module docs): the host reference of
/// [`super::DeviceAdam`] and the form a checkpoint stores.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// First moments.
    pub m: ParamSet,
    /// Second moments.
    pub v: ParamSet,
    /// Steps taken.
    pub t: u64,
}

/// Hyper-parameters of one Adam step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// Learning rate of this step.
    pub lr: f64,
    /// `(β₁, β₂)`.
    pub betas: [f64; 2],
    /// `ε`.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0 = off).
    pub clip_norm: f64,
}

impl AdamStep {
    /// The factor that clips a global gradient norm `norm` to `clip_norm` (1 when off or within),
    /// or an error when the norm is not finite (the loss diverged). Shared by [`Adam`] and
    /// [`super::DeviceAdam`].
    pub fn clip_factor(&self, norm: f64) -> Result<f64> {
        if !norm.is_finite() {
            return Err(NnError::argument(
                "gradient norm",
                norm,
                "is not finite (the loss diverged)",
            ));
        }
        Ok(if self.clip_norm > 0.0 && norm > self.clip_norm {
            self.clip_norm / norm
        } else {
            1.0
        })
    }

    /// Adam's bias corrections `[1 − β₁ᵗ, 1 − β₂ᵗ]` at step `t` (1-based).
    pub fn bias_corrections(&self, t: u64) -> [f64; 2] {
        let [b1, b2] = self.betas;
        [1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32)]
    }
}

impl Adam {
    /// Zero moments shaped like `params`.
    pub fn new(params: &ParamSet) -> Self {
        Self {
            m: params.zeros_like(),
            v: params.zeros_like(),
            t: 0,
        }
    }

    /// One step on `params` with gradients `grads` (aligned with `params`; `None` = no gradient
    /// reached that parameter, which is then left as it is). Returns the global gradient norm
    /// before clipping.
    pub fn step(
        &mut self,
        params: &mut ParamSet,
        grads: &[Option<Vec<f32>>],
        h: &AdamStep,
    ) -> Result<f64> {
        if grads.len() != params.len() {
            return Err(NnError::argument(
                "gradients",
                grads.len(),
                format!("expected {}", params.len()),
            ));
        }
        let mut sq = 0.0f64;
        for (i, g) in grads.iter().enumerate() {
            if let Some(g) = g {
                let (name, p) = params.at(i);
                if g.len() != p.len() {
                    return Err(NnError::argument(
                        "gradient",
                        name,
                        format!("has {} values, the parameter {}", g.len(), p.len()),
                    ));
                }
                sq += g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
            }
        }
        let norm = sq.sqrt();
        let clip = h.clip_factor(norm)?;
        self.t += 1;
        let [b1, b2] = h.betas;
        let [c1, c2] = h.bias_corrections(self.t);
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            let (p, m, v) = (
                &mut params.at_mut(i).data,
                &mut self.m.at_mut(i).data,
                &mut self.v.at_mut(i).data,
            );
            for k in 0..g.len() {
                let gk = g[k] as f64 * clip;
                let mk = b1 * m[k] as f64 + (1.0 - b1) * gk;
                let vk = b2 * v[k] as f64 + (1.0 - b2) * gk * gk;
                m[k] = mk as f32;
                v[k] = vk as f32;
                let upd = (mk / c1) / ((vk / c2).sqrt() + h.eps) + h.weight_decay * p[k] as f64;
                p[k] = (p[k] as f64 - h.lr * upd) as f32;
            }
        }
        Ok(norm)
    }
}

/// Gradients of every float parameter of `module`, in [`export_params`] order, copied to the host
/// (for the reference [`Adam`]; training uses [`super::device_grads`]).
///
/// [`export_params`]: crate::params::export_params
pub fn collect_grads<M: Module>(module: &M, grads: &Gradients) -> Result<Vec<Option<Vec<f32>>>> {
    struct G<'a> {
        grads: &'a Gradients,
        out: Vec<Option<Vec<f32>>>,
        error: Option<String>,
    }
    impl ModuleVisitor for G<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = param
                .val()
                .grad(self.grads)
                .map(|g| g.into_data().convert::<f32>().try_into_vec::<f32>());
            match g {
                Some(Ok(v)) => self.out.push(Some(v)),
                Some(Err(e)) => {
                    self.error.get_or_insert(format!("{e:?}"));
                    self.out.push(None)
                }
                None => self.out.push(None),
            }
        }
    }
    let mut v = G {
        grads,
        out: Vec::new(),
        error: None,
    };
    module.visit(&mut v);
    match v.error {
        Some(e) => Err(NnError::argument("gradient", "read", e)),
        None => Ok(v.out),
    }
}
