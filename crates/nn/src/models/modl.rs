//! MoDL: model-based deep learning (Aggarwal, Mani, Jacob 2019, "MoDL: Model-Based Deep Learning
//! Architecture for Inverse Problems", IEEE Trans. Med. Imaging 38(2)).
//!
//! With the multi-coil SENSE operator `A x = M F (S x)` of each slice (given maps, or maps
//! estimated with Walsh's method from the ACS block when the input has none) and `x_0 = Aᴴ y`,
//! `K` iterations alternate a shared residual CNN denoiser and data consistency:
//!
//! `z_k = D_w(x_k) = x_k + N_w(x_k)`,  `x_{k+1} = (AᴴA + λI)⁻¹ (Aᴴ y + λ z_k)`,
//!
//! the inverse applied by `cg_iter` conjugate-gradient steps started at `z_k` (MoDL's DC layer).
//! `λ = exp(θ)` is learned (positive by construction; initialised to `lambda_init`). `N_w` is
//! `layers` 3×3 convs with ReLU between them on the real/imag channels (MoDL: 5 layers, 64
//! filters; batch norm is left out so small batches train the same way).
//!
//! Gradients flow through the CG steps by ordinary autodiff (unrolled CG, as in MoDL's own
//! implementation), each step built from the exact-adjoint FFT ops; this is exact for the
//! truncated iteration (not the implicit-function gradient of the exact inverse).
//!
//! The output is the RSS image of the coil images `S_c x` (`= |x|` where `Σ_c |S_c|² = 1`).
//!
//! FiLM hooks: the hidden layers of the shared denoiser (`layers − 1` blocks of `hidden`
//! channels), applied at every iteration.

use super::blocks::conv_same;
use super::varnet::acs_range;
use crate::complex::{
    Fft2c, channels_to_complex, complex_mul, complex_to_channels, rss, sens_expand, sens_reduce,
};
use crate::error::{NnError, Result};
use crate::film::{Film, film_at};
use crate::physics::MriPhysics;
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_physics::mri::coils::{WalshOptions, walsh_maps};
use num_complex::Complex32;
use serde::{Deserialize, Serialize};

/// MoDL hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModlConfig {
    /// Unrolled iterations `K` (paper: 10).
    pub n_iter: usize,
    /// CG steps per data-consistency layer (paper: 10).
    pub cg_iter: usize,
    /// Conv layers of the denoiser (paper: 5).
    pub layers: usize,
    /// Hidden channels (paper: 64).
    pub hidden: usize,
    /// Initial `λ` (paper: 0.05).
    pub lambda_init: f32,
}

impl Default for ModlConfig {
    fn default() -> Self {
        Self {
            n_iter: 10,
            cg_iter: 10,
            layers: 5,
            hidden: 64,
            lambda_init: 0.05,
        }
    }
}

impl ModlConfig {
    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("modl.n_iter", self.n_iter),
            ("modl.cg_iter", self.cg_iter),
            ("modl.hidden", self.hidden),
        ] {
            if v == 0 {
                return Err(NnError::argument(what, v, "must be ≥ 1"));
            }
        }
        if self.layers < 2 {
            return Err(NnError::argument("modl.layers", self.layers, "must be ≥ 2"));
        }
        if !(self.lambda_init.is_finite() && self.lambda_init > 0.0) {
            return Err(NnError::argument(
                "modl.lambda_init",
                self.lambda_init,
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> Result<Modl> {
        self.validate()?;
        let (l, h) = (self.layers, self.hidden);
        let convs = (0..l)
            .map(|i| {
                let a = if i == 0 { 2 } else { h };
                let b = if i == l - 1 { 2 } else { h };
                conv_same(a, b, 3, device)
            })
            .collect();
        Ok(Modl {
            convs,
            log_lambda: Param::from_tensor(Tensor::full([1], self.lambda_init.ln(), device)),
            n_iter: self.n_iter,
            cg_iter: self.cg_iter,
            hidden: h,
        })
    }

    /// Parameters by formula: `9(2h + (L−2)h² + 2h) + (L−1)h + 2 + 1` (convs with bias, `λ`).
    pub fn num_params(&self) -> usize {
        let (l, h) = (self.layers, self.hidden);
        9 * (2 * h + (l - 2) * h * h + 2 * h) + (l - 1) * h + 2 + 1
    }
}

/// The MoDL network.
#[derive(Module, Debug)]
pub struct Modl {
    convs: Vec<Conv2d>,
    /// `θ = ln λ`, `[1]`.
    log_lambda: Param<Tensor<1>>,
    n_iter: usize,
    cg_iter: usize,
    hidden: usize,
}

/// Added to CG denominators so an exactly zero residual gives a zero step, not `0/0`.
pub const CG_TINY: f32 = 1e-30;

/// Per-sample real inner product `Σ a·b` over all but the batch axis: `[B, 1, 1, 1, 1]`.
fn dot(a: Tensor<5>, b: Tensor<5>) -> Tensor<5> {
    (a * b).sum_dim(4).sum_dim(3).sum_dim(2).sum_dim(1)
}

/// Walsh maps of every slice from its ACS block, on the host (no gradient: maps are data).
///
/// # Shapes
/// `kspace`: `[B, C, H, W, 2]`, `mask`: `[B, 1, 1 or H, W, 1]` → `[B, C, H, W, 2]`.
pub fn estimate_maps(kspace: &Tensor<5>, mask: &Tensor<5>) -> Result<Tensor<5>> {
    let [b, c, h, w, _] = kspace.dims();
    let mh = mask.dims()[2];
    let read = |t: &Tensor<5>, what: &'static str| {
        t.to_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| NnError::argument(what, format!("{e:?}"), "not readable as f32"))
    };
    let k = read(kspace, "kspace")?;
    let m = read(mask, "mask")?;
    let n = c * h * w;
    let mut out = Vec::with_capacity(b * n * 2);
    for s in 0..b {
        let ms = &m[s * mh * w..(s + 1) * mh * w];
        let (_, nc) = acs_range(&ms[(mh / 2) * w..(mh / 2 + 1) * w]);
        let nr = if mh == 1 {
            nc
        } else {
            let col: Vec<f32> = (0..mh).map(|i| ms[i * w + w / 2]).collect();
            acs_range(&col).1
        };
        let calib = (nr.clamp(2, h), nc.clamp(2, w));
        let ks: Vec<Complex32> = k[s * n * 2..(s + 1) * n * 2]
            .chunks_exact(2)
            .map(|p| Complex32::new(p[0], p[1]))
            .collect();
        let opts = WalshOptions {
            calib,
            ..WalshOptions::default()
        };
        let maps = walsh_maps(&ks, c, h, w, &opts)?;
        out.extend(maps.iter().flat_map(|z| [z.re, z.im]));
    }
    Ok(Tensor::from_data(
        TensorData::new(out, [b, c, h, w, 2]),
        &kspace.device(),
    ))
}

