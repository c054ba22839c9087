//! The federation runtime: site agents, coordinator, messages, checkpoints, and an in-process
//! simulation that runs sites on threads over `std::sync::mpsc` channels.
//!
//! # Protocol
//! Each round `t` (0-based) the coordinator
//! 1. samples `m = max(1, round(C·K))` of the `K` training sites with a generator seeded by
//!    `(seed, t)` (so resuming never replays or skips random draws) — McMahan et al. 2017's client
//!    fraction `C`;
//! 2. sends each sampled site [`ToSite::RoundStart`] with the `Aggregate` tensors of the global
//!    model; the site overwrites its copies of exactly those tensors, trains locally
//!    ([`SiteTrainer::train_round`]) and answers [`ToCoordinator::Update`] with every non-`Local`
//!    tensor (the [`Strategy::upload_view`] of its parameters) and its sample count;
//! 3. aggregates the updates **in site order**, whatever order the threads answered in, so a run
//!    is a deterministic function of its seed;
//! 4. sends every evaluating site [`ToSite::Evaluate`] with the new global tensors (training sites:
//!    the `Aggregate` tensors; evaluation-only sites, which own no trained copy: every server
//!    tensor, including `AggregateNoOverwrite` ones), collects [`ToCoordinator::Metrics`]
//!    (PSNR/SSIM/NMSE on the site's held-out data) and records the round;
//! 5. writes its [`CoordinatorState`] atomically (temporary file + rename) to the checkpoint
//!    directory; each site agent has already written its own parameters there after evaluating.
//!
//! `Local` tensors never appear in any message: the site agent filters uploads by the strategy and
//! refuses a download that names a tensor it must not overwrite.
//!
//! # Baselines
//! - local-only: the `local` preset (every tensor `Local`; messages carry no tensors);
//! - central: [`simulate_central`] trains one pooled trainer (the caller builds it over the union
//!   of the sites' training data) as the only participant of a FedAvg federation — aggregation of
//!   one site is the identity — and every real site evaluates the pooled model on its own
//!   held-out data as an evaluation-only participant.
//!
//! # Determinism and resume
//! A [`SiteTrainer`] must be a deterministic function of its parameters, its data, the round index
//! and the [`LocalTrainConfig`] (seed its generator with [`round_seed`], reset its optimiser state
//! each round). Then a run resumed from the checkpoint after round `k` ends bit-identical to an
//! uninterrupted one.

use crate::error::{FedError, Result};
use crate::params::{ParamSet, lossless};
use crate::presets::{FedMethod, preset};
use crate::strategy::{Contribution, ServerState, Strategy};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Local training settings sent with every round start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalTrainConfig {
    /// Passes over the site's training data per round.
    pub epochs: usize,
    /// Optimiser steps per round instead of epochs, when set.
    pub steps: Option<usize>,
    /// Local learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// FedProx `μ` (0: plain local training); add [`crate::proximal_gradient`] to the gradient.
    pub proximal_mu: f64,
    /// Base seed for the trainer's generators (combine with the round via [`round_seed`]).
    pub seed: u64,
}

impl Default for LocalTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            steps: None,
            learning_rate: 1e-3,
            batch_size: 1,
            proximal_mu: 0.0,
            seed: 0,
        }
    }
}

impl LocalTrainConfig {
    /// Check the settings; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 && self.steps.is_none() {
            return Err(FedError::field(
                "local.epochs",
                0,
                "must be ≥ 1 (or set local.steps)",
            ));
        }
        if self.steps == Some(0) {
            return Err(FedError::field("local.steps", 0, "must be ≥ 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(FedError::field(
                "local.learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            ));
        }
        if self.batch_size == 0 {
            return Err(FedError::field("local.batch_size", 0, "must be ≥ 1"));
        }
        if !(self.proximal_mu.is_finite() && self.proximal_mu >= 0.0) {
            return Err(FedError::field(
                "local.proximal_mu",
                self.proximal_mu,
                "must be finite and ≥ 0",
            ));
        }
        Ok(())
    }
}

/// What a site reports after local training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training samples used (the FedAvg weight).
    pub num_samples: usize,
    /// Mean training loss of the round.
    pub mean_loss: f64,
}

/// Held-out metrics of a site.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteMetrics {
    /// Mean PSNR, dB.
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Mean NMSE.
    pub nmse: f64,
}

/// A site's model and data, implemented by the network crate.
pub trait SiteTrainer: Send {
    /// Train locally for one round from the trainer's current parameters (the agent has already
    /// loaded the site's parameters merged with the downloaded global tensors). `global` holds
    /// exactly the downloaded tensors, for FedProx's proximal term `cfg.proximal_mu·(w − w_g)`.
    /// The trained parameters stay in the trainer; the agent reads them with [`Self::params`].
    fn train_round(
        &mut self,
        round: usize,
        global: &ParamSet,
        cfg: &LocalTrainConfig,
    ) -> Result<TrainReport>;
    /// Metrics of the model with parameters `params` on the site's held-out data.
    fn evaluate(&mut self, params: &ParamSet) -> Result<SiteMetrics>;
    /// The current parameters (all of them, local ones included).
    fn params(&self) -> ParamSet;
    /// Replace the parameters (same names and shapes).
    fn load_params(&mut self, p: &ParamSet) -> Result<()>;
}

