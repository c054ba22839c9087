//! Named parameter sets: the only thing the federation knows about a model.
//!
//! A model exports its trainable tensors (and any state that should be federated, e.g. batch-norm
//! running statistics) as a [`ParamSet`]: an ordered map from dot-separated names
//! (`"block1.conv.weight"`, `"hyper.fc2.bias"`) to a flat row-major `f32` tensor with its shape.
//! All arithmetic here accumulates in `f64` and rounds once to `f32`, so results do not depend on
//! the order in which sites are summed beyond that single rounding.

use crate::error::{FedError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One named tensor: row-major `data` of `shape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Tensor shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` = product of `shape`.
    pub data: Vec<f32>,
}

impl Param {
    /// A validated tensor; `name` is used in the error message only.
    pub fn new(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(FedError::DataLength {
                name: name.into(),
                shape,
                expected,
                len: data.len(),
            });
        }
        Ok(Self { shape, data })
    }
    /// A zero tensor of `shape`.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; n],
        }
    }
    /// A tensor of `shape` filled with `v`.
    pub fn full(shape: Vec<usize>, v: f32) -> Self {
        let n = shape.iter().product();
        Self {
            shape,
            data: vec![v; n],
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Check a parameter name: non-empty dot-separated segments without whitespace.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.split('.').any(|s| s.is_empty()) {
        return Err(FedError::field(
            "parameter name",
            format!("{name:?}"),
            "must be non-empty dot-separated segments (no leading, trailing or double dots)",
        ));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(FedError::field(
            "parameter name",
            format!("{name:?}"),
            "must not contain whitespace",
        ));
    }
    Ok(())
}

/// An ordered (by name) map of named tensors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParamSet {
    params: BTreeMap<String, Param>,
}

