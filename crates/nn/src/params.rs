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
//! On disk a [`NamedParams`] is a [safetensors](https://github.com/huggingface/safetensors) file
//! (8-byte little-endian header length, a JSON header `{name: {dtype: "F32", shape, data_offsets}}`
//! plus `__metadata__`, then the raw little-endian values), readable by PyTorch's `safetensors`.
//! The order of the names is kept in the metadata key `fedrecon.order`.

use crate::error::{NnError, Result};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// An ordered set of named `f32` tensors (model parameters, optimiser moments, gradients).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedParams {
    /// Dotted module paths, in traversal order; unique.
    pub names: Vec<String>,
    /// Shape of each tensor.
    pub shapes: Vec<Vec<usize>>,
    /// Values of each tensor, row-major, `Π shape` long.
    pub data: Vec<Vec<f32>>,
}

fn param_error(name: &str, reason: impl Into<String>) -> NnError {
    NnError::argument("parameter", name, reason)
}

impl NamedParams {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a tensor; an error if the name is taken or the length does not match the shape.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> Result<()> {
        let name = name.into();
        if self.names.contains(&name) {
            return Err(param_error(&name, "appears twice"));
        }
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(param_error(
                &name,
                format!(
                    "shape {shape:?} holds {n} values but {} were given",
                    data.len()
                ),
            ));
        }
        self.names.push(name);
        self.shapes.push(shape);
        self.data.push(data);
        Ok(())
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Total number of values.
    pub fn num_values(&self) -> usize {
        self.data.iter().map(Vec::len).sum()
    }

    /// Index of `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Shape and values of `name`.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.index_of(name)
            .map(|i| (&self.shapes[i][..], &self.data[i][..]))
    }

    /// Same names and shapes, every value zero.
    pub fn zeros_like(&self) -> Self {
        Self {
            names: self.names.clone(),
            shapes: self.shapes.clone(),
            data: self.data.iter().map(|d| vec![0.0; d.len()]).collect(),
        }
    }

    /// An error unless `other` has exactly the same names (same order) and shapes.
    pub fn check_same_layout(&self, other: &NamedParams, what: &str) -> Result<()> {
        for (i, name) in self.names.iter().enumerate() {
            match other.names.get(i) {
                Some(o) if o == name => {
                    if other.shapes[i] != self.shapes[i] {
                        return Err(param_error(
                            name,
                            format!(
                                "{what} has shape {:?}, expected {:?}",
                                other.shapes[i], self.shapes[i]
                            ),
                        ));
                    }
                }
                Some(o) => {
                    return Err(param_error(name, format!("{what} has `{o}` in its place")));
                }
                None => return Err(param_error(name, format!("missing from {what}"))),
            }
        }
        if let Some(extra) = other.names.get(self.names.len()) {
            return Err(param_error(
                extra,
                format!("{what} has it but the model does not"),
            ));
        }
        Ok(())
    }

    /// Serialise as safetensors bytes (see the module docs) with extra string `metadata`.
    pub fn to_safetensors(&self, metadata: &BTreeMap<String, String>) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut meta: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        meta.insert(
            ORDER_KEY.into(),
            serde_json::Value::String(serde_json::to_string(&self.names).expect("names serialise")),
        );
        header.insert("__metadata__".into(), serde_json::Value::Object(meta));
        let mut offset = 0usize;
        for (i, name) in self.names.iter().enumerate() {
            let bytes = self.data[i].len() * 4;
            header.insert(
                name.clone(),
                serde_json::json!({
                    "dtype": "F32",
                    "shape": self.shapes[i],
                    "data_offsets": [offset, offset + bytes],
                }),
            );
            offset += bytes;
        }
        let mut text = serde_json::to_string(&header).expect("header serialises");
        // pad the header with spaces so the data start is 8-byte aligned (as the reference does)
        while (8 + text.len()) % 8 != 0 {
            text.push(' ');
        }
        let mut out = Vec::with_capacity(8 + text.len() + offset);
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        for d in &self.data {
            for v in d {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Parse safetensors bytes (F32 tensors only): the tensors, in the stored order (metadata
    /// `fedrecon.order`, else by data offset), and the remaining metadata.
    pub fn from_safetensors(bytes: &[u8]) -> Result<(Self, BTreeMap<String, String>)> {
        let bad = |reason: String| NnError::argument("safetensors", "file", reason);
        if bytes.len() < 8 {
            return Err(bad(format!(
                "{} bytes: too short for a header",
                bytes.len()
            )));
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let body = bytes
            .get(8..8usize.saturating_add(n))
            .ok_or_else(|| bad(format!("header length {n} exceeds the file")))?;
        let data = &bytes[8 + n..];
        let text = std::str::from_utf8(body).map_err(|e| bad(format!("header: {e}")))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text.trim_end()).map_err(|e| bad(format!("header: {e}")))?;
        let mut metadata = BTreeMap::new();
        let mut entries = Vec::new();
        for (name, v) in &header {
            if name == "__metadata__" {
                let m = v
                    .as_object()
                    .ok_or_else(|| bad("__metadata__ is not an object".into()))?;
                for (k, v) in m {
                    let s = v
                        .as_str()
                        .ok_or_else(|| bad(format!("metadata {k} is not a string")))?;
                    metadata.insert(k.clone(), s.to_string());
                }
                continue;
            }
            let dtype = v.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
            if dtype != "F32" {
                return Err(param_error(
                    name,
                    format!("dtype {dtype:?}: only F32 tensors are supported"),
                ));
            }
            let shape: Vec<usize> = v
                .get("shape")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .ok_or_else(|| param_error(name, "missing or invalid shape"))?;
            let [a, b]: [usize; 2] = v
                .get("data_offsets")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .ok_or_else(|| param_error(name, "missing or invalid data_offsets"))?;
            let count: usize = shape.iter().product();
            if b < a || b - a != 4 * count || b > data.len() {
                return Err(param_error(
                    name,
                    format!(
                        "data_offsets [{a}, {b}] do not hold shape {shape:?} within {} data bytes",
                        data.len()
                    ),
                ));
            }
            let values = data[a..b]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            entries.push((a, name.clone(), shape, values));
        }
        let order: Option<Vec<String>> = metadata
            .remove(ORDER_KEY)
            .map(|s| serde_json::from_str(&s).map_err(|e| bad(format!("{ORDER_KEY}: {e}"))))
            .transpose()?;
        match order {
            Some(order) => {
                if order.len() != entries.len() {
                    return Err(bad(format!(
                        "{ORDER_KEY} lists {} names but the file has {} tensors",
                        order.len(),
                        entries.len()
                    )));
                }
                let mut by_name: HashMap<String, (Vec<usize>, Vec<f32>)> = entries
                    .into_iter()
                    .map(|(_, n, s, v)| (n, (s, v)))
                    .collect();
                let mut out = NamedParams::new();
                for name in order {
                    let (s, v) = by_name.remove(&name).ok_or_else(|| {
                        param_error(&name, format!("listed in {ORDER_KEY} but absent"))
                    })?;
                    out.push(name, s, v)?;
                }
                Ok((out, metadata))
            }
            None => {
                entries.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(&y.1)));
                let mut out = NamedParams::new();
                for (_, n, s, v) in entries {
                    out.push(n, s, v)?;
                }
                Ok((out, metadata))
            }
        }
    }

    /// Write as a safetensors file, atomically.
    pub fn save(&self, path: &Path, metadata: &BTreeMap<String, String>) -> Result<()> {
        let bytes = self.to_safetensors(metadata);
        fedrecon_io::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
            .map_err(|e| NnError::argument("file", path.display(), e.to_string()))
    }

    /// Read a safetensors file written by [`Self::save`] (or any F32-only safetensors file).
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>)> {
        let bytes = std::fs::read(path)
            .map_err(|e| NnError::argument("file", path.display(), e.to_string()))?;
        Self::from_safetensors(&bytes)
            .map_err(|e| NnError::argument("file", path.display(), e.to_string()))
    }
}

