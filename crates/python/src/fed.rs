//! `fedrecon.fed.Site`: one site of a federation scenario (`fedrecon_nn::fed::scenario::Site`,
//! the same data, initial weights and local training as `fedrecon fed simulate`), for a
//! federation client such as Flower's ClientApp. Only the tensors the method uploads cross the
//! boundary (`Strategy::upload_view`): local tensors (FedBN's norms, FedFDD's low-frequency
//! branch, …) never leave the site.

use crate::error::{BindingError, Result};
use fedrecon_fed::ParamSet;
use fedrecon_fed::strategy::Strategy;
use fedrecon_nn::fed::scenario::{DEFAULT_CONFIG, FedConfig, Site};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// A federation site on the CPU (burn's flex backend).
#[pyclass(frozen, module = "fedrecon._native")]
pub struct FedSite {
    /// Boxed: `Site` is 64-byte aligned (burn's SIMD buffers), more than a Python object's
    /// storage guarantees, so it lives on the Rust heap and the object holds the pointer.
    site: Mutex<Box<Site>>,
    /// None for local-only training: nothing is uploaded.
    strategy: Option<Strategy>,
    name: String,
}

fn params_from_dict(d: &Bound<'_, PyDict>) -> Result<ParamSet> {
    let mut p = ParamSet::new();
    for (k, v) in d.iter() {
        let name: String = k
            .extract()
            .map_err(|_| BindingError::arg("params: keys must be parameter names (str)"))?;
        let a: PyReadonlyArrayDyn<'_, f32> = v.extract().map_err(|_| {
            BindingError::arg(format!(
                "params[{name:?}]: expected a C-contiguous float32 numpy array"
            ))
        })?;
        let data = crate::array::slice(&a, "params")?.to_vec();
        p.push(name, a.shape().to_vec(), data)?;
    }
    Ok(p)
}

fn dict_from_params<'py>(py: Python<'py>, p: &ParamSet) -> Result<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, param) in p.iter() {
        let a: Bound<'py, PyArrayDyn<f32>> =
            crate::array::to_numpy(py, &[], &param.shape, param.data.clone())?;
        d.set_item(name, a)
            .map_err(|e| BindingError::arg(e.to_string()))?;
    }
    Ok(d)
}

impl FedSite {
    fn upload(&self, p: &ParamSet) -> ParamSet {
        match &self.strategy {
            Some(s) => s.upload_view(p),
            None => ParamSet::new(),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Box<Site>>> {
        self.site
            .lock()
            .map_err(|_| BindingError::arg("the site failed in an earlier call (poisoned)"))
    }
}

#[pymethods]
impl FedSite {
    /// Site `name` of the config text `config` (None: the embedded demo, `configs/demo.toml`)
    /// with `set` overrides (`key=value`, as `--set`).
    #[new]
    #[pyo3(signature = (config, name, set=Vec::new()))]
    fn new(py: Python<'_>, config: Option<String>, name: String, set: Vec<String>) -> Result<Self> {
        let text = config.as_deref().unwrap_or(DEFAULT_CONFIG);
        let cfg = FedConfig::parse(text, &set)?;
        let strategy = cfg.method(&cfg.method.preset)?.0.map(|m| m.strategy);
        let device = fedrecon_nn::burn::tensor::Device::flex();
        let site = py.detach(|| Site::new(&cfg, &name, &device))?;
        Ok(Self {
            site: Mutex::new(Box::new(site)),
            strategy,
            name,
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The site's uploadable parameters (local tensors excluded), float32 arrays by name.
    fn get_parameters<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let p = py.detach(|| -> Result<_> { Ok(self.lock()?.params()) })?;
        dict_from_params(py, &self.upload(&p))
    }

    /// Train round `round` from the downloaded `params`: the uploadable trained parameters, the
    /// number of training samples and `{"mean_loss": …}`.
    fn fit<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
        round: usize,
    ) -> Result<(Bound<'py, PyDict>, usize, Bound<'py, PyDict>)> {
        let global = params_from_dict(params)?;
        // the lock is taken with the GIL released: a second call waits without blocking Python
        let (after, report) =
            py.detach(|| -> Result<_> { Ok(self.lock()?.fit(&global, round)?) })?;
        let metrics = PyDict::new(py);
        metrics
            .set_item("mean_loss", report.mean_loss)
            .map_err(|e| BindingError::arg(e.to_string()))?;
        Ok((
            dict_from_params(py, &self.upload(&after))?,
            report.num_samples,
            metrics,
        ))
    }

    /// Held-out metrics `{"psnr", "ssim", "nmse"}` with `params` merged into the site's model.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
    ) -> Result<Bound<'py, PyDict>> {
        let p = params_from_dict(params)?;
        let m = py.detach(|| -> Result<_> { Ok(self.lock()?.evaluate(&p)?) })?;
        let d = PyDict::new(py);
        for (k, v) in [("psnr", m.psnr), ("ssim", m.ssim), ("nmse", m.nmse)] {
            d.set_item(k, v)
                .map_err(|e| BindingError::arg(e.to_string()))?;
        }
        Ok(d)
    }
}
