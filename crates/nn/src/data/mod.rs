//! Slice datasets for training: simulated phantoms with a site protocol, LoDoPaB-CT and fastMRI
//! files; deterministic data order; batching into [`ModelInput`] tensors.
//!
//! A [`Dataset`] is one split (train or validation) of one site: every sample shares one
//! [`Physics`] (the CT scan geometry, or the MRI grid and coil count), as a batch must.
//!
//! - **CT phantoms** ([`crate::config::Source::CtPhantom`]): random-ellipse phantoms
//!   (`Phantom::random_ellipses`, the standard training set of Adler & Öktem 2018) rasterised
//!   with 2 × 2 supersampling as the target, their **analytic** line integrals on the protocol's
//!   geometry as the clean sinogram (no inverse crime: the model's projector is the discrete
//!   Joseph one), and Poisson transmission noise with `I₀ = photons`, `μ = mu_scale`
//!   (`fedrecon_physics::ct::noise`).
//!   Optional site effects (`[data.ct.effects]`, `fedrecon_physics::ct::effects`) change the
//!   anatomy (head / body phantoms, or real-CT DICOM slices projected on a 2× finer grid), pass the
//!   target through the site's reconstruction kernel, and add uncorrected beam hardening and
//!   detector gain to the clean line integrals before the noise; without them the data are those
//!   above, bit for bit.
//! - **MRI phantoms** ([`crate::config::Source::MriPhantom`]): the phantom `f` times birdcage
//!   coil maps `S_c` (`Σ_c |S_c|² = 1`), `k_c = fft2c(S_c f) + n_c` (complex Gaussian noise of σ
//!   = `noise · max f` per part), target `RSS(ifft2c(k))` of the fully sampled noisy k-space
//!   (fastMRI's convention), input `M ⊙ k` with a fastMRI mask `M` drawn per sample.
//! - **LoDoPaB** ([`crate::config::Source::Lodopab`]): observation/ground-truth file pairs; the
//!   observations with LoDoPaB's geometry (optionally every `angle_step`-th view), or the ground
//!   truth re-projected with the `[data.ct]` protocol.
//! - **fastMRI** ([`crate::config::Source::Fastmri`]): every slice of the listed multi-coil
//!   volumes; the file's `mask` if it has one, else a fastMRI mask seeded from the file name as
//!   fastMRI's transforms seed it
//!   ([`fedrecon_physics::numpy_rng`]); the target is `reconstruction_rss`.
//!
//! **MRI scaling.** Each MRI sample is multiplied by `s = 1 / max(zero-filled RSS)` (input and
//! target alike), so the network sees data of unit scale whatever the scanner's units; the same
//! rule is applied at reconstruction time and undone afterwards ([`mri_scale`]).
//!
//! **Data order.** Step `t` with batch size `B` takes positions `tB … tB + B − 1` of the endless
//! sequence of epochs, epoch `e` being a Fisher–Yates permutation seeded by `(seed, e)`
//! ([`batch_indices`]). The order is a pure function of `(seed, step)`, so a resumed run draws
//! the same batches without saving generator state. Random CT patches are drawn the same way
//! from `(seed, step, position)`.
//!
//! **Caching.** Samples that do not depend on the step (all but random patches) are computed
//! once and kept in memory.

mod sources;

pub use sources::{area_resample, ct_phantom_sample, lodopab_geometry, mri_phantom_sample};

use crate::config::{DataConfig, Source};
use crate::error::{NnError, Result};
use crate::physics::{CtPhysics, ModelInput, MriPhysics, Physics};
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_physics::CtGeometry;
use fedrecon_physics::mri::SamplingMask;
use num_complex::Complex32;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::OnceLock;

/// The measured data of one sample, on the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Measurement {
    /// Post-log sinogram `(n_angles, n_det)`.
    Ct {
        /// Row-major values.
        sinogram: Vec<f32>,
    },
    /// Masked (and scaled) multi-coil k-space `(coils, ny, nx)`.
    Mri {
        /// Row-major k-space, zero where not sampled.
        kspace: Vec<Complex32>,
        /// The sampling mask.
        mask: SamplingMask,
        /// Coil maps `(coils, ny, nx)`, if given to the model.
        maps: Option<Vec<Complex32>>,
    },
}

