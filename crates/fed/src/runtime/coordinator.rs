//! The coordinator: validates the participants, samples clients per round, exchanges messages
//! with the site agents over channels, aggregates in site order and checkpoints every round.

use super::agent::{SiteAgent, SiteRole, agent_loop};
use super::checkpoint::{
    CoordinatorState, RoundRecord, SiteCheckpoint, SiteMetricsRecord, SiteTrainRecord,
    coordinator_checkpoint_path, site_checkpoint_path,
};
use super::messages::{LocalTrainConfig, SiteTrainer, ToCoordinator, ToSite, round_seed};
use crate::error::{FedError, Result};
use crate::params::ParamSet;
use crate::presets::{FedMethod, preset};
use crate::strategy::{Contribution, ServerState, Strategy};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc;

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
            let st = CoordinatorState::load(&coordinator_checkpoint_path(d))?;
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
                let ck = SiteCheckpoint::load(&path)?;
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
                    state.save(&coordinator_checkpoint_path(d))?;
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
