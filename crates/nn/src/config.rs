//! The run configuration of `fedrecon train`: one TOML file with three tables.
//!
//! ```toml
//! [model]            # passed through to the model's config (`kind = "lpd"` …)
//! kind = "lpd"
//!
//! [data]             # where the samples come from (see `crate::data`)
//! source = "ct-phantom"   # ct-phantom | mri-phantom | lodopab | fastmri
//! train_samples = 64
//! val_samples = 8
//! [data.ct]          # CT protocol: geometry (as `fedrecon ct --geometry` files) and dose
//! angles = 30
//! size = 64
//! photons = 1e4
//!
//! [train]
//! steps = 200        # or epochs = N
//! batch_size = 4
//! lr = 1e-3
//! schedule = "cosine"
//! ```
//!
//! Every table rejects unknown keys (the error names the key); `--set a.b.c=value` overrides
//! one key before validation ([`RunConfig::from_toml_with_overrides`]). The resolved config, with
//! every default filled in, is written next to a run's outputs (`config.resolved.toml`) and
//! inside its checkpoints, so a run is rebuilt from its outputs alone.

use crate::error::{NnError, Result};
use fedrecon_physics::ct::effects::SiteEffects;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn cfg_err(key: impl std::fmt::Display, reason: impl Into<String>) -> NnError {
    NnError::argument("config key", key, reason)
}

/// The whole run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The model table (`kind` and the model's own fields), validated by the model's config.
    pub model: toml::Table,
    /// Data.
    pub data: DataConfig,
    /// Optimisation.
    #[serde(default)]
    pub train: TrainConfig,
}

/// Which sample source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Random-ellipse phantoms projected with the `[data.ct]` protocol.
    CtPhantom,
    /// Random-ellipse phantoms as multi-coil k-space with the `[data.mri]` protocol.
    MriPhantom,
    /// LoDoPaB-CT HDF5 files (`[data.lodopab]`).
    Lodopab,
    /// fastMRI multi-coil HDF5 files (`[data.fastmri]`, masks from `[data.mri]`).
    Fastmri,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Sample source.
    pub source: Source,
    /// Training samples (phantoms: how many to simulate; files: at most this many, 0 = all).
    #[serde(default = "d_train_samples")]
    pub train_samples: usize,
    /// Held-out validation samples (same rules).
    #[serde(default = "d_val_samples")]
    pub val_samples: usize,
    /// Seed of the phantoms, noise and masks (data order and patches use `[train] seed`).
    #[serde(default)]
    pub seed: u64,
    /// CT simulation settings (phantoms; LoDoPaB in `simulate` mode).
    #[serde(default)]
    pub ct: CtSimulation,
    /// MRI simulation settings (phantoms; the masks of fastMRI files).
    #[serde(default)]
    pub mri: MriSimulation,
    /// LoDoPaB files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lodopab: Option<LodopabConfig>,
    /// fastMRI files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fastmri: Option<FastmriConfig>,
}

fn d_train_samples() -> usize {
    64
}
fn d_val_samples() -> usize {
    8
}