/// `iters` conjugate-gradient steps on `M x = rhs` from `x0`, for a symmetric positive definite
/// `M` under the real inner product (here `AᴴA + λI`), every sample of the batch with its own
/// step sizes. Differentiable (the steps are burn ops).
///
/// # Shapes
/// `rhs`, `x0`: `[B, 1, H, W, 2]` → `[B, 1, H, W, 2]`.
pub fn conjugate_gradient(
    normal: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
    rhs: Tensor<5>,
    x0: Tensor<5>,
    iters: usize,
) -> Result<Tensor<5>> {
    let mut x = x0;
    let mut r = rhs - normal(x.clone())?;
    let mut p = r.clone();
    // per-sample ⟨r, r⟩: [B, 1, 1, 1, 1]
    let mut rs = dot(r.clone(), r.clone());
    for _ in 0..iters {
        let ap = normal(p.clone())?;
        let alpha = rs.clone() / dot(p.clone(), ap.clone()).add_scalar(CG_TINY);
        x = x + p.clone() * alpha.clone();
        r = r - ap * alpha;
        let rs_new = dot(r.clone(), r.clone());
        p = r.clone() + p * (rs_new.clone() / rs.add_scalar(CG_TINY));
        rs = rs_new;
    }
    Ok(x)
}

impl Modl {
    /// Channels of the FiLM blocks: `[hidden; layers − 1]`.
    pub fn film_channels(&self) -> Vec<usize> {
        vec![self.hidden; self.convs.len() - 1]
    }

    /// `λ = exp(θ)`.
    pub fn lambda(&self) -> Tensor<1> {
        self.log_lambda.val().exp()
    }

    /// The denoiser `D_w(x) = x + N_w(x)`.
    ///
    /// # Shapes
    /// `[B, 1, H, W, 2]` → `[B, 1, H, W, 2]`.
    pub fn denoise(&self, x: Tensor<5>, film: Option<&Film>) -> Tensor<5> {
        let mut h = complex_to_channels(x.clone());
        let last = self.convs.len() - 1;
        for (i, conv) in self.convs.iter().enumerate() {
            h = conv.forward(h);
            if i < last {
                h = film_at(film, i, relu(h));
            }
        }
        x + channels_to_complex(h)
    }

    /// Reconstructs RSS images from undersampled multi-coil k-space.
    ///
    /// # Shapes
    /// `kspace`: `[B, C, H, W, 2]`, `mask`: `[B, 1, 1 or H, W, 1]`, `maps`:
    /// `Option<[B, C, H, W, 2]>` → `[B, 1, H, W]`.
    pub fn forward(
        &self,
        kspace: Tensor<5>,
        mask: Tensor<5>,
        maps: Option<Tensor<5>>,
        physics: &MriPhysics,
        film: Option<&Film>,
    ) -> Result<Tensor<4>> {
        let [ny, nx] = physics.shape;
        let fft = Fft2c::new(ny, nx)?;
        let maps = match maps {
            Some(m) => m,
            None => estimate_maps(&kspace, &mask)?,
        };
        // λ: [1, 1, 1, 1, 1]
        let lam = self.lambda().reshape([1, 1, 1, 1, 1]);
        // AᴴA x + λ x on [B, 1, H, W, 2]
        let normal = |x: Tensor<5>| -> Result<Tensor<5>> {
            let k = sens_expand(x.clone(), maps.clone(), &fft)? * mask.clone();
            Ok(sens_reduce(k, maps.clone(), &fft)? + x * lam.clone())
        };
        // x_0 = Aᴴ y: [B, 1, H, W, 2]
        let x0 = sens_reduce(kspace * mask.clone(), maps.clone(), &fft)?;
        let mut x = x0.clone();
        for _ in 0..self.n_iter {
            let z = self.denoise(x, film);
            let rhs = x0.clone() + z.clone() * lam.clone();
            // CG on (AᴴA + λI) x = rhs from x = z.
            x = conjugate_gradient(&normal, rhs, z, self.cg_iter)?;
        }
        // RSS of the coil images S_c x: [B, 1, H, W]
        Ok(rss(complex_mul(x, maps)))
    }
}
