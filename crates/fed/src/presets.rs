//! Federated methods as presets of parameter groups, selectable by name from a config.
//!
//! | preset     | groups (first match wins)                                  | default   |
//! |------------|------------------------------------------------------------|-----------|
//! | `fedavg`   | —                                                          | aggregate |
//! | `fedprox`  | — (plus the client proximal term `μ/2·‖w − w_g‖²`)          | aggregate |
//! | `fedbn`    | `norm` = [`PresetOptions::norm_patterns`] → local           | aggregate |
//! | `fedfdd`   | `lowfreq.**` → local, `highfreq.**` → aggregate            | aggregate |
//! | `hyperfed` | `hyper.**` → local / aggregate / aggregate-no-overwrite     | aggregate |
//! | `local`    | —                                                          | local     |
//!
//! - FedAvg: McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
//!   Decentralized Data".
//! - FedProx: Li et al. 2020, "Federated Optimization in Heterogeneous Networks": each site
//!   minimises `F_k(w) + μ/2·‖w − w_g‖²`, i.e. adds [`proximal_gradient`] `μ(w − w_g)` to its
//!   gradient; aggregation is FedAvg.
//! - FedBN: Li et al. 2021, "FedBN: Federated Learning on Non-IID Features via Local Batch
//!   Normalization": normalisation-layer parameters and statistics stay local.
//! - FedFDD: the low-frequency branch (fed with the DCT low-pass part of the input, see
//!   [`crate::dct`]) is personalised, the high-frequency branch is shared (Chen et al., "FedFDD:
//!   Federated Learning with Frequency Domain Decomposition for Low-Dose CT Denoising", MIDL 2024).
//! - HyperFed: Yang, Xia, Lu, Chen, Li, Zhang, "Hypernetwork-based personalized federated learning
//!   for multi-institutional CT imaging", arXiv:2206.03709 (2022; IEEE TNNLS 2023 as
//!   "Hypernetwork-based physics-driven personalized federated learning for CT imaging"): a hypernetwork maps the site's protocol
//!   vector to FiLM parameters of a shared imaging network; the hypernetwork is institution-specific
//!   (local) in the paper, or aggregated here so an unseen protocol gets parameters without
//!   training.
//!
//! Centralised (pooled) training is not a preset: the runtime trains one pooled trainer instead
//! (see [`crate::runtime::simulate_central`]).

use crate::error::{FedError, Result};
use crate::glob::NamePattern;
use crate::params::ParamSet;
use crate::strategy::{ParamGroup, Policy, Rule, Strategy, Weighting};
use serde::{Deserialize, Serialize};

/// Preset names accepted by [`build_method`].
pub const PRESETS: [&str; 6] = ["fedavg", "fedprox", "fedbn", "fedfdd", "hyperfed", "local"];

/// Default normalisation-layer patterns for FedBN: any segment starting with `bn` or containing
/// `norm` (`bn`, `bn1`, `batchnorm`, `norm2`, `layernorm`, `instancenorm`, …), at any depth.
pub fn default_norm_patterns() -> Vec<String> {
    vec!["**.bn*.**".into(), "**.*norm*.**".into()]
}

/// What HyperFed does with the hypernetwork `hyper.**`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HyperMode {
    /// Institution-specific hypernetwork (the paper's HyperFed).
    #[default]
    Local,
    /// Shared hypernetwork, overwritten at every site each round.
    Aggregate,
    /// Aggregated on the server (for unseen protocols) while each site keeps its own copy.
    AggregateNoOverwrite,
}

/// A custom group in a config, placed before the preset's groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name.
    pub name: String,
    /// Glob patterns over dot-separated names.
    pub patterns: Vec<NamePattern>,
    /// `"aggregate"`, `"local"` or `"aggregate-no-overwrite"`.
    pub policy: String,
    /// Aggregation rule (default: the method's rule).
    pub rule: Option<Rule>,
    /// Weighting (default: the method's weighting).
    pub weighting: Option<Weighting>,
}

/// Method options as written in a config's `[method]` table.
///
/// ```toml
/// [method]
/// preset = "hyperfed"
/// hyper = "aggregate-no-overwrite"     # hyperfed only
/// weighting = "samples"                # or "uniform"
/// rule = { rule = "fedadam", lr = 0.01, beta1 = 0.9, beta2 = 0.99, tau = 1e-3 }
/// # proximal_mu = 0.01                 # fedprox
/// # norm_patterns = ["**.bn*.**"]      # fedbn
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetOptions {
    /// One of [`PRESETS`].
    pub preset: String,
    /// Server rule of the aggregated groups.
    #[serde(default = "default_rule")]
    pub rule: Rule,
    /// Weighting of the aggregated groups.
    #[serde(default)]
    pub weighting: Weighting,
    /// FedProx `μ` (used by `fedprox` only; default 0.01).
    pub proximal_mu: Option<f64>,
    /// FedBN's local patterns.
    #[serde(default = "default_norm_patterns")]
    pub norm_patterns: Vec<String>,
    /// HyperFed's hypernetwork policy.
    #[serde(default)]
    pub hyper: HyperMode,
    /// Extra groups, matched before the preset's groups.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
}

