//! RED-CNN: the residual encoder–decoder CNN of Chen et al. 2017, "Low-Dose CT With a Residual
//! Encoder-Decoder Convolutional Neural Network", IEEE Trans. Med. Imaging 36(12), in the form
//! FedFDD uses for each frequency branch (`REDCNNOri` in `config/ldct_models.py` of
//! github.com/xuhang2019/FedFDD, built with `in_ch = 2, out_ch = 96, model_choice =
//! 'ori-low-high', alpha = 1`).
//!
//! Five `k×k` convolutions without padding (each shrinks the image by `k − 1`), then five
//! `k×k` transposed convolutions without padding (each grows it back by `k − 1`), width `w`,
//! ReLU, with three residual shortcuts: with `x` of `a` channels and `x₀` its first channel,
//!
//! ```text
//! e₁ = σ(c₁x), e₂ = σ(c₂e₁), e₃ = σ(c₃e₂), e₄ = σ(c₄e₃), e₅ = σ(c₅e₄)
//! d₁ = t₁e₅ + e₄, d₂ = t₂σ(d₁), d₃ = t₃σ(d₂) + e₂, d₄ = t₄σ(d₃)
//! y  = σ(t₅σ(d₄) + x₀)
//! ```
//!
//! (`σ` = ReLU). FedFDD feeds `x = [band, full image]`, so the shortcut `x₀` is the branch's own
//! frequency band. The paper's width is `w = 96`, `k = 5`; the image must be larger than
//! `5(k − 1)` pixels per side. The last transposed convolution starts at zero here
//! ([`RedCnn::zero_output`]), so a fresh branch returns `σ(x₀)`.

use crate::error::{NnError, Result};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// RED-CNN hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedCnnConfig {
    /// Input channels `a` (FedFDD: 2, the band and the full image).
    pub in_channels: usize,
    /// Width `w` of the hidden layers (paper: 96).
    pub width: usize,
    /// Kernel size `k` (paper: 5).
    pub kernel: usize,
}

impl Default for RedCnnConfig {
    /// `a = 2`, `w = 16` (the paper's 96 is slow on a CPU), `k = 5`.
    fn default() -> Self {
        Self {
            in_channels: 2,
            width: 16,
            kernel: 5,
        }
    }
}

/// The network (see the module docs).
#[derive(Module, Debug)]
pub struct RedCnn {
    conv: Vec<Conv2d>,
    tconv: Vec<ConvTranspose2d>,
}

impl RedCnnConfig {
    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("redcnn.in_channels", self.in_channels),
            ("redcnn.width", self.width),
            ("redcnn.kernel", self.kernel),
        ] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        Ok(())
    }

    /// The smallest image side the five unpadded convolutions accept: `5(k − 1) + 1`.
    pub fn min_size(&self) -> usize {
        5 * (self.kernel - 1) + 1
    }

    /// Checks that `(ny, nx)` images fit (an error naming `redcnn.kernel`).
    pub fn check_image(&self, ny: usize, nx: usize) -> Result<()> {
        let m = self.min_size();
        if ny < m || nx < m {
            return Err(NnError::argument(
                "redcnn.kernel",
                self.kernel,
                format!(
                    "five unpadded {0}×{0} convolutions need images of at least {m}² pixels, got {ny}×{nx}",
                    self.kernel
                ),
            ));
        }
        Ok(())
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<RedCnn> {
        self.validate()?;
        let (a, w, k) = (self.in_channels, self.width, self.kernel);
        let conv = (0..5)
            .map(|i| Conv2dConfig::new([if i == 0 { a } else { w }, w], [k, k]).init(device))
            .collect();
        let tconv = (0..5)
            .map(|i| {
                ConvTranspose2dConfig::new([w, if i == 4 { 1 } else { w }], [k, k]).init(device)
            })
            .collect();
        Ok(RedCnn { conv, tconv })
    }

    /// Parameters by formula: `k²(aw + 8w² + w) + 9w + 1`.
    pub fn num_params(&self) -> usize {
        let (a, w, k) = (self.in_channels, self.width, self.kernel);
        k * k * (a * w + 8 * w * w + w) + 9 * w + 1
    }
}

impl RedCnn {
    /// The same network with a zero last transposed convolution (weights and bias).
    pub fn zero_output(mut self) -> Self {
        let last = self.tconv.last_mut().expect("five layers");
        last.weight = Param::from_tensor(last.weight.val().zeros_like());
        last.bias = last
            .bias
            .take()
            .map(|b| Param::from_tensor(b.val().zeros_like()));
        self
    }

    /// # Shapes
    /// `x`: `[B, a, H, W]` (`H, W ≥ 5(k − 1) + 1`) → `[B, 1, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = &self.conv;
        let t = &self.tconv;
        // x₀: [B, 1, H, W]
        let x0 = x.clone().narrow(1, 0, 1);
        let e1 = relu(c[0].forward(x));
        let e2 = relu(c[1].forward(e1));
        let e3 = relu(c[2].forward(e2.clone()));
        let e4 = relu(c[3].forward(e3));
        let e5 = relu(c[4].forward(e4.clone()));
        let d1 = t[0].forward(e5) + e4;
        let d2 = t[1].forward(relu(d1));
        let d3 = t[2].forward(relu(d2)) + e2;
        let d4 = t[3].forward(relu(d3));
        relu(t[4].forward(relu(d4)) + x0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_params_and_zero_output() {
        let dev = Device::flex();
        let cfg = RedCnnConfig {
            in_channels: 2,
            width: 4,
            kernel: 3,
        };
        let net = crate::unseeded_init(|| cfg.init(&dev)).unwrap();
        assert_eq!(net.num_params(), cfg.num_params());
        // the paper's size: 2 → 96, 5×5
        let paper = RedCnnConfig {
            width: 96,
            ..Default::default()
        };
        assert_eq!(
            paper.num_params(),
            25 * (2 * 96 + 8 * 96 * 96 + 96) + 9 * 96 + 1
        );
        for (h, w) in [(11, 11), (16, 13)] {
            let x = Tensor::<4>::random(
                [2, 2, h, w],
                burn::tensor::Distribution::Uniform(-1.0, 1.0),
                &dev,
            );
            let y = net.forward(x.clone());
            assert_eq!(y.dims(), [2, 1, h, w]);
            // a zero last layer returns σ(x₀)
            let z = net.clone().zero_output().forward(x.clone());
            let e = relu(x.narrow(1, 0, 1));
            let d = (z - e).abs().max().into_scalar::<f32>();
            assert_eq!(d, 0.0);
        }
        assert!(cfg.check_image(11, 11).is_ok());
        let e = cfg.check_image(10, 12).unwrap_err().to_string();
        assert!(e.contains("redcnn.kernel"), "{e}");
        let bad = RedCnnConfig { width: 0, ..cfg };
        assert!(
            bad.init(&dev)
                .unwrap_err()
                .to_string()
                .contains("redcnn.width")
        );
    }
}