/// A seed for stream `stream` of round `round` derived from `seed` (SplitMix64 finaliser).
pub fn round_seed(seed: u64, round: usize, stream: u64) -> u64 {
    let mut z = seed
        ^ (round as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Coordinator → site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToSite {
    /// Train one round starting from these global tensors.
    RoundStart {
        round: usize,
        params: ParamSet,
        config: LocalTrainConfig,
    },
    /// Evaluate with these global tensors merged into the site's model.
    Evaluate { round: usize, params: ParamSet },
    /// Shut down.
    Stop,
}

/// Site → coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToCoordinator {
    /// The trained non-local tensors.
    Update {
        round: usize,
        site: String,
        params: ParamSet,
        report: TrainReport,
    },
    /// Held-out metrics after a round.
    Metrics {
        round: usize,
        site: String,
        metrics: SiteMetrics,
    },
    /// The site could not do what was asked.
    Failed {
        round: usize,
        site: String,
        reason: String,
    },
}

/// What a participant does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteRole {
    /// Trains (when sampled) and evaluates every round.
    TrainAndEvaluate,
    /// Only evaluates (an unseen-protocol site, or a real site in central mode).
    EvaluateOnly,
    /// Only trains (the pooled trainer of central mode).
    TrainOnly,
}

impl SiteRole {
    fn trains(self) -> bool {
        self != Self::EvaluateOnly
    }
    fn evaluates(self) -> bool {
        self != Self::TrainOnly
    }
}

/// A site's own state in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteCheckpoint {
    /// Site name.
    pub site: String,
    /// Rounds completed when written.
    pub completed_rounds: usize,
    /// All of the site's parameters.
    #[serde(with = "lossless")]
    pub params: ParamSet,
}

/// The site side of the protocol: applies messages to a trainer (used by the simulation's
/// threads; a networked site runs the same code behind its transport).
pub struct SiteAgent<'a> {
    name: String,
    role: SiteRole,
    trainer: &'a mut dyn SiteTrainer,
    strategy: Strategy,
    checkpoint_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SiteAgent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteAgent({:?}, {:?})", self.name, self.role)
    }
}

impl<'a> SiteAgent<'a> {
    /// An agent for `trainer` following `strategy`; writes its checkpoints to `checkpoint_dir`.
    pub fn new(
        name: &str,
        role: SiteRole,
        trainer: &'a mut dyn SiteTrainer,
        strategy: Strategy,
        checkpoint_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            role,
            trainer,
            strategy,
            checkpoint_dir,
        }
    }

    fn merge(&mut self, global: &ParamSet, what: &str) -> Result<ParamSet> {
        for n in global.names() {
            let (group, policy) = self.strategy.policy_of(n);
            let allowed = if self.role.trains() {
                policy.downloaded()
            } else {
                policy.uploaded()
            };
            if !allowed {
                return Err(FedError::UnexpectedParam {
                    name: n.into(),
                    context: format!(
                        "{what} for site `{}` (group `{group}` must not be overwritten by the server)",
                        self.name
                    ),
                });
            }
        }
        let mut p = self.trainer.params();
        p.overwrite_from(global, &format!("{what} for site `{}`", self.name))?;
        self.trainer.load_params(&p)?;
        Ok(p)
    }

    /// Write this site's parameters after `round` (keeping the previous round's file too, in case
    /// the coordinator dies before its own checkpoint of `round`).
    fn checkpoint(&mut self, round: usize) -> Result<()> {
        if let Some(dir) = &self.checkpoint_dir {
            let ck = SiteCheckpoint {
                site: self.name.clone(),
                completed_rounds: round + 1,
                params: self.trainer.params(),
            };
            write_json_atomic(&site_checkpoint_path(dir, &self.name, round + 1), &ck)?;
            if round >= 1 {
                let _ = std::fs::remove_file(site_checkpoint_path(dir, &self.name, round - 1));
            }
        }
        Ok(())
    }

    /// Handle one message; `Ok(None)` for [`ToSite::Stop`].
    pub fn handle(&mut self, msg: &ToSite) -> Result<Option<ToCoordinator>> {
        match msg {
            ToSite::RoundStart {
                round,
                params,
                config,
            } => {
                if !self.role.trains() {
                    return Err(FedError::site(
                        &self.name,
                        "evaluation-only site asked to train",
                    ));
                }
                self.merge(params, "the round-start tensors")?;
                let report = self.trainer.train_round(*round, params, config)?;
                if self.role == SiteRole::TrainOnly {
                    // never evaluates: its state is final once trained
                    self.checkpoint(*round)?;
                }
                Ok(Some(ToCoordinator::Update {
                    round: *round,
                    site: self.name.clone(),
                    params: self.strategy.upload_view(&self.trainer.params()),
                    report,
                }))
            }
            ToSite::Evaluate { round, params } => {
                if !self.role.evaluates() {
                    return Err(FedError::site(
                        &self.name,
                        "training-only site asked to evaluate",
                    ));
                }
                let merged = self.merge(params, "the evaluation tensors")?;
                let metrics = self.trainer.evaluate(&merged)?;
                self.checkpoint(*round)?;
                Ok(Some(ToCoordinator::Metrics {
                    round: *round,
                    site: self.name.clone(),
                    metrics,
                }))
            }
            ToSite::Stop => Ok(None),
        }
    }
}

/// `dir/site-<name>.after-<completed>.json`.
pub fn site_checkpoint_path(dir: &Path, site: &str, completed_rounds: usize) -> PathBuf {
    dir.join(format!("site-{site}.after-{completed_rounds}.json"))
}

/// `dir/coordinator.json`.
pub fn coordinator_checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("coordinator.json")
}

/// Serialise to JSON and write atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec(value).map_err(|e| FedError::io(path, e))?;
    write_atomic(path, &text)
}

/// Write bytes atomically (temporary file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| FedError::io(dir, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| FedError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| FedError::io(&tmp, e))?;
    f.sync_all().map_err(|e| FedError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| FedError::io(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| FedError::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| FedError::Parse {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// One site's training in a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteTrainRecord {
    /// Site name.
    pub site: String,
    /// What it reported.
    pub report: TrainReport,
}

/// One site's metrics after a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteMetricsRecord {
    /// Site name.
    pub site: String,
    /// Its held-out metrics.
    pub metrics: SiteMetrics,
}

/// Everything recorded about one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// 0-based round index.
    pub round: usize,
    /// Sampled training sites, in site order.
    pub participants: Vec<String>,
    /// Their training reports, in site order.
    pub train: Vec<SiteTrainRecord>,
    /// Every evaluating site's metrics, in site order.
    pub metrics: Vec<SiteMetricsRecord>,
}

