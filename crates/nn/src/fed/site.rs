//! A federation site backed by a `fedrecon-nn` network: [`NnSiteTrainer`].
//!
//! **Model.** [`FedNet`] holds, by [`Architecture`]:
//! - `Plain`: the backbone `net.*` ([`ModelConfig`], e.g. LEARN or LPD) called as
//!   `net.reconstruct(y, A, None)`;
//! - `Hyper`: the backbone plus a hypernetwork `hyper.*` mapping the site's normalised protocol
//!   vector `p` ([`fedrecon_fed::protocol::CtScanProtocol::to_vector`]) to FiLM scales and shifts of
//!   the backbone's blocks, `net.reconstruct(y, A, H(p))` (HyperFed, Yang et al. 2023);
//! - `Fdd`: FedFDD's two branches on the FBP image ([`super::fdd`]), with FedFDD's random DCT
//!   mask drawn per image and local step from `round_seed(seed, round, ·)`.
//!
//! **Local training** (one round): `S` Adam steps ([`crate::train::DeviceAdam`] on the site's
//! device, moments reset every round) on the mean squared error `‖f_θ(y) − x‖²/N` of
//! mini-batches drawn by [`Dataset::train_batch`] with the seed `round_seed(seed, round, ·)`, at
//! the constant rate `η` of the round's [`LocalTrainConfig`]; `S = steps`, or
//! `epochs · ⌈n / batch⌉`. FedProx (Li et al. 2020) adds `μ(θ − θ_g)`
//! ([`fedrecon_fed::proximal_gradient`], here computed on the device) to the gradient of the
//! downloaded tensors. The parameters stay on the device during the round and come back to the
//! host once at its end. A trainer over several sites' data (the central baseline) cycles through
//! them step by step, each batch with its own physics and protocol vector. Training is therefore a
//! function of the parameters, the data, the round and the config only — the runtime's resume
//! contract.
//!
//! **Evaluation**: mean PSNR (range of each target), SSIM and NMSE of the held-out samples
//! (`fedrecon_physics::metrics`).

use super::fdd::{EVAL_MASK_SEED, FddBranch, FddConfig, FddNet};
use super::site_err;
use crate::config::DataConfig;
use crate::data::{Dataset, Sample, Split, center_crop};
use crate::error::{NnError, Result};
use crate::film::{Hypernetwork, HypernetworkConfig};
use crate::models::{AnyModel, ModelConfig, ReconNet};
use crate::params::{export_params, load_params};
use crate::physics::{ModelInput, Physics};
use crate::train::{AdamStep, DeviceAdam, device_grads, device_params};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_fed::dct::FreqSplit;
use fedrecon_fed::runtime::round_seed;
use fedrecon_fed::{FedError, LocalTrainConfig, ParamSet, SiteMetrics, SiteTrainer, TrainReport};
use fedrecon_physics::metrics;
use serde::{Deserialize, Serialize};

/// What is trained around the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Architecture {
    /// The backbone alone.
    Plain,
    /// Backbone + protocol hypernetwork (HyperFed).
    Hyper(HypernetworkConfig),
    /// FedFDD's two frequency branches on the FBP image (no backbone).
    Fdd(FddConfig),
}

/// The network of every site of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetSpec {
    /// Backbone (unused by [`Architecture::Fdd`]).
    pub model: ModelConfig,
    /// Architecture.
    pub arch: Architecture,
}

/// The trainable model (see the module docs); parameter names start with `net.`, `hyper.`,
/// `lowfreq.` or `highfreq.`.
#[derive(Module, Debug)]
pub struct FedNet {
    /// Hypernetwork.
    pub hyper: Option<Hypernetwork>,
    /// Backbone.
    pub net: Option<AnyModel>,
    /// FedFDD low-frequency branch.
    pub lowfreq: Option<FddBranch>,
    /// FedFDD high-frequency branch.
    pub highfreq: Option<FddBranch>,
    /// FedFDD's random mask (else the fixed disc).
    pub fdd_random_mask: bool,
}

