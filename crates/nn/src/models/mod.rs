//! Reconstruction networks, the common [`ReconNet`] interface, and [`AnyModel`] /
//! [`ModelConfig`] (the `[model]` table of a run configuration).
//!
//! ```toml
//! [model]
//! kind = "lpd"      # "lpd" | "learn" | "fbpconvnet" | "varnet" | "modl"
//! n_iter = 10       # per-kind fields; every field is optional (defaults below)
//! ```
//!
//! Defaults (the papers' sizes):
//! - `lpd`: `n_iter = 10, n_primal = 5, n_dual = 5, hidden = 32, activation = "prelu"`;
//! - `learn`: `n_iter = 10, hidden = 48, kernel = 5, alpha_init = 0.5, normalise = true`;
//! - `fbpconvnet`: `base_channels = 32, depth = 4, norm = "instance"`;
//! - `varnet`: `cascades = 12, chans = 18, pools = 4, sens_chans = 8, sens_pools = 4`;
//! - `modl`: `n_iter = 10, cg_iter = 10, layers = 5, hidden = 64, lambda_init = 0.05`.
//!
//! Unknown fields are errors.

pub mod blocks;
pub mod fbpconvnet;
pub mod learn;
pub mod lpd;
pub mod modl;
pub mod varnet;

use crate::error::{NnError, Result};
use crate::film::Film;
use crate::physics::{ModelInput, Physics};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use fbpconvnet::{FbpConvNet, FbpConvNetConfig};
use learn::{Learn, LearnConfig};
use lpd::{Lpd, LpdConfig};
use modl::{Modl, ModlConfig};
use serde::{Deserialize, Serialize};
use varnet::{VarNet, VarNetConfig};

/// A reconstruction network called with the batch's physics.
pub trait ReconNet {
    /// Reconstruct images `[B, 1, ny, nx]` (MRI: the RSS magnitude, fastMRI's target).
    /// Errors if the input does not match the physics or the FiLM the hooks.
    fn reconstruct(
        &self,
        input: &ModelInput,
        physics: &Physics,
        film: Option<&Film>,
    ) -> Result<Tensor<4>>;
    /// Channels of each FiLM-conditioned block, in order (empty = no hooks).
    fn film_channels(&self) -> Vec<usize>;
    /// FiLM blocks per iteration of an unrolled model (what a tied hypernetwork produces);
    /// by default all of them.
    fn film_period(&self) -> usize {
        self.film_channels().len()
    }
}

/// The `[model]` table: `kind` plus that kind's fields.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    /// Learned Primal-Dual (CT).
    Lpd(LpdConfig),
    /// LEARN (CT).
    Learn(LearnConfig),
    /// FBPConvNet (CT).
    Fbpconvnet(FbpConvNetConfig),
    /// E2E-VarNet (MRI).
    Varnet(VarNetConfig),
    /// MoDL (MRI).
    Modl(ModlConfig),
}

impl ModelConfig {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Lpd(_) => "lpd",
            ModelConfig::Learn(_) => "learn",
            ModelConfig::Fbpconvnet(_) => "fbpconvnet",
            ModelConfig::Varnet(_) => "varnet",
            ModelConfig::Modl(_) => "modl",
        }
    }

    /// `"CT"` or `"MRI"`.
    pub fn modality(&self) -> &'static str {
        match self {
            ModelConfig::Lpd(_) | ModelConfig::Learn(_) | ModelConfig::Fbpconvnet(_) => "CT",
            ModelConfig::Varnet(_) | ModelConfig::Modl(_) => "MRI",
        }
    }

    /// Number of trainable parameters, by formula.
    pub fn num_params(&self) -> usize {
        match self {
            ModelConfig::Lpd(c) => c.num_params(),
            ModelConfig::Learn(c) => c.num_params(),
            ModelConfig::Fbpconvnet(c) => c.num_params(),
            ModelConfig::Varnet(c) => c.num_params(),
            ModelConfig::Modl(c) => c.num_params(),
        }
    }

    /// Builds the model; errors on invalid hyper-parameters or physics of the other modality.
    pub fn init(&self, physics: &Physics, device: &Device) -> Result<AnyModel> {
        if physics.modality() != self.modality() {
            return Err(NnError::WrongModality {
                model: self.kind(),
                needs: self.modality(),
                got: physics.modality(),
            });
        }
        Ok(match self {
            ModelConfig::Lpd(c) => AnyModel::Lpd(c.init(device)?),
            ModelConfig::Learn(c) => AnyModel::Learn(c.init(device)?),
            ModelConfig::Fbpconvnet(c) => AnyModel::FbpConvNet(c.init(device)?),
            ModelConfig::Varnet(c) => AnyModel::VarNet(c.init(device)?),
            ModelConfig::Modl(c) => AnyModel::Modl(c.init(device)?),
        })
    }
}

