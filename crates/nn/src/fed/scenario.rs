//! A federation scenario from its TOML config: [`FedConfig`] (rounds, seed, backbone `[model]`,
//! `[arch]`, `[method]`, `[local]`, `[train]`, `[sites]` with the built-in site presets) and the
//! builders that turn it into site trainers, simulation settings and methods. `fedrecon fed
//! simulate` / `fed compare` and any other front end (e.g. a Python binding's
//! `Site(config, name).fit(params, round)`, here [`Site`]) build identical sites from the same
//! text.

use super::{
    Architecture, NetSpec, NnSiteTrainer, SiteBuild, TrainSettings, central_trainer, site_trainers,
};
use crate::error::{NnError, Result};
use crate::physics::Physics;
use burn::tensor::Device;
use fedrecon_fed::protocol::SitesConfig;
use fedrecon_fed::runtime::SimSite;
use fedrecon_fed::{
    FedMethod, LocalTrainConfig, ParamSet, PresetOptions, SimulationConfig, SiteMetrics,
    SiteTrainer, TrainReport, build_method,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The built-in default federation (`configs/demo.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../../configs/demo.toml");

fn cfg_err(key: impl std::fmt::Display, reason: impl Into<String>) -> NnError {
    NnError::argument("federation config", key, reason)
}

/// A federation run config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FedConfig {
    /// Communication rounds.
    pub rounds: usize,
    /// Run seed (client sampling, data order, initial weights).
    #[serde(default)]
    pub seed: u64,
    /// Ellipses per phantom.
    #[serde(default = "six")]
    pub ellipses: usize,
    /// Fraction of sites per round.
    #[serde(default = "one")]
    pub client_fraction: f64,
    /// Backbone network.
    pub model: crate::models::ModelConfig,
    /// Architecture around the backbone.
    #[serde(default = "plain")]
    pub arch: Architecture,
    /// Federated method.
    pub method: PresetOptions,
    /// Local training.
    #[serde(default)]
    pub local: LocalTrainConfig,
    /// Extra local-training settings.
    #[serde(default)]
    pub train: TrainSettings,
    /// Sites.
    pub sites: SitesConfig,
}

fn six() -> usize {
    6
}
fn one() -> f64 {
    1.0
}
fn plain() -> Architecture {
    Architecture::Plain
}

impl FedConfig {
    /// Parse `text` with `key=value` overrides; errors name the key.
    pub fn parse(text: &str, overrides: &[String]) -> Result<Self> {
        Self::parse_with_sites(text, overrides, None)
    }

    /// [`Self::parse`], with the `[sites]` table taken from `sites` (a site's own TOML, e.g.
    /// its `site.toml` in a deployment) instead of `text`: a federation job carries the model,
    /// method and training settings, each site its own data. The job's `[sites]`, if any, is
    /// ignored; `sites` must hold a `[sites]` table.
    pub fn parse_with_sites(text: &str, overrides: &[String], sites: Option<&str>) -> Result<Self> {
        let mut t = crate::config::table_with_overrides(text, overrides)?;
        if let Some(sites) = sites {
            let mut own: toml::Table = toml::from_str(sites)
                .map_err(|e| cfg_err("(site config)", format!("TOML: {e}")))?;
            let table = own
                .remove("sites")
                .ok_or_else(|| cfg_err("(site config)", "needs a [sites] table"))?;
            t.insert("sites".into(), table);
        }
        expand_site_presets(&mut t)?;
        let c: Self = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| cfg_err("(config)", e.message().to_string()))?;
        c.sites
            .validate()
            .map_err(|e| cfg_err("[sites]", e.to_string()))?;
        c.local
            .validate()
            .map_err(|e| cfg_err("[local]", e.to_string()))?;
        Ok(c)
    }

    /// A site's own `[sites]` table (what `parse_with_sites` takes), holding site `name` of
    /// this config: the data half of a deployment's `site.toml`.
    pub fn site_toml(&self, name: &str) -> Result<String> {
        #[derive(Serialize)]
        struct Own<'a> {
            sites: &'a fedrecon_fed::protocol::SitesConfig,
        }
        let mut sites = self.sites.clone();
        sites.site.retain(|s| s.name == name);
        if sites.site.is_empty() {
            let names: Vec<&str> = self.sites.site.iter().map(|s| s.name.as_str()).collect();
            return Err(NnError::argument(
                "site",
                name,
                format!("is not in [sites] (sites: {names:?})"),
            ));
        }
        toml::to_string_pretty(&Own { sites: &sites })
            .map_err(|e| cfg_err("(site config)", e.to_string()))
    }

    /// The resolved config as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| cfg_err("(config)", e.to_string()))
    }

    /// The network of every site with architecture `arch`.
    pub fn net_spec(&self, arch: Architecture) -> NetSpec {
        NetSpec {
            model: self.model,
            arch,
        }
    }

    /// The local training settings of a round (seeded by the run seed).
    pub fn local_train(&self) -> LocalTrainConfig {
        LocalTrainConfig {
            seed: self.seed,
            ..self.local.clone()
        }
    }

    /// The simulation settings, checkpointing to `checkpoint_dir`.
    pub fn simulation(&self, checkpoint_dir: Option<PathBuf>, resume: bool) -> SimulationConfig {
        SimulationConfig {
            rounds: self.rounds,
            client_fraction: self.client_fraction,
            seed: self.seed,
            local: self.local_train(),
            checkpoint_dir,
            resume,
            stop_after_rounds: None,
        }
    }

    /// `(training sites, evaluation-only sites)` with architecture `arch`
    /// ([`super::site_trainers`]).
    /// With a site code in the architecture (`central-onehot`), the `j`-th training site gets
    /// code `j`; evaluation-only sites none (all zeros).
    pub fn site_trainers(
        &self,
        arch: Architecture,
        device: &Device,
    ) -> Result<(Vec<NnSiteTrainer>, Vec<NnSiteTrainer>)> {
        let (mut train, eval) = site_trainers(&self.sites, &self.site_build(arch, device))?;
        if has_site_code(&arch) {
            for (j, t) in train.iter_mut().enumerate() {
                t.set_site_codes(j)?;
            }
        }
        Ok((train, eval))
    }

    /// The pooled trainer of the central baseline ([`super::central_trainer`]); with a site
    /// code, part `j` (the `j`-th training site) gets code `j`.
    pub fn central_trainer(&self, arch: Architecture, device: &Device) -> Result<NnSiteTrainer> {
        let mut t = central_trainer(&self.sites, &self.site_build(arch, device))?;
        if has_site_code(&arch) {
            t.set_site_codes(0)?;
        }
        Ok(t)
    }

    /// Number of training sites (`train_samples > 0`).
    pub fn training_sites(&self) -> usize {
        self.sites
            .site
            .iter()
            .filter(|s| s.train_samples > 0)
            .count()
    }

    /// How this config builds its sites with architecture `arch`.
    pub fn site_build<'a>(&self, arch: Architecture, device: &'a Device) -> SiteBuild<'a> {
        SiteBuild {
            settings: self.train,
            ..SiteBuild::new(self.net_spec(arch), self.ellipses, self.seed, device)
        }
    }

    /// Length of the sites' protocol vectors (7 for CT, 8 for MRI).
    pub fn protocol_dim(&self) -> Result<usize> {
        let s = self
            .sites
            .site
            .first()
            .ok_or_else(|| cfg_err("[sites]", "no site"))?;
        Ok(s.protocol()?.to_vector()?.len())
    }

    /// The federated method (`None` for `central` and `central-onehot`) and architecture of a
    /// method name: a preset or one of [`COMPARE_EXTRA`]; the config's architecture when it
    /// fits the method, else a small default. The config's aggregation rule, weighting, μ and
    /// norm patterns apply to every method, its custom groups only to its own preset.
    /// `hyperfed` keeps the hypernetwork local (the paper's personalised HyperFed) whatever the
    /// config's `[method] hyper` (which `fed simulate` applies); `hyperfed-shared` aggregates it.
    pub fn method(&self, method: &str) -> Result<(Option<FedMethod>, Architecture)> {
        let hyper_cfg = match self.arch {
            Architecture::Hyper(h) => h,
            _ => crate::HypernetworkConfig {
                protocol_dim: self.protocol_dim()?,
                hidden: 16,
                hidden_layers: 1,
                site_code: 0,
                tied: false,
            },
        };
        let hyper_arch = Architecture::Hyper(crate::HypernetworkConfig {
            site_code: 0,
            ..hyper_cfg
        });
        let fdd_arch = match self.arch {
            Architecture::Fdd(_) => self.arch,
            _ => Architecture::Fdd(Default::default()),
        };
        let named = |preset: &str| PresetOptions {
            preset: preset.into(),
            groups: if preset == self.method.preset {
                self.method.groups.clone()
            } else {
                Vec::new()
            },
            ..self.method.clone()
        };
        let (opts, arch) = match method {
            "central" => return Ok((None, Architecture::Plain)),
            "central-onehot" => {
                let h = crate::HypernetworkConfig {
                    site_code: self.training_sites().max(1),
                    ..hyper_cfg
                };
                return Ok((None, Architecture::Hyper(h)));
            }
            "hyperfed" | "hyperfed-local" | "hyperfed-shared" => {
                let mut o = named("hyperfed");
                o.hyper = if method == "hyperfed-shared" {
                    fedrecon_fed::presets::HyperMode::Aggregate
                } else {
                    fedrecon_fed::presets::HyperMode::Local
                };
                (o, hyper_arch)
            }
            "fedfdd" => (named("fedfdd"), fdd_arch),
            "fdd-fedavg" => (named("fedavg"), fdd_arch),
            m => (named(m), Architecture::Plain),
        };
        let built = build_method(&opts).map_err(|e| {
            NnError::argument(
                "method",
                format!("{method:?}"),
                format!(
                    "{e} (presets: {}; also {})",
                    fedrecon_fed::presets::PRESETS.join(", "),
                    COMPARE_EXTRA.join(", ")
                ),
            )
        })?;
        Ok((Some(built), arch))
    }
}

/// The method names [`FedConfig::method`] accepts besides the presets: `central` (pooled
/// training), `central-onehot` (pooled training of the backbone with a hypernetwork fed the
/// protocol vector and a one-hot code of the site, the same FiLM path as HyperFed: an upper
/// bound for personalisation, evaluated at each site with its own code; evaluation-only sites
/// get an all-zero code), `hyperfed-local` / `hyperfed-shared` (HyperFed with personal / one
/// aggregated hypernetwork; plain `hyperfed` is `hyperfed-local`, the paper's setting), and
/// `fdd-fedavg` (FedFDD's two-branch network with both branches aggregated: FedAvg on FedFDD's
/// architecture, the like-for-like baseline of `fedfdd`).
pub const COMPARE_EXTRA: [&str; 5] = [
    "central",
    "central-onehot",
    "hyperfed-local",
    "hyperfed-shared",
    "fdd-fedavg",
];

/// Whether `arch` carries a one-hot site code.
fn has_site_code(arch: &Architecture) -> bool {
    matches!(arch, Architecture::Hyper(h) if h.site_code > 0)
}

/// `[sites] presets = ["ct-hyperfed", "ct-hyperfed-unseen"]`: the built-in site lists of
/// `SitesConfig::preset`, in order, before any sites given as `[[sites.site]]`; `image_scale`
/// from the config wins over the presets'. `[sites] train_samples = N` / `val_samples = M`
/// set the sample counts of every preset site (evaluation-only sites keep `train_samples = 0`).
fn expand_site_presets(t: &mut toml::Table) -> Result<()> {
    let Some(toml::Value::Table(sites)) = t.get_mut("sites") else {
        return Ok(());
    };
    let Some(presets) = sites.remove("presets") else {
        return Ok(());
    };
    let list_err = || cfg_err("sites.presets", "expected a list of preset names");
    let names = presets.as_array().ok_or_else(list_err)?;
    let mut count = |key: &str| -> Result<Option<usize>> {
        match sites.remove(key) {
            None => Ok(None),
            Some(v) => v
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| cfg_err(format!("sites.{key}"), "expected a non-negative integer")),
        }
    };
    let (n_train, n_val) = (count("train_samples")?, count("val_samples")?);
    let mut list = Vec::new();
    let mut scale = None;
    for n in names {
        let n = n.as_str().ok_or_else(list_err)?;
        let p = SitesConfig::preset(n).map_err(|e| cfg_err("sites.presets", e.to_string()))?;
        scale.get_or_insert(p.image_scale);
        for mut s in p.site {
            if let (Some(n), true) = (n_train, s.train_samples > 0) {
                s.train_samples = n;
            }
            if let Some(n) = n_val {
                s.val_samples = n;
            }
            list.push(
                toml::Value::try_from(s).map_err(|e| cfg_err("sites.presets", e.to_string()))?,
            );
        }
    }
    if let Some(toml::Value::Array(own)) = sites.remove("site") {
        list.extend(own);
    }
    sites.insert("site".into(), toml::Value::Array(list));
    if let Some(scale) = scale {
        sites
            .entry("image_scale")
            .or_insert(toml::Value::Float(scale));
    }
    Ok(())
}

/// The simulation's participants: the training sites, then the evaluation-only ones.
pub fn sim_sites<'a>(
    train: &'a mut [NnSiteTrainer],
    eval: &'a mut [NnSiteTrainer],
) -> Vec<SimSite<'a>> {
    let mut sims: Vec<SimSite<'a>> = Vec::with_capacity(train.len() + eval.len());
    for t in train {
        let name = t.name().to_string();
        sims.push(SimSite::new(&name, t));
    }
    for t in eval {
        let name = t.name().to_string();
        sims.push(SimSite::evaluate_only(&name, t));
    }
    sims
}

/// The classical reference of the sites' modality — `"fbp"` for CT, `"zero-filled"` (RSS of the
/// zero-filled k-space) for MRI — scored on every site's held-out data.
pub fn reference_scores<'a>(
    sites: impl Iterator<Item = &'a NnSiteTrainer>,
) -> Result<(&'static str, Vec<(String, SiteMetrics)>)> {
    let mut name = "fbp";
    let mut out = Vec::new();
    for t in sites {
        let val = t.val_data()?;
        if matches!(val.physics, Physics::Mri(_)) {
            name = "zero-filled";
        }
        if let Some((_, s)) = crate::train::score_classical(val)?
            .into_iter()
            .find(|(m, _)| m == name)
        {
            out.push((
                t.name().to_string(),
                SiteMetrics {
                    psnr: s.psnr,
                    ssim: s.ssim,
                    nmse: s.nmse,
                },
            ));
        }
    }
    Ok((name, out))
}

/// One site of a scenario on its own, as a federation client runs it: built from the same config
/// as `fedrecon fed simulate` (same data, same initial weights, same local training).
#[derive(Debug)]
pub struct Site {
    trainer: NnSiteTrainer,
    local: LocalTrainConfig,
}

impl Site {
    /// Site `name` of `config` with the config's architecture and method (its FedProx `μ`).
    pub fn new(config: &FedConfig, name: &str, device: &Device) -> Result<Self> {
        let mut one = config.clone();
        one.sites.site.retain(|s| s.name == name);
        if one.sites.site.is_empty() {
            let names: Vec<&str> = config.sites.site.iter().map(|s| s.name.as_str()).collect();
            return Err(NnError::argument(
                "site",
                name,
                format!("is not in [sites] (sites: {names:?})"),
            ));
        }
        let method = build_method(&config.method)?;
        let (train, eval) = site_trainers(&one.sites, &one.site_build(config.arch, device))?;
        let mut trainer = train.into_iter().chain(eval).next().expect("one site");
        if has_site_code(&config.arch) {
            // the code of the site in the whole federation: its index among the training sites
            let training = config.sites.site.iter().filter(|s| s.train_samples > 0);
            if let Some(j) = training.map(|s| &s.name).position(|n| n == name) {
                trainer.set_site_codes(j)?;
            }
        }
        Ok(Self {
            trainer,
            local: LocalTrainConfig {
                proximal_mu: method.proximal_mu,
                ..config.local_train()
            },
        })
    }

    /// Replace every parameter with `params` (same names and shapes), e.g. the site's own
    /// checkpoint after a restart.
    pub fn load_params(&mut self, params: &ParamSet) -> Result<()> {
        self.trainer
            .params()
            .check_compatible(params, "the restored parameters")?;
        Ok(self.trainer.load_params(params)?)
    }

    /// Training samples of the site (0: evaluation only).
    pub fn train_samples(&self) -> usize {
        self.trainer
            .parts()
            .iter()
            .map(|p| p.train.as_ref().map_or(0, |d| d.len()))
            .sum()
    }

    /// The site's current parameters (all of them, local ones included).
    pub fn params(&self) -> ParamSet {
        self.trainer.params()
    }

    /// Train round `round` from the site's parameters overwritten by the downloaded `global`
    /// tensors: the trained parameters and the report.
    pub fn fit(&mut self, global: &ParamSet, round: usize) -> Result<(ParamSet, TrainReport)> {
        let mut p = self.trainer.params();
        p.overwrite_from(global, "the downloaded tensors")?;
        self.trainer.load_params(&p)?;
        let report = self.trainer.train_round(round, global, &self.local)?;
        Ok((self.trainer.params(), report))
    }

    /// Held-out metrics with `params` merged into the site's model.
    pub fn evaluate(&mut self, params: &ParamSet) -> Result<SiteMetrics> {
        let mut p = self.trainer.params();
        p.overwrite_from(params, "the evaluated tensors")?;
        Ok(self.trainer.evaluate(&p)?)
    }

    /// The underlying trainer.
    pub fn trainer(&mut self) -> &mut NnSiteTrainer {
        &mut self.trainer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> FedConfig {
        let set = ["local.steps=1", "model.n_iter=2", "model.hidden=4"].map(String::from);
        FedConfig::parse(DEFAULT_CONFIG, &set).unwrap()
    }

    #[test]
    fn central_onehot_gives_each_site_its_code_through_the_film_path() {
        let cfg = tiny();
        let dev = Device::flex();
        let (method, arch) = cfg.method("central-onehot").unwrap();
        assert!(method.is_none(), "pooled training");
        let Architecture::Hyper(h) = arch else {
            panic!("{arch:?}")
        };
        let p = cfg.protocol_dim().unwrap();
        assert_eq!((h.protocol_dim, h.site_code), (p, 3));
        let (train, eval) = cfg.site_trainers(arch, &dev).unwrap();
        let inputs: Vec<Vec<f32>> = train
            .iter()
            .map(|t| t.parts()[0].hyper_input().to_vec())
            .collect();
        for (j, v) in inputs.iter().enumerate() {
            assert_eq!(&v[..p], &train[j].parts()[0].protocol[..]);
            let code: Vec<f32> = (0..3).map(|i| if i == j { 1.0 } else { 0.0 }).collect();
            assert_eq!(&v[p..], &code[..], "site {j}");
        }
        // the unseen site has no code
        assert!(
            eval[0].parts()[0].hyper_input()[p..]
                .iter()
                .all(|&c| c == 0.0)
        );
        // the pooled trainer's parts carry the same inputs, in the same order
        let central = cfg.central_trainer(arch, &dev).unwrap();
        let pooled: Vec<Vec<f32>> = central
            .parts()
            .iter()
            .map(|d| d.hyper_input().to_vec())
            .collect();
        assert_eq!(pooled, inputs);
        // a site built alone gets its federation code
        let one = FedConfig {
            arch,
            ..cfg.clone()
        };
        let mut site = Site::new(&one, train[1].name(), &dev).unwrap();
        assert_eq!(site.trainer().parts()[0].hyper_input(), &inputs[1][..]);
        // hyperfed is the personal variant, hyperfed-shared aggregates the hypernetwork
        let groups = |m: &str| {
            let (m, _) = cfg.method(m).unwrap();
            format!("{:?}", m.unwrap().strategy)
        };
        assert_eq!(groups("hyperfed"), groups("hyperfed-local"));
        assert_ne!(groups("hyperfed"), groups("hyperfed-shared"));
    }

    #[test]
    fn a_sites_own_table_round_trips_and_replaces_the_jobs() {
        let cfg = tiny();
        let name = &cfg.sites.site[1].name;
        let own = cfg.site_toml(name).unwrap();
        let set = ["local.steps=1", "model.n_iter=2", "model.hidden=4"].map(String::from);
        let site_cfg = FedConfig::parse_with_sites(DEFAULT_CONFIG, &set, Some(&own)).unwrap();
        assert_eq!(site_cfg.sites.site, vec![cfg.sites.site[1].clone()]);
        assert_eq!(site_cfg.model, cfg.model);
        let e = cfg.site_toml("nowhere").unwrap_err().to_string();
        assert!(e.contains("nowhere") && e.contains(name.as_str()), "{e}");
        let e = FedConfig::parse_with_sites(DEFAULT_CONFIG, &[], Some("x = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[sites]"), "{e}");
    }

    #[test]
    fn a_site_alone_is_the_site_of_the_simulation() {
        let cfg = tiny();
        let dev = Device::flex();
        let (mut train, _) = cfg.site_trainers(cfg.arch, &dev).unwrap();
        let name = train[0].name().to_string();
        let mut site = Site::new(&cfg, &name, &dev).unwrap();
        assert_eq!(site.params(), train[0].params());
        let global = cfg
            .method("fedavg")
            .unwrap()
            .0
            .unwrap()
            .strategy
            .download_view(&site.params());
        let (after, report) = site.fit(&global, 0).unwrap();
        let local = LocalTrainConfig {
            proximal_mu: build_method(&cfg.method).unwrap().proximal_mu,
            ..cfg.local_train()
        };
        let expected = train[0].train_round(0, &global, &local).unwrap();
        assert_eq!((after, report), (train[0].params(), expected));
        let e = Site::new(&cfg, "nowhere", &dev).unwrap_err().to_string();
        assert!(e.contains("nowhere") && e.contains(&name), "{e}");
        let e = FedConfig::parse(DEFAULT_CONFIG, &["bogus=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
