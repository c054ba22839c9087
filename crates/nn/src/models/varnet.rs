//! End-to-end variational network (Sriram et al. 2020, "End-to-End Variational Networks for
//! Accelerated MRI Reconstruction", MICCAI), layer for layer fastMRI's `VarNet`.
//!
//! **Sensitivity maps** from the auto-calibration (ACS) lines: the contiguous fully sampled
//! centre of the mask (fastMRI's `get_pad_and_num_low_freqs`: `2·min(left, right)` lines around
//! the centre) keeps k-space `k⁰`'s centre, `ifft2c` gives low-resolution coil images, a small
//! normalised U-Net refines each coil image (real/imag as 2 channels, coils in the batch), and
//! the maps are normalised by their root-sum-of-squares: `S_c = s_c / √(Σ_c |s_c|²)`.
//!
//! **Cascades** `t = 1 … T` refine k-space from `k = k⁰` (the masked measurement `M k_true`):
//!
//! `k ← k − η_t M (k − k⁰) − E(U_t(R(k)))`,  `E(x)_c = F(S_c x)`,  `R(k) = Σ_c conj(S_c) Fᴴ k_c`,
//!
//! with a learned soft data-consistency weight `η_t` (initialised to 1) and a normalised U-Net
//! `U_t` (input standardised by its per-channel mean and standard deviation, fastMRI's
//! `NormUnet`). The output is the RSS image `√(Σ_c |Fᴴ k_c|²)` (fastMRI's target; no crop).
//!
//! `F`, `Fᴴ` are the exact-adjoint FFT autodiff ops ([`crate::complex::Fft2c`]).
//!
//! FiLM hooks: every conv block of every cascade U-Net (the sensitivity U-Net is not
//! conditioned): `T·(2·pools + 1)` blocks.

use crate::complex::{
    Fft2c, channels_to_complex, complex_to_channels, rss, sens_expand, sens_reduce,
};
use crate::error::{NnError, Result};
use crate::film::Film;
use crate::physics::MriPhysics;
use crate::unet::{NormKind, Unet, UnetConfig};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// E2E-VarNet hyper-parameters (defaults: the paper's / fastMRI's).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VarNetConfig {
    /// Cascades `T` (12).
    pub cascades: usize,
    /// Base channels of the cascade U-Nets (18).
    pub chans: usize,
    /// Depth of the cascade U-Nets (4).
    pub pools: usize,
    /// Base channels of the sensitivity U-Net (8).
    pub sens_chans: usize,
    /// Depth of the sensitivity U-Net (4).
    pub sens_pools: usize,
}

impl Default for VarNetConfig {
    fn default() -> Self {
        Self {
            cascades: 12,
            chans: 18,
            pools: 4,
            sens_chans: 8,
            sens_pools: 4,
        }
    }
}

fn unet2(chans: usize, pools: usize) -> UnetConfig {
    UnetConfig {
        in_channels: 2,
        out_channels: 2,
        base_channels: chans,
        depth: pools,
        norm: NormKind::Instance,
    }
}