/// Any of the models.
#[derive(Module, Debug)]
pub enum AnyModel {
    /// Learned Primal-Dual.
    Lpd(Lpd),
    /// LEARN.
    Learn(Learn),
    /// FBPConvNet.
    FbpConvNet(FbpConvNet),
    /// E2E-VarNet.
    VarNet(VarNet),
    /// MoDL.
    Modl(Modl),
}

impl AnyModel {
    /// The `kind` string of the model.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyModel::Lpd(_) => "lpd",
            AnyModel::Learn(_) => "learn",
            AnyModel::FbpConvNet(_) => "fbpconvnet",
            AnyModel::VarNet(_) => "varnet",
            AnyModel::Modl(_) => "modl",
        }
    }
}

fn check_film(film: Option<&Film>, batch: usize, channels: &[usize]) -> Result<()> {
    match film {
        Some(f) => f.check(batch, channels),
        None => Ok(()),
    }
}

impl ReconNet for AnyModel {
    fn reconstruct(
        &self,
        input: &ModelInput,
        physics: &Physics,
        film: Option<&Film>,
    ) -> Result<Tensor<4>> {
        let kind = self.kind();
        input.check(physics, kind)?;
        check_film(film, input.batch_size(), &self.film_channels())?;
        match (self, input) {
            (AnyModel::Lpd(m), ModelInput::Ct { sinogram }) => {
                m.forward(sinogram.clone(), physics.ct(kind)?, film)
            }
            (AnyModel::Learn(m), ModelInput::Ct { sinogram }) => {
                m.forward(sinogram.clone(), physics.ct(kind)?, film)
            }
            (AnyModel::FbpConvNet(m), ModelInput::Ct { sinogram }) => {
                m.forward(sinogram.clone(), physics.ct(kind)?, film)
            }
            (AnyModel::VarNet(m), ModelInput::Mri { kspace, mask, .. }) => {
                m.forward(kspace.clone(), mask.clone(), physics.mri(kind)?, film)
            }
            (AnyModel::Modl(m), ModelInput::Mri { kspace, mask, maps }) => m.forward(
                kspace.clone(),
                mask.clone(),
                maps.clone(),
                physics.mri(kind)?,
                film,
            ),
            (m, i) => Err(NnError::WrongModality {
                model: m.kind(),
                needs: if matches!(m, AnyModel::VarNet(_) | AnyModel::Modl(_)) {
                    "MRI"
                } else {
                    "CT"
                },
                got: i.modality(),
            }),
        }
    }

    fn film_period(&self) -> usize {
        match self {
            AnyModel::Learn(_) => Learn::FILM_PER_ITER,
            m => m.film_channels().len(),
        }
    }

    fn film_channels(&self) -> Vec<usize> {
        match self {
            AnyModel::Lpd(m) => m.film_channels(),
            AnyModel::Learn(m) => m.film_channels(),
            AnyModel::FbpConvNet(m) => m.film_channels(),
            AnyModel::VarNet(m) => m.film_channels(),
            AnyModel::Modl(m) => m.film_channels(),
        }
    }
}
