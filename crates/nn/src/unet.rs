//! The U-Net shared by FBPConvNet and the E2E-VarNet cascades.
//!
//! Ronneberger, Fischer, Brox (2015), "U-Net: Convolutional Networks for Biomedical Image
//! Segmentation", MICCAI; layer for layer the fastMRI variant (Zbontar et al. 2018, "fastMRI: An
//! Open Dataset and Benchmarks for Accelerated MRI", `fastmri.models.Unet`):
//!
//! - a conv block is `[conv3×3 → norm → LeakyReLU(0.2)] × 2` (convs without bias when an instance
//!   norm follows, with bias otherwise);
//! - `depth` down levels: conv block, then 2×2 average pooling; channels `c, 2c, …, 2^{d−1}c`;
//! - a bottleneck conv block to `2^d c`;
//! - `depth` up levels: 2×2 stride-2 transposed conv (`→ norm → LeakyReLU`) halving the channels,
//!   concatenation with the skip connection, conv block;
//! - a final 1×1 conv to the output channels.
//!
//! Inputs of any size are zero-padded (centred) to a multiple of `2^depth` and the output is
//! cropped back, so odd sizes work.
//!
//! FiLM hooks: the output of every conv block (down blocks, bottleneck, up blocks, in that order,
//! `2·depth + 1` blocks; see [`Unet::film_channels`]) is modulated as `x·(1 + γ) + β`.

use crate::error::{NnError, Result};
use crate::film::{Film, film_at};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{InstanceNorm, InstanceNormConfig, PaddingConfig2d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Normalisation inside the conv blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// Instance norm with affine parameters (fastMRI).
    #[default]
    Instance,
    /// No normalisation (convs get a bias).
    None,
}

/// U-Net hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Channels of the first level `c` (doubled per level).
    pub base_channels: usize,
    /// Number of down/up levels `d` (≥ 1).
    pub depth: usize,
    /// Normalisation in the conv blocks.
    pub norm: NormKind,
}

impl Default for UnetConfig {
    /// 1 → 1 channels, `c = 16`, `d = 3`, instance norm.
    fn default() -> Self {
        Self {
            in_channels: 1,
            out_channels: 1,
            base_channels: 16,
            depth: 3,
            norm: NormKind::Instance,
        }
    }
}

const LEAK: f64 = 0.2;

/// `[conv3×3 → norm → LeakyReLU] × 2`.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    norm1: Option<InstanceNorm>,
    conv2: Conv2d,
    norm2: Option<InstanceNorm>,
}