/// `[data.ct]`: the CT simulation settings (scan geometry, Poisson noise, phantoms, patches);
/// the acquisition a model runs on is the [`crate::data::PhysicsSpec`] built from them. Geometry
/// fields as in `fedrecon_physics::geometry::GeometrySpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtSimulation {
    /// `"parallel"` or `"fan"`.
    #[serde(default = "d_beam")]
    pub beam: String,
    /// Number of views.
    #[serde(default = "d_angles")]
    pub angles: usize,
    /// Angular span in degrees (default 180 parallel, 360 fan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arc_degrees: Option<f64>,
    /// Detector cells (default ⌈√2·size⌉ + 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectors: Option<usize>,
    /// Detector pitch (default: pixel size, × magnification for fan beam).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_spacing: Option<f64>,
    /// Square image side.
    #[serde(default = "d_size")]
    pub size: usize,
    /// Pixel side.
    #[serde(default = "d_one")]
    pub pixel_size: f64,
    /// Source–isocentre distance (fan beam).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sod: Option<f64>,
    /// Source–detector distance (fan beam).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdd: Option<f64>,
    /// Equiangular detector (fan beam).
    #[serde(default)]
    pub curved: bool,
    /// Unattenuated photons per detector cell `I₀` (0 = noiseless).
    #[serde(default)]
    pub photons: f64,
    /// Attenuation scale `μ` of the Poisson model (`λ = I₀·exp(−μ·p)`); 0 = `3 / (size ·
    /// pixel_size)` so that a unit-valued object across the field of view attenuates by `e⁻³`.
    #[serde(default)]
    pub mu_scale: f64,
    /// Ellipses per random phantom.
    #[serde(default = "d_ellipses")]
    pub ellipses: usize,
    /// Train on random `patch × patch` crops of the ground truth, re-projected on a
    /// `patch`-sized geometry (0 = whole images).
    #[serde(default)]
    pub patch: usize,
    /// Site effects the operator does not model (target kernel, beam hardening, detector gain,
    /// anatomy; `fedrecon_physics::ct::effects`); none by default. Whole images only (`patch = 0`).
    #[serde(default, skip_serializing_if = "SiteEffects::is_off")]
    pub effects: SiteEffects,
}

fn d_beam() -> String {
    "parallel".into()
}
fn d_angles() -> usize {
    30
}
fn d_size() -> usize {
    64
}
fn d_one() -> f64 {
    1.0
}
fn d_ellipses() -> usize {
    10
}

impl Default for CtSimulation {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl CtSimulation {
    /// The geometry spec of an `n × n` image with this protocol.
    pub fn geometry_spec(&self, n: usize) -> fedrecon_physics::geometry::GeometrySpec {
        let fan = self.beam == "fan";
        fedrecon_physics::geometry::GeometrySpec {
            beam: Some(self.beam.clone()),
            angles: Some(self.angles),
            angle_span: self.arc_degrees.map(f64::to_radians),
            angle_list: None,
            detectors: self.detectors,
            detector_spacing: self.detector_spacing,
            detector_offset: None,
            size: Some(n),
            ny: None,
            nx: None,
            pixel_size: Some(self.pixel_size),
            sod: self.sod,
            sdd: self.sdd,
            curved: fan.then_some(self.curved),
        }
    }

    /// The validated geometry of an `n × n` image.
    pub fn geometry(&self, n: usize) -> Result<fedrecon_physics::CtGeometry> {
        Ok(self.geometry_spec(n).build(None)?)
    }

    /// `μ` of the noise model (see [`Self::mu_scale`]).
    pub fn resolved_mu_scale(&self, n: usize) -> f64 {
        if self.mu_scale > 0.0 {
            self.mu_scale
        } else {
            3.0 / (n as f64 * self.pixel_size)
        }
    }
}

/// fastMRI mask function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskType {
    /// `RandomMaskFunc`.
    Random,
    /// `EquispacedMaskFunc`.
    Equispaced,
    /// `EquispacedMaskFractionFunc`.
    EquispacedFraction,
    /// 2-D variable-density Poisson disc (phantoms only) with a fully sampled centred
    /// calibration square of side `center_fraction · size`.
    Poisson,
}

