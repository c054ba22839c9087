//! FedFDD's frequency-decomposed network (Chen et al., "FedFDD: federated learning with frequency
//! domain decomposition for low-dose CT denoising", MIDL 2024; code: github.com/xuhang2019/FedFDD).
//!
//! The input image `x` (here the FBP of the measured sinogram: FedFDD denoises images, it has no
//! operator) is split by a DCT mask `M` ([`fedrecon_fed::dct`]): `x_L = IDCT(M ⊙ DCT(x))`,
//! `x_H = IDCT((1 − M) ⊙ DCT(x)) = x − x_L`.
//!
//! **Branches** (`branch = "redcnn"`, the paper's, `REDCNNFreq(alpha = 0)` in
//! `config/ldct_models.py`): two RED-CNNs ([`crate::redcnn`]), each fed its band *and* the full
//! image, with the band as its residual shortcut, summed and rectified:
//!
//! `y = σ(R_L([x_L, x]) + R_H([x_H, x]))`, `R(z) = σ(RED(z) + z₀)`.
//!
//! `branch = "unet"` is the earlier variant: U-Nets fed only their band,
//! `y = (x_L + U_L(x_L)) + (x_H + U_H(x_H))`.
//! Both start with a zero output layer (the paper initialises randomly): a fresh RED-CNN pair
//! returns `σ(σ(x_L) + σ(x_H))`, a fresh U-Net pair `x`.
//!
//! **Mask** (`mask = "random"`, the paper's `afm()` in `config/utils.py`, drawn for every image
//! it loads): the disc `√(u² + v²) ≤ r·√(H² + W²)`, `r ~ U(0.43, 0.50)`, plus random high
//! frequencies, coefficient `(u, v)` with probability `√(u² + v²)/max` ([`fedfdd_mask`]). Here one
//! mask per image of every training batch, seeded from the round seed and the local step, so a
//! run is deterministic for its seed; held-out image `i` always gets the mask of seed
//! [`EVAL_MASK_SEED`]` + i`. `mask = "fixed"` uses the disc at `cutoff` alone, always.
//!
//! The branches are named `lowfreq.*` and `highfreq.*`; the `fedfdd` preset keeps the
//! low-frequency branch (site-specific contrast and noise texture) local and aggregates the
//! high-frequency branch (edges and structures, shared across scanners), as in FedFDD (its
//! client keeps every parameter whose module name contains `low`, `client/fedfdd.py`).

use crate::error::{NnError, Result};
use crate::redcnn::{RedCnn, RedCnnConfig};
use crate::unet::{Unet, UnetConfig};
use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::{Tensor, TensorData};
use fedrecon_fed::dct::{FreqSplit, fedfdd_mask};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// Seed of the random mask of held-out image `i`: `EVAL_MASK_SEED + i`.
pub const EVAL_MASK_SEED: u64 = 0x00fd_d0e7_0000_0000;

/// The network of each branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FddBranchKind {
    /// RED-CNN fed `[band, full image]` (the paper).
    #[default]
    Redcnn,
    /// U-Net fed its band only (the earlier variant).
    Unet,
}

/// How the DCT mask is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FddMask {
    /// FedFDD's random disc plus random high frequencies, per image and step.
    #[default]
    Random,
    /// The disc at `cutoff`, always.
    Fixed,
}

/// FedFDD hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FddConfig {
    /// Branch network.
    pub branch: FddBranchKind,
    /// Mask.
    pub mask: FddMask,
    /// DCT low-pass cut-off of the fixed mask as a fraction of the diagonal, in `(0, 1]`.
    pub cutoff: f64,
    /// The RED-CNN of each branch (`branch = "redcnn"`; `in_channels` is set to 2).
    pub redcnn: RedCnnConfig,
    /// The U-Net of each branch (`branch = "unet"`).
    pub unet: UnetConfig,
}

impl Default for FddConfig {
    fn default() -> Self {
        Self {
            branch: FddBranchKind::Redcnn,
            mask: FddMask::Random,
            cutoff: 0.465,
            redcnn: RedCnnConfig::default(),
            unet: UnetConfig {
                base_channels: 8,
                depth: 2,
                ..UnetConfig::default()
            },
        }
    }
}

/// One branch.
// two per model, built once: the size of the U-Net variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum FddBranch {
    /// RED-CNN on `[band, image]`.
    Redcnn(RedCnn),
    /// U-Net on the band.
    Unet(Unet),
}