/// The coordinator's durable state (checkpointed after every round).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordinatorState {
    /// Rounds completed.
    pub completed_rounds: usize,
    /// The server model: every non-local tensor.
    #[serde(with = "lossless")]
    pub global: ParamSet,
    /// Server optimiser moments.
    pub server: ServerState,
    /// Run seed (client sampling is seeded by `(seed, round)`, so this is the whole RNG state).
    pub seed: u64,
    /// Participant names in order (checked on resume).
    pub sites: Vec<String>,
    /// Per-round records.
    pub history: Vec<RoundRecord>,
}

/// Simulation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// Communication rounds.
    pub rounds: usize,
    /// Fraction `C` of training sites sampled per round, in `(0, 1]` (default 1).
    #[serde(default = "one")]
    pub client_fraction: f64,
    /// Run seed (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Local training settings (`proximal_mu` is taken from the method).
    #[serde(default)]
    pub local: LocalTrainConfig,
    /// Checkpoint directory (none: no checkpoints).
    #[serde(default)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Resume from the checkpoint in `checkpoint_dir` when one exists.
    #[serde(default)]
    pub resume: bool,
    /// Stop once this many rounds are complete, as if the process were killed (for testing resume).
    #[serde(default)]
    pub stop_after_rounds: Option<usize>,
}

fn one() -> f64 {
    1.0
}

impl SimulationConfig {
    /// `rounds` rounds, all sites every round, seed 0, no checkpoints.
    pub fn new(rounds: usize) -> Self {
        Self {
            rounds,
            client_fraction: 1.0,
            seed: 0,
            local: LocalTrainConfig::default(),
            checkpoint_dir: None,
            resume: false,
            stop_after_rounds: None,
        }
    }
}

/// A participant of a simulation.
pub struct SimSite<'a> {
    /// Unique, file-safe name.
    pub name: String,
    /// What it does.
    pub role: SiteRole,
    /// Its model and data.
    pub trainer: &'a mut dyn SiteTrainer,
}

impl std::fmt::Debug for SimSite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimSite({:?}, {:?})", self.name, self.role)
    }
}

impl<'a> SimSite<'a> {
    /// A site that trains and evaluates.
    pub fn new(name: &str, trainer: &'a mut dyn SiteTrainer) -> Self {
        Self {
            name: name.into(),
            role: SiteRole::TrainAndEvaluate,
            trainer,
        }
    }
    /// An evaluation-only site.
    pub fn evaluate_only(name: &str, trainer: &'a mut dyn SiteTrainer) -> Self {
        Self {
            name: name.into(),
            role: SiteRole::EvaluateOnly,
            trainer,
        }
    }
}

/// A message as seen by a [`RunObserver`].
#[derive(Debug, Clone, Copy)]
pub enum MessageEvent<'a> {
    /// Sent to site `site`.
    Down { site: &'a str, msg: &'a ToSite },
    /// Received from a site.
    Up(&'a ToCoordinator),
}

/// Hooks into a running simulation (progress printing, auditing of what was transmitted).
pub trait RunObserver {
    /// Every message the coordinator sends or receives.
    fn message(&mut self, _event: MessageEvent<'_>) {}
    /// After each completed (and checkpointed) round.
    fn round_done(&mut self, _record: &RoundRecord) {}
}

/// An observer that does nothing.
#[derive(Debug, Default)]
pub struct NoObserver;
impl RunObserver for NoObserver {}

/// The result of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationOutcome {
    /// Final coordinator state (global model, server state, full history).
    pub state: CoordinatorState,
    /// Each participant's final parameters (its personalised model), in order.
    pub site_params: Vec<(String, ParamSet)>,
    /// Whether the run stopped at `stop_after_rounds` before `rounds`.
    pub stopped_early: bool,
}

/// Sorted indices of the training sites sampled in `round`.
pub fn sample_clients(seed: u64, round: usize, trainers: &[usize], fraction: f64) -> Vec<usize> {
    let k = trainers.len();
    if k == 0 {
        return vec![];
    }
    let m = ((fraction * k as f64).round() as usize).clamp(1, k);
    let mut rng = StdRng::seed_from_u64(round_seed(seed, round, 0x5A3F));
    let mut pick: Vec<usize> = rand::seq::index::sample(&mut rng, k, m)
        .into_iter()
        .map(|i| trainers[i])
        .collect();
    pick.sort_unstable();
    pick
}

/// Run a federated method over `sites` from the initial parameters `initial` (the server keeps
/// its non-local tensors; each site starts from its trainer's own parameters with the global
/// tensors downloaded at the first round start).
pub fn simulate(
    method: &FedMethod,
    initial: &ParamSet,
    sites: Vec<SimSite<'_>>,
    cfg: &SimulationConfig,
    observer: &mut dyn RunObserver,
) -> Result<SimulationOutcome> {
    if sites.iter().any(|s| s.role == SiteRole::TrainOnly) {
        return Err(FedError::field(
            "role",
            "train-only",
            "only the pooled trainer of simulate_central trains without evaluating",
        ));
    }
    run(
        &method.strategy,
        method.proximal_mu,
        initial,
        sites,
        cfg,
        observer,
    )
}

/// The local-only baseline: [`simulate`] with the `local` preset.
pub fn simulate_local_only(
    initial: &ParamSet,
    sites: Vec<SimSite<'_>>,
    cfg: &SimulationConfig,
    observer: &mut dyn RunObserver,
) -> Result<SimulationOutcome> {
    simulate(&preset("local")?, initial, sites, cfg, observer)
}