/// `[data.mri]`: the MRI simulation settings (grid, coils, mask, noise, phantoms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MriSimulation {
    /// Square image side (phantoms).
    #[serde(default = "d_size")]
    pub size: usize,
    /// Receive coils (phantoms: birdcage maps).
    #[serde(default = "d_coils")]
    pub coils: usize,
    /// Coil ring radius in half fields of view (sigpy's default 1.5).
    #[serde(default = "d_coil_radius")]
    pub coil_radius: f64,
    /// Mask function.
    #[serde(default = "d_mask")]
    pub mask: MaskType,
    /// Acceleration `R`.
    #[serde(default = "d_acc")]
    pub acceleration: f64,
    /// Fully sampled centre fraction.
    #[serde(default = "d_cf")]
    pub center_fraction: f64,
    /// Complex Gaussian k-space noise σ per real/imaginary part (phantoms), relative to the
    /// peak of the noiseless image.
    #[serde(default)]
    pub noise: f64,
    /// Ellipses per random phantom.
    #[serde(default = "d_ellipses")]
    pub ellipses: usize,
    /// Give the model the true coil maps (phantoms; MoDL uses them, VarNet estimates its own).
    #[serde(default)]
    pub maps: bool,
}

fn d_coils() -> usize {
    4
}
fn d_coil_radius() -> f64 {
    1.5
}
fn d_mask() -> MaskType {
    MaskType::Random
}
fn d_acc() -> f64 {
    4.0
}
fn d_cf() -> f64 {
    0.08
}

impl Default for MriSimulation {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// How LoDoPaB samples are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LodopabMode {
    /// The measured (simulated by the authors) observations with LoDoPaB's geometry.
    Observation,
    /// Ground truth re-projected with the `[data.ct]` protocol (its `size` must be the ground
    /// truth's side, or `patch` crops are taken).
    Simulate,
}

/// `[data.lodopab]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LodopabConfig {
    /// Training `observation_*.hdf5` files (observation mode).
    #[serde(default)]
    pub train_observation: Vec<PathBuf>,
    /// Training `ground_truth_*.hdf5` files, paired with `train_observation` in order.
    pub train_ground_truth: Vec<PathBuf>,
    /// Validation observation files.
    #[serde(default)]
    pub val_observation: Vec<PathBuf>,
    /// Validation ground-truth files.
    pub val_ground_truth: Vec<PathBuf>,
    /// Mode.
    #[serde(default = "d_lodopab_mode")]
    pub mode: LodopabMode,
    /// Keep every `angle_step`-th view (observation mode; sparse-view training).
    #[serde(default = "d_step")]
    pub angle_step: usize,
}

fn d_lodopab_mode() -> LodopabMode {
    LodopabMode::Observation
}
fn d_step() -> usize {
    1
}

/// `[data.fastmri]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastmriConfig {
    /// Training volumes (multi-coil `.h5` with `reconstruction_rss`).
    pub train: Vec<PathBuf>,
    /// Validation volumes.
    pub val: Vec<PathBuf>,
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// `lr` throughout.
    Constant,
    /// Cosine decay from `lr` to `min_lr` over the run (after `warmup_steps`).
    Cosine,
    /// `lr · gamma^⌊step / step_size⌋`.
    Step,
}