fn default_rule() -> Rule {
    Rule::FedAvg
}

impl PresetOptions {
    /// Defaults for `preset`.
    pub fn named(preset: &str) -> Self {
        Self {
            preset: preset.into(),
            rule: Rule::FedAvg,
            weighting: Weighting::Samples,
            proximal_mu: None,
            norm_patterns: default_norm_patterns(),
            hyper: HyperMode::Local,
            groups: vec![],
        }
    }
}

/// A ready-to-run federated method: groups plus the client-side proximal weight.
#[derive(Debug, Clone, PartialEq)]
pub struct FedMethod {
    /// Preset name.
    pub name: String,
    /// Groups and policies.
    pub strategy: Strategy,
    /// FedProx `μ` (0 for every other method).
    pub proximal_mu: f64,
}

/// Build a method from its options (errors name the field).
pub fn build_method(o: &PresetOptions) -> Result<FedMethod> {
    let agg = Policy::Aggregate {
        rule: o.rule,
        weighting: o.weighting,
    };
    let mut groups = o
        .groups
        .iter()
        .map(|g| {
            let rule = g.rule.unwrap_or(o.rule);
            let weighting = g.weighting.unwrap_or(o.weighting);
            let policy = match g.policy.as_str() {
                "aggregate" => Policy::Aggregate { rule, weighting },
                "local" => Policy::Local,
                "aggregate-no-overwrite" => Policy::AggregateNoOverwrite { rule, weighting },
                other => {
                    return Err(FedError::field(
                        format!("groups.{}.policy", g.name),
                        format!("{other:?}"),
                        "must be \"aggregate\", \"local\" or \"aggregate-no-overwrite\"",
                    ));
                }
            };
            Ok(ParamGroup {
                name: g.name.clone(),
                patterns: g.patterns.clone(),
                policy,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut default = agg;
    let mut mu = 0.0;
    match o.preset.as_str() {
        "fedavg" => {}
        "fedprox" => {
            mu = o.proximal_mu.unwrap_or(0.01);
            if !(mu.is_finite() && mu >= 0.0) {
                return Err(FedError::field("proximal_mu", mu, "must be finite and ≥ 0"));
            }
        }
        "fedbn" => {
            let pats: Vec<&str> = o.norm_patterns.iter().map(String::as_str).collect();
            if pats.is_empty() {
                return Err(FedError::field(
                    "norm_patterns",
                    "[]",
                    "FedBN needs at least one normalisation-layer pattern",
                ));
            }
            groups.push(ParamGroup::new("norm", &pats, Policy::Local)?);
        }
        "fedfdd" => {
            groups.push(ParamGroup::new("lowfreq", &["lowfreq.**"], Policy::Local)?);
            groups.push(ParamGroup::new("highfreq", &["highfreq.**"], agg)?);
        }
        "hyperfed" => {
            let policy = match o.hyper {
                HyperMode::Local => Policy::Local,
                HyperMode::Aggregate => agg,
                HyperMode::AggregateNoOverwrite => Policy::AggregateNoOverwrite {
                    rule: o.rule,
                    weighting: o.weighting,
                },
            };
            groups.push(ParamGroup::new("hyper", &["hyper.**"], policy)?);
        }
        "local" => default = Policy::Local,
        other => {
            return Err(FedError::field(
                "preset",
                format!("{other:?}"),
                format!("must be one of {PRESETS:?} (central training is a runtime mode)"),
            ));
        }
    }
    if o.proximal_mu.is_some() && o.preset != "fedprox" {
        return Err(FedError::field(
            "proximal_mu",
            o.proximal_mu.unwrap_or_default(),
            format!("only valid with preset = \"fedprox\" (got {:?})", o.preset),
        ));
    }
    Ok(FedMethod {
        name: o.preset.clone(),
        strategy: Strategy::new(groups, default)?,
        proximal_mu: mu,
    })
}

/// Build a preset with default options.
pub fn preset(name: &str) -> Result<FedMethod> {
    build_method(&PresetOptions::named(name))
}

/// FedProx's proximal gradient `μ (w − w_g)` for every tensor of `global` (the transmitted
/// groups; local tensors have no proximal term). The trainer adds it to its loss gradient.
pub fn proximal_gradient(local: &ParamSet, global: &ParamSet, mu: f64) -> Result<ParamSet> {
    if !(mu.is_finite() && mu >= 0.0) {
        return Err(FedError::field("proximal_mu", mu, "must be finite and ≥ 0"));
    }
    let w = local.filter(|n| global.contains(n));
    if w.len() != global.len() {
        let missing = global.names().find(|n| !local.contains(n)).unwrap_or("");
        return Err(FedError::MissingParam {
            name: missing.into(),
            context: "the local model (proximal term)".into(),
        });
    }
    ParamSet::weighted_sum(&[&w, global], &[mu, -mu])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_assign_the_documented_policies() {
        let names = [
            "enc.conv1.weight",
            "enc.bn1.weight",
            "enc.norm.bias",
            "lowfreq.conv.weight",
            "highfreq.conv.weight",
            "hyper.fc1.weight",
            "head.weight",
        ];
        let pol = |m: &FedMethod, n: &str| m.strategy.policy_of(n).1;
        let fedavg = preset("fedavg").unwrap();
        assert!(names.iter().all(|n| pol(&fedavg, n) == Policy::FEDAVG));
        assert_eq!(fedavg.proximal_mu, 0.0);
        let prox = preset("fedprox").unwrap();
        assert_eq!(prox.proximal_mu, 0.01);
        assert!(names.iter().all(|n| pol(&prox, n) == Policy::FEDAVG));
        let bn = preset("fedbn").unwrap();
        for n in names {
            let local = n.contains("bn1") || n.contains("norm");
            assert_eq!(pol(&bn, n) == Policy::Local, local, "{n}");
        }
        let fdd = preset("fedfdd").unwrap();
        for n in names {
            assert_eq!(
                pol(&fdd, n) == Policy::Local,
                n.starts_with("lowfreq."),
                "{n}"
            );
        }
        let hyper = preset("hyperfed").unwrap();
        for n in names {
            assert_eq!(
                pol(&hyper, n) == Policy::Local,
                n.starts_with("hyper."),
                "{n}"
            );
        }
        let mut o = PresetOptions::named("hyperfed");
        o.hyper = HyperMode::AggregateNoOverwrite;
        let h2 = build_method(&o).unwrap();
        assert!(matches!(
            pol(&h2, "hyper.fc1.weight"),
            Policy::AggregateNoOverwrite { .. }
        ));
        let local = preset("local").unwrap();
        assert!(names.iter().all(|n| pol(&local, n) == Policy::Local));
        let e = preset("central").unwrap_err().to_string();
        assert!(e.contains("preset") && e.contains("central"), "{e}");
    }

    #[test]
    fn method_options_from_toml() {
        let text = r#"
preset = "fedbn"
weighting = "uniform"
norm_patterns = ["**.gn.**"]
rule = { rule = "fedyogi", lr = 0.02, beta1 = 0.9, beta2 = 0.99, tau = 0.001 }
[[groups]]
name = "frozen-stem"
patterns = ["stem.**"]
policy = "local"
"#;
        let o: PresetOptions = toml::from_str(text).unwrap();
        let m = build_method(&o).unwrap();
        assert_eq!(m.strategy.policy_of("stem.conv.w").0, "frozen-stem");
        assert_eq!(m.strategy.policy_of("a.gn.w").1, Policy::Local);
        assert_eq!(
            m.strategy.policy_of("a.conv.w").1,
            Policy::Aggregate {
                rule: Rule::fedyogi(0.02),
                weighting: Weighting::Uniform
            }
        );
        let bad: PresetOptions = toml::from_str(
            "preset = \"fedavg\"\n[[groups]]\nname = \"g\"\npatterns = [\"x\"]\npolicy = \"share\"\n",
        )
        .unwrap();
        let e = build_method(&bad).unwrap_err().to_string();
        assert!(e.contains("groups.g.policy") && e.contains("share"), "{e}");
        let bad: PresetOptions =
            toml::from_str("preset = \"fedavg\"\nrule = { rule = \"fedadam\", lr = -1.0, beta1 = 0.9, beta2 = 0.99, tau = 0.001 }").unwrap();
        let e = build_method(&bad).unwrap_err().to_string();
        assert!(e.contains("server_lr"), "{e}");
        assert!(toml::from_str::<PresetOptions>("preset = \"fedavg\"\nbogus = 1").is_err());
    }

    #[test]
    fn proximal_gradient_is_mu_times_difference() {
        let local = ParamSet::from_tensors([
            ("a", vec![2], vec![1.0f32, -2.0]),
            ("bn.w", vec![1], vec![7.0]),
        ])
        .unwrap();
        let global = ParamSet::from_tensors([("a", vec![2], vec![0.5f32, 1.0])]).unwrap();
        let mu = 0.3;
        let g = proximal_gradient(&local, &global, mu).unwrap();
        assert_eq!(g.names().collect::<Vec<_>>(), vec!["a"]);
        for k in 0..2 {
            let e = mu
                * (local.get("a").unwrap().data[k] as f64
                    - global.get("a").unwrap().data[k] as f64);
            assert_eq!(g.get("a").unwrap().data[k], e as f32);
        }
        let e = proximal_gradient(&global, &local, mu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bn.w"), "{e}");
        assert!(proximal_gradient(&local, &global, -1.0).is_err());
    }
}