impl NetSpec {
    /// A fresh model for `physics` (weights from `device`'s generator).
    pub fn build(&self, physics: &Physics, device: &Device) -> Result<FedNet> {
        Ok(match self.arch {
            Architecture::Plain => FedNet {
                hyper: None,
                net: Some(self.model.init(physics, device)?),
                lowfreq: None,
                highfreq: None,
                fdd_random_mask: false,
            },
            Architecture::Hyper(h) => {
                let net = self.model.init(physics, device)?;
                let ch = net.film_channels();
                FedNet {
                    hyper: Some(h.init_with_period(&ch, net.film_period(), device)?),
                    net: Some(net),
                    lowfreq: None,
                    highfreq: None,
                    fdd_random_mask: false,
                }
            }
            Architecture::Fdd(f) => {
                let FddNet {
                    lowfreq,
                    highfreq,
                    random_mask,
                } = f.init(device)?;
                FedNet {
                    hyper: None,
                    net: None,
                    lowfreq: Some(lowfreq),
                    highfreq: Some(highfreq),
                    fdd_random_mask: random_mask,
                }
            }
        })
    }
}

impl FedNet {
    /// Reconstruct a batch; `protocol` is the site's normalised protocol vector (used by the
    /// hypernetwork input: the protocol vector and any site code), `split` the FedFDD split of
    /// the image grid, `mask_seeds` the seeds of FedFDD's random masks, one per image.
    pub fn forward(
        &self,
        input: &ModelInput,
        physics: &Physics,
        protocol: &[f32],
        split: Option<&FreqSplit>,
        mask_seeds: &[u64],
    ) -> Result<Tensor<4>> {
        if let (Some(lo), Some(hi)) = (&self.lowfreq, &self.highfreq) {
            let ModelInput::Ct { sinogram } = input else {
                return Err(NnError::argument(
                    "input",
                    "MRI",
                    "FedFDD is implemented for CT",
                ));
            };
            let split = split.ok_or_else(|| NnError::argument("fdd split", "none", "required"))?;
            let x = physics.ct("fedfdd")?.fbp_batch(sinogram)?;
            let net = FddNet {
                lowfreq: lo.clone(),
                highfreq: hi.clone(),
                random_mask: self.fdd_random_mask,
            };
            return net.forward(&x, split, mask_seeds);
        }
        let net = self
            .net
            .as_ref()
            .ok_or_else(|| NnError::argument("model", "empty", "has no backbone"))?;
        match &self.hyper {
            Some(h) => {
                let b = input.batch_size();
                let p = protocol.len();
                let dev = match input {
                    ModelInput::Ct { sinogram } => sinogram.device(),
                    ModelInput::Mri { kspace, .. } => kspace.device(),
                };
                let v: Vec<f32> = (0..b).flat_map(|_| protocol.iter().copied()).collect();
                let film = h.forward(Tensor::from_data(TensorData::new(v, [b, p]), &dev));
                net.reconstruct(input, physics, Some(&film))
            }
            None => net.reconstruct(input, physics, None),
        }
    }
}

/// Stream of the per-step FedFDD mask seeds (`round_seed(seed, round, MASK_STREAM + step)`).
const MASK_STREAM: u64 = 0x6d61_736b_0000_0000;

/// Local-training settings that the federation's [`LocalTrainConfig`] does not carry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Clip the global gradient norm to this (0 = off).
    pub clip_norm: f64,
    /// Evaluation batch size.
    pub eval_batch: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            clip_norm: 1.0,
            eval_batch: 4,
        }
    }
}