/// One training or validation sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The measurement.
    pub measurement: Measurement,
    /// Target image, row-major.
    pub target: Vec<f32>,
    /// `(H, W)` of the target (MRI: may be a centre crop of the reconstruction grid).
    pub target_shape: [usize; 2],
    /// Factor the data were multiplied by (MRI scaling; 1 for CT).
    pub scale: f32,
    /// A name for logs and file names.
    pub name: String,
}

/// Which split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training samples.
    Train,
    /// Held-out validation samples (other phantom seeds, or other files).
    Val,
}

impl Split {
    /// `0` train, `1` validation (mixed into seeds).
    pub fn tag(self) -> u64 {
        match self {
            Split::Train => 0,
            Split::Val => 1,
        }
    }
}

/// Where samples come from.
pub(crate) trait SampleSource: Send + Sync {
    fn len(&self) -> usize;
    /// Sample `i`; `draw` = `Some(seed)` asks for a random variant (a random patch), `None` for
    /// the fixed one.
    fn load(&self, i: usize, draw: Option<u64>) -> Result<Sample>;
    /// Whether `draw` changes the sample (random patches).
    fn has_random_draws(&self) -> bool {
        false
    }
}

/// The host-side description of the physics a model runs on (the model's [`Physics`] is built
/// from it): a CT scan geometry or an MRI grid. Serialised in a trained model's `model.json`
/// (`{"ct": {…}}` or `{"mri": {"shape": [ny, nx], "coils": c}}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhysicsSpec {
    /// A CT scan geometry.
    Ct(CtGeometry),
    /// A Cartesian MRI grid `(ny, nx)` with `coils` coils.
    Mri {
        /// `(ny, nx)`.
        shape: [usize; 2],
        /// Coils.
        coils: usize,
    },
}

impl PhysicsSpec {
    /// The model's physics for this spec (plans the projector and the FBP for CT).
    pub fn physics(&self) -> Result<Physics> {
        Ok(match self {
            PhysicsSpec::Ct(g) => Physics::Ct(CtPhysics::new(g.clone())?),
            PhysicsSpec::Mri { shape, coils } => {
                Physics::Mri(MriPhysics::new(shape[0], shape[1], *coils)?)
            }
        })
    }
}

/// One split of one site's data.
pub struct Dataset {
    /// Host-side physics.
    pub physics_spec: PhysicsSpec,
    /// The model's physics (shared by every batch).
    pub physics: Physics,
    source: Box<dyn SampleSource>,
    cache: Vec<OnceLock<Sample>>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("physics_spec", &self.physics_spec)
            .field("len", &self.len())
            .finish()
    }
}

/// A batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model input.
    pub input: ModelInput,
    /// Targets `[B, 1, H, W]`.
    pub target: Tensor<4>,
    /// Sample indices in the dataset.
    pub indices: Vec<usize>,
}

