//! `fedrecon.fed`: the two ends of a federation for an external engine such as Flower.
//!
//! - [`FedSite`] (`fedrecon.fed.Site`): one site of a federation scenario
//!   (`fedrecon_nn::fed::scenario::Site`: the same data, initial weights and local training as
//!   `fedrecon fed simulate`). Only the tensors the method uploads cross the boundary
//!   (`Strategy::upload_view`): local tensors (FedBN's norms, FedFDD's low-frequency branch,
//!   a local hypernetwork, …) never leave the site. Every received tensor is checked (known
//!   name, shape, finite) before use; with a checkpoint file the site keeps all its tensors
//!   there (written atomically after every round) and restores them when rebuilt, so a restarted
//!   process continues with its own local tensors.
//! - [`FedServer`] (`fedrecon.fed.Server`): the coordinator's side: the global model of the
//!   uploaded tensors, aggregation by parameter group with the method's rules
//!   (`Strategy::aggregate`, the code `fed simulate` runs), the server optimiser state, and the
//!   coordinator checkpoint (`coordinator.safetensors`, the simulation's format) for resume.
//!
//! Why here and not in Python: both ends must run exactly the simulation's arithmetic, so a
//! deployment reproduces what `fed simulate` measured.

use crate::error::{BindingError, Result};
use fedrecon_fed::runtime::{
    CoordinatorState, RoundRecord, SiteCheckpoint, SiteMetricsRecord, SiteTrainRecord,
    coordinator_checkpoint_path,
};
use fedrecon_fed::strategy::{Contribution, Rule, Strategy};
use fedrecon_fed::{ParamSet, Policy, SiteMetrics, TrainReport, Weighting, build_method};
use fedrecon_nn::fed::scenario::{DEFAULT_CONFIG, FedConfig, Site};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

fn params_from_dict(d: &Bound<'_, PyDict>, what: &str) -> Result<ParamSet> {
    let mut p = ParamSet::new();
    for (k, v) in d.iter() {
        let name: String = k.extract().map_err(|_| {
            BindingError::arg(format!("{what}: keys must be parameter names (str)"))
        })?;
        let a: PyReadonlyArrayDyn<'_, f32> = v.extract().map_err(|_| {
            BindingError::arg(format!(
                "{what}[{name:?}]: expected a C-contiguous float32 numpy array"
            ))
        })?;
        let data = crate::array::slice(&a, what)?.to_vec();
        p.push(name, a.shape().to_vec(), data)?;
    }
    Ok(p)
}

fn dict_from_params<'py>(py: Python<'py>, p: &ParamSet) -> Result<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, param) in p.iter() {
        let a: Bound<'py, PyArrayDyn<f32>> =
            crate::array::to_numpy(py, &[], &param.shape, param.data.clone())?;
        d.set_item(name, a).map_err(py_arg)?;
    }
    Ok(d)
}

fn py_arg(e: PyErr) -> BindingError {
    BindingError::arg(e.to_string())
}

/// Check a received set against the expected names and shapes, and that it is all finite.
fn check_received(expected: &ParamSet, got: &ParamSet, what: &str) -> Result<()> {
    expected.check_compatible(got, what)?;
    got.check_finite(what)?;
    Ok(())
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Local => "local",
        Policy::Aggregate { .. } => "aggregate",
        Policy::AggregateNoOverwrite { .. } => "aggregate-no-overwrite",
    }
}

fn rule_word(r: Rule) -> &'static str {
    match r {
        Rule::FedAvg => "fedavg",
        Rule::FedAdam { .. } => "fedadam",
        Rule::FedYogi { .. } => "fedyogi",
        Rule::Median => "median",
        Rule::TrimmedMean { .. } => "trimmed-mean",
    }
}

/// The config of a job: `config` (None: the embedded demo) with overrides and, for a site, its
/// own `[sites]` table.
fn job_config(config: Option<&str>, set: &[String], sites: Option<&str>) -> Result<FedConfig> {
    Ok(FedConfig::parse_with_sites(
        config.unwrap_or(DEFAULT_CONFIG),
        set,
        sites,
    )?)
}

/// One parameter's `(name, group, policy, rule, weighting)`; rule and weighting are "" for a
/// local tensor.
type PolicyRow = (String, String, String, String, String);

