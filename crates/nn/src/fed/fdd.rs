//! FedFDD's frequency-decomposed network (Chen et al., "FedFDD: federated learning with frequency
//! domain decomposition for low-dose CT denoising", MIDL 2024).
//!
//! The input image `x` (here the FBP of the measured sinogram) is split by a circular DCT
//! low-pass mask `M` of radius `r·√(H² + W²)` in DCT-index space ([`fedrecon_fed::dct::FreqSplit`]):
//! `x_L = IDCT(M ⊙ DCT(x))`, `x_H = x − x_L`. Each part is refined by its own U-Net branch with a
//! residual connection and the outputs are summed:
//!
//! `y = (x_L + U_L(x_L)) + (x_H + U_H(x_H))`.
//!
//! Both branches start with a zero output layer, so the untrained network is the identity on the
//! FBP image (with random output layers the sum of two untrained U-Nets adds noise that the local
//! low-frequency branch of a site — or an unseen site's untrained branch — never removes).
//!
//! The branches are named `lowfreq.*` and `highfreq.*`; the `fedfdd` preset keeps the
//! low-frequency branch (site-specific contrast and noise texture) local and aggregates the
//! high-frequency branch (edges and structures, shared across scanners), as in FedFDD. The paper
//! draws the cut-off from `0.43–0.50` of the diagonal; here it is a config value (default 0.465,
//! the middle of that range), fixed per run so that training is deterministic.

use crate::error::{NnError, Result};
use crate::unet::{Unet, UnetConfig};
use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use fedrecon_fed::dct::FreqSplit;
use serde::{Deserialize, Serialize};

/// FedFDD hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FddConfig {
    /// DCT low-pass cut-off as a fraction of the diagonal, in `(0, 1]`.
    pub cutoff: f64,
    /// The U-Net of each branch.
    pub unet: UnetConfig,
}

impl Default for FddConfig {
    fn default() -> Self {
        Self {
            cutoff: 0.465,
            unet: UnetConfig {
                base_channels: 8,
                depth: 2,
                ..UnetConfig::default()
            },
        }
    }
}

impl FddConfig {
    /// The two branches (`in_channels = out_channels = 1`), each with a zero final conv
    /// ([`Unet::zero_output`]): the untrained network returns its input, `x_L + x_H = x`.
    pub fn init(&self, device: &burn::tensor::Device) -> Result<FddNet> {
        if !(self.cutoff > 0.0 && self.cutoff <= 1.0) {
            return Err(NnError::argument(
                "fdd.cutoff",
                self.cutoff,
                "must be in (0, 1]",
            ));
        }
        let u = UnetConfig {
            in_channels: 1,
            out_channels: 1,
            ..self.unet
        };
        Ok(FddNet {
            lowfreq: u.init(device)?.zero_output(),
            highfreq: u.init(device)?.zero_output(),
        })
    }

    /// The frequency split of `(ny, nx)` images.
    pub fn split(&self, ny: usize, nx: usize) -> Result<FreqSplit> {
        FreqSplit::new(ny, nx, self.cutoff)
            .map_err(|e| NnError::argument("fdd.cutoff", self.cutoff, e.to_string()))
    }
}

/// The two branches (see the module docs).
#[derive(Module, Debug)]
pub struct FddNet {
    /// Low-frequency branch (kept local by the `fedfdd` preset).
    pub lowfreq: Unet,
    /// High-frequency branch (aggregated).
    pub highfreq: Unet,
}

/// `(x_L, x_H)` of every image of a batch `[B, 1, H, W]` (no gradient: the input is data).
pub fn split_batch(x: &Tensor<4>, split: &FreqSplit) -> Result<(Tensor<4>, Tensor<4>)> {
    let [b, c, h, w] = x.dims();
    let host = x
        .to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::argument("image", format!("{e:?}"), "not readable as f32"))?;
    let (mut lo, mut hi) = (
        Vec::with_capacity(host.len()),
        Vec::with_capacity(host.len()),
    );
    for img in host.chunks_exact(h * w) {
        let (l, hh) = split
            .split(img)
            .map_err(|e| NnError::argument("image", format!("{h}×{w}"), e.to_string()))?;
        lo.extend(l);
        hi.extend(hh);
    }
    let dev = x.device();
    Ok((
        Tensor::from_data(TensorData::new(lo, [b, c, h, w]), &dev),
        Tensor::from_data(TensorData::new(hi, [b, c, h, w]), &dev),
    ))
}

impl FddNet {
    /// `y = x_L + U_L(x_L) + x_H + U_H(x_H)` for an image batch `[B, 1, H, W]`.
    pub fn forward(&self, x: &Tensor<4>, split: &FreqSplit) -> Result<Tensor<4>> {
        let (lo, hi) = split_batch(x, split)?;
        Ok(lo.clone()
            + self.lowfreq.forward(lo, None, 0)
            + hi.clone()
            + self.highfreq.forward(hi, None, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn split_parts_sum_to_the_input_and_low_part_is_smooth() {
        let dev = Device::flex();
        let (h, w) = (8, 8);
        let img: Vec<f32> = (0..2 * h * w)
            .map(|i| if (i / w + i % w) % 2 == 0 { 1.0 } else { 0.0 } + (i % w) as f32 * 0.1)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [2, 1, h, w]), &dev);
        let split = FddConfig::default().split(h, w).unwrap();
        let (lo, hi) = split_batch(&x, &split).unwrap();
        let sum = (lo.clone() + hi)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        for (a, b) in sum.iter().zip(&img) {
            assert!((a - b).abs() < 1e-5);
        }
        // the checkerboard (highest DCT frequency) is removed from the low part: neighbours differ
        // by about the ramp only
        let lo = lo
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let jump = (lo[1] - lo[0]).abs();
        assert!(jump < 0.5, "low part kept the checkerboard: {jump}");
    }

    #[test]
    fn untrained_network_is_the_identity() {
        let dev = Device::flex();
        let (h, w) = (12, 10);
        let img: Vec<f32> = (0..2 * h * w)
            .map(|i| ((i * 37) % 11) as f32 * 0.1)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [2, 1, h, w]), &dev);
        let cfg = FddConfig::default();
        let net = crate::unseeded_init(|| cfg.init(&dev)).unwrap();
        let y = net
            .forward(&x, &cfg.split(h, w).unwrap())
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let err = y
            .iter()
            .zip(&img)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "max |y − x| = {err}");
        // and the branches are not dead: the hidden layers are random
        let p = crate::params::export_params(&net).unwrap();
        let nonzero = p
            .iter()
            .filter(|(_, t)| t.data.iter().any(|v| *v != 0.0))
            .count();
        assert!(nonzero > p.len() / 2, "{nonzero} of {}", p.len());
    }

    #[test]
    fn bad_cutoff_is_an_error_naming_the_field() {
        let c = FddConfig {
            cutoff: 0.0,
            ..Default::default()
        };
        let e = crate::unseeded_init(|| c.init(&Device::flex()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("fdd.cutoff"), "{e}");
    }
}
