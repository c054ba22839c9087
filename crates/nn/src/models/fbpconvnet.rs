//! FBPConvNet (Jin, McCann, Froustey, Unser 2017, "Deep Convolutional Neural Network for Inverse
//! Problems in Imaging", IEEE Trans. Image Process. 26(9)): a U-Net with a global residual
//! connection applied to the FBP image, `x = FBP(y) + U(FBP(y))`.
//!
//! The U-Net is [`crate::unet`] (fastMRI layout; the paper uses batch norm and 64 base channels,
//! we use instance norm or none so a batch of one trains the same way). FiLM hooks: the U-Net's
//! conv blocks.

use crate::error::Result;
use crate::film::Film;
use crate::physics::CtPhysics;
use crate::unet::{NormKind, Unet, UnetConfig};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// FBPConvNet hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FbpConvNetConfig {
    /// U-Net base channels.
    pub base_channels: usize,
    /// U-Net depth.
    pub depth: usize,
    /// U-Net normalisation.
    pub norm: NormKind,
}

impl Default for FbpConvNetConfig {
    fn default() -> Self {
        Self {
            base_channels: 32,
            depth: 4,
            norm: NormKind::Instance,
        }
    }
}

impl FbpConvNetConfig {
    fn unet(&self) -> UnetConfig {
        UnetConfig {
            in_channels: 1,
            out_channels: 1,
            base_channels: self.base_channels,
            depth: self.depth,
            norm: self.norm,
        }
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<FbpConvNet> {
        Ok(FbpConvNet {
            unet: self.unet().init(device)?,
        })
    }

    /// Parameters by formula (the U-Net's, [`UnetConfig::num_params`]).
    pub fn num_params(&self) -> usize {
        self.unet().num_params()
    }
}

/// The FBPConvNet.
#[derive(Module, Debug)]
pub struct FbpConvNet {
    unet: Unet,
}

impl FbpConvNet {
    /// Channels of the FiLM blocks (the U-Net's).
    pub fn film_channels(&self) -> Vec<usize> {
        self.unet.film_channels()
    }

    /// FBP plus the U-Net's residual correction:
    /// sinograms `y` `[B, 1, n_angles, n_det]` → images `[B, 1, ny, nx]`.
    pub fn forward(&self, y: Tensor<4>, ct: &CtPhysics, film: Option<&Film>) -> Result<Tensor<4>> {
        // [B, 1, ny, nx]
        let x = ct.fbp_batch(&y)?;
        Ok(x.clone() + self.unet.forward(x, film, 0))
    }
}
