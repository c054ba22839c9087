//! Named parameter sets: the only thing the federation knows about a model.
//!
//! A model exports its trainable tensors (and any state that should be federated, e.g. batch-norm
//! running statistics) as a [`ParamSet`]: an ordered map from dot-separated names
//! (`"block1.conv.weight"`, `"hyper.fc2.bias"`) to a flat row-major `f32` tensor with its shape.
//! All arithmetic here accumulates in `f64` and rounds once to `f32`, so results do not depend on
//! the order in which sites are summed beyond that single rounding.

use crate::error::{FedError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// An error unless `p` (the reference) and `q` have the same shape.
fn same_shape(name: &str, p: &Param, q: &Param, context: &str) -> Result<()> {
    if p.shape == q.shape {
        return Ok(());
    }
    Err(FedError::ShapeMismatch {
        name: name.into(),
        expected: p.shape.clone(),
        got: q.shape.clone(),
        context: context.into(),
    })
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

/// An ordered set of named tensors: model parameters (in the model's traversal order), optimiser
/// moments, gradients, uploads. Names are unique; the order is the insertion order and is kept by
/// every operation and by the safetensors files ([`crate::tensorfile`]). Equality ignores the
/// order (two sets are equal when they hold the same named tensors).
#[derive(Debug, Clone, Default)]
pub struct ParamSet {
    entries: Vec<(String, Param)>,
    index: HashMap<String, usize>,
}

impl PartialEq for ParamSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(n, p)| other.get(n) == Some(p))
    }
}