impl FddConfig {
    /// The two branches, each with a zero last layer (see the module docs).
    pub fn init(&self, device: &burn::tensor::Device) -> Result<FddNet> {
        if !(self.cutoff > 0.0 && self.cutoff <= 1.0) {
            return Err(NnError::argument(
                "fdd.cutoff",
                self.cutoff,
                "must be in (0, 1]",
            ));
        }
        let branch = || -> Result<FddBranch> {
            Ok(match self.branch {
                FddBranchKind::Redcnn => FddBranch::Redcnn(
                    RedCnnConfig {
                        in_channels: 2,
                        ..self.redcnn
                    }
                    .init(device)?
                    .zero_output(),
                ),
                FddBranchKind::Unet => FddBranch::Unet(
                    UnetConfig {
                        in_channels: 1,
                        out_channels: 1,
                        ..self.unet
                    }
                    .init(device)?
                    .zero_output(),
                ),
            })
        };
        Ok(FddNet {
            lowfreq: branch()?,
            highfreq: branch()?,
            random_mask: self.mask == FddMask::Random,
        })
    }

    /// The frequency split of `(ny, nx)` images (errors: a bad cut-off, images too small for
    /// the RED-CNN).
    pub fn split(&self, ny: usize, nx: usize) -> Result<FreqSplit> {
        if self.branch == FddBranchKind::Redcnn {
            self.redcnn.check_image(ny, nx)?;
        }
        FreqSplit::new(ny, nx, self.cutoff)
            .map_err(|e| NnError::argument("fdd.cutoff", self.cutoff, e.to_string()))
    }
}

/// The two branches (see the module docs).
#[derive(Module, Debug)]
pub struct FddNet {
    /// Low-frequency branch (kept local by the `fedfdd` preset).
    pub lowfreq: FddBranch,
    /// High-frequency branch (aggregated).
    pub highfreq: FddBranch,
    /// FedFDD's random mask (else the split's fixed disc).
    pub random_mask: bool,
}

/// `(x_L, x_H)` of every image of a batch `[B, 1, H, W]` (no gradient: the input is data),
/// image `i` with the mask of `masks[i]` (or `split`'s own mask where `masks` is `None`).
pub fn split_batch(
    x: &Tensor<4>,
    split: &FreqSplit,
    masks: Option<&[Vec<bool>]>,
) -> Result<(Tensor<4>, Tensor<4>)> {
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
    for (i, img) in host.chunks_exact(h * w).enumerate() {
        let r = match masks {
            Some(m) => {
                let m = m.get(i / c).ok_or_else(|| {
                    NnError::argument("masks", m.len(), format!("a batch of {b} images"))
                })?;
                split.split_masked(img, m)
            }
            None => split.split(img),
        };
        let (l, hh) =
            r.map_err(|e| NnError::argument("image", format!("{h}×{w}"), e.to_string()))?;
        lo.extend(l);
        hi.extend(hh);
    }
    let dev = x.device();
    Ok((
        Tensor::from_data(TensorData::new(lo, [b, c, h, w]), &dev),
        Tensor::from_data(TensorData::new(hi, [b, c, h, w]), &dev),
    ))
}

/// `n` FedFDD masks of `(ny, nx)` coefficients, mask `i` from seed `seeds(i)`.
pub fn random_masks(ny: usize, nx: usize, seeds: impl Iterator<Item = u64>) -> Vec<Vec<bool>> {
    seeds
        .map(|s| fedfdd_mask(ny, nx, &mut StdRng::seed_from_u64(s)).0)
        .collect()
}