/// The [`PolicyRow`] of each of `names` under `strategy`.
fn policies(strategy: &Strategy, names: impl Iterator<Item = String>) -> Vec<PolicyRow> {
    names
        .map(|n| {
            let (group, policy) = strategy.policy_of(&n);
            let (rule, weighting) = policy.rule().map_or(("", ""), |(r, w)| {
                let w = match w {
                    Weighting::Samples => "samples",
                    Weighting::Uniform => "uniform",
                };
                (rule_word(r), w)
            });
            let (group, policy) = (group.to_string(), policy_word(policy).to_string());
            (n, group, policy, rule.to_string(), weighting.to_string())
        })
        .collect()
}

/// A federation site on the CPU (burn's flex backend).
#[pyclass(frozen, module = "fedrecon._native")]
pub struct FedSite {
    /// Boxed: `Site` is 64-byte aligned (burn's SIMD buffers), more than a Python object's
    /// storage guarantees, so it lives on the Rust heap and the object holds the pointer.
    site: Mutex<Box<Site>>,
    /// The method's groups (the `local` preset uploads nothing).
    strategy: Strategy,
    name: String,
    checkpoint: Option<PathBuf>,
    restored_rounds: Option<usize>,
    train_samples: usize,
    job: Job,
}

/// What a job asks of a site, for the site's acceptance policy.
#[derive(Clone)]
struct Job {
    model: String,
    arch: String,
    method: String,
    local_steps: Option<usize>,
    local_epochs: usize,
    rounds: usize,
    seed: u64,
}

impl Job {
    fn of(cfg: &FedConfig) -> Self {
        let kind = |v: serde_json::Result<serde_json::Value>| {
            v.ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(String::from)))
                .unwrap_or_default()
        };
        Self {
            model: kind(serde_json::to_value(cfg.model)),
            arch: kind(serde_json::to_value(cfg.arch)),
            method: cfg.method.preset.clone(),
            local_steps: cfg.local.steps,
            local_epochs: cfg.local.epochs,
            rounds: cfg.rounds,
            seed: cfg.seed,
        }
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("model", &self.model).map_err(py_arg)?;
        d.set_item("arch", &self.arch).map_err(py_arg)?;
        d.set_item("method", &self.method).map_err(py_arg)?;
        d.set_item("local_steps", self.local_steps)
            .map_err(py_arg)?;
        d.set_item("local_epochs", self.local_epochs)
            .map_err(py_arg)?;
        d.set_item("rounds", self.rounds).map_err(py_arg)?;
        d.set_item("seed", self.seed).map_err(py_arg)?;
        Ok(d)
    }
}

impl FedSite {
    fn upload(&self, p: &ParamSet) -> ParamSet {
        self.strategy.upload_view(p)
    }