impl Serialize for ParamSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (n, p) in self.iter() {
            m.serialize_entry(n, p)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for ParamSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ParamSet;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map from parameter names to {shape, data}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<ParamSet, A::Error> {
                let mut out = ParamSet::new();
                while let Some((n, p)) = a.next_entry::<String, Param>()? {
                    out.push(n, p.shape, p.data)
                        .map_err(serde::de::Error::custom)?;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

impl ParamSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Build from `(name, shape, data)` triples, validating each (a repeated name is an error).
    pub fn from_tensors<S: Into<String>>(
        tensors: impl IntoIterator<Item = (S, Vec<usize>, Vec<f32>)>,
    ) -> Result<Self> {
        let mut s = Self::new();
        for (name, shape, data) in tensors {
            s.push(name, shape, data)?;
        }
        Ok(s)
    }
    /// Append a new tensor after checking its name and length; a name already present is an
    /// error.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> Result<()> {
        let name = name.into();
        if self.contains(&name) {
            return Err(FedError::field(
                "parameter name",
                format!("{name:?}"),
                "appears twice",
            ));
        }
        self.insert(name, Param { shape, data })
    }
    /// Insert (or replace, keeping its position) a tensor after checking its name and length.
    pub fn insert(&mut self, name: impl Into<String>, p: Param) -> Result<()> {
        let name = name.into();
        check_name(&name)?;
        let p = Param::new(&name, p.shape, p.data)?;
        match self.index.get(&name) {
            Some(&i) => self.entries[i].1 = p,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, p));
            }
        }
        Ok(())
    }
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }
    /// Mutable access to the tensor called `name` (its shape must not be changed).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Param> {
        self.index.get(name).map(|&i| &mut self.entries[i].1)
    }
    /// Position of `name` in the order.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
    /// The `i`-th tensor in order.
    pub fn at(&self, i: usize) -> (&str, &Param) {
        let (n, p) = &self.entries[i];
        (n, p)
    }
    /// Mutable access to the `i`-th tensor (its shape must not be changed).
    pub fn at_mut(&mut self, i: usize) -> &mut Param {
        &mut self.entries[i].1
    }
    /// Remove and return `name` (the others keep their order).
    pub fn remove(&mut self, name: &str) -> Option<Param> {
        let i = self.index.remove(name)?;
        let (_, p) = self.entries.remove(i);
        for (n, _) in &self.entries[i..] {
            *self.index.get_mut(n).expect("indexed") -= 1;
        }
        Some(p)
    }
    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
    /// Names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
    /// `(name, tensor)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Param)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// `(name, tensor)` pairs in order, the values mutable (shapes must not be changed).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Param)> {
        self.entries.iter_mut().map(|(k, v)| (k.as_str(), v))
    }
    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Total number of scalar values.
    pub fn num_elements(&self) -> usize {
        self.entries.iter().map(|(_, p)| p.len()).sum()
    }
    /// The tensors whose name satisfies `keep`, in order.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Self {
        let mut out = Self::new();
        for (k, v) in self.iter().filter(|(k, _)| keep(k)) {
            out.index.insert(k.into(), out.entries.len());
            out.entries.push((k.into(), v.clone()));
        }
        out
    }
    /// Same names, order and shapes, every value zero.
    pub fn zeros_like(&self) -> Self {
        let mut out = self.clone();
        for (_, p) in out.entries.iter_mut() {
            p.data.iter_mut().for_each(|v| *v = 0.0);
        }
        out
    }

    /// One set holding every group's tensors with the group's prefix on their names (several
    /// sets in one checkpoint file: `("adam.m/", &m)` stores `m`'s `w` as `adam.m/w`).
    pub fn prefixed(groups: &[(&str, &ParamSet)]) -> Result<Self> {
        let mut all = Self::new();
        for (prefix, set) in groups {
            for (n, p) in set.iter() {
                all.push(format!("{prefix}{n}"), p.shape.clone(), p.data.clone())?;
            }
        }
        Ok(all)
    }

    /// The inverse of [`Self::prefixed`]: the tensors of each prefix, prefix removed, in order;
    /// a name with none of the prefixes is an error.
    pub fn split_prefixed<const N: usize>(&self, prefixes: [&str; N]) -> Result<[Self; N]> {
        let mut out: [Self; N] = std::array::from_fn(|_| Self::new());
        for (name, p) in self.iter() {
            let (k, n) = prefixes
                .iter()
                .enumerate()
                .find_map(|(k, pre)| name.strip_prefix(pre).map(|n| (k, n)))
                .ok_or_else(|| FedError::UnexpectedParam {
                    name: name.into(),
                    context: format!("a file of the tensor groups {prefixes:?}"),
                })?;
            out[k].push(n, p.shape.clone(), p.data.clone())?;
        }
        Ok(out)
    }

    /// Require exactly the same names and shapes as `other` (`context` names the pair in errors).
    pub fn check_compatible(&self, other: &Self, context: &str) -> Result<()> {
        for (name, p) in self.iter() {
            let q = other.get(name).ok_or_else(|| FedError::MissingParam {
                name: name.into(),
                context: context.into(),
            })?;
            same_shape(name, p, q, context)?;
        }
        if let Some(name) = other.names().find(|n| !self.contains(n)) {
            return Err(FedError::UnexpectedParam {
                name: name.into(),
                context: context.into(),
            });
        }
        Ok(())
    }

    /// Require every value to be finite; the error names the first offending tensor, its
    /// element index and `context` (e.g. "the upload of site `a`").
    pub fn check_finite(&self, context: &str) -> Result<()> {
        for (name, p) in self.iter() {
            if let Some((i, v)) = p.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(FedError::field(
                    format!("{name}[{i}]"),
                    v,
                    format!("{context}: every value must be finite"),
                ));
            }
        }
        Ok(())
    }

    /// Require the same names in the same order and the same shapes as `other` (e.g. optimiser
    /// moments against their parameters); `what` names `other` in errors.
    pub fn check_same_layout(&self, other: &Self, what: &str) -> Result<()> {
        self.check_compatible(other, what)?;
        if let Some(((a, _), (b, _))) = self.iter().zip(other.iter()).find(|(x, y)| x.0 != y.0) {
            return Err(FedError::field(
                "parameter order",
                a,
                format!("{what} has `{b}` in its place"),
            ));
        }
        Ok(())
    }

    /// Overwrite this set's tensors with `other`'s; every name of `other` must exist here with the
    /// same shape (a model cannot grow new parameters from a server message).
    pub fn overwrite_from(&mut self, other: &Self, context: &str) -> Result<()> {
        for (name, q) in other.iter() {
            let p = self
                .get_mut(name)
                .ok_or_else(|| FedError::UnexpectedParam {
                    name: name.into(),
                    context: context.into(),
                })?;
            same_shape(name, p, q, context)?;
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
        for (name, p) in sets[0].iter() {
            let mut acc = vec![0f64; p.len()];
            for (s, &w) in sets.iter().zip(weights) {
                for (a, &x) in acc.iter_mut().zip(&s.get(name).expect("compatible").data) {
                    *a += w * x as f64;
                }
            }
            out.index.insert(name.into(), out.entries.len());
            out.entries.push((
                name.into(),
                Param {
                    shape: p.shape.clone(),
                    data: acc.into_iter().map(|a| a as f32).collect(),
                },
            ));
        }
        Ok(out)
    }

    /// `self − other` (same names and shapes).
    pub fn difference(&self, other: &Self) -> Result<Self> {
        Self::weighted_sum(&[self, other], &[1.0, -1.0])
    }

    /// `self += alpha · other` for every tensor of `other` (which must exist here).
    pub fn add_scaled(&mut self, other: &Self, alpha: f64) -> Result<()> {
        for (name, q) in other.iter() {
            let p = self
                .get_mut(name)
                .ok_or_else(|| FedError::UnexpectedParam {
                    name: name.into(),
                    context: "add_scaled".into(),
                })?;
            same_shape(name, p, q, "add_scaled")?;
            for (a, &b) in p.data.iter_mut().zip(&q.data) {
                *a = (*a as f64 + alpha * b as f64) as f32;
            }
        }
        Ok(())
    }

    /// Euclidean norm over all values, `(Σ x²)^{1/2}`, in `f64`.
    pub fn norm(&self) -> f64 {
        self.entries
            .iter()
            .flat_map(|(_, p)| &p.data)
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt()
    }

    /// Largest absolute elementwise difference to `other` (same names and shapes).
    pub fn max_abs_diff(&self, other: &Self) -> Result<f64> {
        self.check_compatible(other, "max_abs_diff")?;
        Ok(self
            .iter()
            .flat_map(|(n, p)| p.data.iter().zip(&other.get(n).expect("compatible").data))
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .fold(0.0, f64::max))
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
    fn check_finite_names_the_tensor_and_element() {
        let ok = set(&[("a", vec![2], vec![1.0, -2.0]), ("b", vec![1], vec![0.0])]);
        ok.check_finite("upload").unwrap();
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let s = set(&[
                ("a", vec![2], vec![1.0, -2.0]),
                ("b", vec![3], vec![0.0, 1.0, bad]),
            ]);
            let e = s
                .check_finite("the upload of site `x`")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("b[2]") && e.contains("site `x`") && e.contains("finite"),
                "{e}"
            );
        }
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
    fn insertion_order_is_kept_and_equality_ignores_it() {
        let mut a = set(&[("z", vec![1], vec![1.0]), ("a.b", vec![1], vec![2.0])]);
        a.push("m", vec![2], vec![3.0, 4.0]).unwrap();
        assert_eq!(a.names().collect::<Vec<_>>(), ["z", "a.b", "m"]);
        assert!(
            a.push("z", vec![1], vec![0.0])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert_eq!(a.remove("z").unwrap().data, vec![1.0]);
        assert_eq!((a.index_of("a.b"), a.index_of("m")), (Some(0), Some(1)));
        let b = set(&[("m", vec![2], vec![3.0, 4.0]), ("a.b", vec![1], vec![2.0])]);
        assert_eq!(a, b);
        assert!(a.check_same_layout(&b, "b").is_err());
        let text = serde_json::to_string(&a).unwrap();
        let back: ParamSet = serde_json::from_str(&text).unwrap();
        assert_eq!(back.names().collect::<Vec<_>>(), ["a.b", "m"]);
    }
}