/// Training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    L1,
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps (exclusive with `epochs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Passes over the training set (exclusive with `steps`): `⌈epochs · n / batch⌉` steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Samples per step.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Adam learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// Adam `(β₁, β₂)`.
    #[serde(default = "d_betas")]
    pub betas: [f64; 2],
    /// Adam `ε`.
    #[serde(default = "d_eps")]
    pub eps: f64,
    /// Decoupled weight decay (AdamW style; 0 = Adam).
    #[serde(default)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[serde(default = "d_schedule")]
    pub schedule: Schedule,
    /// Linear warm-up steps.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Final learning rate of the cosine schedule.
    #[serde(default)]
    pub min_lr: f64,
    /// Step schedule: steps between decays.
    #[serde(default = "d_step_size")]
    pub step_size: usize,
    /// Step schedule: decay factor.
    #[serde(default = "d_gamma")]
    pub gamma: f64,
    /// Clip the global gradient norm to this value (0 = off).
    #[serde(default)]
    pub clip_norm: f64,
    /// Loss.
    #[serde(default = "d_loss")]
    pub loss: Loss,
    /// Weight of an added `1 − SSIM` term (0 = off).
    #[serde(default)]
    pub ssim_weight: f64,
    /// Validate every this many steps (and at the end).
    #[serde(default = "d_val_every")]
    pub val_every: usize,
    /// Write a checkpoint every this many steps (and at the end).
    #[serde(default = "d_val_every")]
    pub checkpoint_every: usize,
    /// Validation samples saved as PNG at the end.
    #[serde(default = "d_png")]
    pub sample_pngs: usize,
    /// Seed of the initial weights, the data order and the patches.
    #[serde(default)]
    pub seed: u64,
    /// Also score the classical baselines (FBP; zero-filled and CG-SENSE) on the validation set
    /// at the end.
    #[serde(default)]
    pub compare_classical: bool,
}

fn d_batch() -> usize {
    4
}
fn d_lr() -> f64 {
    1e-3
}
fn d_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn d_eps() -> f64 {
    1e-8
}
fn d_schedule() -> Schedule {
    Schedule::Cosine
}
fn d_step_size() -> usize {
    1000
}
fn d_gamma() -> f64 {
    0.5
}
fn d_loss() -> Loss {
    Loss::Mse
}
fn d_val_every() -> usize {
    50
}
fn d_png() -> usize {
    4
}

impl Default for TrainConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl TrainConfig {
    /// Total optimiser steps for a training set of `n` samples.
    pub fn total_steps(&self, n: usize) -> Result<usize> {
        match (self.steps, self.epochs) {
            (Some(_), Some(_)) => Err(cfg_err("train.steps", "give steps or epochs, not both")),
            (Some(s), None) => Ok(s),
            (None, Some(e)) => Ok((e * n).div_ceil(self.batch_size.max(1))),
            (None, None) => Err(cfg_err("train.steps", "give train.steps or train.epochs")),
        }
    }

    /// The learning rate of step `step` (0-based) of `total`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Step => self.lr * self.gamma.powi((step / self.step_size.max(1)) as i32),
            Schedule::Cosine => {
                let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
                let t = ((step - self.warmup_steps) as f64 / span).min(1.0);
                self.min_lr
                    + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(cfg_err("train.batch_size", "must be ≥ 1"));
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return Err(cfg_err("train.steps", "must be ≥ 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(cfg_err(
                "train.lr",
                format!("{} must be finite and > 0", self.lr),
            ));
        }
        for (i, b) in self.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                return Err(cfg_err(
                    format!("train.betas[{i}]"),
                    format!("{b} must be in [0, 1)"),
                ));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(cfg_err("train.eps", "must be finite and > 0"));
        }
        if !(self.clip_norm.is_finite() && self.clip_norm >= 0.0) {
            return Err(cfg_err("train.clip_norm", "must be finite and ≥ 0"));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0) {
            return Err(cfg_err("train.min_lr", "must be finite and ≥ 0"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(cfg_err("train.weight_decay", "must be finite and ≥ 0"));
        }
        if !(self.ssim_weight.is_finite() && self.ssim_weight >= 0.0) {
            return Err(cfg_err("train.ssim_weight", "must be finite and ≥ 0"));
        }
        if self.val_every == 0 || self.checkpoint_every == 0 {
            return Err(cfg_err(
                "train.val_every",
                "val_every and checkpoint_every must be ≥ 1",
            ));
        }
        Ok(())
    }
}

/// Parse a `--set` value: a TOML value (`60`, `1e-3`, `true`, `"fan"`, `[0.9, 0.99]`), or a bare
/// word taken as a string (`fan`).
pub fn parse_value(text: &str) -> toml::Value {
    let doc = format!("v = {text}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").expect("parsed key"),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// Parse TOML `text` and apply `key=value` overrides (`--set`, [`set_key`] / [`parse_value`]).
pub fn table_with_overrides(text: &str, overrides: &[String]) -> Result<toml::Table> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| cfg_err("(file)", format!("TOML: {e}")))?;
    for o in overrides {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| cfg_err(o, "--set needs key=value"))?;
        set_key(&mut table, k.trim(), parse_value(v.trim()))?;
    }
    Ok(table)
}

/// Set `dotted.key` in `table` to `value`, creating intermediate tables.
pub fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(cfg_err(key, "empty path component in --set"));
    }
    let mut t = table;
    for (i, p) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| {
            cfg_err(
                key,
                format!("`{}` is a value, not a table", parts[..=i].join(".")),
            )
        })?;
    }
    t.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

impl RunConfig {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::from_toml_with_overrides(text, &[])
    }

    /// Parse TOML text after applying `key=value` overrides (`--set`); an unknown key, in the
    /// file or in an override, is an error naming it.
    pub fn from_toml_with_overrides(text: &str, overrides: &[String]) -> Result<Self> {
        let table = table_with_overrides(text, overrides)?;
        let cfg: RunConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let mut msg = e.message().to_string();
                    if !overrides.is_empty() {
                        msg.push_str(&format!(" (overrides: {})", overrides.join(", ")));
                    }
                    cfg_err("(config)", msg)
                })?;
        cfg.train.validate()?;
        Ok(cfg)
    }

    /// The resolved config as TOML (every default filled in).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }
}

/// The LPD training-step benchmark problem (Adler & Öktem's sizes: 128², 60 parallel views,
/// batch 4, 10 iterations, 5 primal / 5 dual channels, 32 hidden; MSE, Adam at 1e-4 with the
/// gradient norm clipped to 1), shared by the criterion bench, `nn_step_timing`, `fedrecon device
/// bench` and the PyTorch peer `benches/peers/nn_step.py`.
pub const LPD_STEP_BENCH: &str = r#"
[model]
kind = "lpd"
n_iter = 10
n_primal = 5
n_dual = 5
hidden = 32
[data]
source = "ct-phantom"
train_samples = 8
val_samples = 1
[data.ct]
size = 128
angles = 60
photons = 1e4
[train]
steps = 1
batch_size = 4
lr = 1e-4
loss = "mse"
clip_norm = 1.0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str =
        "[model]\nkind = \"lpd\"\n[data]\nsource = \"ct-phantom\"\n[train]\nsteps = 3\n";

    #[test]
    fn defaults_resolve_and_round_trip() {
        let c = RunConfig::from_toml(MIN).unwrap();
        assert_eq!(c.data.ct.angles, 30);
        assert_eq!(c.train.batch_size, 4);
        let again = RunConfig::from_toml(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn overrides_apply_and_typos_are_named() {
        let c = RunConfig::from_toml_with_overrides(
            MIN,
            &[
                "data.ct.angles=60".into(),
                "data.ct.beam=fan".into(),
                "train.lr=2e-4".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.data.ct.angles, c.data.ct.beam.as_str(), c.train.lr),
            (60, "fan", 2e-4)
        );
        let e = RunConfig::from_toml_with_overrides(MIN, &["data.ct.angels=60".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("angels"), "{e}");
        let e = RunConfig::from_toml_with_overrides(MIN, &["train.steps".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("key=value"), "{e}");
        let e = RunConfig::from_toml_with_overrides(MIN, &["train.steps.x=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.steps"), "{e}");
    }

    #[test]
    fn schedules() {
        let mut t = TrainConfig {
            lr: 1.0,
            ..Default::default()
        };
        assert_eq!(t.lr_at(0, 10), 1.0);
        assert!((t.lr_at(5, 10) - 0.5).abs() < 1e-12);
        t.schedule = Schedule::Step;
        t.step_size = 3;
        assert_eq!(t.lr_at(7, 10), 0.25);
        t.warmup_steps = 4;
        assert_eq!(t.lr_at(1, 10), 0.5);
        assert!(t.total_steps(10).unwrap_err().to_string().contains("steps"));
        t.epochs = Some(3);
        assert_eq!(t.total_steps(10).unwrap(), 8);
    }
}