fn conv3(a: usize, b: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([a, b], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
        .init(device)
}

fn norm(c: usize, kind: NormKind, device: &Device) -> Option<InstanceNorm> {
    match kind {
        NormKind::Instance => Some(InstanceNormConfig::new(c).init(device)),
        NormKind::None => None,
    }
}

fn norm_act(x: Tensor<4>, n: &Option<InstanceNorm>) -> Tensor<4> {
    let x = match n {
        Some(n) => n.forward(x),
        None => x,
    };
    leaky_relu(x, LEAK)
}

impl ConvBlock {
    fn new(a: usize, b: usize, kind: NormKind, device: &Device) -> Self {
        let bias = kind == NormKind::None;
        Self {
            conv1: conv3(a, b, bias, device),
            norm1: norm(b, kind, device),
            conv2: conv3(b, b, bias, device),
            norm2: norm(b, kind, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = norm_act(self.conv1.forward(x), &self.norm1);
        norm_act(self.conv2.forward(x), &self.norm2)
    }
}

/// 2×2 stride-2 transposed conv → norm → LeakyReLU.
#[derive(Module, Debug)]
pub struct UpBlock {
    conv: ConvTranspose2d,
    norm: Option<InstanceNorm>,
}

impl UpBlock {
    fn new(a: usize, b: usize, kind: NormKind, device: &Device) -> Self {
        Self {
            conv: ConvTranspose2dConfig::new([a, b], [2, 2])
                .with_stride([2, 2])
                .with_bias(kind == NormKind::None)
                .init(device),
            norm: norm(b, kind, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        norm_act(self.conv.forward(x), &self.norm)
    }
}

/// The U-Net.
#[derive(Module, Debug)]
pub struct Unet {
    down: Vec<ConvBlock>,
    bottleneck: ConvBlock,
    up_t: Vec<UpBlock>,
    up_conv: Vec<ConvBlock>,
    out: Conv2d,
    pool: AvgPool2d,
    base_channels: usize,
    depth: usize,
    in_channels: usize,
}

impl UnetConfig {
    /// Checks the hyper-parameters (all ≥ 1, `depth ≤ 8`).
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("unet.in_channels", self.in_channels),
            ("unet.out_channels", self.out_channels),
            ("unet.base_channels", self.base_channels),
            ("unet.depth", self.depth),
        ] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        if self.depth > 8 {
            return Err(NnError::argument("unet.depth", self.depth, "must be ≤ 8"));
        }
        Ok(())
    }

    /// Builds the network (random He-uniform weights, burn's default).
    pub fn init(&self, device: &Device) -> Result<Unet> {
        self.validate()?;
        let (c, d, k) = (self.base_channels, self.depth, self.norm);
        let down = (0..d)
            .map(|i| {
                let a = if i == 0 {
                    self.in_channels
                } else {
                    c << (i - 1)
                };
                ConvBlock::new(a, c << i, k, device)
            })
            .collect();
        let bottleneck = ConvBlock::new(c << (d - 1), c << d, k, device);
        let up_t = (0..d)
            .map(|i| UpBlock::new(c << (d - i), c << (d - i - 1), k, device))
            .collect();
        let up_conv = (0..d)
            .map(|i| ConvBlock::new(c << (d - i), c << (d - i - 1), k, device))
            .collect();
        let out = Conv2dConfig::new([c, self.out_channels], [1, 1]).init(device);
        Ok(Unet {
            down,
            bottleneck,
            up_t,
            up_conv,
            out,
            pool: AvgPool2dConfig::new([2, 2]).init(),
            base_channels: c,
            depth: d,
            in_channels: self.in_channels,
        })
    }

    /// Number of trainable parameters, by formula: a conv block `a → b` has `9ab + 9b²` weights
    /// plus `4b` (two affine instance norms) or `2b` (two biases); a transposed block `a → b`
    /// `4ab + 2b` or `4ab + b`; the 1×1 output conv `c·out + out`.
    pub fn num_params(&self) -> usize {
        let (c, d) = (self.base_channels, self.depth);
        let inst = self.norm == NormKind::Instance;
        let block = |a: usize, b: usize| 9 * a * b + 9 * b * b + if inst { 4 * b } else { 2 * b };
        let upb = |a: usize, b: usize| 4 * a * b + if inst { 2 * b } else { b };
        let mut n = 0;
        for i in 0..d {
            let a = if i == 0 {
                self.in_channels
            } else {
                c << (i - 1)
            };
            n += block(a, c << i);
        }
        n += block(c << (d - 1), c << d);
        for i in 0..d {
            n += upb(c << (d - i), c << (d - i - 1));
            n += block(c << (d - i), c << (d - i - 1));
        }
        n + c * self.out_channels + self.out_channels
    }
}

impl Unet {
    /// The same U-Net with its final 1×1 conv set to zero (weights and bias), so that it outputs
    /// zero: a residual branch `x + U(x)` then starts as the identity (the "zero convolution" of
    /// residual refiners; gradients still reach the final conv at the first step and every layer
    /// after it).
    pub fn zero_output(mut self) -> Self {
        // fresh parameters (not `Param::map`, which keeps the old tensor's autodiff flags)
        self.out.weight = Param::from_tensor(self.out.weight.val().zeros_like());
        self.out.bias = self
            .out
            .bias
            .map(|b| Param::from_tensor(b.val().zeros_like()));
        self
    }

    /// Channels of the FiLM-conditioned blocks: down blocks, bottleneck, up blocks.
    pub fn film_channels(&self) -> Vec<usize> {
        let (c, d) = (self.base_channels, self.depth);
        (0..d)
            .map(|i| c << i)
            .chain(std::iter::once(c << d))
            .chain((0..d).map(|i| c << (d - i - 1)))
            .collect()
    }

    /// Number of FiLM blocks (`2·depth + 1`).
    pub fn n_film_blocks(&self) -> usize {
        2 * self.depth + 1
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Forward pass; FiLM blocks `offset .. offset + 2·depth + 1` of `film` condition this U-Net.
    ///
    /// # Shapes
    /// `x`: `[B, in_channels, H, W]` → `[B, out_channels, H, W]` (any `H, W ≥ 1`).
    pub fn forward(&self, x: Tensor<4>, film: Option<&Film>, offset: usize) -> Tensor<4> {
        let [b, _, h, w] = x.dims();
        let m = 1usize << self.depth;
        let (ph, pw) = (h.div_ceil(m) * m - h, w.div_ceil(m) * m - w);
        let (top, left) = (ph / 2, pw / 2);
        // [B, C_in, H', W'] with H', W' multiples of 2^depth.
        let mut x = if ph + pw > 0 {
            x.pad([(top, ph - top), (left, pw - left)], PadMode::Constant(0.0))
        } else {
            x
        };
        let mut skips = Vec::with_capacity(self.depth);
        let mut k = offset;
        for blk in &self.down {
            // [B, 2^i c, H'/2^i, W'/2^i]
            x = film_at(film, k, blk.forward(x));
            k += 1;
            skips.push(x.clone());
            x = self.pool.forward(x);
        }
        // [B, 2^d c, H'/2^d, W'/2^d]
        x = film_at(film, k, self.bottleneck.forward(x));
        k += 1;
        for (t, conv) in self.up_t.iter().zip(&self.up_conv) {
            let skip = skips.pop().expect("one skip per level");
            // [B, 2^{i} c, …] → cat → [B, 2^{i+1} c, …] → [B, 2^i c, …]
            let up = t.forward(x);
            x = film_at(film, k, conv.forward(Tensor::cat(vec![up, skip], 1)));
            k += 1;
        }
        let y = self.out.forward(x);
        let c = y.dims()[1];
        if ph + pw > 0 {
            y.slice([0..b, 0..c, top..top + h, left..left + w])
        } else {
            y
        }
    }
}