impl Dataset {
    /// The `split` of the data described by `cfg` (`patch_seed` is unused for fixed samples).
    pub fn new(cfg: &DataConfig, split: Split) -> Result<Self> {
        let n = match split {
            Split::Train => cfg.train_samples,
            Split::Val => cfg.val_samples,
        };
        let (physics_spec, source): (PhysicsSpec, Box<dyn SampleSource>) = match cfg.source {
            Source::CtPhantom => sources::CtPhantoms::open(cfg, split, n)?,
            Source::MriPhantom => sources::MriPhantoms::open(cfg, split, n)?,
            Source::Lodopab => sources::Lodopab::open(cfg, split, n)?,
            Source::Fastmri => sources::Fastmri::open(cfg, split, n)?,
        };
        if source.len() == 0 {
            return Err(NnError::argument(
                "data",
                format!("{:?} {:?}", cfg.source, split),
                "has no samples",
            ));
        }
        let physics = physics_spec.physics()?;
        let cache = (0..source.len()).map(|_| OnceLock::new()).collect();
        Ok(Self {
            physics_spec,
            physics,
            source,
            cache,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Whether there is no sample (never true for a constructed dataset).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether training samples are random draws (patches).
    pub fn has_random_draws(&self) -> bool {
        self.source.has_random_draws()
    }

    /// The fixed sample `i` (computed once, then cached).
    pub fn get(&self, i: usize) -> Result<&Sample> {
        let cell = self.cache.get(i).ok_or_else(|| {
            NnError::argument(
                "sample index",
                i,
                format!("dataset has {} samples", self.len()),
            )
        })?;
        if let Some(s) = cell.get() {
            return Ok(s);
        }
        let s = self.source.load(i, None)?;
        Ok(cell.get_or_init(|| s))
    }

    /// Sample `i` for training step `step` at batch position `pos`: a random draw (patch) seeded
    /// by `(seed, step, pos)` when the source has them, else the fixed sample.
    pub fn train_sample(&self, i: usize, seed: u64, step: usize, pos: usize) -> Result<Sample> {
        if self.has_random_draws() {
            let d = mix(mix(mix(seed, 0x9a7c), step as u64), pos as u64);
            self.source.load(i, Some(d))
        } else {
            self.get(i).cloned()
        }
    }

    /// The training batch of step `step` (see the module docs for the order).
    pub fn train_batch(
        &self,
        batch_size: usize,
        seed: u64,
        step: usize,
        device: &Device,
    ) -> Result<Batch> {
        let idx = batch_indices(self.len(), batch_size, seed, step);
        let samples = idx
            .iter()
            .enumerate()
            .map(|(p, &i)| self.train_sample(i, seed, step, p))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Sample> = samples.iter().collect();
        let (input, target) = to_tensors(&refs, &self.physics, device)?;
        Ok(Batch {
            input,
            target,
            indices: idx,
        })
    }

    /// The fixed samples `indices` as a batch.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Batch> {
        let refs = indices
            .iter()
            .map(|&i| self.get(i))
            .collect::<Result<Vec<_>>>()?;
        let (input, target) = to_tensors(&refs, &self.physics, device)?;
        Ok(Batch {
            input,
            target,
            indices: indices.to_vec(),
        })
    }
}

/// SplitMix64 of `a` combined with `b`: independent seeds from `(seed, tag)` pairs.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x6a09_e667_f3bc_c909);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fisher–Yates permutation of `0..n` for epoch `epoch` of a run seeded by `seed`.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(mix(mix(seed, 0xe90c), epoch));
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// Sample indices of step `step` (see the module docs).
pub fn batch_indices(n: usize, batch: usize, seed: u64, step: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(batch);
    let mut epoch = u64::MAX;
    let mut perm = Vec::new();
    for k in 0..batch {
        let pos = step * batch + k;
        let e = (pos / n) as u64;
        if e != epoch {
            epoch = e;
            perm = epoch_permutation(n, seed, e);
        }
        out.push(perm[pos % n]);
    }
    out
}

/// `s = 1 / max(RSS of the zero-filled k-space)`, the MRI scaling (see the module docs), or an
/// error for all-zero / non-finite k-space.
pub fn mri_scale(kspace: &[Complex32], coils: usize, ny: usize, nx: usize) -> Result<f32> {
    let zf = fedrecon_physics::mri::rss_from_kspace(kspace, coils, ny, nx)?;
    let peak = zf.iter().copied().fold(0.0f32, f32::max);
    if !(peak.is_finite() && peak > 0.0) {
        return Err(NnError::argument(
            "k-space",
            format!("zero-filled peak {peak}"),
            "must be finite and > 0 (all-zero or non-finite data)",
        ));
    }
    Ok(1.0 / peak)
}

fn complex_to_interleaved(z: &[Complex32], out: &mut Vec<f32>) {
    out.reserve(2 * z.len());
    for v in z {
        out.push(v.re);
        out.push(v.im);
    }
}

/// Stack samples into the model input and the targets `[B, 1, H, W]` on `device`.
pub fn to_tensors(
    samples: &[&Sample],
    physics: &Physics,
    device: &Device,
) -> Result<(ModelInput, Tensor<4>)> {
    let b = samples.len();
    if b == 0 {
        return Err(NnError::argument("batch", 0, "needs at least one sample"));
    }
    let ts = samples[0].target_shape;
    let mut target = Vec::with_capacity(b * ts[0] * ts[1]);
    for s in samples {
        if s.target_shape != ts {
            return Err(NnError::argument(
                "batch",
                &s.name,
                format!(
                    "target shape {:?} differs from {:?} of {}: samples of one batch must match (use batch_size = 1)",
                    s.target_shape, ts, samples[0].name
                ),
            ));
        }
        target.extend_from_slice(&s.target);
    }
    let target = Tensor::<4>::from_data(TensorData::new(target, [b, 1, ts[0], ts[1]]), device);
    let input = match physics {
        Physics::Ct(p) => {
            let [na, nd] = p.sino_shape;
            let mut sino = Vec::with_capacity(b * na * nd);
            for s in samples {
                match &s.measurement {
                    Measurement::Ct { sinogram } if sinogram.len() == na * nd => {
                        sino.extend_from_slice(sinogram)
                    }
                    _ => {
                        return Err(NnError::argument(
                            "sample",
                            &s.name,
                            format!("is not a ({na}, {nd}) CT sinogram"),
                        ));
                    }
                }
            }
            ModelInput::Ct {
                sinogram: Tensor::<4>::from_data(TensorData::new(sino, [b, 1, na, nd]), device),
            }
        }
        Physics::Mri(p) => {
            let ([ny, nx], c) = (p.shape, p.coils);
            let mut k = Vec::with_capacity(b * c * ny * nx * 2);
            let mut masks = Vec::with_capacity(b);
            let mut maps: Option<Vec<f32>> = Some(Vec::new());
            for s in samples {
                let Measurement::Mri {
                    kspace,
                    mask,
                    maps: m,
                } = &s.measurement
                else {
                    return Err(NnError::argument("sample", &s.name, "is not MRI k-space"));
                };
                if kspace.len() != c * ny * nx {
                    return Err(NnError::argument(
                        "sample",
                        &s.name,
                        format!(
                            "k-space has {} values, expected ({c}, {ny}, {nx})",
                            kspace.len()
                        ),
                    ));
                }
                mask.check_shape(ny, nx)?;
                complex_to_interleaved(kspace, &mut k);
                masks.push(mask);
                match (m, maps.as_mut()) {
                    (Some(m), Some(acc)) => complex_to_interleaved(m, acc),
                    _ => maps = None,
                }
            }
            let all_columns = masks.iter().all(|m| matches!(m, SamplingMask::Columns(_)));
            let (rows, mvals) = if all_columns {
                let v: Vec<f32> = masks
                    .iter()
                    .flat_map(|m| (0..nx).map(move |j| if m.is_sampled(0, j) { 1.0 } else { 0.0 }))
                    .collect();
                (1, v)
            } else {
                let mut v = Vec::with_capacity(b * ny * nx);
                for m in &masks {
                    v.extend(
                        m.to_dense(ny, nx)?
                            .iter()
                            .map(|&x| if x { 1.0f32 } else { 0.0 }),
                    );
                }
                (ny, v)
            };
            ModelInput::Mri {
                kspace: Tensor::<5>::from_data(TensorData::new(k, [b, c, ny, nx, 2]), device),
                mask: Tensor::<5>::from_data(TensorData::new(mvals, [b, 1, rows, nx, 1]), device),
                maps: maps
                    .map(|m| Tensor::<5>::from_data(TensorData::new(m, [b, c, ny, nx, 2]), device)),
            }
        }
    };
    Ok((input, target))
}

/// Centre crop `[B, C, H, W]` → `[B, C, h, w]` (fastMRI's `center_crop`: offset `(H − h) / 2`);
/// an error if the tensor is smaller than the crop.
pub fn center_crop(x: Tensor<4>, h: usize, w: usize) -> Result<Tensor<4>> {
    let [b, c, hh, ww] = x.dims();
    if (hh, ww) == (h, w) {
        return Ok(x);
    }
    if hh < h || ww < w {
        return Err(NnError::Shape {
            what: "reconstruction",
            expected: format!("at least [B, C, {h}, {w}] to crop to the target"),
            got: vec![b, c, hh, ww],
        });
    }
    let (y0, x0) = ((hh - h) / 2, (ww - w) / 2);
    Ok(x.slice([0..b, 0..c, y0..y0 + h, x0..x0 + w]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_order_is_a_permutation_per_epoch_and_reproducible() {
        let n = 7;
        let mut seen = vec![0; n];
        for step in 0..7 {
            for i in batch_indices(n, 3, 5, step) {
                seen[i] += 1;
            }
        }
        // 21 positions = 3 whole epochs
        assert!(seen.iter().all(|&c| c == 3), "{seen:?}");
        assert_eq!(batch_indices(n, 3, 5, 4), batch_indices(n, 3, 5, 4));
        assert_ne!(epoch_permutation(50, 5, 0), epoch_permutation(50, 6, 0));
        assert_ne!(epoch_permutation(50, 5, 0), epoch_permutation(50, 5, 1));
    }
}