/// The central baseline: `pooled` (a trainer over all sites' training data, built by the caller)
/// is the only training participant of a FedAvg run; each of `eval_sites` evaluates the pooled
/// model on its own held-out data every round.
pub fn simulate_central<'a>(
    pooled: &'a mut dyn SiteTrainer,
    initial: &ParamSet,
    eval_sites: Vec<SimSite<'a>>,
    cfg: &SimulationConfig,
    observer: &mut dyn RunObserver,
) -> Result<SimulationOutcome> {
    let mut sites = vec![SimSite {
        name: "central".into(),
        role: SiteRole::TrainOnly,
        trainer: pooled,
    }];
    sites.extend(eval_sites.into_iter().map(|s| SimSite {
        role: SiteRole::EvaluateOnly,
        ..s
    }));
    let fedavg = preset("fedavg")?;
    let cfg = SimulationConfig {
        client_fraction: 1.0,
        ..cfg.clone()
    };
    run(&fedavg.strategy, 0.0, initial, sites, &cfg, observer)
}

fn validate(cfg: &SimulationConfig, sites: &[SimSite<'_>]) -> Result<()> {
    if !(cfg.client_fraction > 0.0 && cfg.client_fraction <= 1.0) {
        return Err(FedError::field(
            "client_fraction",
            cfg.client_fraction,
            "must be in (0, 1]",
        ));
    }
    let mut seen = BTreeSet::new();
    for s in sites {
        crate::protocol::check_site_name(&s.name)?;
        if !seen.insert(s.name.as_str()) {
            return Err(FedError::field(
                "site.name",
                format!("{:?}", s.name),
                "site names must be unique",
            ));
        }
    }
    if !sites.iter().any(|s| s.role.trains()) {
        return Err(FedError::field(
            "sites",
            "no training site",
            "need at least one site that trains",
        ));
    }
    cfg.local.validate()?;
    if cfg.resume && cfg.checkpoint_dir.is_none() {
        return Err(FedError::field(
            "resume",
            true,
            "needs a checkpoint directory",
        ));
    }
    Ok(())
}

struct Channels {
    down: Vec<mpsc::Sender<ToSite>>,
    up: mpsc::Receiver<(usize, ToCoordinator)>,
}

impl Channels {
    fn send(&self, i: usize, name: &str, msg: ToSite, obs: &mut dyn RunObserver) -> Result<()> {
        obs.message(MessageEvent::Down {
            site: name,
            msg: &msg,
        });
        self.down[i]
            .send(msg)
            .map_err(|_| FedError::site(name, "site agent is gone"))
    }
    /// Receive one reply from each of `from` (any order), returned in `from`'s order.
    fn collect(
        &self,
        from: &[usize],
        names: &[String],
        obs: &mut dyn RunObserver,
    ) -> Result<Vec<ToCoordinator>> {
        let mut got: Vec<Option<ToCoordinator>> = vec![None; names.len()];
        for _ in from {
            let (i, msg) = self
                .up
                .recv()
                .map_err(|_| FedError::site("?", "all site agents are gone"))?;
            obs.message(MessageEvent::Up(&msg));
            if let ToCoordinator::Failed { site, reason, .. } = &msg {
                return Err(FedError::site(site, reason));
            }
            if !from.contains(&i) || got[i].is_some() {
                return Err(FedError::site(&names[i], "unexpected message"));
            }
            got[i] = Some(msg);
        }
        Ok(from
            .iter()
            .map(|&i| got[i].take().expect("one each"))
            .collect())
    }
}

fn agent_loop(
    index: usize,
    mut agent: SiteAgent<'_>,
    rx: mpsc::Receiver<ToSite>,
    tx: mpsc::Sender<(usize, ToCoordinator)>,
) {
    while let Ok(msg) = rx.recv() {
        let round = match &msg {
            ToSite::RoundStart { round, .. } | ToSite::Evaluate { round, .. } => *round,
            ToSite::Stop => return,
        };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| agent.handle(&msg)));
        let reply = match out {
            Ok(Ok(Some(r))) => r,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => ToCoordinator::Failed {
                round,
                site: agent.name.clone(),
                reason: e.to_string(),
            },
            Err(p) => ToCoordinator::Failed {
                round,
                site: agent.name.clone(),
                reason: format!(
                    "trainer panicked: {}",
                    p.downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| p.downcast_ref::<&str>().copied())
                        .unwrap_or("?")
                ),
            },
        };
        if tx.send((index, reply)).is_err() {
            return;
        }
    }
}

