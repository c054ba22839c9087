//! `fedrecon fed`: federated training of reconstruction networks on simulated sites.
//!
//! The scenario (config, site presets, site builders, methods) is the library's
//! `fedrecon_nn::fed::scenario`; this module runs it and writes the outputs.
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
//! round for every method) and `config.resolved.toml`. With `--seeds 0,1,2` it repeats the whole
//! comparison per run seed (`seed-<k>/`) and summarises them as mean ± sample sd with paired
//! gains over a baseline method (`fedrecon_fed::results::SeedStudy`).
//!
//! `fed provision` writes the CA, the SuperLink's TLS certificate and the sites' node keys of a
//! Flower 1.42 deployment across machines ([`provision`]).

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use fedrecon_fed::results::{MethodResult, ResultsTable, write_history_csv, write_history_json};
use fedrecon_fed::runtime::{RoundRecord, RunObserver, SimSite, simulate};
use fedrecon_fed::{SiteTrainer, build_method};
use fedrecon_nn::fed::scenario::{DEFAULT_CONFIG, FedConfig, reference_scores, sim_sites};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod plots;
pub mod provision;

/// `fedrecon fed …`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one federated method over the configured sites.
    Simulate(SimulateArgs),
    /// Run several methods on the same sites and seeds and tabulate them.
    Compare(CompareArgs),
    /// Write the TLS certificates and SuperNode keys of a Flower deployment across machines.
    Provision(provision::ProvisionArgs),
}

/// `fed compare` arguments.
#[derive(Debug, ClapArgs)]
pub struct CompareArgs {
    /// Federation config (default: the embedded `configs/demo.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Comma-separated methods: the presets local, fedavg, fedprox, fedbn, fedfdd, hyperfed, and
    /// central, central-onehot, hyperfed-local, hyperfed-shared, fdd-fedavg (see
    /// `fedrecon_nn::fed::scenario::COMPARE_EXTRA`).
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
    /// Run the whole comparison once per run seed (comma-separated, e.g. `0,1,2`; the config's
    /// `seed` when absent): each run is written to `OUT/seed-<k>/`, and `OUT/compare.md/csv/png`
    /// (and `--json`) hold the mean ± sample sd over the seeds and the paired gains over
    /// `--baseline`.
    #[arg(long, value_delimiter = ',', value_name = "K,K,…")]
    pub seeds: Vec<u64>,
    /// The method the paired PSNR gains of a multi-seed comparison are measured against.
    #[arg(long, default_value = "fedavg")]
    pub baseline: String,
    /// Compute device of every site's training: `cpu` (burn-flex) or `cuda[:N]` (burn's CUDA
    /// backend on GPU N, fedrecon's kernels as the physics ops; a `--features cuda` build). The
    /// in-process sites share it.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: crate::common::Device,
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
    /// Compute device of every site's training: `cpu` (burn-flex) or `cuda[:N]` (burn's CUDA
    /// backend on GPU N, fedrecon's kernels as the physics ops; a `--features cuda` build). The
    /// in-process sites share it.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: crate::common::Device,
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
        Command::Provision(a) => provision::run(a),
    }
}

/// The config of `--config` (default: the embedded demo) with `--set` overrides and `--rounds`.
fn load_config(path: Option<&Path>, set: &[String], rounds: Option<usize>) -> Result<FedConfig> {
    let text = match path {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => DEFAULT_CONFIG.to_string(),
    };
    let mut cfg = FedConfig::parse(&text, set)?;
    if let Some(r) = rounds {
        cfg.rounds = r;
    }
    Ok(cfg)
}

