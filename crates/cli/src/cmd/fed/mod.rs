//! `fedrecon fed`: federated training of reconstruction networks on simulated sites.
//!
//! `fed simulate` runs one method (`[method]`, a `fedrecon_fed` preset) over the sites of the
//! config (`[sites]`, `fedrecon_fed::protocol::SitesConfig`) with the network of `[model]` and
//! `[arch]` (`fedrecon_nn::fed`), checkpointing every round (`--resume` continues bit-identically),
//! and writes `history.csv/json`, `results.md/csv` (the method and FBP per site), `curves.png`
//! (held-out PSNR and SSIM and the training loss per round, one line per site, the mean and FBP), sample
//! reconstructions `samples/<site>_{recon,target,<classical>}.png` (FBP for CT; zero-filled and
//! CG-SENSE for MRI) and `config.resolved.toml`.
//!
//! `fed compare` runs several methods on the same sites and seeds and writes `compare.md/csv`
//! (final metrics per site), `compare.png` (those as grouped bars, and the mean over sites per
//! round for every method) and `config.resolved.toml`.

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use fedrecon_fed::protocol::SitesConfig;
use fedrecon_fed::results::{MethodResult, ResultsTable, write_history_csv, write_history_json};
use fedrecon_fed::runtime::{RoundRecord, RunObserver, SimSite, SimulationConfig, simulate};
use fedrecon_fed::{LocalTrainConfig, PresetOptions, SiteMetrics, SiteTrainer, build_method};
use fedrecon_nn::fed::{Architecture, NetSpec, TrainSettings, site_trainers};
use fedrecon_nn::models::ModelConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

mod plots;

/// The built-in default federation.
pub const DEFAULT_CONFIG: &str = include_str!("../../../../../configs/demo.toml");

/// `fedrecon fed …`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one federated method over the configured sites.
    Simulate(SimulateArgs),
    /// Run several methods on the same sites and seeds and tabulate them.
    Compare(CompareArgs),
}

/// `fed compare` arguments.
#[derive(Debug, ClapArgs)]
pub struct CompareArgs {
    /// Federation config (default: the embedded `configs/demo.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Comma-separated methods: the presets local, fedavg, fedprox, fedbn, fedfdd, hyperfed, and
    /// central, hyperfed-local, hyperfed-shared, fdd-fedavg (see `COMPARE_EXTRA`).
    #[arg(
        long,
        default_value = "local,fedavg,fedprox,fedbn,fedfdd,hyperfed,central"
    )]
    pub methods: String,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write `{"methods": {name: {mean_psnr, mean_ssim, sites}}}` here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Override the number of rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Override a config key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `fed simulate` arguments.
