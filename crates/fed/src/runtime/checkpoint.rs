//! Checkpoint files: each site's parameters after a round and the coordinator's durable state,
//! as safetensors files with a checksum ([`crate::tensorfile`]) written atomically, so a killed
//! run resumes bit-identically. Scalars and the history travel in the files' metadata.

use super::messages::{SiteMetrics, TrainReport};
use crate::error::{FedError, Result};
use crate::params::ParamSet;
use crate::strategy::ServerState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SITE_FORMAT: &str = "fedrecon-site-checkpoint-1";
const COORDINATOR_FORMAT: &str = "fedrecon-coordinator-checkpoint-1";

/// A site's own state in a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteCheckpoint {
    /// Site name.
    pub site: String,
    /// Rounds completed when written.
    pub completed_rounds: usize,
    /// All of the site's parameters.
    pub params: ParamSet,
}

/// `dir/site-<name>.after-<completed>.safetensors`.
pub fn site_checkpoint_path(dir: &Path, site: &str, completed_rounds: usize) -> PathBuf {
    dir.join(format!("site-{site}.after-{completed_rounds}.safetensors"))
}

/// `dir/coordinator.safetensors`.
pub fn coordinator_checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("coordinator.safetensors")
}

/// Checkpoint metadata of a file: `get(key)` with errors naming the file and the key.
struct Meta<'a> {
    path: &'a Path,
    map: BTreeMap<String, String>,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Result<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| FedError::Parse {
                what: self.path.display().to_string(),
                reason: format!("not a fedrecon checkpoint: metadata `{key}` missing"),
            })
    }
    fn parse<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.get(key)?).map_err(|e| FedError::Parse {
            what: self.path.display().to_string(),
            reason: format!("metadata `{key}`: {e}"),
        })
    }
    fn check_format(&self, format: &str) -> Result<()> {
        match self.get("format")? {
            f if f == format => Ok(()),
            f => Err(FedError::Parse {
                what: self.path.display().to_string(),
                reason: format!("format {f:?}, expected {format}"),
            }),
        }
    }
}

fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("checkpoint metadata serialises")
}

fn load_meta(path: &Path) -> Result<(ParamSet, Meta<'_>)> {
    let (set, map) = ParamSet::load(path)?;
    Ok((set, Meta { path, map }))
}

impl SiteCheckpoint {
    /// Write to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let meta = BTreeMap::from([
            ("format".to_string(), SITE_FORMAT.to_string()),
            ("site".to_string(), json(&self.site)),
            ("completed_rounds".to_string(), json(&self.completed_rounds)),
        ]);
        self.params.save(path, &meta)
    }

    /// Read a file written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let (params, meta) = load_meta(path)?;
        meta.check_format(SITE_FORMAT)?;
        Ok(Self {
            site: meta.parse("site")?,
            completed_rounds: meta.parse("completed_rounds")?,
            params,
        })
    }
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

/// The tensor groups of a coordinator checkpoint, by name prefix.
const GLOBAL: &str = "global/";
const SERVER_M: &str = "server.m/";
const SERVER_V: &str = "server.v/";

impl CoordinatorState {
    /// Write to `path` atomically: the global model and the server moments as tensors
    /// (`global/…`, `server.m/…`, `server.v/…`), the rest as metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let all = ParamSet::prefixed(&[
            (GLOBAL, &self.global),
            (SERVER_M, &self.server.m),
            (SERVER_V, &self.server.v),
        ])?;
        let meta = BTreeMap::from([
            ("format".to_string(), COORDINATOR_FORMAT.to_string()),
            ("completed_rounds".to_string(), json(&self.completed_rounds)),
            ("seed".to_string(), json(&self.seed)),
            ("sites".to_string(), json(&self.sites)),
            ("history".to_string(), json(&self.history)),
        ]);
        all.save(path, &meta)
    }

    /// Read a file written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let (all, meta) = load_meta(path)?;
        meta.check_format(COORDINATOR_FORMAT)?;
        let [global, m, v] = all.split_prefixed([GLOBAL, SERVER_M, SERVER_V])?;
        Ok(Self {
            completed_rounds: meta.parse("completed_rounds")?,
            global,
            server: ServerState { m, v },
            seed: meta.parse("seed")?,
            sites: meta.parse("sites")?,
            history: meta.parse("history")?,
        })
    }
}
