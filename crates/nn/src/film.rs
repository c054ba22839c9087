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
    /// One FiLM for every iteration of an unrolled model: the hypernetwork produces the blocks
    /// of one iteration and every iteration uses them, as HyperFed's (its 7 → 256 → 512 → 260
    /// MLP conditions all 50 LEARN blocks with the same 130 scales and shifts). Default `false`:
    /// FiLM of its own for every iteration.
    pub tied: bool,
}

impl Default for HypernetworkConfig {
    /// `P = 8`, two hidden layers of 64, no site code.
    fn default() -> Self {
        Self {
            protocol_dim: 8,
            hidden: 64,
            hidden_layers: 2,
            site_code: 0,
            tied: false,
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
    /// Blocks produced; block `b` uses produced block `b mod period`.
    period: usize,
}

impl HypernetworkConfig {
    /// Builds the MLP for a model whose hooks have `film_channels` (from `film_channels()`),
    /// untied.
    pub fn init(&self, film_channels: &[usize], device: &Device) -> Result<Hypernetwork> {
        self.init_with_period(film_channels, film_channels.len(), device)
    }

    /// Builds the MLP for hooks `film_channels` of a model with `period` blocks per iteration
    /// (`ReconNet::film_period`); with [`Self::tied`] it produces one iteration's blocks,
    /// else every block (`period` unused). Errors name `hypernetwork.tied` when the channels do
    /// not repeat with that period.
    pub fn init_with_period(
        &self,
        film_channels: &[usize],
        period: usize,
        device: &Device,
    ) -> Result<Hypernetwork> {
        let n = film_channels.len();
        let period = if self.tied { period } else { n };
        if period == 0
            || !n.is_multiple_of(period)
            || (0..n).any(|b| film_channels[b] != film_channels[b % period])
        {
            return Err(NnError::argument(
                "hypernetwork.tied",
                self.tied,
                format!("the FiLM blocks {film_channels:?} do not repeat every {period} blocks"),
            ));
        }
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
        let total: usize = film_channels[..period].iter().sum();
        let last = LinearConfig::new(self.hidden, 2 * total)
            .with_initializer(Initializer::Zeros)
            .init(device);
        Ok(Hypernetwork {
            hidden,
            last,
            channels: film_channels.to_vec(),
            period,
        })
    }

    /// Parameters by formula: `(P+S+1)H + (L−1)(H+1)H + (H+1)·2ΣC` over the produced blocks
    /// `film_channels` (tied: one iteration's).
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
        for &c in &self.channels[..self.period] {
            scale.push(out.clone().slice([0..b, o..o + c]));
            shift.push(out.clone().slice([0..b, o + c..o + 2 * c]));
            o += 2 * c;
        }
        // tied: every iteration repeats the produced blocks
        for k in self.period..self.channels.len() {
            scale.push(scale[k % self.period].clone());
            shift.push(shift[k % self.period].clone());
        }
        Film { scale, shift }
    }

    /// The block channels this hypernetwork produces FiLM for.
    pub fn film_channels(&self) -> &[usize] {
        &self.channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn host(t: Tensor<2>) -> Vec<f32> {
        crate::train::tensor_to_vec(t).unwrap()
    }

    #[test]
    fn tied_hypernetwork_repeats_one_iteration() {
        let dev = Device::flex();
        // LEARN's hooks for two iterations: step, conv₁, conv₂, conv₃
        let ch = vec![1, 3, 3, 1, 1, 3, 3, 1];
        let hc = HypernetworkConfig {
            protocol_dim: 2,
            hidden: 4,
            hidden_layers: 1,
            tied: true,
            ..Default::default()
        };
        let mut h = crate::unseeded_init(|| hc.init_with_period(&ch, 4, &dev)).unwrap();
        assert_eq!(h.num_params(), hc.num_params(&ch[..4]));
        // a random last layer (a fresh one is zero): iteration 2 repeats iteration 1
        h.last =
            crate::unseeded_init(|| Ok::<_, NnError>(LinearConfig::new(4, 16).init(&dev))).unwrap();
        let p = Tensor::<2>::from_data(TensorData::new(vec![0.3f32, -0.2], [1, 2]), &dev);
        let f = h.forward(p);
        f.check(1, &ch).unwrap();
        for b in 0..4 {
            assert_eq!(host(f.scale[b].clone()), host(f.scale[b + 4].clone()));
            assert_eq!(host(f.shift[b].clone()), host(f.shift[b + 4].clone()));
        }
        assert!(host(f.shift[1].clone()).iter().any(|v| *v != 0.0));
        // channels that do not repeat with the period: an error naming the field
        let e = hc.init_with_period(&ch, 3, &dev).unwrap_err().to_string();
        assert!(e.contains("hypernetwork.tied"), "{e}");
        // untied: every block produced
        let u = HypernetworkConfig { tied: false, ..hc };
        let un = crate::unseeded_init(|| u.init_with_period(&ch, 4, &dev)).unwrap();
        assert_eq!(un.num_params(), u.num_params(&ch));
    }
}