impl VarNetConfig {
    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<VarNet> {
        if self.cascades == 0 {
            return Err(NnError::argument(
                "varnet.cascades",
                self.cascades,
                "must be ≥ 1",
            ));
        }
        let cascades = (0..self.cascades)
            .map(|_| {
                Ok(NormUnet {
                    unet: unet2(self.chans, self.pools).init(device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(VarNet {
            sens: NormUnet {
                unet: unet2(self.sens_chans, self.sens_pools).init(device)?,
            },
            cascades,
            dc_weight: Param::from_tensor(Tensor::ones([self.cascades], device)),
        })
    }

    /// Parameters by formula: `T·(U-Net(2→2, chans, pools) + 1) + U-Net(2→2, sens_chans,
    /// sens_pools)`.
    pub fn num_params(&self) -> usize {
        self.cascades * (unet2(self.chans, self.pools).num_params() + 1)
            + unet2(self.sens_chans, self.sens_pools).num_params()
    }
}

/// A U-Net on a complex image with its input standardised (fastMRI's `NormUnet`):
/// `y = σ·U((x − μ)/σ) + μ` with per-sample, per-(re, im) mean `μ` and standard deviation `σ`.
#[derive(Module, Debug)]
pub struct NormUnet {
    unet: Unet,
}

/// Added to the variance of [`NormUnet`] so a zero image does not divide by zero.
pub const NORM_EPS: f32 = 1e-20;

impl NormUnet {
    /// # Shapes
    /// `[N, 1, H, W, 2]` → `[N, 1, H, W, 2]`; FiLM blocks from `offset`.
    pub fn forward(&self, x: Tensor<5>, film: Option<&Film>, offset: usize) -> Tensor<5> {
        // [N, 2, H, W]
        let t = complex_to_channels(x);
        let mean = t.clone().mean_dim(2).mean_dim(3);
        let centred = t - mean.clone();
        let std = centred
            .clone()
            .square()
            .mean_dim(2)
            .mean_dim(3)
            .add_scalar(NORM_EPS)
            .sqrt();
        let y = self.unet.forward(centred / std.clone(), film, offset);
        channels_to_complex(y * std + mean)
    }

    fn film_channels(&self) -> Vec<usize> {
        self.unet.film_channels()
    }
}

/// The E2E-VarNet.
#[derive(Module, Debug)]
pub struct VarNet {
    sens: NormUnet,
    cascades: Vec<NormUnet>,
    /// `η_t`, `[T]`.
    dc_weight: Param<Tensor<1>>,
}

/// The ACS region of a column mask `m` (length `w`): `(start, len)` of the `2·min(left, right)`
/// contiguous sampled lines around the centre `w/2` (`left` counted from `w/2 − 1` leftwards,
/// `right` from `w/2` rightwards), at least 1 line — fastMRI's `get_pad_and_num_low_freqs`.
pub fn acs_range(m: &[f32]) -> (usize, usize) {
    let w = m.len();
    let cent = w / 2;
    let left = (0..cent).rev().take_while(|&j| m[j] != 0.0).count();
    let right = (cent..w).take_while(|&j| m[j] != 0.0).count();
    let num = (2 * left.min(right)).max(1);
    ((w - num).div_ceil(2), num)
}

/// The ACS mask of a sampling mask: ones on the ACS block, zeros elsewhere (the mask is data,
/// computed on the host).
///
/// # Shapes
/// `[B, 1, 1, W, 1]` (columns; ACS = all rows × ACS columns) or `[B, 1, H, W, 1]` (ACS rows from
/// the centre column, ACS columns from the centre row) → the same shape.
pub fn acs_mask(mask: &Tensor<5>) -> Result<Tensor<5>> {
    let [b, _, mh, w, _] = mask.dims();
    let v = mask
        .to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::argument("mask", format!("{e:?}"), "not readable as f32"))?;
    let mut out = vec![0f32; v.len()];
    for s in 0..b {
        let m = &v[s * mh * w..(s + 1) * mh * w];
        let o = &mut out[s * mh * w..(s + 1) * mh * w];
        let (c0, nc) = acs_range(&m[(mh / 2) * w..(mh / 2 + 1) * w]);
        let (r0, nr) = if mh == 1 {
            (0, 1)
        } else {
            let col: Vec<f32> = (0..mh).map(|i| m[i * w + w / 2]).collect();
            acs_range(&col)
        };
        for i in r0..r0 + nr {
            o[i * w + c0..i * w + c0 + nc].fill(1.0);
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(out, [b, 1, mh, w, 1]),
        &mask.device(),
    ))
}

impl VarNet {
    /// Channels of the FiLM blocks: the cascade U-Nets' blocks, cascade by cascade.
    pub fn film_channels(&self) -> Vec<usize> {
        self.cascades
            .iter()
            .flat_map(NormUnet::film_channels)
            .collect()
    }

    /// Estimated sensitivity maps, normalised to unit RSS.
    ///
    /// # Shapes
    /// `kspace`: `[B, C, H, W, 2]`, `mask`: `[B, 1, 1 or H, W, 1]` → `[B, C, H, W, 2]`.
    pub fn sens_maps(&self, kspace: Tensor<5>, mask: &Tensor<5>, fft: &Fft2c) -> Result<Tensor<5>> {
        let [b, c, h, w, _] = kspace.dims();
        // low-resolution coil images: [B, C, H, W, 2]
        let images = fft.inverse(kspace * acs_mask(mask)?)?;
        // coils into the batch: [B·C, 1, H, W, 2]
        let x = self
            .sens
            .forward(images.reshape([b * c, 1, h, w, 2]), None, 0);
        let x = x.reshape([b, c, h, w, 2]);
        // divide by the RSS over coils: [B, 1, H, W, 1]
        let r = rss(x.clone()).reshape([b, 1, h, w, 1]);
        Ok(x / r)
    }

    /// Reconstructs RSS images from undersampled multi-coil k-space.
    ///
    /// # Shapes
    /// `kspace`: `[B, C, H, W, 2]` (masked), `mask`: `[B, 1, 1 or H, W, 1]` → `[B, 1, H, W]`.
    pub fn forward(
        &self,
        kspace: Tensor<5>,
        mask: Tensor<5>,
        physics: &MriPhysics,
        film: Option<&Film>,
    ) -> Result<Tensor<4>> {
        let [ny, nx] = physics.shape;
        let fft = Fft2c::new(ny, nx)?;
        let maps = self.sens_maps(kspace.clone(), &mask, &fft)?;
        let eta = self.dc_weight.val();
        let k0 = kspace.clone();
        let mut k = kspace;
        let mut offset = 0;
        for (t, casc) in self.cascades.iter().enumerate() {
            // η_t: [1, 1, 1, 1, 1]
            let e = eta.clone().narrow(0, t, 1).reshape([1, 1, 1, 1, 1]);
            // soft DC: [B, C, H, W, 2]
            let dc = (k.clone() - k0.clone()) * mask.clone() * e;
            // R(k): [B, 1, H, W, 2] → U_t → E: [B, C, H, W, 2]
            let img = sens_reduce(k.clone(), maps.clone(), &fft)?;
            let refined = casc.forward(img, film, offset);
            offset += casc.film_channels().len();
            let model_term = sens_expand(refined, maps.clone(), &fft)?;
            k = k - dc - model_term;
        }
        // [B, C, H, W, 2] → [B, 1, H, W]
        Ok(rss(fft.inverse(k)?))
    }
}