const ORDER_KEY: &str = "fedrecon.order";

/// Collects the float parameters with their paths.
struct Exporter {
    path: Vec<String>,
    out: NamedParams,
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
            Ok(v) => self.out.push(name, shape, v),
            Err(e) => Err(param_error(&name, format!("cannot read values: {e:?}"))),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
}

/// Every float parameter of `module` by name, in traversal order, copied to the host.
pub fn export_params<M: Module>(module: &M) -> Result<NamedParams> {
    let mut v = Exporter {
        path: Vec::new(),
        out: NamedParams::new(),
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
    params: &'a NamedParams,
    index: HashMap<&'a str, usize>,
    used: Vec<bool>,
    error: Option<NnError>,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(params: &'a NamedParams) -> Self {
        Self {
            path: Vec::new(),
            params,
            index: params
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect(),
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
                &self.params.names[i],
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
        let Some(&i) = self.index.get(name.as_str()) else {
            self.error = Some(param_error(
                &name,
                "is in the model but missing from the parameter set",
            ));
            return param;
        };
        self.used[i] = true;
        let shape = &self.params.shapes[i];
        let model_shape = param.lazy_shape().to_vec();
        if *shape != model_shape {
            self.error = Some(param_error(
                &name,
                format!("shape {shape:?} in the parameter set, {model_shape:?} in the model"),
            ));
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let t = replace_values(&tensor, shape, self.params.data[i].clone());
        Param::from_mapped_value(id, t, mapper)
    }
}

/// `module` with every float parameter replaced by the value of the same name in `params`;
/// an error names the first parameter that is missing (either way) or has another shape.
pub fn load_params<M: Module>(module: M, params: &NamedParams) -> Result<M> {
    let mut loader = Loader::new(params);
    let module = module.map(&mut loader);
    loader.finish()?;
    Ok(module)
}
