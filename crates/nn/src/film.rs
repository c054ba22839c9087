//! FiLM conditioning (Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning
//! Layer", AAAI): per block `b`, features `x` of shape `[B, C_b, H, W]` become
//! `x · (1 + γ_b) + β_b` with `γ_b, β_b ∈ ℝ^{B×C_b}` broadcast over space. Zero FiLM is the
//! identity, so an unconditioned model equals the model with zero scales and shifts.

use crate::error::{NnError, Result};
use burn::module::{Initializer, Module};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// FiLM scales `γ` and shifts `β` for every conditioned block, in the order of
/// [`crate::models::ReconNet::film_channels`]; each `[B, channels_b]`.
#[derive(Clone, Debug)]
pub struct Film {
    /// `γ_b`, `[B, C_b]` (the applied factor is `1 + γ_b`).
    pub scale: Vec<Tensor<2>>,
    /// `β_b`, `[B, C_b]`.
    pub shift: Vec<Tensor<2>>,
}

impl Film {
    /// Zero FiLM (the identity) for `channels` per block.
    pub fn zeros(batch: usize, channels: &[usize], device: &Device) -> Self {
        let z = |&c: &usize| Tensor::<2>::zeros([batch, c], device);
        Self {
            scale: channels.iter().map(z).collect(),
            shift: channels.iter().map(z).collect(),
        }
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.scale.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }

    /// Checks the block count and every `[B, C_b]` shape against `channels` and `batch`.
    pub fn check(&self, batch: usize, channels: &[usize]) -> Result<()> {
        if self.scale.len() != channels.len() || self.shift.len() != channels.len() {
            return Err(NnError::Film(format!(
                "{} scales and {} shifts for a model with {} conditioned blocks",
                self.scale.len(),
                self.shift.len(),
                channels.len()
            )));
        }
        for (b, &c) in channels.iter().enumerate() {
            for (what, t) in [("scale", &self.scale[b]), ("shift", &self.shift[b])] {
                if t.dims() != [batch, c] {
                    return Err(NnError::Film(format!(
                        "{what}[{b}] has shape {:?}, expected [{batch}, {c}]",
                        t.dims()
                    )));
                }
            }
        }
        Ok(())
    }

    /// `x · (1 + γ_b) + β_b` for block `b`; `x` is `[B, C_b, H, W]`.
    pub fn apply(&self, block: usize, x: Tensor<4>) -> Tensor<4> {
        let [b, c] = self.scale[block].dims();
        let g = self.scale[block].clone().reshape([b, c, 1, 1]);
        let s = self.shift[block].clone().reshape([b, c, 1, 1]);
        x.clone() * g + x + s
    }
}

/// Applies block `block` of `film` to `x` if conditioning is given, else returns `x`.
pub fn film_at(film: Option<&Film>, block: usize, x: Tensor<4>) -> Tensor<4> {
    match film {
        Some(f) => f.apply(block, x),
        None => x,
    }
}

/// Hypernetwork hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HypernetworkConfig {
    /// Length `P` of the protocol vector.
    pub protocol_dim: usize,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Number of hidden layers (≥ 1).
    pub hidden_layers: usize,
    /// Length `S` of a one-hot site code appended to the protocol vector (0: none). The
    /// `central-onehot` baseline uses one entry per training site.
    pub site_code: usize,
}

impl Default for HypernetworkConfig {
    /// `P = 8`, two hidden layers of 64, no site code.
    fn default() -> Self {
        Self {
            protocol_dim: 8,
            hidden: 64,
            hidden_layers: 2,
            site_code: 0,
        }
    }
}

impl HypernetworkConfig {
    /// Length of the hypernetwork's input: `P + S`.
    pub fn input_dim(&self) -> usize {
        self.protocol_dim + self.site_code
    }
}

/// HyperFed-style hypernetwork: an MLP mapping a site's protocol vector `p ∈ ℝᴾ` (followed by
/// its one-hot site code when [`HypernetworkConfig::site_code`] > 0) to FiLM scales and shifts
/// for every conditioned block,
/// `[γ_1, β_1, …, γ_K, β_K] = W_L σ(… σ(W_1 p + b_1) …) + b_L` with ReLU `σ`. The last layer is
/// initialised to zero, so a fresh hypernetwork produces zero FiLM (the identity).
#[derive(Module, Debug)]
pub struct Hypernetwork {
    hidden: Vec<Linear>,
    last: Linear,
    channels: Vec<usize>,
}

impl HypernetworkConfig {
    /// Builds the MLP for a model whose hooks have `film_channels` (from `film_channels()`).
    pub fn init(&self, film_channels: &[usize], device: &Device) -> Result<Hypernetwork> {
        for (what, v) in [
            ("hypernetwork.protocol_dim", self.protocol_dim),
            ("hypernetwork.hidden", self.hidden),
            ("hypernetwork.hidden_layers", self.hidden_layers),
        ] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        if film_channels.is_empty() || film_channels.contains(&0) {
            return Err(NnError::argument(
                "film_channels",
                format!("{film_channels:?}"),
                "need at least one block, each with ≥ 1 channel",
            ));
        }
        let hidden = (0..self.hidden_layers)
            .map(|i| {
                let a = if i == 0 {
                    self.input_dim()
                } else {
                    self.hidden
                };
                LinearConfig::new(a, self.hidden).init(device)
            })
            .collect();
        let total: usize = film_channels.iter().sum();
        let last = LinearConfig::new(self.hidden, 2 * total)
            .with_initializer(Initializer::Zeros)
            .init(device);
        Ok(Hypernetwork {
            hidden,
            last,
            channels: film_channels.to_vec(),
        })
    }

    /// Parameters by formula: `(P+S+1)H + (L−1)(H+1)H + (H+1)·2ΣC`.
    pub fn num_params(&self, film_channels: &[usize]) -> usize {
        let (p, h, l) = (self.input_dim(), self.hidden, self.hidden_layers);
        let total: usize = film_channels.iter().sum();
        (p + 1) * h + (l - 1) * (h + 1) * h + (h + 1) * 2 * total
    }
}

impl Hypernetwork {
    /// The FiLM for a batch of protocol vectors.
    ///
    /// # Shapes
    /// `protocol`: `[B, P + S]` → FiLM with `scale[b], shift[b]`: `[B, C_b]`.
    pub fn forward(&self, protocol: Tensor<2>) -> Film {
        let mut h = protocol;
        for l in &self.hidden {
            h = relu(l.forward(h));
        }
        // [B, 2 ΣC]: per block, C_b scales then C_b shifts.
        let out = self.last.forward(h);
        let b = out.dims()[0];
        let mut scale = Vec::with_capacity(self.channels.len());
        let mut shift = Vec::with_capacity(self.channels.len());
        let mut o = 0;
        for &c in &self.channels {
            scale.push(out.clone().slice([0..b, o..o + c]));
            shift.push(out.clone().slice([0..b, o + c..o + 2 * c]));
            o += 2 * c;
        }
        Film { scale, shift }
    }

    /// The block channels this hypernetwork produces FiLM for.
    pub fn film_channels(&self) -> &[usize] {
        &self.channels
    }
}