    fn download(&self, p: &ParamSet) -> ParamSet {
        self.strategy.download_view(p)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Box<Site>>> {
        self.site
            .lock()
            .map_err(|_| BindingError::arg("the site failed in an earlier call (poisoned)"))
    }

    /// What the server sends this site to evaluate: the downloaded tensors for a training site,
    /// every server tensor for an evaluation-only one (it has no trained copy of its own).
    fn evaluated_view(&self, p: &ParamSet) -> ParamSet {
        if self.train_samples > 0 {
            self.download(p)
        } else {
            self.upload(p)
        }
    }
}

#[pymethods]
impl FedSite {
    /// Site `name` of the config text `config` (None: the embedded demo, `configs/demo.toml`)
    /// with `set` overrides (`key=value`, as `--set`), running the config's `[method]` on its
    /// `[arch]`, as `fed simulate` does. `sites`: a site config's text whose `[sites]` table replaces the
    /// job's (a deployed site's own data). `checkpoint`: a file where `fit` saves all the
    /// site's tensors. `restore`: a checkpoint to start from, if it exists (default:
    /// `checkpoint`).
    #[new]
    #[pyo3(signature = (config, name, set=Vec::new(), sites=None, checkpoint=None, restore=None))]
    fn new(
        py: Python<'_>,
        config: Option<String>,
        name: String,
        set: Vec<String>,
        sites: Option<String>,
        checkpoint: Option<PathBuf>,
        restore: Option<PathBuf>,
    ) -> Result<Self> {
        let cfg = job_config(config.as_deref(), &set, sites.as_deref())?;
        let job = Job::of(&cfg);
        let strategy = build_method(&cfg.method)?.strategy;
        let restore = restore.or_else(|| checkpoint.clone());
        let device = fedrecon_nn::burn::tensor::Device::flex();
        let (site, restored_rounds) = py.detach(|| -> Result<_> {
            let mut site = Site::new(&cfg, &name, &device)?;
            let restored = match &restore {
                Some(path) if path.exists() => {
                    let ck = SiteCheckpoint::load(path)?;
                    if ck.site != name {
                        return Err(BindingError::arg(format!(
                            "checkpoint {}: written by site `{}`, not `{name}`",
                            path.display(),
                            ck.site
                        )));
                    }
                    ck.params
                        .check_finite(&format!("checkpoint {}", path.display()))?;
                    site.load_params(&ck.params)?;
                    Some(ck.completed_rounds)
                }
                _ => None,
            };
            Ok((site, restored))
        })?;
        let train_samples = site.train_samples();
        Ok(Self {
            site: Mutex::new(Box::new(site)),
            strategy,
            name,
            checkpoint,
            restored_rounds,
            train_samples,
            job,
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn method(&self) -> &str {
        &self.job.method
    }

    /// What the job asks: `{"model", "arch", "method", "local_steps", "local_epochs",
    /// "rounds", "seed"}` (model / arch kinds, the `[method] preset`).
    fn job<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        self.job.to_dict(py)
    }

    /// Training samples (0: an evaluation-only site).
    #[getter]
    fn train_samples(&self) -> usize {
        self.train_samples
    }

    /// Rounds completed according to the restored checkpoint (None: fresh).
    #[getter]
    fn restored_rounds(&self) -> Option<usize> {
        self.restored_rounds
    }

    /// `[(name, group, policy, rule, weighting)]` of every parameter of the site's model.
    fn policies(&self) -> Result<Vec<PolicyRow>> {
        let p = self.lock()?.params();
        let names = p.names().map(String::from);
        Ok(policies(&self.strategy, names))
    }

    /// The site's uploadable parameters (local tensors excluded), float32 arrays by name.
    fn get_parameters<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let p = py.detach(|| -> Result<_> { Ok(self.lock()?.params()) })?;
        dict_from_params(py, &self.upload(&p))
    }

    /// Train round `round` (0-based) from the downloaded `params` (exactly the tensors the
    /// method sends down; checked for names, shapes and finiteness): the uploadable trained
    /// parameters, the number of training samples and `{"mean_loss": …}`. With a checkpoint
    /// file, all the site's tensors are saved there (atomically) before returning.
    fn fit<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
        round: usize,
    ) -> Result<(Bound<'py, PyDict>, usize, Bound<'py, PyDict>)> {
        let global = params_from_dict(params, "params")?;
        // the lock is taken with the GIL released: a second call waits without blocking Python
        let (after, report) = py.detach(|| -> Result<_> {
            let mut site = self.lock()?;
            let expected = self.download(&site.params());
            check_received(&expected, &global, "the downloaded tensors")?;
            let (after, report) = site.fit(&global, round)?;
            if let Some(path) = &self.checkpoint {
                SiteCheckpoint {
                    site: self.name.clone(),
                    completed_rounds: round + 1,
                    params: after.clone(),
                }
                .save(path)?;
            }
            Ok((after, report))
        })?;
        let metrics = PyDict::new(py);
        metrics
            .set_item("mean_loss", report.mean_loss)
            .map_err(py_arg)?;
        Ok((
            dict_from_params(py, &self.upload(&after))?,
            report.num_samples,
            metrics,
        ))
    }

    /// Held-out metrics `{"psnr", "ssim", "nmse"}` with `params` merged into the site's model:
    /// the downloaded tensors for a training site, every server tensor for an evaluation-only
    /// site (checked for names, shapes and finiteness).
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
    ) -> Result<Bound<'py, PyDict>> {
        let p = params_from_dict(params, "params")?;
        let m = py.detach(|| -> Result<_> {
            let mut site = self.lock()?;
            let expected = self.evaluated_view(&site.params());
            check_received(&expected, &p, "the evaluated tensors")?;
            Ok(site.evaluate(&p)?)
        })?;
        let d = PyDict::new(py);
        for (k, v) in [("psnr", m.psnr), ("ssim", m.ssim), ("nmse", m.nmse)] {
            d.set_item(k, v).map_err(py_arg)?;
        }
        Ok(d)
    }
}

/// The coordinator's side of a federation (see the module docs).
#[pyclass(frozen, module = "fedrecon._native")]
pub struct FedServer {
    strategy: Strategy,
    seed: u64,
    job: Job,
    state: Mutex<Option<CoordinatorState>>,
}