impl ParamSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Build from `(name, shape, data)` triples, validating each.
    pub fn from_tensors<S: Into<String>>(
        tensors: impl IntoIterator<Item = (S, Vec<usize>, Vec<f32>)>,
    ) -> Result<Self> {
        let mut s = Self::new();
        for (name, shape, data) in tensors {
            let name = name.into();
            let p = Param::new(&name, shape, data)?;
            s.insert(name, p)?;
        }
        Ok(s)
    }
    /// Insert (or replace) a tensor after checking its name and length.
    pub fn insert(&mut self, name: impl Into<String>, p: Param) -> Result<()> {
        let name = name.into();
        check_name(&name)?;
        let p = Param::new(&name, p.shape, p.data)?;
        self.params.insert(name, p);
        Ok(())
    }
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.params.get(name)
    }
    /// Mutable access to the tensor called `name` (its shape must not be changed).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Param> {
        self.params.get_mut(name)
    }
    /// Remove and return `name`.
    pub fn remove(&mut self, name: &str) -> Option<Param> {
        self.params.remove(name)
    }
    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }
    /// Names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.keys().map(String::as_str)
    }
    /// `(name, tensor)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Param)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.params.len()
    }
    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
    /// Total number of scalar values.
    pub fn num_elements(&self) -> usize {
        self.params.values().map(Param::len).sum()
    }
    /// The tensors whose name satisfies `keep`.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Self {
        Self {
            params: self
                .params
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Require exactly the same names and shapes as `other` (`context` names the pair in errors).
    pub fn check_compatible(&self, other: &Self, context: &str) -> Result<()> {
        for (name, p) in &self.params {
            let q = other.get(name).ok_or_else(|| FedError::MissingParam {
                name: name.clone(),
                context: context.into(),
            })?;
            if p.shape != q.shape {
                return Err(FedError::ShapeMismatch {
                    name: name.clone(),
                    expected: p.shape.clone(),
                    got: q.shape.clone(),
                    context: context.into(),
                });
            }
        }
        if let Some(name) = other.names().find(|n| !self.contains(n)) {
            return Err(FedError::UnexpectedParam {
                name: name.into(),
                context: context.into(),
            });
        }
        Ok(())
    }

    /// Overwrite this set's tensors with `other`'s; every name of `other` must exist here with the
    /// same shape (a model cannot grow new parameters from a server message).
    pub fn overwrite_from(&mut self, other: &Self, context: &str) -> Result<()> {
        for (name, q) in &other.params {
            let p = self
                .params
                .get_mut(name)
                .ok_or_else(|| FedError::UnexpectedParam {
                    name: name.clone(),
                    context: context.into(),
                })?;
            if p.shape != q.shape {
                return Err(FedError::ShapeMismatch {
                    name: name.clone(),
                    expected: p.shape.clone(),
                    got: q.shape.clone(),
                    context: context.into(),
                });
            }
            p.data.copy_from_slice(&q.data);
        }
        Ok(())
    }

    /// `Σ_i w_i · sets[i]`, accumulated in `f64`; all sets must be compatible with the first.
    pub fn weighted_sum(sets: &[&ParamSet], weights: &[f64]) -> Result<Self> {
        if sets.is_empty() {
            return Err(FedError::field(
                "sets",
                "[]",
                "need at least one parameter set",
            ));
        }
        if sets.len() != weights.len() {
            return Err(FedError::field(
                "weights",
                weights.len(),
                format!("need one weight per set ({} sets)", sets.len()),
            ));
        }
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
            return Err(FedError::field(
                format!("weights[{i}]"),
                w,
                "must be finite",
            ));
        }
        for (i, s) in sets.iter().enumerate().skip(1) {
            sets[0].check_compatible(s, &format!("weighted sum: set {i} vs set 0"))?;
        }
        let mut out = Self::new();
        for (name, p) in &sets[0].params {
            let mut acc = vec![0f64; p.len()];
            for (s, &w) in sets.iter().zip(weights) {
                for (a, &x) in acc.iter_mut().zip(&s.params[name].data) {
                    *a += w * x as f64;
                }
            }
            out.params.insert(
                name.clone(),
                Param {
                    shape: p.shape.clone(),
                    data: acc.into_iter().map(|a| a as f32).collect(),
                },
            );
        }
        Ok(out)
    }

    /// `self − other` (same names and shapes).
    pub fn difference(&self, other: &Self) -> Result<Self> {
        Self::weighted_sum(&[self, other], &[1.0, -1.0])
    }

    /// `self += alpha · other` for every tensor of `other` (which must exist here).
    pub fn add_scaled(&mut self, other: &Self, alpha: f64) -> Result<()> {
        for (name, q) in &other.params {
            let p = self
                .params
                .get_mut(name)
                .ok_or_else(|| FedError::UnexpectedParam {
                    name: name.clone(),
                    context: "add_scaled".into(),
                })?;
            if p.shape != q.shape {
                return Err(FedError::ShapeMismatch {
                    name: name.clone(),
                    expected: p.shape.clone(),
                    got: q.shape.clone(),
                    context: "add_scaled".into(),
                });
            }
            for (a, &b) in p.data.iter_mut().zip(&q.data) {
                *a = (*a as f64 + alpha * b as f64) as f32;
            }
        }
        Ok(())
    }

    /// Euclidean norm over all values, `(Σ x²)^{1/2}`, in `f64`.
    pub fn norm(&self) -> f64 {
        self.params
            .values()
            .flat_map(|p| &p.data)
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt()
    }

    /// Largest absolute elementwise difference to `other` (same names and shapes).
    pub fn max_abs_diff(&self, other: &Self) -> Result<f64> {
        self.check_compatible(other, "max_abs_diff")?;
        Ok(self
            .params
            .iter()
            .flat_map(|(n, p)| p.data.iter().zip(&other.params[n].data))
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .fold(0.0, f64::max))
    }
}

