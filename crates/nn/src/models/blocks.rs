//! Small CNN blocks shared by the unrolled models.

use crate::film::{Film, film_at};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{PRelu, PReluConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Activation of the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// PReLU with one learned slope per channel (Adler & Öktem's choice).
    #[default]
    Prelu,
    /// ReLU.
    Relu,
}

/// `conv(k×k, a→h) → σ → conv(h→h) → σ → FiLM → conv(h→b)`, all convs with bias, "same"
/// padding. [`Cnn3::forward`] has one FiLM hook, on the last hidden activation (`h` channels);
/// [`Cnn3::forward_film_each`] modulates the output of every convolution (HyperFed's placement).
#[derive(Module, Debug)]
pub struct Cnn3 {
    c1: Conv2d,
    a1: Option<PRelu>,
    c2: Conv2d,
    a2: Option<PRelu>,
    c3: Conv2d,
}

/// Conv `a → b`, `k×k`, bias, zero "same" padding (`k` odd).
pub(crate) fn conv_same(a: usize, b: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([a, b], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .init(device)
}

fn act(x: Tensor<4>, a: &Option<PRelu>) -> Tensor<4> {
    match a {
        Some(p) => p.forward(x),
        None => relu(x),
    }
}

impl Cnn3 {
    /// `a → h → h → b` channels, kernel `k` (odd).
    pub fn new(
        a: usize,
        h: usize,
        b: usize,
        k: usize,
        activation: Activation,
        device: &Device,
    ) -> Self {
        let prelu = || match activation {
            Activation::Prelu => Some(PReluConfig::new().with_num_parameters(h).init(device)),
            Activation::Relu => None,
        };
        Self {
            c1: conv_same(a, h, k, device),
            a1: prelu(),
            c2: conv_same(h, h, k, device),
            a2: prelu(),
            c3: conv_same(h, b, k, device),
        }
    }

    /// Parameters by formula: `k²(ah + h² + hb) + 2h + b` (+ `2h` PReLU slopes).
    pub fn num_params(a: usize, h: usize, b: usize, k: usize, activation: Activation) -> usize {
        let prelu = if activation == Activation::Prelu {
            2 * h
        } else {
            0
        };
        k * k * (a * h + h * h + h * b) + 2 * h + b + prelu
    }

    /// # Shapes
    /// `[B, a, H, W]` → `[B, b, H, W]`; FiLM block `block` of `film` (`h` channels).
    pub fn forward(&self, x: Tensor<4>, film: Option<&Film>, block: usize) -> Tensor<4> {
        let x = act(self.c1.forward(x), &self.a1);
        let x = act(self.c2.forward(x), &self.a2);
        self.c3.forward(film_at(film, block, x))
    }

    /// FiLM on the output of each of the three convolutions, before its activation (HyperFed,
    /// Yang et al. 2023: `ConvBlock.forward` in `models/hyperfed_LEARN.py`):
    /// `σ(F_{f}(c₁x)) → σ(F_{f+1}(c₂·)) → F_{f+2}(c₃·)` with `F_b(z) = z·(1 + γ_b) + β_b`.
    /// Without FiLM this is exactly [`Self::forward`] without FiLM.
    ///
    /// # Shapes
    /// `[B, a, H, W]` → `[B, b, H, W]`; FiLM blocks `first` (`h` channels), `first + 1` (`h`),
    /// `first + 2` (`b`).
    pub fn forward_film_each(&self, x: Tensor<4>, film: Option<&Film>, first: usize) -> Tensor<4> {
        let x = act(film_at(film, first, self.c1.forward(x)), &self.a1);
        let x = act(film_at(film, first + 1, self.c2.forward(x)), &self.a2);
        film_at(film, first + 2, self.c3.forward(x))
    }
}