/// One site's data: training and held-out splits, protocol vector and FedFDD split.
pub struct SiteData {
    /// Site name.
    pub name: String,
    /// Training split (none for an evaluation-only site).
    pub train: Option<Dataset>,
    /// Held-out split (none for a pooled trainer's parts).
    pub val: Option<Dataset>,
    /// Normalised protocol vector.
    pub protocol: Vec<f32>,
    /// The hypernetwork's input: the protocol vector, then the one-hot site code
    /// ([`HypernetworkConfig::site_code`] entries; all zero until [`Self::set_site_code`]).
    hyper_input: Vec<f32>,
    split: Option<FreqSplit>,
}

impl std::fmt::Debug for SiteData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteData")
            .field("name", &self.name)
            .field("train", &self.train.as_ref().map(Dataset::len))
            .field("val", &self.val.as_ref().map(Dataset::len))
            .finish()
    }
}

impl SiteData {
    /// Simulate the splits of `data` (`train_samples = 0`: no training split; `with_val =
    /// false`: no held-out split).
    pub fn new(
        name: &str,
        data: &DataConfig,
        protocol: Vec<f32>,
        arch: &Architecture,
        with_val: bool,
    ) -> Result<Self> {
        let train = (data.train_samples > 0)
            .then(|| Dataset::new(data, Split::Train))
            .transpose()?;
        let val = with_val
            .then(|| Dataset::new(data, Split::Val))
            .transpose()?;
        let physics = train
            .as_ref()
            .or(val.as_ref())
            .map(|d| d.physics.image_shape())
            .ok_or_else(|| {
                NnError::argument("site", name, "has neither training nor held-out data")
            })?;
        let split = match arch {
            Architecture::Fdd(f) => Some(f.split(physics[0], physics[1])?),
            _ => None,
        };
        if let (Architecture::Hyper(h), false) = (arch, protocol.is_empty())
            && h.protocol_dim != protocol.len()
        {
            return Err(NnError::argument(
                "hypernetwork.protocol_dim",
                h.protocol_dim,
                format!("site {name} has a protocol vector of {}", protocol.len()),
            ));
        }
        let code = match arch {
            Architecture::Hyper(h) => h.site_code,
            _ => 0,
        };
        let mut hyper_input = protocol.clone();
        hyper_input.resize(protocol.len() + code, 0.0);
        Ok(Self {
            name: name.into(),
            train,
            val,
            protocol,
            hyper_input,
            split,
        })
    }

    /// Set the one-hot site code to entry `index` (an error naming the site when the
    /// architecture has no such entry).
    pub fn set_site_code(&mut self, index: usize) -> Result<()> {
        let p = self.protocol.len();
        let n = self.hyper_input.len() - p;
        if index >= n {
            return Err(NnError::argument(
                "hypernetwork.site_code",
                n,
                format!("site {} needs code entry {index}", self.name),
            ));
        }
        self.hyper_input[p..].fill(0.0);
        self.hyper_input[p + index] = 1.0;
        Ok(())
    }

    /// The hypernetwork's input `[protocol, one-hot site code]`.
    pub fn hyper_input(&self) -> &[f32] {
        &self.hyper_input
    }
}

/// A [`SiteTrainer`] over a `fedrecon-nn` network (see the module docs).
pub struct NnSiteTrainer {
    name: String,
    spec: NetSpec,
    settings: TrainSettings,
    parts: Vec<SiteData>,
    device: Device,
    params: ParamSet,
}

impl std::fmt::Debug for NnSiteTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NnSiteTrainer")
            .field("name", &self.name)
            .field("parts", &self.parts)
            .field("params", &self.params.len())
            .finish()
    }
}

/// `layout` with the values of `set` (same names and shapes; errors name the tensor), in
/// `layout`'s order.
fn with_values(layout: &ParamSet, set: &ParamSet) -> std::result::Result<ParamSet, FedError> {
    layout.check_compatible(set, "the site model")?;
    let mut out = layout.clone();
    out.overwrite_from(set, "the site model")?;
    Ok(out)
}