/// Create `out` and write the resolved config there.
fn write_resolved(out: &Path, cfg: &FedConfig) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    crate::files::write_text(&out.join("config.resolved.toml"), &cfg.to_toml()?)
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref(), &a.set, a.rounds)?;
    let method = build_method(&cfg.method).context("invalid [method]")?;
    write_resolved(&a.out, &cfg)?;
    let dev = a.device.open()?;
    let (mut train, mut eval) = cfg.site_trainers(cfg.arch, &dev)?;
    if train.is_empty() {
        bail!("[sites]: no site has train_samples > 0");
    }
    let init = train[0].params();
    let sim = cfg.simulation(Some(a.out.join("checkpoints")), a.resume);
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
        let sims = sim_sites(&mut train, &mut eval);
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
        let val = t.val_data()?;
        if let Some((img, s)) = t.reconstruct_val(params, 1)?.into_iter().next() {
            fedrecon_nn::train::write_sample_pngs(&samples, name, img, &s, Some(val))?;
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

fn compare_cmd(a: CompareArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref(), &a.set, a.rounds)?;
    let methods: Vec<String> = a.methods.split(',').map(|m| m.trim().to_string()).collect();
    for m in &methods {
        cfg.method(m).context("--methods")?;
    }
    let dev = a.device.open()?;
    let t0 = Instant::now();
    if a.seeds.is_empty() {
        let (table, _) = compare_into(&a.out, &cfg, &methods, &dev, a.json.as_deref())?;
        println!("{}", table.to_markdown());
    } else {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(k) = a.seeds.iter().find(|k| !seen.insert(**k)) {
            bail!("--seeds: seed {k} is given twice");
        }
        let mut cfg = cfg;
        let mut runs = Vec::new();
        let mut first_histories = None;
        for &seed in &a.seeds {
            cfg.seed = seed;
            let dir = a.out.join(format!("seed-{seed}"));
            let start = Instant::now();
            eprintln!("==== seed {seed}");
            let (table, histories) = compare_into(&dir, &cfg, &methods, &dev, None)?;
            eprintln!("   seed {seed}: {:.1} s", start.elapsed().as_secs_f64());
            first_histories.get_or_insert(histories);
            runs.push((seed, table));
        }
        let study = fedrecon_fed::results::SeedStudy { runs };
        study.write(&a.out, "compare", &a.baseline, a.json.as_deref())?;
        // bars: per-site means over the seeds; curves: the first seed's run
        plots::write_figure(
            plots::compare_figure(&study.mean_table(), &first_histories.unwrap_or_default()),
            &a.out.join("compare.png"),
            plots::COMPARE_SIZE,
        )?;
        println!("{}", study.to_markdown(&a.baseline));
    }
    println!(
        "{} methods × {} seed(s) in {:.1} s. Outputs in {}: compare.md, compare.csv, compare.png, config.resolved.toml{}{}",
        methods.len(),
        a.seeds.len().max(1),
        t0.elapsed().as_secs_f64(),
        a.out.display(),
        if a.seeds.is_empty() {
            ""
        } else {
            ", seed-<k>/"
        },
        a.json
            .as_ref()
            .map(|j| format!(", {}", j.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// [`compare_run`] with its outputs in `dir`: `config.resolved.toml`, `compare.md/csv/png` and,
/// when given, the compare JSON.
fn compare_into(
    dir: &Path,
    cfg: &FedConfig,
    methods: &[String],
    dev: &fedrecon_nn::burn::tensor::Device,
    json: Option<&Path>,
) -> Result<(ResultsTable, Histories)> {
    write_resolved(dir, cfg)?;
    let (table, histories) = compare_run(cfg, methods, dev)?;
    table.write(dir, "compare", json)?;
    plots::write_figure(
        plots::compare_figure(&table, &histories),
        &dir.join("compare.png"),
        plots::COMPARE_SIZE,
    )?;
    Ok((table, histories))
}

/// Each method's round history, in run order.
type Histories = Vec<(String, Vec<RoundRecord>)>;

/// One `fed compare` run of `methods` on `cfg`'s sites (with the FBP reference row after the
/// first method): the methods × sites table and each method's round history.
fn compare_run(
    cfg: &FedConfig,
    methods: &[String],
    dev: &fedrecon_nn::burn::tensor::Device,
) -> Result<(ResultsTable, Histories)> {
    let sim = cfg.simulation(None, false);
    let mut rows = Vec::new();
    let mut histories = Vec::new();
    for m in methods {
        let start = Instant::now();
        let (method, arch) = cfg.method(m)?;
        let (mut train, mut eval) = cfg.site_trainers(arch, dev)?;
        let mut progress = Progress {
            start,
            rounds: cfg.rounds,
        };
        eprintln!("== {m}");
        let outcome = if let Some(method) = method {
            let init = train.first().context("no training site")?.params();
            report_groups(&method, &init);
            let sims = sim_sites(&mut train, &mut eval);
            simulate(&method, &init, sims, &sim, &mut progress)?
        } else {
            let mut pooled = cfg.central_trainer(arch, dev)?;
            let init = pooled.params();
            let sims = sim_sites(&mut train, &mut eval)
                .into_iter()
                .map(|s| SimSite::evaluate_only(&s.name, s.trainer))
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
    Ok((ResultsTable { rows }, histories))
}