impl FddNet {
    /// The output for an image batch; with the random mask, image `i` uses the mask of seed
    /// `mask_seeds[i]` (see the module docs).
    ///
    /// # Shapes
    /// `x`: `[B, 1, H, W]` → `[B, 1, H, W]`.
    pub fn forward(
        &self,
        x: &Tensor<4>,
        split: &FreqSplit,
        mask_seeds: &[u64],
    ) -> Result<Tensor<4>> {
        let [b, _, h, w] = x.dims();
        let masks = match self.random_mask {
            true => {
                if mask_seeds.len() != b {
                    return Err(NnError::argument(
                        "mask seeds",
                        mask_seeds.len(),
                        format!("need one per image of a batch of {b}"),
                    ));
                }
                Some(random_masks(h, w, mask_seeds.iter().copied()))
            }
            false => None,
        };
        let (lo, hi) = split_batch(x, split, masks.as_deref())?;
        Ok(match (&self.lowfreq, &self.highfreq) {
            (FddBranch::Redcnn(l), FddBranch::Redcnn(hb)) => {
                // [band, full image]: [B, 2, H, W]
                let yl = l.forward(Tensor::cat(vec![lo, x.clone()], 1));
                let yh = hb.forward(Tensor::cat(vec![hi, x.clone()], 1));
                relu(yl + yh)
            }
            (FddBranch::Unet(l), FddBranch::Unet(hb)) => {
                lo.clone() + l.forward(lo, None, 0) + hi.clone() + hb.forward(hi, None, 0)
            }
            _ => {
                return Err(NnError::argument(
                    "fdd.branch",
                    "mixed",
                    "both branches must be of one kind",
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn host(t: Tensor<4>) -> Vec<f32> {
        crate::train::tensor_to_vec(t).unwrap()
    }

    #[test]
    fn split_parts_sum_to_the_input_and_low_part_is_smooth() {
        let dev = Device::flex();
        let (h, w) = (8, 8);
        let img: Vec<f32> = (0..2 * h * w)
            .map(|i| if (i / w + i % w) % 2 == 0 { 1.0 } else { 0.0 } + (i % w) as f32 * 0.1)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [2, 1, h, w]), &dev);
        let cfg = FddConfig {
            branch: FddBranchKind::Unet,
            ..Default::default()
        };
        let split = cfg.split(h, w).unwrap();
        let (lo, hi) = split_batch(&x, &split, None).unwrap();
        let sum = host(lo.clone() + hi);
        for (a, b) in sum.iter().zip(&img) {
            assert!((a - b).abs() < 1e-5);
        }
        // the checkerboard (highest DCT frequency) is removed from the low part: neighbours differ
        // by about the ramp only
        let lo = host(lo);
        let jump = (lo[1] - lo[0]).abs();
        assert!(jump < 0.5, "low part kept the checkerboard: {jump}");
        // random masks: still a split, different per image seed, the same for the same seed
        let m = random_masks(h, w, [1u64, 2].into_iter());
        let (l2, h2) = split_batch(&x, &split, Some(&m)).unwrap();
        let s2 = host(l2.clone() + h2);
        assert!(s2.iter().zip(&img).all(|(a, b)| (a - b).abs() < 1e-5));
        assert_eq!(m, random_masks(h, w, [1u64, 2].into_iter()));
        assert_ne!(m[0], m[1]);
        assert!(split_batch(&x, &split, Some(&m[..1])).is_err());
    }

    #[test]
    fn untrained_unet_pair_is_the_identity() {
        let dev = Device::flex();
        let (h, w) = (12, 10);
        let img: Vec<f32> = (0..2 * h * w)
            .map(|i| ((i * 37) % 11) as f32 * 0.1)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [2, 1, h, w]), &dev);
        let cfg = FddConfig {
            branch: FddBranchKind::Unet,
            mask: FddMask::Fixed,
            ..Default::default()
        };
        let net = crate::unseeded_init(|| cfg.init(&dev)).unwrap();
        let y = host(net.forward(&x, &cfg.split(h, w).unwrap(), &[]).unwrap());
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
    fn redcnn_branches_take_band_and_image() {
        let dev = Device::flex();
        let (h, w) = (24, 22);
        let img: Vec<f32> = (0..2 * h * w)
            .map(|i| ((i * 37) % 11) as f32 * 0.1)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(img.clone(), [2, 1, h, w]), &dev);
        let cfg = FddConfig::default();
        assert_eq!(
            (cfg.branch, cfg.mask),
            (FddBranchKind::Redcnn, FddMask::Random)
        );
        let net = crate::unseeded_init(|| cfg.init(&dev)).unwrap();
        // two input channels per branch: the first conv of each is [width, 2, k, k]
        let p = crate::params::export_params(&net).unwrap();
        for b in ["lowfreq", "highfreq"] {
            let (_, t) = p
                .iter()
                .find(|(n, _)| n.starts_with(b) && n.ends_with("conv.0.weight"))
                .unwrap_or_else(|| {
                    panic!("no first conv in {b}: {:?}", p.names().collect::<Vec<_>>())
                });
            assert_eq!(t.shape, vec![cfg.redcnn.width, 2, 5, 5]);
        }
        let split = cfg.split(h, w).unwrap();
        let y = host(net.forward(&x, &split, &[3, 4]).unwrap());
        // fresh (zero last layers): σ(σ(x_L) + σ(x_H)) with the masks of seeds 3 and 4
        let m = random_masks(h, w, [3u64, 4].into_iter());
        let (lo, hi) = split_batch(&x, &split, Some(&m)).unwrap();
        let want = host(relu(relu(lo) + relu(hi)));
        assert_eq!(y, want);
        assert_eq!(y, host(net.forward(&x, &split, &[3, 4]).unwrap()));
        // one seed per image; images too small for five unpadded 5×5 convolutions are an error
        assert!(net.forward(&x, &split, &[3]).is_err());
        let e = cfg.split(16, 16).unwrap_err().to_string();
        assert!(e.contains("redcnn.kernel"), "{e}");
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
