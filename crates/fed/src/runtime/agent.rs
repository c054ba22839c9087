//! The site side of the protocol: a [`SiteAgent`] applies coordinator messages to a
//! [`SiteTrainer`], refusing downloads of tensors its strategy keeps local, and checkpoints the
//! site's parameters after each round; [`agent_loop`] runs it on a simulation thread.

use super::checkpoint::{SiteCheckpoint, site_checkpoint_path};
use super::messages::{SiteTrainer, ToCoordinator, ToSite};
use crate::error::{FedError, Result};
use crate::params::ParamSet;
use crate::strategy::Strategy;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::mpsc;

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
    pub(crate) fn trains(self) -> bool {
        self != Self::EvaluateOnly
    }
    pub(crate) fn evaluates(self) -> bool {
        self != Self::TrainOnly
    }
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
            ck.save(&site_checkpoint_path(dir, &self.name, round + 1))?;
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

pub(super) fn agent_loop(
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