impl NnSiteTrainer {
    /// A trainer over `parts` (one site, or several for the pooled central baseline), with the
    /// model initialised from `init_seed` (same seed ⇒ same initial weights at every site).
    pub fn new(
        name: &str,
        spec: NetSpec,
        settings: TrainSettings,
        parts: Vec<SiteData>,
        device: Device,
        init_seed: u64,
    ) -> std::result::Result<Self, FedError> {
        let e = site_err(name);
        let first = parts
            .first()
            .ok_or_else(|| FedError::site(name, "no data"))?;
        let physics = &first
            .train
            .as_ref()
            .or(first.val.as_ref())
            .ok_or_else(|| FedError::site(name, "no data"))?
            .physics;
        let net =
            crate::seeded_init(&device, init_seed, || spec.build(physics, &device)).map_err(&e)?;
        let params = export_params(&net).map_err(&e)?;
        Ok(Self {
            name: name.into(),
            spec,
            settings,
            parts,
            device,
            params,
        })
    }

    /// The site's data.
    pub fn parts(&self) -> &[SiteData] {
        &self.parts
    }

    /// Give part `i` the one-hot site code `first + i` (see [`SiteData::set_site_code`]).
    pub fn set_site_codes(&mut self, first: usize) -> Result<()> {
        for (i, p) in self.parts.iter_mut().enumerate() {
            p.set_site_code(first + i)?;
        }
        Ok(())
    }

    /// The site's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The held-out data of the site's first part (an error naming the site when it has none).
    pub fn val_data(&self) -> Result<&Dataset> {
        self.parts[0]
            .val
            .as_ref()
            .ok_or_else(|| NnError::argument("site", &self.name, "has no held-out data"))
    }