impl FedServer {
    fn with_state<T>(&self, f: impl FnOnce(&mut CoordinatorState) -> Result<T>) -> Result<T> {
        let mut g = self
            .state
            .lock()
            .map_err(|_| BindingError::arg("the server failed in an earlier call (poisoned)"))?;
        let st = g.as_mut().ok_or_else(|| {
            BindingError::arg("the server has no global model yet: call begin() or resume()")
        })?;
        f(st)
    }
}

#[pymethods]
impl FedServer {
    /// The server of the config text `config`'s `[method]` (None: the embedded demo) with `set`
    /// overrides, as `fed simulate` runs it.
    #[new]
    #[pyo3(signature = (config, set=Vec::new()))]
    fn new(config: Option<String>, set: Vec<String>) -> Result<Self> {
        let cfg = job_config(config.as_deref(), &set, None)?;
        let strategy = build_method(&cfg.method)?.strategy;
        Ok(Self {
            strategy,
            seed: cfg.seed,
            job: Job::of(&cfg),
            state: Mutex::new(None),
        })
    }

    /// Start from the initial parameters `initial` (the sites' uploadable tensors: no local
    /// tensor allowed), with `sites` the participants' names.
    fn begin(&self, initial: &Bound<'_, PyDict>, sites: Vec<String>) -> Result<()> {
        let p = params_from_dict(initial, "initial")?;
        check_received(&self.strategy.upload_view(&p), &p, "the initial parameters")?;
        let mut g = self
            .state
            .lock()
            .map_err(|_| BindingError::arg("the server failed in an earlier call (poisoned)"))?;
        *g = Some(CoordinatorState {
            completed_rounds: 0,
            global: p,
            server: Default::default(),
            seed: self.seed,
            sites,
            history: vec![],
        });
        Ok(())
    }

    /// Continue from `dir/coordinator.safetensors` if it exists (returns whether it did). The
    /// checkpoint must have been written with the same seed.
    fn resume(&self, dir: PathBuf) -> Result<bool> {
        let path = coordinator_checkpoint_path(&dir);
        if !path.exists() {
            return Ok(false);
        }
        let st = CoordinatorState::load(&path)?;
        if st.seed != self.seed {
            return Err(BindingError::arg(format!(
                "resume: {} was written with seed {}, this job has seed {}",
                path.display(),
                st.seed,
                self.seed
            )));
        }
        check_received(
            &self.strategy.upload_view(&st.global),
            &st.global,
            &path.display().to_string(),
        )?;
        *self
            .state
            .lock()
            .map_err(|_| BindingError::arg("the server failed in an earlier call (poisoned)"))? =
            Some(st);
        Ok(true)
    }