#[derive(Debug, ClapArgs)]
pub struct SimulateArgs {
    /// Federation config (default: the embedded `configs/demo.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from the checkpoint in `OUT/checkpoints`.
    #[arg(long)]
    pub resume: bool,
    /// Override the number of rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Override a config key: `--set local.steps=2` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
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
    pub model: ModelConfig,
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
        let mut t: toml::Table = toml::from_str(text).context("parsing the federation config")?;
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .with_context(|| format!("--set {o:?}: expected KEY=VALUE"))?;
            fedrecon_nn::config::set_key(
                &mut t,
                k.trim(),
                fedrecon_nn::config::parse_value(v.trim()),
            )
            .with_context(|| format!("--set {o:?}"))?;
        }
        expand_site_presets(&mut t)?;
        let c: Self = toml::Value::Table(t)
            .try_into()
            .context("invalid federation config")?;
        c.sites.validate().context("invalid [sites]")?;
        c.local.validate().context("invalid [local]")?;
        Ok(c)
    }
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
    let names = presets
        .as_array()
        .context("[sites] presets: expected a list of preset names")?;
    let mut count = |key: &str| -> Result<Option<usize>> {
        match sites_count(sites, key) {
            Some(Some(n)) => Ok(Some(n)),
            Some(None) => bail!("[sites] {key}: expected a non-negative integer"),
            None => Ok(None),
        }
    };
    let (n_train, n_val) = (count("train_samples")?, count("val_samples")?);
    let mut list = Vec::new();
    let mut scale = None;
    for n in names {
        let n = n
            .as_str()
            .context("[sites] presets: expected a list of preset names")?;
        let p = SitesConfig::preset(n).with_context(|| format!("[sites] presets: {n:?}"))?;
        scale.get_or_insert(p.image_scale);
        for mut s in p.site {
            if let (Some(n), true) = (n_train, s.train_samples > 0) {
                s.train_samples = n;
            }
            if let Some(n) = n_val {
                s.val_samples = n;
            }
            list.push(toml::Value::try_from(s).context("[sites] presets")?);
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

/// Remove `key` from `[sites]`: `None` if absent, `Some(None)` if not a non-negative integer.
fn sites_count(sites: &mut toml::Table, key: &str) -> Option<Option<usize>> {
    sites
        .remove(key)
        .map(|v| v.as_integer().and_then(|n| usize::try_from(n).ok()))
}

struct Progress {
    start: Instant,
    rounds: usize,
}

impl RunObserver for Progress {
    fn round_done(&mut self, r: &RoundRecord) {
        let n = r.metrics.len().max(1) as f64;
        let psnr = r.metrics.iter().map(|m| m.metrics.psnr).sum::<f64>() / n;
        let loss =
            r.train.iter().map(|t| t.report.mean_loss).sum::<f64>() / r.train.len().max(1) as f64;
        eprintln!(
            "round {}/{}: train loss {loss:.3e}, mean held-out PSNR {psnr:.2} dB  [{:.0} s]",
            r.round + 1,
            self.rounds,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Run `fed …`.
pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Simulate(a) => simulate_cmd(a),
        Command::Compare(a) => compare_cmd(a),
    }
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let text = match &a.config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => DEFAULT_CONFIG.to_string(),
    };
    let mut cfg = FedConfig::parse(&text, &a.set)?;
    if let Some(r) = a.rounds {
        cfg.rounds = r;
    }
    let method = build_method(&cfg.method).context("invalid [method]")?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(
        a.out.join("config.resolved.toml"),
        toml::to_string_pretty(&cfg).context("serialising the config")?,
    )?;
    let spec = NetSpec {
        model: cfg.model,
        arch: cfg.arch,
    };
    let dev = fedrecon_nn::burn::tensor::Device::flex();
    let (mut train, mut eval) =
        site_trainers(&cfg.sites, spec, cfg.train, cfg.ellipses, cfg.seed, &dev)?;
    if train.is_empty() {
        bail!("[sites]: no site has train_samples > 0");
    }
    let init = train[0].params();
    let sim = SimulationConfig {
        rounds: cfg.rounds,
        client_fraction: cfg.client_fraction,
        seed: cfg.seed,
        local: LocalTrainConfig {
            seed: cfg.seed,
            ..cfg.local.clone()
        },
        checkpoint_dir: Some(a.out.join("checkpoints")),
        resume: a.resume,
        stop_after_rounds: None,
    };
    let names: Vec<String> = train.iter().chain(&eval).map(site_name).collect();
    eprintln!(
        "fed simulate: method {}, {} training + {} evaluation-only sites, {} rounds, {} parameters",
        method.name,
        train.len(),
        eval.len(),
        cfg.rounds,
        init.num_elements()
    );
    report_groups(&method, &init);
    let start = Instant::now();
    let outcome = {
        let sims = sim_sites(&mut train, &mut eval, &names);
        simulate(
            &method,
            &init,
            sims,
            &sim,
            &mut Progress {
                start,
                rounds: cfg.rounds,
            },
        )?
    };
    write_history_csv(&a.out.join("history.csv"), &outcome.state.history)?;
    write_history_json(&a.out.join("history.json"), &outcome.state.history)?;
    // the classical reference (FBP / zero-filled) and sample images
    let samples = a.out.join("samples");
    std::fs::create_dir_all(&samples)?;
    let (reference, fbp) = reference_scores(train.iter().chain(&eval))?;
    for (t, (name, params)) in train.iter().chain(&eval).zip(&outcome.site_params) {
        let val = t.parts()[0]
            .val
            .as_ref()
            .context("site without held-out data")?;
        if let Some((img, s)) = t.reconstruct_val(params, 1)?.into_iter().next() {
            let [ny, nx] = s.target_shape;
            let (lo, hi) = s
                .target
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            let win = fedrecon_io::Window::Range {
                lo,
                hi: hi.max(lo + 1e-6),
            };
            let mut imgs = vec![
                ("recon".to_string(), img),
                ("target".to_string(), s.target.clone()),
            ];
            imgs.extend(fedrecon_nn::train::classical_recons(val, &s)?);
            for (what, data) in imgs {
                fedrecon_io::write_png(
                    samples.join(format!("{name}_{what}.png")),
                    ny,
                    nx,
                    &data,
                    win,
                )?;
            }
        }
    }
    let table = ResultsTable {
        rows: vec![
            MethodResult::from_outcome(&method.name, &outcome)?,
            MethodResult {
                method: reference.into(),
                sites: fbp,
            },
        ],
    };
    table.write(&a.out, "results", None)?;
    plots::write_figure(
        plots::simulate_figure(
            &method.name,
            &outcome.state.history,
            reference,
            &table.rows[1].sites,
        ),
        &a.out.join("curves.png"),
        plots::CURVES_SIZE,
    )?;
    println!("{}", table.to_markdown());
    println!(
        "{} rounds in {:.1} s. Outputs in {}: results.md/csv, history.csv/json, curves.png, samples/*.png, checkpoints/, config.resolved.toml",
        outcome.state.history.len(),
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// Print how the method's groups split the model's tensors; warn about groups that take none
/// (e.g. FedBN on a backbone without normalisation layers runs as FedAvg).
fn report_groups(method: &fedrecon_fed::FedMethod, init: &fedrecon_fed::ParamSet) {
    let counts = method.strategy.group_counts(init.names());
    let parts: Vec<String> = counts
        .iter()
        .map(|(g, p, n)| format!("{g} ({}): {n}", policy_word(p)))
        .collect();
    eprintln!("   tensors per group: {}", parts.join(", "));
    for (g, _, n) in &counts {
        if *n == 0 && g != fedrecon_fed::strategy::DEFAULT_GROUP {
            eprintln!(
                "   warning: group {g:?} of {} matches no parameter of this model, so it has no effect",
                method.name
            );
        }
    }
}

fn policy_word(p: &fedrecon_fed::Policy) -> &'static str {
    match p {
        fedrecon_fed::Policy::Local => "local",
        fedrecon_fed::Policy::Aggregate { .. } => "aggregate",
        fedrecon_fed::Policy::AggregateNoOverwrite { .. } => "aggregate-no-overwrite",
    }
}

/// The classical reference of the sites' modality — `"fbp"` for CT, `"zero-filled"` (RSS of the
/// zero-filled k-space) for MRI — scored on every site's held-out data.
fn reference_scores<'a>(
    sites: impl Iterator<Item = &'a fedrecon_nn::fed::NnSiteTrainer>,
) -> Result<(&'static str, Vec<(String, SiteMetrics)>)> {
    let mut name = "fbp";
    let mut out = Vec::new();
    for t in sites {
        let val = t.parts()[0]
            .val
            .as_ref()
            .context("site without held-out data")?;
        if matches!(val.physics, fedrecon_nn::physics::Physics::Mri(_)) {
            name = "zero-filled";
        }
        if let Some((_, s)) = fedrecon_nn::train::score_classical(val)?
            .into_iter()
            .find(|(m, _)| m == name)
        {
            out.push((
                site_name(t),
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

/// The simulation's sites: the training sites, then the evaluation-only ones, named by `names`
/// in that order.
fn sim_sites<'a>(
    train: &'a mut [fedrecon_nn::fed::NnSiteTrainer],
    eval: &'a mut [fedrecon_nn::fed::NnSiteTrainer],
    names: &'a [String],
) -> Vec<SimSite<'a>> {
    let n = train.len();
    let mut sims: Vec<SimSite<'a>> = train
        .iter_mut()
        .zip(names)
        .map(|(t, name)| SimSite::new(name, t))
        .collect();
    sims.extend(
        eval.iter_mut()
            .zip(&names[n..])
            .map(|(t, name)| SimSite::evaluate_only(name, t)),
    );
    sims
}

fn site_name(t: &fedrecon_nn::fed::NnSiteTrainer) -> String {
    t.parts()[0].name.clone()
}

/// The method names `fed compare` accepts besides the presets: `central` (pooled training),
/// `hyperfed-local` / `hyperfed-shared` (HyperFed with personal / one aggregated hypernetwork;
/// plain `hyperfed` uses the config's `[method] hyper`), and `fdd-fedavg` (FedFDD's two-branch
/// network with both branches aggregated: FedAvg on FedFDD's architecture, the like-for-like
/// baseline of `fedfdd`).
pub const COMPARE_EXTRA: [&str; 4] = ["central", "hyperfed-local", "hyperfed-shared", "fdd-fedavg"];

/// Length of the sites' protocol vectors (7 for CT, 8 for MRI).
fn protocol_dim(cfg: &FedConfig) -> Result<usize> {
    let s = cfg.sites.site.first().context("[sites]: no site")?;
    Ok(s.protocol()?.to_vector()?.len())
}

/// The federated method (`None` for `central`) and architecture of a `fed compare` method name:
/// the config's architecture when it fits the method, else a small default.
fn compare_method(
    method: &str,
    cfg: &FedConfig,
) -> Result<(Option<fedrecon_fed::FedMethod>, Architecture)> {
    let hyper_arch = match cfg.arch {
        Architecture::Hyper(_) => cfg.arch,
        _ => Architecture::Hyper(fedrecon_nn::HypernetworkConfig {
            protocol_dim: protocol_dim(cfg)?,
            hidden: 16,
            hidden_layers: 1,
        }),
    };
    let fdd_arch = match cfg.arch {
        Architecture::Fdd(_) => cfg.arch,
        _ => Architecture::Fdd(Default::default()),
    };
    // the config's aggregation rule, weighting, μ, norm patterns and hypernetwork mode for every
    // method; its custom groups only for its own preset
    let named = |preset: &str| PresetOptions {
        preset: preset.into(),
        groups: if preset == cfg.method.preset {
            cfg.method.groups.clone()
        } else {
            Vec::new()
        },
        ..cfg.method.clone()
    };
    let (opts, arch) = match method {
        "central" => return Ok((None, Architecture::Plain)),
        "hyperfed" => (named("hyperfed"), hyper_arch),
        "hyperfed-local" | "hyperfed-shared" => {
            let mut o = named("hyperfed");
            o.hyper = if method == "hyperfed-local" {
                fedrecon_fed::presets::HyperMode::Local
            } else {
                fedrecon_fed::presets::HyperMode::Aggregate
            };
            (o, hyper_arch)
        }
        "fedfdd" => (named("fedfdd"), fdd_arch),
        "fdd-fedavg" => (named("fedavg"), fdd_arch),
        m => (named(m), Architecture::Plain),
    };
    let built = build_method(&opts).with_context(|| {
        format!(
            "--methods: {method:?} (presets: {}; also {})",
            fedrecon_fed::presets::PRESETS.join(", "),
            COMPARE_EXTRA.join(", ")
        )
    })?;
    Ok((Some(built), arch))
}

fn compare_cmd(a: CompareArgs) -> Result<()> {
    let text = match &a.config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => DEFAULT_CONFIG.to_string(),
    };
    let mut cfg = FedConfig::parse(&text, &a.set)?;
    if let Some(r) = a.rounds {
        cfg.rounds = r;
    }
    let methods: Vec<String> = a.methods.split(',').map(|m| m.trim().to_string()).collect();
    for m in &methods {
        compare_method(m, &cfg)?;
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(
        a.out.join("config.resolved.toml"),
        toml::to_string_pretty(&cfg).context("serialising the config")?,
    )?;
    let dev = fedrecon_nn::burn::tensor::Device::flex();
    let sim = SimulationConfig {
        rounds: cfg.rounds,
        client_fraction: cfg.client_fraction,
        seed: cfg.seed,
        local: LocalTrainConfig {
            seed: cfg.seed,
            ..cfg.local.clone()
        },
        checkpoint_dir: None,
        resume: false,
        stop_after_rounds: None,
    };
    let mut rows = Vec::new();
    let mut histories = Vec::new();
    let t0 = Instant::now();
    for m in &methods {
        let start = Instant::now();
        let (method, arch) = compare_method(m, &cfg)?;
        let spec = NetSpec {
            model: cfg.model,
            arch,
        };
        let (mut train, mut eval) =
            site_trainers(&cfg.sites, spec, cfg.train, cfg.ellipses, cfg.seed, &dev)?;
        let names: Vec<String> = train.iter().chain(&eval).map(site_name).collect();
        let mut progress = Progress {
            start,
            rounds: cfg.rounds,
        };
        eprintln!("== {m}");
        let outcome = if let Some(method) = method {
            let init = train.first().context("no training site")?.params();
            report_groups(&method, &init);
            let sims = sim_sites(&mut train, &mut eval, &names);
            simulate(&method, &init, sims, &sim, &mut progress)?
        } else {
            let mut pooled = fedrecon_nn::fed::central_trainer(
                &cfg.sites,
                spec,
                cfg.train,
                cfg.ellipses,
                cfg.seed,
                &dev,
            )?;
            let init = pooled.params();
            let sims = train
                .iter_mut()
                .chain(eval.iter_mut())
                .zip(&names)
                .map(|(t, n)| SimSite::evaluate_only(n, t))
                .collect();
            fedrecon_fed::simulate_central(&mut pooled, &init, sims, &sim, &mut progress)?
        };
        let mut r = MethodResult::from_outcome(m, &outcome)?;
        r.sites.retain(|(s, _)| s != "central");
        histories.push((m.clone(), outcome.state.history.clone()));
        rows.push(r);
        eprintln!("   {m}: {:.1} s", start.elapsed().as_secs_f64());
        if rows.len() == 1 {
            let (reference, sites) = reference_scores(train.iter().chain(&eval))?;
            rows.push(MethodResult {
                method: reference.into(),
                sites,
            });
        }
    }
    let table = ResultsTable { rows };
    table.write(&a.out, "compare", a.json.as_deref())?;
    plots::write_figure(
        plots::compare_figure(&table, &histories),
        &a.out.join("compare.png"),
        plots::COMPARE_SIZE,
    )?;
    println!("{}", table.to_markdown());
    println!(
        "{} methods in {:.1} s. Outputs in {}: compare.md, compare.csv, compare.png, config.resolved.toml{}",
        methods.len(),
        t0.elapsed().as_secs_f64(),
        a.out.display(),
        a.json
            .as_ref()
            .map(|j| format!(", {}", j.display()))
            .unwrap_or_default()
    );
    Ok(())
}