/// Lossless serde for parameter sets in checkpoints: each value is stored as its `f32` bit pattern
/// (`u32`), so a checkpoint round-trip is bit-exact whatever the text format's float parsing does.
pub mod lossless {
    use super::{Param, ParamSet};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        shape: Vec<usize>,
        bits: Vec<u32>,
    }

    /// Serialize as `{name: {shape, bits}}`.
    pub fn serialize<S: Serializer>(p: &ParamSet, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, Stored> = p
            .iter()
            .map(|(n, p)| {
                (
                    n,
                    Stored {
                        shape: p.shape.clone(),
                        bits: p.data.iter().map(|x| x.to_bits()).collect(),
                    },
                )
            })
            .collect();
        m.serialize(s)
    }

    /// Inverse of [`serialize`], validating names and lengths.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ParamSet, D::Error> {
        let m = BTreeMap::<String, Stored>::deserialize(d)?;
        let mut out = ParamSet::new();
        for (n, s) in m {
            let data = s.bits.into_iter().map(f32::from_bits).collect();
            let p = Param::new(&n, s.shape, data).map_err(serde::de::Error::custom)?;
            out.insert(n, p).map_err(serde::de::Error::custom)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(vals: &[(&str, Vec<usize>, Vec<f32>)]) -> ParamSet {
        ParamSet::from_tensors(vals.iter().cloned()).unwrap()
    }

    #[test]
    fn weighted_sum_difference_norm() {
        let a = set(&[("x.w", vec![2], vec![1.0, 2.0]), ("y", vec![], vec![3.0])]);
        let b = set(&[("x.w", vec![2], vec![-1.0, 0.5]), ("y", vec![], vec![1.0])]);
        let s = ParamSet::weighted_sum(&[&a, &b], &[0.25, 0.75]).unwrap();
        for (n, p) in s.iter() {
            for (k, v) in p.data.iter().enumerate() {
                let e = 0.25 * a.get(n).unwrap().data[k] as f64
                    + 0.75 * b.get(n).unwrap().data[k] as f64;
                assert_eq!(*v, e as f32, "{n}[{k}]");
            }
        }
        let d = a.difference(&b).unwrap();
        assert_eq!(d.get("x.w").unwrap().data, vec![2.0, 1.5]);
        assert_eq!(d.get("y").unwrap().data, vec![2.0]);
        let n2: f64 = [1.0f64, 2.0, 3.0].iter().map(|x| x * x).sum();
        assert!((a.norm() - n2.sqrt()).abs() < 1e-12);
        assert_eq!(a.max_abs_diff(&b).unwrap(), 2.0);
        let mut c = a.clone();
        c.add_scaled(&b, -1.0).unwrap();
        assert_eq!(c, d);
    }

    #[test]
    fn mismatches_name_the_parameter_and_shapes() {
        let a = set(&[("conv.w", vec![2, 2], vec![0.0; 4])]);
        let b = set(&[("conv.w", vec![4], vec![0.0; 4])]);
        let e = ParamSet::weighted_sum(&[&a, &b], &[0.5, 0.5]).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("conv.w") && m.contains("[2, 2]") && m.contains("[4]"),
            "{m}"
        );
        let c = set(&[("other", vec![1], vec![0.0])]);
        let m = a.check_compatible(&c, "test").unwrap_err().to_string();
        assert!(m.contains("conv.w") && m.contains("missing"), "{m}");
        let m = Param::new("p", vec![3], vec![1.0]).unwrap_err().to_string();
        assert!(m.contains("`p`") && m.contains("[3]"), "{m}");
        let m = ParamSet::new()
            .insert("a..b", Param::zeros(vec![1]))
            .unwrap_err()
            .to_string();
        assert!(m.contains("a..b"), "{m}");
        let mut t = a.clone();
        assert!(
            t.overwrite_from(&b, "msg")
                .unwrap_err()
                .to_string()
                .contains("conv.w")
        );
        assert!(matches!(
            t.overwrite_from(&c, "msg").unwrap_err(),
            FedError::UnexpectedParam { .. }
        ));
    }

    #[test]
    fn overwrite_and_filter() {
        let mut a = set(&[("a", vec![1], vec![1.0]), ("b", vec![1], vec![2.0])]);
        let g = set(&[("b", vec![1], vec![5.0])]);
        a.overwrite_from(&g, "t").unwrap();
        assert_eq!(a.get("a").unwrap().data, vec![1.0]);
        assert_eq!(a.get("b").unwrap().data, vec![5.0]);
        let f = a.filter(|n| n == "a");
        assert_eq!(f.names().collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn lossless_roundtrip_is_bit_exact() {
        #[derive(Serialize, Deserialize)]
        struct W(#[serde(with = "lossless")] ParamSet);
        let vals: Vec<f32> = (0..200u32)
            .map(|i| f32::from_bits(0x3f80_0000 ^ (i.wrapping_mul(2_654_435_761u32) >> 9)))
            .collect();
        let a = set(&[("w", vec![200], vals)]);
        let text = serde_json::to_string(&W(a.clone())).unwrap();
        let b: W = serde_json::from_str(&text).unwrap();
        for (x, y) in a
            .get("w")
            .unwrap()
            .data
            .iter()
            .zip(&b.0.get("w").unwrap().data)
        {
            assert_eq!(x.to_bits(), y.to_bits());
        }
    }
}
