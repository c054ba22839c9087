//! Checkpoint files: each site's parameters after a round and the coordinator's durable state,
//! written atomically, so a killed run resumes bit-identically.

use super::messages::{SiteMetrics, TrainReport};
use crate::error::{FedError, Result};
use crate::params::{ParamSet, lossless};
use crate::strategy::ServerState;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
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