fn run(
    strategy: &Strategy,
    proximal_mu: f64,
    initial: &ParamSet,
    mut sites: Vec<SimSite<'_>>,
    cfg: &SimulationConfig,
    observer: &mut dyn RunObserver,
) -> Result<SimulationOutcome> {
    validate(cfg, &sites)?;
    let names: Vec<String> = sites.iter().map(|s| s.name.clone()).collect();
    let roles: Vec<SiteRole> = sites.iter().map(|s| s.role).collect();
    let dir = cfg.checkpoint_dir.clone();

    // Coordinator state: fresh, or resumed (with each site restoring its own checkpoint).
    let resumed = match &dir {
        Some(d) if cfg.resume && coordinator_checkpoint_path(d).exists() => {
            let st: CoordinatorState = read_json(&coordinator_checkpoint_path(d))?;
            if st.sites != names {
                return Err(FedError::field(
                    "sites",
                    format!("{:?}", names),
                    format!(
                        "the checkpoint in {} was written for {:?}",
                        d.display(),
                        st.sites
                    ),
                ));
            }
            if st.seed != cfg.seed {
                return Err(FedError::field(
                    "seed",
                    cfg.seed,
                    format!("the checkpoint was written with seed {}", st.seed),
                ));
            }
            for s in sites.iter_mut() {
                let path = site_checkpoint_path(d, &s.name, st.completed_rounds);
                let ck: SiteCheckpoint = read_json(&path)?;
                if ck.site != s.name || ck.completed_rounds != st.completed_rounds {
                    return Err(FedError::Parse {
                        what: path.display().to_string(),
                        reason: "site checkpoint does not match the coordinator's".into(),
                    });
                }
                s.trainer.load_params(&ck.params)?;
            }
            Some(st)
        }
        _ => None,
    };
    let mut state = match resumed {
        Some(st) => st,
        None => CoordinatorState {
            completed_rounds: 0,
            global: strategy.upload_view(initial),
            server: ServerState::default(),
            seed: cfg.seed,
            sites: names.clone(),
            history: vec![],
        },
    };
    let trainers: Vec<usize> = (0..sites.len()).filter(|&i| roles[i].trains()).collect();
    let evaluators: Vec<usize> = (0..sites.len()).filter(|&i| roles[i].evaluates()).collect();
    let local_cfg = LocalTrainConfig {
        proximal_mu,
        ..cfg.local.clone()
    };

    let mut stopped_early = false;
    let result: Result<()> = std::thread::scope(|scope| {
        let (up_tx, up_rx) = mpsc::channel();
        let mut down = vec![];
        for (i, s) in sites.iter_mut().enumerate() {
            let (tx, rx) = mpsc::channel();
            down.push(tx);
            let agent = SiteAgent::new(
                &s.name,
                s.role,
                &mut *s.trainer,
                strategy.clone(),
                dir.clone(),
            );
            let up = up_tx.clone();
            scope.spawn(move || agent_loop(i, agent, rx, up));
        }
        drop(up_tx);
        let ch = Channels { down, up: up_rx };
        let out = (|| -> Result<()> {
            for round in state.completed_rounds..cfg.rounds {
                if cfg.stop_after_rounds.is_some_and(|k| round >= k) {
                    stopped_early = true;
                    break;
                }
                let part = sample_clients(cfg.seed, round, &trainers, cfg.client_fraction);
                let down_view = strategy.download_view(&state.global);
                for &i in &part {
                    let msg = ToSite::RoundStart {
                        round,
                        params: down_view.clone(),
                        config: local_cfg.clone(),
                    };
                    ch.send(i, &names[i], msg, observer)?;
                }
                let replies = ch.collect(&part, &names, observer)?;
                let mut uploads = vec![];
                for (&i, r) in part.iter().zip(&replies) {
                    match r {
                        ToCoordinator::Update {
                            round: r_round,
                            site,
                            params,
                            report,
                        } if *r_round == round && *site == names[i] => {
                            uploads.push((i, params, *report))
                        }
                        _ => return Err(FedError::site(&names[i], "expected this round's update")),
                    }
                }
                let contribs: Vec<Contribution> = uploads
                    .iter()
                    .map(|(i, p, r)| Contribution {
                        site: &names[*i],
                        params: p,
                        num_samples: r.num_samples,
                    })
                    .collect();
                state.global = strategy.aggregate(&state.global, &contribs, &mut state.server)?;
                for &i in &evaluators {
                    let params = if roles[i].trains() {
                        strategy.download_view(&state.global)
                    } else {
                        state.global.clone()
                    };
                    ch.send(i, &names[i], ToSite::Evaluate { round, params }, observer)?;
                }
                let replies = ch.collect(&evaluators, &names, observer)?;
                let mut metrics = vec![];
                for (&i, r) in evaluators.iter().zip(replies) {
                    match r {
                        ToCoordinator::Metrics {
                            round: r_round,
                            site,
                            metrics: m,
                        } if r_round == round && site == names[i] => {
                            metrics.push(SiteMetricsRecord { site, metrics: m })
                        }
                        _ => {
                            return Err(FedError::site(&names[i], "expected this round's metrics"));
                        }
                    }
                }
                let record = RoundRecord {
                    round,
                    participants: part.iter().map(|&i| names[i].clone()).collect(),
                    train: uploads
                        .iter()
                        .map(|(i, _, r)| SiteTrainRecord {
                            site: names[*i].clone(),
                            report: *r,
                        })
                        .collect(),
                    metrics,
                };
                state.completed_rounds = round + 1;
                state.history.push(record);
                if let Some(d) = &dir {
                    write_json_atomic(&coordinator_checkpoint_path(d), &state)?;
                }
                observer.round_done(state.history.last().expect("pushed"));
            }
            Ok(())
        })();
        for tx in &ch.down {
            let _ = tx.send(ToSite::Stop);
        }
        out
    });
    result?;
    let site_params = sites
        .iter()
        .map(|s| (s.name.clone(), s.trainer.params()))
        .collect();
    Ok(SimulationOutcome {
        state,
        site_params,
        stopped_early,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::{PresetOptions, build_method};
    use crate::strategy::{ParamGroup, Policy, Rule, Weighting};
    use crate::toy::{LeastSquaresSite, Samples, least_squares};

    const W: [f64; 3] = [0.8, -0.5, 0.3];

    fn sites(
        names: (&str, &str),
        biases: &[f64],
        n_train: &[usize],
        seed: u64,
    ) -> Vec<LeastSquaresSite> {
        biases
            .iter()
            .zip(n_train)
            .enumerate()
            .map(|(i, (&b, &n))| {
                LeastSquaresSite::new(names, &W, b, (n, 16), 0.1, seed + i as u64).unwrap()
            })
            .collect()
    }

    fn sim_sites(t: &mut [LeastSquaresSite]) -> Vec<SimSite<'_>> {
        t.iter_mut()
            .enumerate()
            .map(|(i, s)| SimSite::new(&format!("site{i}"), s as &mut dyn SiteTrainer))
            .collect()
    }

    fn gd_config(rounds: usize) -> SimulationConfig {
        SimulationConfig {
            local: LocalTrainConfig {
                steps: Some(1),
                learning_rate: 0.3,
                ..Default::default()
            },
            ..SimulationConfig::new(rounds)
        }
    }

    /// Records every tensor name that travels, by direction.
    #[derive(Default)]
    struct Audit {
        down: BTreeSet<String>,
        up: BTreeSet<String>,
        rounds: usize,
    }
    impl RunObserver for Audit {
        fn message(&mut self, e: MessageEvent<'_>) {
            match e {
                MessageEvent::Down {
                    msg: ToSite::RoundStart { params, .. } | ToSite::Evaluate { params, .. },
                    ..
                } => self.down.extend(params.names().map(String::from)),
                MessageEvent::Up(ToCoordinator::Update { params, .. }) => {
                    self.up.extend(params.names().map(String::from))
                }
                _ => {}
            }
        }
        fn round_done(&mut self, _r: &RoundRecord) {
            self.rounds += 1;
        }
    }

    #[test]
    fn fedavg_converges_to_the_pooled_least_squares_solution() {
        let mut t = sites(("w", "b"), &[0.2, 0.2, 0.2], &[10, 25, 40], 10);
        let pooled = Samples::concat(&t.iter().map(|s| &s.train).collect::<Vec<_>>());
        let (w_ls, b_ls) = least_squares(&pooled).unwrap();
        let initial = t[0].params();
        let mut audit = Audit::default();
        let out = simulate(
            &preset("fedavg").unwrap(),
            &initial,
            sim_sites(&mut t),
            &gd_config(80),
            &mut audit,
        )
        .unwrap();
        let g = &out.state.global;
        for k in 0..3 {
            assert!(
                (g.get("w").unwrap().data[k] as f64 - w_ls[k]).abs() < 1e-4,
                "w[{k}]"
            );
        }
        assert!((g.get("b").unwrap().data[0] as f64 - b_ls).abs() < 1e-4);
        assert_eq!(out.state.history.len(), 80);
        assert_eq!(audit.rounds, 80);
        // every site ends with the global model, and metrics improved
        for (_, p) in &out.site_params {
            assert_eq!(p, g);
        }
        let first = &out.state.history[0].metrics;
        let last = &out.state.history[79].metrics;
        assert_eq!(last.len(), 3);
        for (a, b) in first.iter().zip(last) {
            assert!(b.metrics.psnr > a.metrics.psnr + 5.0, "{a:?} → {b:?}");
        }
    }

    #[test]
    fn local_groups_never_travel_and_stay_personal() {
        let biases = [-1.0, 0.0, 1.5];
        let mut t = sites(("shared.w", "local.b"), &biases, &[30, 30, 30], 20);
        let initial = t[0].params();
        let method = FedMethod {
            name: "fedavg+local".into(),
            strategy: Strategy::new(
                vec![ParamGroup::new("personal", &["local.**"], Policy::Local).unwrap()],
                Policy::FEDAVG,
            )
            .unwrap(),
            proximal_mu: 0.0,
        };
        let mut audit = Audit::default();
        let out = simulate(
            &method,
            &initial,
            sim_sites(&mut t),
            &gd_config(120),
            &mut audit,
        )
        .unwrap();
        assert_eq!(
            out.state.global.names().collect::<Vec<_>>(),
            vec!["shared.w"]
        );
        assert!(!audit.down.contains("local.b") && !audit.up.contains("local.b"));
        assert!(audit.up.contains("shared.w"));
        for (k, (_, p)) in out.site_params.iter().enumerate() {
            let b = p.get("local.b").unwrap().data[0] as f64;
            assert!((b - biases[k]).abs() < 0.1, "site {k}: b = {b}");
            for j in 0..3 {
                assert!((p.get("shared.w").unwrap().data[j] as f64 - W[j]).abs() < 0.1);
            }
        }
        // a server message naming a local tensor is refused by the site
        let mut lone = sites(("shared.w", "local.b"), &[0.0], &[4], 1)
            .pop()
            .unwrap();
        let before = lone.params();
        let mut agent = SiteAgent::new(
            "s",
            SiteRole::TrainAndEvaluate,
            &mut lone,
            method.strategy.clone(),
            None,
        );
        let e = agent
            .handle(&ToSite::RoundStart {
                round: 0,
                params: before.clone(),
                config: LocalTrainConfig::default(),
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("local.b") && e.contains("personal"), "{e}");
        assert_eq!(lone.params(), before);
    }

    #[test]
    fn local_only_equals_training_each_site_alone() {
        let mut t = sites(("w", "b"), &[-1.0, 2.0], &[12, 20], 30);
        let mut alone = t.clone();
        let cfg = gd_config(7);
        let mut audit = Audit::default();
        let out = simulate_local_only(&t[0].params(), sim_sites(&mut t), &cfg, &mut audit).unwrap();
        assert!(out.state.global.is_empty() && audit.up.is_empty() && audit.down.is_empty());
        for (s, (_, p)) in alone.iter_mut().zip(&out.site_params) {
            for r in 0..7 {
                s.train_round(r, &ParamSet::new(), &cfg.local).unwrap();
            }
            assert_eq!(&s.params(), p);
        }
    }

    #[test]
    fn no_overwrite_keeps_site_copies_and_serves_unseen_sites() {
        let biases = [-1.0, 0.5, 2.0];
        let n = [10, 20, 30];
        let mut t = sites(("w", "hyper.b"), &biases, &n, 40);
        let mut unseen = sites(("w", "hyper.b"), &[0.0], &[0], 99).pop().unwrap();
        let mut o = PresetOptions::named("hyperfed");
        o.hyper = crate::presets::HyperMode::AggregateNoOverwrite;
        let method = build_method(&o).unwrap();
        let initial = t[0].params();
        let mut audit = Audit::default();
        let out = {
            let mut ss = sim_sites(&mut t);
            ss.push(SimSite::evaluate_only("unseen", &mut unseen));
            simulate(&method, &initial, ss, &gd_config(60), &mut audit).unwrap()
        };
        assert!(audit.up.contains("hyper.b"));
        // the unseen site received the global hyper.b; no training site ever did
        let g = out.state.global.get("hyper.b").unwrap().data[0];
        let ev = unseen.last_evaluated.as_ref().unwrap();
        assert_eq!(ev.get("hyper.b").unwrap().data[0], g);
        assert_eq!(ev.get("w").unwrap(), out.state.global.get("w").unwrap());
        // sites keep their own (different) copies; the global one is their sample-weighted mean
        let own: Vec<f64> = out.site_params[..3]
            .iter()
            .map(|(_, p)| p.get("hyper.b").unwrap().data[0] as f64)
            .collect();
        for (k, b) in own.iter().enumerate() {
            assert!((b - biases[k]).abs() < 0.2, "site {k}: {b}");
        }
        let total: usize = n.iter().sum();
        let mean: f64 = own
            .iter()
            .zip(n)
            .map(|(b, n)| b * n as f64 / total as f64)
            .sum();
        assert_eq!(g, mean as f32);
        assert_eq!(out.state.history[0].participants.len(), 3);
        assert_eq!(out.state.history[0].metrics.len(), 4);
    }

    fn resume_setup() -> (Vec<LeastSquaresSite>, FedMethod) {
        let t = sites(
            ("shared.w", "local.b"),
            &[0.0, 1.0, -1.0, 0.5],
            &[8, 16, 24, 32],
            50,
        );
        let mut o = PresetOptions::named("fedavg");
        o.rule = Rule::fedadam(0.05);
        o.weighting = Weighting::Uniform;
        o.groups = vec![crate::presets::GroupConfig {
            name: "personal".into(),
            patterns: vec![crate::glob::NamePattern::new("local.**").unwrap()],
            policy: "local".into(),
            rule: None,
            weighting: None,
        }];
        (t, build_method(&o).unwrap())
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fedrecon-fed-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn resume_after_a_kill_is_bit_identical_and_runs_repeat() {
        let rounds = 9;
        let cfg = |dir: Option<PathBuf>| SimulationConfig {
            client_fraction: 0.5,
            seed: 7,
            checkpoint_dir: dir,
            local: LocalTrainConfig {
                steps: Some(3),
                learning_rate: 0.1,
                ..Default::default()
            },
            ..SimulationConfig::new(rounds)
        };
        let (mut t, m) = resume_setup();
        let initial = t[0].params();
        let da = tmpdir("a");
        let full = simulate(
            &m,
            &initial,
            sim_sites(&mut t),
            &cfg(Some(da.clone())),
            &mut NoObserver,
        )
        .unwrap();
        assert!(
            !full.state.server.m.is_empty(),
            "FedAdam state is exercised"
        );
        // client sampling: 2 of 4 sites per round, not always the same pair
        let parts: BTreeSet<Vec<String>> = full
            .state
            .history
            .iter()
            .map(|r| r.participants.clone())
            .collect();
        assert!(full.state.history.iter().all(|r| r.participants.len() == 2));
        assert!(parts.len() > 1);

        // killed after round 4, then a fresh process resumes
        let db = tmpdir("b");
        let (mut t1, _) = resume_setup();
        let killed = SimulationConfig {
            stop_after_rounds: Some(4),
            ..cfg(Some(db.clone()))
        };
        let part = simulate(&m, &initial, sim_sites(&mut t1), &killed, &mut NoObserver).unwrap();
        assert!(part.stopped_early && part.state.completed_rounds == 4);
        let (mut t2, _) = resume_setup();
        let resume = SimulationConfig {
            resume: true,
            ..cfg(Some(db.clone()))
        };
        let mut audit = Audit::default();
        let resumed = simulate(&m, &initial, sim_sites(&mut t2), &resume, &mut audit).unwrap();
        assert_eq!(audit.rounds, rounds - 4);
        let bits = |p: &ParamSet| -> Vec<u32> {
            p.iter()
                .flat_map(|(_, t)| t.data.iter().map(|v| v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&resumed.state.global), bits(&full.state.global));
        assert_eq!(resumed.state, full.state);
        for ((_, a), (_, b)) in resumed.site_params.iter().zip(&full.site_params) {
            assert_eq!(bits(a), bits(b));
        }
        // only the last two site checkpoints are kept
        let files: Vec<String> = std::fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.iter().any(|f| f == "site-site0.after-9.json"));
        assert!(
            !files.iter().any(|f| f == "site-site0.after-7.json"),
            "{files:?}"
        );
        assert!(!files.iter().any(|f| f.ends_with(".tmp")));

        // a repeated run without checkpoints gives the same everything
        let (mut t3, _) = resume_setup();
        let again = simulate(
            &m,
            &initial,
            sim_sites(&mut t3),
            &cfg(None),
            &mut NoObserver,
        )
        .unwrap();
        assert_eq!(again.state, full.state);
        assert_eq!(again.site_params, full.site_params);

        // resuming with other settings is refused, naming the field
        let (mut t4, _) = resume_setup();
        let e = simulate(
            &m,
            &initial,
            sim_sites(&mut t4),
            &SimulationConfig {
                seed: 8,
                ..resume.clone()
            },
            &mut NoObserver,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("seed"), "{e}");
        let _ = std::fs::remove_dir_all(&da);
        let _ = std::fs::remove_dir_all(&db);
    }

    #[test]
    fn central_trains_the_pooled_model_and_every_site_evaluates_it() {
        let mut t = sites(("w", "b"), &[0.3, 0.3, 0.3], &[10, 20, 30], 60);
        let pooled_data = Samples::concat(&t.iter().map(|s| &s.train).collect::<Vec<_>>());
        let mut pooled =
            LeastSquaresSite::with_data(("w", "b"), 3, pooled_data.clone(), Samples::default())
                .unwrap();
        let mut reference = pooled.clone();
        let cfg = gd_config(5);
        let initial = t[0].params();
        let out = simulate_central(
            &mut pooled,
            &initial,
            sim_sites(&mut t),
            &cfg,
            &mut NoObserver,
        )
        .unwrap();
        for r in 0..5 {
            reference.train_round(r, &initial, &cfg.local).unwrap();
        }
        assert_eq!(out.state.global, reference.params());
        for rec in &out.state.history {
            assert_eq!(rec.participants, vec!["central".to_string()]);
            let names: Vec<&str> = rec.metrics.iter().map(|m| m.site.as_str()).collect();
            assert_eq!(names, vec!["site0", "site1", "site2"]);
        }
        for s in &t {
            assert_eq!(s.last_evaluated.as_ref().unwrap(), &reference.params());
        }
        // central runs resume too (the pooled trainer checkpoints after training)
        let dir = tmpdir("central");
        let mut p1 =
            LeastSquaresSite::with_data(("w", "b"), 3, pooled_data.clone(), Samples::default())
                .unwrap();
        let killed = SimulationConfig {
            checkpoint_dir: Some(dir.clone()),
            stop_after_rounds: Some(2),
            ..cfg.clone()
        };
        simulate_central(
            &mut p1,
            &initial,
            sim_sites(&mut t),
            &killed,
            &mut NoObserver,
        )
        .unwrap();
        let mut p2 =
            LeastSquaresSite::with_data(("w", "b"), 3, pooled_data, Samples::default()).unwrap();
        let resume = SimulationConfig {
            checkpoint_dir: Some(dir.clone()),
            resume: true,
            ..cfg.clone()
        };
        let again = simulate_central(
            &mut p2,
            &initial,
            sim_sites(&mut t),
            &resume,
            &mut NoObserver,
        )
        .unwrap();
        assert_eq!(again.state, out.state);
        let _ = std::fs::remove_dir_all(&dir);
    }

    struct Failing;
    impl SiteTrainer for Failing {
        fn train_round(
            &mut self,
            _: usize,
            _: &ParamSet,
            _: &LocalTrainConfig,
        ) -> Result<TrainReport> {
            Err(FedError::field("data", "missing", "no training file"))
        }
        fn evaluate(&mut self, _: &ParamSet) -> Result<SiteMetrics> {
            panic!("not reached")
        }
        fn params(&self) -> ParamSet {
            ParamSet::from_tensors([("w", vec![3], vec![0.0f32; 3]), ("b", vec![1], vec![0.0])])
                .unwrap()
        }
        fn load_params(&mut self, _: &ParamSet) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn site_failures_and_bad_settings_are_reported() {
        let mut t = sites(("w", "b"), &[0.0], &[5], 70);
        let initial = t[0].params();
        let mut f = Failing;
        let mut ss = sim_sites(&mut t);
        ss.push(SimSite::new("broken", &mut f));
        let e = simulate(
            &preset("fedavg").unwrap(),
            &initial,
            ss,
            &gd_config(2),
            &mut NoObserver,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("broken") && e.contains("no training file"),
            "{e}"
        );
        let mut t = sites(("w", "b"), &[0.0, 0.0], &[5, 5], 70);
        let mut ss = sim_sites(&mut t);
        ss[1].name = "site0".into();
        let e = simulate(
            &preset("fedavg").unwrap(),
            &initial,
            ss,
            &gd_config(1),
            &mut NoObserver,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unique"), "{e}");
        let e = simulate(
            &preset("fedavg").unwrap(),
            &initial,
            sim_sites(&mut t),
            &SimulationConfig {
                client_fraction: 0.0,
                ..gd_config(1)
            },
            &mut NoObserver,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("client_fraction"), "{e}");
        let mut bad = gd_config(1);
        bad.local.learning_rate = -1.0;
        let e = simulate(
            &preset("fedavg").unwrap(),
            &initial,
            sim_sites(&mut t),
            &bad,
            &mut NoObserver,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("local.learning_rate"), "{e}");
        let c: SimulationConfig =
            toml::from_str("rounds = 3\n[local]\nsteps = 2\nlearning_rate = 0.01\n").unwrap();
        assert_eq!(
            (c.client_fraction, c.seed, c.local.steps),
            (1.0, 0, Some(2))
        );
    }

    #[test]
    fn fedprox_sends_mu_and_messages_roundtrip_through_json() {
        let mut t = sites(("w", "b"), &[0.0, 1.0], &[5, 5], 80);
        let initial = t[0].params();
        #[derive(Default)]
        struct Mus(Vec<f64>, Vec<String>);
        impl RunObserver for Mus {
            fn message(&mut self, e: MessageEvent<'_>) {
                if let MessageEvent::Down { msg, .. } = e {
                    if let ToSite::RoundStart { config, .. } = msg {
                        self.0.push(config.proximal_mu);
                    }
                    let text = serde_json::to_string(msg).unwrap();
                    assert_eq!(&serde_json::from_str::<ToSite>(&text).unwrap(), msg);
                    self.1.push(text);
                }
            }
        }
        let mut mus = Mus::default();
        let mut o = PresetOptions::named("fedprox");
        o.proximal_mu = Some(0.5);
        simulate(
            &build_method(&o).unwrap(),
            &initial,
            sim_sites(&mut t),
            &gd_config(2),
            &mut mus,
        )
        .unwrap();
        assert_eq!(mus.0, vec![0.5; 4]);
        let up = ToCoordinator::Metrics {
            round: 1,
            site: "a".into(),
            metrics: SiteMetrics {
                psnr: 30.0,
                ssim: 0.9,
                nmse: 0.01,
            },
        };
        let text = serde_json::to_string(&up).unwrap();
        assert_eq!(serde_json::from_str::<ToCoordinator>(&text).unwrap(), up);
        assert_eq!(
            sample_clients(3, 5, &[0, 2, 4, 6], 0.5),
            sample_clients(3, 5, &[0, 2, 4, 6], 0.5)
        );
        let _ = Rule::FedAvg;
    }
}
