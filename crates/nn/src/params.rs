//! Named parameters: every float parameter of a burn [`Module`] as an ordered list
//! `"dotted.module.path" → (shape, values)`, and back.
//!
//! Names are the module paths burn reports through [`ModuleVisitor::enter_module`]: struct field
//! names, enum variant names, `Vec` indices, joined by `.` (e.g. `Lpd.primal.3.conv1.weight`).
//! The order is burn's traversal order, which is the declaration order of the fields and so is
//! stable for one model type. The federation layer selects parameter groups by these names.
//!
//! [`export_params`] copies the values to the host; [`load_params`] writes them back into a
//! module of the same architecture, checking every name and shape (an error names the first
//! missing, extra or mis-shaped parameter). The round trip is exact: values are `f32` both ways.
//!
//! The set is the federation's [`ParamSet`] (one tensor-set type for training, checkpoints and
//! federation messages); on disk it is a safetensors file ([`fedrecon_fed::tensorfile`]).

use crate::error::{NnError, Result};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
pub use fedrecon_fed::params::ParamSet;

fn param_error(name: &str, reason: impl Into<String>) -> NnError {
    NnError::argument("parameter", name, reason)
}

/// Collects the float parameters with their paths.
struct Exporter {
    path: Vec<String>,
    out: ParamSet,
    error: Option<NnError>,
}

impl ModuleVisitor for Exporter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() {
            return;
        }
        let value = param.val();
        let shape = value.dims().to_vec();
        let name = self.path.join(".");
        let values = value.into_data().convert::<f32>().try_into_vec::<f32>();
        let r = match values {
            Ok(v) => self.out.push(name, shape, v).map_err(NnError::from),
            Err(e) => Err(param_error(&name, format!("cannot read values: {e:?}"))),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
}

/// Every float parameter of `module` by name, in traversal order, copied to the host.
pub fn export_params<M: Module>(module: &M) -> Result<ParamSet> {
    let mut v = Exporter {
        path: Vec::new(),
        out: ParamSet::new(),
        error: None,
    };
    module.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(v.out),
    }
}

/// Names and shapes of the float parameters of `module` (no values are copied).
pub fn param_shapes<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Shapes {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl ModuleVisitor for Shapes {
        fn enter_module(&mut self, name: &str, _c: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _c: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out
                .push((self.path.join("."), param.lazy_shape().to_vec()));
        }
    }
    let mut v = Shapes {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// Replaces parameter values by name (see [`load_params`]); `update` maps
/// `(name, current tensor)` to the new values.
pub(crate) struct Loader<'a> {
    path: Vec<String>,
    params: &'a ParamSet,
    used: Vec<bool>,
    error: Option<NnError>,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(params: &'a ParamSet) -> Self {
        Self {
            path: Vec::new(),
            params,
            used: vec![false; params.len()],
            error: None,
        }
    }

    pub(crate) fn finish(self) -> Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(i) = self.used.iter().position(|u| !u) {
            return Err(param_error(
                self.params.at(i).0,
                "is in the parameter set but not in the model",
            ));
        }
        Ok(())
    }
}

/// A tensor with `values` of `shape` on the device of `like`, with the same autodiff state.
pub(crate) fn replace_values<const D: usize>(
    like: &Tensor<D>,
    shape: &[usize],
    values: Vec<f32>,
) -> Tensor<D> {
    let require_grad = like.is_require_grad();
    let device = like.device();
    let t = Tensor::<D>::from_data(TensorData::new(values, shape.to_vec()), &device);
    if require_grad { t.require_grad() } else { t }
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.join(".");
        let Some(i) = self.params.index_of(&name) else {
            self.error = Some(param_error(
                &name,
                "is in the model but missing from the parameter set",
            ));
            return param;
        };
        self.used[i] = true;
        let (_, p) = self.params.at(i);
        let shape = &p.shape;
        let model_shape = param.lazy_shape().to_vec();
        if *shape != model_shape {
            self.error = Some(param_error(
                &name,
                format!("shape {shape:?} in the parameter set, {model_shape:?} in the model"),
            ));
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let t = replace_values(&tensor, shape, p.data.clone());
        Param::from_mapped_value(id, t, mapper)
    }
}

/// `module` with every float parameter replaced by the value of the same name in `params`;
/// an error names the first parameter that is missing (either way) or has another shape.
pub fn load_params<M: Module>(module: M, params: &ParamSet) -> Result<M> {
    let mut loader = Loader::new(params);
    let module = module.map(&mut loader);
    loader.finish()?;
    Ok(module)
}
