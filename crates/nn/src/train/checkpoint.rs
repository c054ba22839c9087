//! The training checkpoint: parameters, Adam's moments, the completed step count, the resolved
//! config and the metrics history in one safetensors file written atomically.

use super::io_err;
use super::optim::Adam;
use super::report::History;
use crate::config::RunConfig;
use crate::error::Result;
use crate::params::ParamSet;
use std::collections::BTreeMap;
use std::path::Path;

/// A checkpoint (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Steps completed.
    pub step: usize,
    /// The resolved run config.
    pub config: RunConfig,
    /// Model parameters.
    pub params: ParamSet,
    /// Optimiser state.
    pub adam: Adam,
    /// Metrics so far.
    pub history: History,
}

const CKPT_FORMAT: &str = "fedrecon-checkpoint-1";

impl Checkpoint {
    /// Write atomically (one safetensors file).
    pub fn save(&self, path: &Path) -> Result<()> {
        let all = ParamSet::prefixed(&[
            ("param/", &self.params),
            ("adam.m/", &self.adam.m),
            ("adam.v/", &self.adam.v),
        ])?;
        let mut meta = BTreeMap::new();
        meta.insert("format".into(), CKPT_FORMAT.into());
        meta.insert("step".into(), self.step.to_string());
        meta.insert("adam.t".into(), self.adam.t.to_string());
        meta.insert("config".into(), self.config.to_toml());
        meta.insert(
            "history".into(),
            serde_json::to_string(&self.history).expect("history serialises"),
        );
        Ok(all.save(path, &meta)?)
    }

    /// Read a checkpoint written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let (all, meta) = ParamSet::load(path)?;
        let get = |k: &str| {
            meta.get(k).ok_or_else(|| {
                io_err(
                    path,
                    format!("not a fedrecon checkpoint: metadata `{k}` missing"),
                )
            })
        };
        if get("format")? != CKPT_FORMAT {
            return Err(io_err(
                path,
                format!("format {:?}, expected {CKPT_FORMAT}", get("format")?),
            ));
        }
        let num = |k: &str| -> Result<u64> {
            get(k)?
                .parse()
                .map_err(|e| io_err(path, format!("metadata `{k}`: {e}")))
        };
        let (step, t) = (num("step")? as usize, num("adam.t")?);
        let config = RunConfig::from_toml(get("config")?)?;
        let history: History = serde_json::from_str(get("history")?)
            .map_err(|e| io_err(path, format!("history: {e}")))?;
        let [params, m, v] = all.split_prefixed(["param/", "adam.m/", "adam.v/"])?;
        params.check_same_layout(&m, "the Adam first moments")?;
        params.check_same_layout(&v, "the Adam second moments")?;
        Ok(Self {
            step,
            config,
            params,
            adam: Adam { m, v, t },
            history,
        })
    }
}