    /// The job: `{"model", "arch", "method", "local_steps", "local_epochs", "rounds", "seed"}`.
    fn job<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        self.job.to_dict(py)
    }

    /// Rounds aggregated so far.
    #[getter]
    fn completed_rounds(&self) -> Result<usize> {
        self.with_state(|st| Ok(st.completed_rounds))
    }

    /// `[(name, group, policy, rule, weighting)]` of every global tensor.
    fn policies(&self) -> Result<Vec<PolicyRow>> {
        let names =
            self.with_state(|st| Ok(st.global.names().map(String::from).collect::<Vec<_>>()))?;
        Ok(policies(&self.strategy, names.into_iter()))
    }

    /// What training sites receive: the `aggregate` tensors of the global model.
    fn download<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let p = self.with_state(|st| Ok(self.strategy.download_view(&st.global)))?;
        dict_from_params(py, &p)
    }

    /// Every global tensor (what evaluation-only sites receive).
    fn global_params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let p = self.with_state(|st| Ok(st.global.clone()))?;
        dict_from_params(py, &p)
    }

    /// Replace the global tensors (same names and shapes, finite), e.g. after adding
    /// differential-privacy noise to the aggregate.
    fn set_global(&self, params: &Bound<'_, PyDict>) -> Result<()> {
        let p = params_from_dict(params, "params")?;
        self.with_state(|st| {
            check_received(&st.global, &p, "the new global tensors")?;
            st.global.overwrite_from(&p, "the new global tensors")?;
            Ok(())
        })
    }

    /// Aggregate one round's uploads `[(site, params, num_samples)]` into the global model with
    /// the method's per-group rules (uploads are checked: names, shapes, finite; processed in
    /// site-name order, as the simulation does in site order).
    fn aggregate(
        &self,
        py: Python<'_>,
        uploads: Vec<(String, Bound<'_, PyDict>, usize)>,
    ) -> Result<()> {
        let mut ups = uploads
            .iter()
            .map(|(site, d, n)| Ok((site.clone(), params_from_dict(d, "upload")?, *n)))
            .collect::<Result<Vec<_>>>()?;
        ups.sort_by(|a, b| a.0.cmp(&b.0));
        py.detach(|| {
            self.with_state(|st| {
                for (site, p, _) in &ups {
                    check_received(&st.global, p, &format!("the upload of site `{site}`"))?;
                }
                let contribs: Vec<Contribution<'_>> = ups
                    .iter()
                    .map(|(site, p, n)| Contribution {
                        site,
                        params: p,
                        num_samples: *n,
                    })
                    .collect();
                st.global = self
                    .strategy
                    .aggregate(&st.global, &contribs, &mut st.server)?;
                Ok(())
            })
        })
    }

    /// Record round `round` (0-based) as complete: its participants' training reports
    /// `[(site, num_samples, mean_loss)]` and metrics `[(site, psnr, ssim, nmse)]`.
    fn record_round(
        &self,
        round: usize,
        train: Vec<(String, usize, f64)>,
        metrics: Vec<(String, f64, f64, f64)>,
    ) -> Result<()> {
        self.with_state(|st| {
            if round != st.completed_rounds {
                return Err(BindingError::arg(format!(
                    "record_round: round {round}, but {} rounds are complete",
                    st.completed_rounds
                )));
            }
            st.history.push(RoundRecord {
                round,
                participants: train.iter().map(|t| t.0.clone()).collect(),
                train: train
                    .into_iter()
                    .map(|(site, num_samples, mean_loss)| SiteTrainRecord {
                        site,
                        report: TrainReport {
                            num_samples,
                            mean_loss,
                        },
                    })
                    .collect(),
                metrics: metrics
                    .into_iter()
                    .map(|(site, psnr, ssim, nmse)| SiteMetricsRecord {
                        site,
                        metrics: SiteMetrics { psnr, ssim, nmse },
                    })
                    .collect(),
            });
            st.completed_rounds = round + 1;
            Ok(())
        })
    }

    /// Write the coordinator checkpoint `dir/coordinator.safetensors` (global tensors, server
    /// optimiser state, history; the format of `fed simulate --checkpoint-dir`) and a copy
    /// `dir/coordinator.after-<rounds>.safetensors`, each atomically.
    fn save(&self, dir: PathBuf) -> Result<()> {
        self.with_state(|st| {
            st.save(&coordinator_checkpoint_path(&dir))?;
            st.save(&dir.join(format!(
                "coordinator.after-{}.safetensors",
                st.completed_rounds
            )))?;
            Ok(())
        })
    }

    /// The history as JSON (`[{"round", "participants", "train", "metrics"}]`).
    fn history_json(&self) -> Result<String> {
        self.with_state(|st| {
            serde_json::to_string(&st.history).map_err(|e| BindingError::arg(e.to_string()))
        })
    }
}

/// A coordinator checkpoint (`fed simulate` or a deployment's server):
/// `{"completed_rounds", "seed", "sites", "global": {name: array}, "history": json}`.
#[pyfunction]
pub fn read_coordinator_checkpoint<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> Result<Bound<'py, PyDict>> {
    let st = CoordinatorState::load(&path)?;
    let d = PyDict::new(py);
    d.set_item("completed_rounds", st.completed_rounds)
        .map_err(py_arg)?;
    d.set_item("seed", st.seed).map_err(py_arg)?;
    d.set_item("sites", st.sites.clone()).map_err(py_arg)?;
    d.set_item("global", dict_from_params(py, &st.global)?)
        .map_err(py_arg)?;
    let h = serde_json::to_string(&st.history).map_err(|e| BindingError::arg(e.to_string()))?;
    d.set_item("history", h).map_err(py_arg)?;
    Ok(d)
}

/// The `[sites]` table holding site `name` of the config text `config` (None: the embedded
/// demo) with `set` overrides: the data half of that site's `site.toml` in a deployment.
#[pyfunction]
#[pyo3(signature = (config, name, set=Vec::new()))]
pub fn site_toml(config: Option<String>, name: String, set: Vec<String>) -> Result<String> {
    Ok(job_config(config.as_deref(), &set, None)?.site_toml(&name)?)
}