    /// Reconstructions of the first `limit` held-out samples with `params`:
    /// `(image, sample)` pairs (the image cropped to the target).
    pub fn reconstruct_val(
        &self,
        params: &ParamSet,
        limit: usize,
    ) -> std::result::Result<Vec<(Vec<f32>, Sample)>, FedError> {
        let e = site_err(&self.name);
        let p = with_values(&self.params, params)?;
        let Some(part) = self.parts.iter().find(|p| p.val.is_some()) else {
            return Ok(vec![]);
        };
        let val = part.val.as_ref().expect("found");
        let net = load_params(
            crate::unseeded_init(|| self.spec.build(&val.physics, &self.device)).map_err(&e)?,
            &p,
        )
        .map_err(&e)?;
        let n = val.len().min(limit);
        let mut out = Vec::with_capacity(n);
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(self.settings.eval_batch.max(1)) {
            let b = val.batch(chunk, &self.device).map_err(&e)?;
            let [_, _, h, w] = b.target.dims();
            // FedFDD's random masks of the held-out images: fixed per image
            let seeds: Vec<u64> = chunk.iter().map(|&i| EVAL_MASK_SEED + i as u64).collect();
            let y = net
                .forward(
                    &b.input,
                    &val.physics,
                    part.hyper_input(),
                    part.split.as_ref(),
                    &seeds,
                )
                .and_then(|y| center_crop(y, h, w))
                .map_err(&e)?;
            let v = y
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|x| FedError::site(&self.name, format!("{x:?}")))?;
            for (k, &i) in chunk.iter().enumerate() {
                out.push((
                    v[k * h * w..(k + 1) * h * w].to_vec(),
                    val.get(i).map_err(&e)?.clone(),
                ));
            }
        }
        Ok(out)
    }

    fn train_steps(
        &mut self,
        round: usize,
        global: &ParamSet,
        cfg: &LocalTrainConfig,
    ) -> Result<(usize, f64)> {
        let trainable: Vec<usize> = (0..self.parts.len())
            .filter(|&i| self.parts[i].train.is_some())
            .collect();
        let n: usize = trainable
            .iter()
            .map(|&i| self.parts[i].train.as_ref().map_or(0, Dataset::len))
            .sum();
        if n == 0 {
            return Ok((0, 0.0));
        }
        let bs = cfg.batch_size.max(1);
        let steps = cfg.steps.unwrap_or(cfg.epochs * n.div_ceil(bs)).max(1);
        let ad = self.device.clone().autodiff();
        let physics = &self.parts[trainable[0]]
            .train
            .as_ref()
            .expect("trainable")
            .physics;
        let mut net = load_params(
            crate::unseeded_init(|| self.spec.build(physics, &ad))?,
            &self.params,
        )?;
        let mut adam = DeviceAdam::new(&net, &self.device);
        let h = AdamStep {
            lr: cfg.learning_rate,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            clip_norm: self.settings.clip_norm,
        };
        // FedProx: the downloaded tensors θ_g on the device, by their index in the local model
        let prox: Vec<(usize, Tensor<1>)> = if cfg.proximal_mu > 0.0 && !global.is_empty() {
            // checks μ and that the local model has every global name
            fedrecon_fed::proximal_gradient(&self.params, global, cfg.proximal_mu)
                .map_err(|e| NnError::argument("proximal term", "", e.to_string()))?;
            let dev = self.device.clone();
            global
                .iter()
                .map(|(name, p)| {
                    let i = self
                        .params
                        .index_of(name)
                        .expect("local has every global name");
                    let t = TensorData::new(p.data.clone(), vec![p.data.len()]);
                    (i, Tensor::from_data(t, &dev))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut loss_sum = 0.0;
        for s in 0..steps {
            let k = trainable.len();
            let part = &self.parts[trainable[s % k]];
            let data = part.train.as_ref().expect("trainable");
            let seed = round_seed(cfg.seed, round, 0x6e6e_0000 + trainable[s % k] as u64);
            let batch = data.train_batch(bs, seed, s / k, &ad)?;
            let [nb, _, th, tw] = batch.target.dims();
            // FedFDD's random masks: one per image, from the run seed, round and step
            let mask_seed = round_seed(cfg.seed, round, MASK_STREAM + s as u64);
            let seeds: Vec<u64> = (0..nb as u64)
                .map(|i| round_seed(mask_seed, 0, i))
                .collect();
            let out = net.forward(
                &batch.input,
                &data.physics,
                part.hyper_input(),
                part.split.as_ref(),
                &seeds,
            )?;
            let d = center_crop(out, th, tw)? - batch.target;
            let loss = (d.clone() * d).mean();
            let lv = loss.clone().into_scalar::<f32>() as f64;
            if !lv.is_finite() {
                return Err(NnError::argument(
                    "loss",
                    lv,
                    format!("at local step {} of round {round} is not finite", s + 1),
                ));
            }
            loss_sum += lv;
            let grads = loss.backward();
            let mut g = device_grads(&net, &grads);
            drop(grads);
            if !prox.is_empty() {
                // g ← g + μ(θ − θ_g) on the downloaded tensors
                let theta = device_params(&net);
                for (i, theta_g) in &prox {
                    let p = (theta[*i].clone() - theta_g.clone()) * cfg.proximal_mu;
                    g[*i] = Some(match g[*i].take() {
                        Some(gi) => gi + p,
                        None => p,
                    });
                }
            }
            (net, _) = adam.step(net, g, &h)?;
        }
        self.params = export_params(&net)?;
        Ok((n, loss_sum / steps as f64))
    }
}

impl SiteTrainer for NnSiteTrainer {
    fn train_round(
        &mut self,
        round: usize,
        global: &ParamSet,
        cfg: &LocalTrainConfig,
    ) -> std::result::Result<TrainReport, FedError> {
        let (num_samples, mean_loss) = self
            .train_steps(round, global, cfg)
            .map_err(site_err(&self.name))?;
        Ok(TrainReport {
            num_samples,
            mean_loss,
        })
    }

    fn evaluate(&mut self, params: &ParamSet) -> std::result::Result<SiteMetrics, FedError> {
        let recons = self.reconstruct_val(params, usize::MAX)?;
        if recons.is_empty() {
            return Err(FedError::site(
                &self.name,
                "has no held-out data to evaluate",
            ));
        }
        let mut acc = [0.0f64; 3];
        for (img, s) in &recons {
            let r =
                (|| -> std::result::Result<[f64; 3], fedrecon_physics::error::PhysicsError> {
                    Ok([
                        metrics::psnr(img, &s.target, None)?,
                        metrics::ssim(img, &s.target, s.target_shape, None)?,
                        metrics::nmse(img, &s.target)?,
                    ])
                })()?;
            for k in 0..3 {
                acc[k] += r[k];
            }
        }
        let n = recons.len() as f64;
        Ok(SiteMetrics {
            psnr: acc[0] / n,
            ssim: acc[1] / n,
            nmse: acc[2] / n,
        })
    }

    fn params(&self) -> ParamSet {
        self.params.clone()
    }

    fn load_params(&mut self, p: &ParamSet) -> std::result::Result<(), FedError> {
        self.params = with_values(&self.params, p)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fed::{Phantoms, ct_data_config};
    use crate::models::learn::LearnConfig;
    use fedrecon_fed::protocol::CtScanProtocol;
    use fedrecon_fed::runtime::{NoObserver, SimSite, SimulationConfig, simulate};
    use fedrecon_fed::{PresetOptions, build_method, presets::HyperMode};

    fn proto(views: usize, bins: usize, i0: f64) -> CtScanProtocol {
        CtScanProtocol {
            views,
            detector_bins: bins,
            pixel_size_mm: 1.0,
            detector_cell_mm: 2.0,
            sod_mm: 100.0,
            sdd_mm: 200.0,
            dose_i0: i0,
            image_size: 16,
        }
    }

    fn spec(arch: Architecture) -> NetSpec {
        NetSpec {
            model: ModelConfig::Learn(LearnConfig {
                n_iter: 2,
                hidden: 4,
                kernel: 3,
                alpha_init: 0.5,
                normalise: true,
            }),
            arch,
        }
    }

    fn sites(arch: Architecture) -> Vec<NnSiteTrainer> {
        [(12, 24, 5e4), (16, 20, 1e5), (10, 24, 2e4)]
            .iter()
            .enumerate()
            .map(|(i, &(v, b, i0))| {
                let p = proto(v, b, i0);
                let n = Phantoms {
                    train_samples: 3,
                    val_samples: 2,
                    seed: 10 + i as u64,
                    ellipses: 4,
                };
                let d = ct_data_config(&p, n).unwrap();
                let part = SiteData::new(&format!("s{i}"), &d, p.to_vector().unwrap(), &arch, true)
                    .unwrap();
                NnSiteTrainer::new(
                    &format!("s{i}"),
                    spec(arch),
                    TrainSettings::default(),
                    vec![part],
                    Device::flex(),
                    7,
                )
                .unwrap()
            })
            .collect()
    }

    fn cfg(rounds: usize) -> SimulationConfig {
        let mut c = SimulationConfig::new(rounds);
        c.seed = 5;
        c.local = LocalTrainConfig {
            steps: Some(2),
            learning_rate: 1e-2,
            batch_size: 2,
            ..Default::default()
        };
        c
    }

    fn run(
        method: &fedrecon_fed::FedMethod,
        t: &mut [NnSiteTrainer],
        c: &SimulationConfig,
    ) -> fedrecon_fed::SimulationOutcome {
        let init = t[0].params();
        let sims = t
            .iter_mut()
            .map(|s| {
                let name = s.name.clone();
                SimSite::new(&name, s)
            })
            .collect();
        simulate(method, &init, sims, c, &mut NoObserver).unwrap()
    }

    #[test]
    fn bridge_matches_the_protocol_geometry_and_params_roundtrip_exactly() {
        let p = proto(12, 24, 5e4);
        let n = Phantoms {
            train_samples: 1,
            val_samples: 1,
            seed: 0,
            ellipses: 4,
        };
        let d = ct_data_config(&p, n).unwrap();
        assert_eq!(
            d.ct.geometry(16).unwrap().sino_shape(),
            p.geometry().unwrap().sino_shape()
        );
        let mut t = sites(Architecture::Plain);
        let ps = t[0].params();
        assert!(ps.names().all(|n| n.starts_with("net.")));
        t[1].load_params(&ps).unwrap();
        assert_eq!(t[1].params().max_abs_diff(&ps).unwrap(), 0.0);
        // wrong layout: an error naming a tensor
        let bad = ps.filter(|n| n != ps.names().next().unwrap());
        assert!(t[1].load_params(&bad).is_err());
    }

    #[test]
    fn fedavg_round_trains_and_hyperfed_keeps_hypernetworks_local() {
        let mut t = sites(Architecture::Plain);
        let before = t[0].params();
        let out = run(&fedrecon_fed::preset("fedavg").unwrap(), &mut t, &cfg(1));
        let m = &out.state.history[0];
        assert_eq!(m.metrics.len(), 3);
        // every site holds the aggregated model after FedAvg, which moved from the start
        let g = &out.site_params[0].1;
        assert!(g.max_abs_diff(&before).unwrap() > 0.0);
        assert_eq!(out.site_params[1].1.max_abs_diff(g).unwrap(), 0.0);

        let arch = Architecture::Hyper(HypernetworkConfig {
            protocol_dim: 7,
            hidden: 8,
            hidden_layers: 1,
            site_code: 0,
            tied: false,
        });
        let mut t = sites(arch);
        let hyper = build_method(&PresetOptions::named("hyperfed")).unwrap();
        let out = run(&hyper, &mut t, &cfg(1));
        let (a, b) = (&out.site_params[0].1, &out.site_params[1].1);
        let h = |p: &ParamSet| p.filter(|n| n.starts_with("hyper."));
        let n = |p: &ParamSet| p.filter(|n| n.starts_with("net."));
        assert!(!h(a).is_empty());
        assert!(
            h(a).max_abs_diff(&h(b)).unwrap() > 0.0,
            "hypernetworks stayed personal"
        );
        assert_eq!(n(a).max_abs_diff(&n(b)).unwrap(), 0.0);
        assert!(out.state.global.names().all(|n| !n.starts_with("hyper.")));
        // shared hypernetwork mode sends it
        let mut o = PresetOptions::named("hyperfed");
        o.hyper = HyperMode::Aggregate;
        let out = run(&build_method(&o).unwrap(), &mut sites(arch), &cfg(1));
        assert!(out.state.global.names().any(|n| n.starts_with("hyper.")));
    }

    #[test]
    fn fedfdd_keeps_low_branch_local_and_resume_is_bit_identical() {
        // the paper's RED-CNN branches (small: 16² images) with the random mask
        let arch = Architecture::Fdd(FddConfig {
            redcnn: crate::redcnn::RedCnnConfig {
                width: 2,
                kernel: 3,
                ..Default::default()
            },
            ..Default::default()
        });
        let fdd = fedrecon_fed::preset("fedfdd").unwrap();
        // a fresh directory of its own: a stale checkpoint from another run must not be resumed
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut c = cfg(2);
        c.local.proximal_mu = 0.0;
        let full = run(&fdd, &mut sites(arch), &c);
        let (a, b) = (&full.site_params[0].1, &full.site_params[1].1);
        let lo = |p: &ParamSet| p.filter(|n| n.starts_with("lowfreq."));
        let hi = |p: &ParamSet| p.filter(|n| n.starts_with("highfreq."));
        assert!(lo(a).max_abs_diff(&lo(b)).unwrap() > 0.0);
        assert_eq!(hi(a).max_abs_diff(&hi(b)).unwrap(), 0.0);
        assert!(
            full.state
                .global
                .names()
                .all(|n| n.starts_with("highfreq."))
        );

        let mut ck = c.clone();
        ck.checkpoint_dir = Some(dir.clone());
        ck.stop_after_rounds = Some(1);
        let first = run(&fdd, &mut sites(arch), &ck);
        assert!(first.stopped_early);
        ck.stop_after_rounds = None;
        ck.resume = true;
        let resumed = run(&fdd, &mut sites(arch), &ck);
        for ((_, x), (_, y)) in resumed.site_params.iter().zip(&full.site_params) {
            assert_eq!(x.max_abs_diff(y).unwrap(), 0.0);
        }
        assert_eq!(resumed.state.history, full.state.history);
    }

    #[test]
    fn fedprox_pulls_towards_the_global_model() {
        let mut t = sites(Architecture::Plain);
        let mut c = cfg(1);
        c.local.learning_rate = 1e-3;
        let plain = run(&fedrecon_fed::preset("fedavg").unwrap(), &mut t, &c);
        let mut o = PresetOptions::named("fedprox");
        o.proximal_mu = Some(1e3);
        let prox = run(
            &build_method(&o).unwrap(),
            &mut sites(Architecture::Plain),
            &c,
        );
        let init = sites(Architecture::Plain)[0].params();
        let d_plain = plain.state.global.max_abs_diff(&init).unwrap();
        let d_prox = prox.state.global.max_abs_diff(&init).unwrap();
        // with a huge μ the first Adam step is the same (sign-like), later ones are pulled back
        assert!(d_prox <= d_plain + 1e-9, "prox {d_prox} vs plain {d_plain}");
        assert!(d_prox > 0.0);
    }
}

#[cfg(test)]
mod preset_tests {
    use super::*;
    use crate::fed::{central_trainer, site_trainers};
    use crate::models::learn::LearnConfig;
    use fedrecon_fed::protocol::SitesConfig;
    use fedrecon_fed::runtime::{NoObserver, SimSite, SimulationConfig, simulate_central};

    #[test]
    fn hyperfed_preset_sites_build_and_central_baseline_runs() {
        let mut sites = SitesConfig::preset("ct-hyperfed").unwrap();
        sites.image_scale = 1.0 / 16.0; // 16² images, ~30 views
        for s in &mut sites.site {
            s.train_samples = 2;
            s.val_samples = 1;
        }
        let spec = NetSpec {
            model: ModelConfig::Learn(LearnConfig {
                n_iter: 1,
                hidden: 2,
                kernel: 3,
                alpha_init: 0.5,
                normalise: true,
            }),
            arch: Architecture::Hyper(HypernetworkConfig {
                protocol_dim: 7,
                hidden: 4,
                hidden_layers: 1,
                site_code: 0,
                tied: false,
            }),
        };
        let dev = Device::flex();
        let (mut train, eval) =
            site_trainers(&sites, &crate::fed::SiteBuild::new(spec, 4, 1, &dev)).unwrap();
        assert_eq!((train.len(), eval.len()), (5, 0));
        let vs: Vec<Vec<f32>> = train
            .iter()
            .map(|t| t.parts()[0].protocol.clone())
            .collect();
        assert!(
            vs.windows(2).all(|w| w[0] != w[1]),
            "protocol vectors differ"
        );
        let mut central =
            central_trainer(&sites, &crate::fed::SiteBuild::new(spec, 4, 1, &dev)).unwrap();
        assert_eq!(central.parts().len(), 5);
        let init = central.params();
        let mut c = SimulationConfig::new(1);
        c.local = LocalTrainConfig {
            steps: Some(5),
            learning_rate: 1e-2,
            batch_size: 1,
            ..Default::default()
        };
        let ev = train
            .iter_mut()
            .map(|t| {
                let n = t.name.clone();
                SimSite::evaluate_only(&n, t)
            })
            .collect();
        let out = simulate_central(&mut central, &init, ev, &c, &mut NoObserver).unwrap();
        assert_eq!(out.state.history[0].metrics.len(), 5);
        assert!(out.state.global.max_abs_diff(&init).unwrap() > 0.0);
    }
}
