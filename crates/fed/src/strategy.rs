//! Parameter groups and server-side aggregation.
//!
//! A [`Strategy`] is an ordered list of [`ParamGroup`]s plus a default [`Policy`]. Each parameter
//! name gets the policy of the first group with a matching [`NamePattern`] (first match wins),
//! otherwise the default. Policies:
//!
//! - [`Policy::Aggregate`]: sites upload the tensor after local training, the server combines the
//!   uploads with a [`Rule`] and sends the result back at the start of the next round, where it
//!   overwrites the site's copy.
//! - [`Policy::Local`]: never leaves the site; the coordinator never sees it (FedBN's
//!   normalisation layers, FedFDD's low-frequency branch, HyperFed's hypernetwork).
//! - [`Policy::AggregateNoOverwrite`]: uploaded and aggregated into the server's global model, but
//!   never sent back, so each site keeps training its own copy; the global copy serves sites
//!   that did not train (e.g. a hypernetwork evaluated at an unseen protocol).
//!
//! # Rules
//! Site `i` of the participating set `S` uploads `x_i` after local training from the global
//! `x_t`; weights `w_i = n_i / Σ_S n_j` (samples) or `1/|S|` (uniform).
//! - **FedAvg** (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
//!   Decentralized Data"): `x_{t+1} = Σ_i w_i x_i`.
//! - **FedAdam / FedYogi** (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2):
//!   pseudo-gradient `Δ_t = Σ_i w_i (x_i − x_t)`, `m_t = β₁ m_{t−1} + (1−β₁) Δ_t`,
//!   Adam: `v_t = β₂ v_{t−1} + (1−β₂) Δ_t²`;
//!   Yogi: `v_t = v_{t−1} − (1−β₂) Δ_t² · sign(v_{t−1} − Δ_t²)`;
//!   `x_{t+1} = x_t + η · m_t / (√v_t + τ)`, elementwise, with `m_{−1} = 0`, `v_{−1} = τ²` and no
//!   bias correction (as in the paper). The moments live in [`ServerState`] and are checkpointed.
//! - **Median**: coordinate-wise median of the `x_i` (mean of the two middle values for an even
//!   count); **TrimmedMean**: per coordinate, drop `k = ⌊β·|S|⌋` smallest and largest values and
//!   average the rest (Yin et al. 2018, "Byzantine-Robust Distributed Learning"). Both robust
//!   rules ignore the weighting (they are unweighted by definition).

use crate::error::{FedError, Result};
use crate::glob::NamePattern;
use crate::params::{Param, ParamSet};
use serde::{Deserialize, Serialize};

/// How uploads are combined on the server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Rule {
    /// Weighted average.
    #[serde(rename = "fedavg")]
    FedAvg,
    /// Server Adam on the averaged pseudo-gradient.
    #[serde(rename = "fedadam")]
    FedAdam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        tau: f64,
    },
    /// Server Yogi on the averaged pseudo-gradient.
    #[serde(rename = "fedyogi")]
    FedYogi {
        lr: f64,
        beta1: f64,
        beta2: f64,
        tau: f64,
    },
    /// Coordinate-wise median.
    Median,
    /// Coordinate-wise trimmed mean.
    TrimmedMean { trim_fraction: f64 },
}

impl Rule {
    /// FedAdam with the defaults of Reddi et al. (β₁ = 0.9, β₂ = 0.99, τ = 1e-3).
    pub fn fedadam(lr: f64) -> Self {
        Self::FedAdam {
            lr,
            beta1: 0.9,
            beta2: 0.99,
            tau: 1e-3,
        }
    }
    /// FedYogi with the defaults of Reddi et al. (β₁ = 0.9, β₂ = 0.99, τ = 1e-3).
    pub fn fedyogi(lr: f64) -> Self {
        Self::FedYogi {
            lr,
            beta1: 0.9,
            beta2: 0.99,
            tau: 1e-3,
        }
    }

    /// Check the rule's hyper-parameters (errors name the field).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::FedAvg | Self::Median => Ok(()),
            Self::FedAdam {
                lr,
                beta1,
                beta2,
                tau,
            }
            | Self::FedYogi {
                lr,
                beta1,
                beta2,
                tau,
            } => {
                if !(lr.is_finite() && lr > 0.0) {
                    return Err(FedError::field("server_lr", lr, "must be finite and > 0"));
                }
                for (f, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(FedError::field(f, b, "must be in [0, 1)"));
                    }
                }
                if !(tau.is_finite() && tau > 0.0) {
                    return Err(FedError::field("tau", tau, "must be finite and > 0"));
                }
                Ok(())
            }
            Self::TrimmedMean { trim_fraction } => {
                if !(0.0..0.5).contains(&trim_fraction) {
                    return Err(FedError::field(
                        "trim_fraction",
                        trim_fraction,
                        "must be in [0, 0.5)",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// How site uploads are weighted by the averaging rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// `w_i ∝ n_i`, the number of training samples the site used.
    #[default]
    Samples,
    /// `w_i = 1/|S|`.
    Uniform,
}

/// What happens to a group's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Aggregated and sent back to every site.
    Aggregate { rule: Rule, weighting: Weighting },
    /// Never leaves the site.
    Local,
    /// Aggregated on the server; sites keep their own copy.
    AggregateNoOverwrite { rule: Rule, weighting: Weighting },
}

impl Policy {
    /// Plain sample-weighted FedAvg.
    pub const FEDAVG: Policy = Policy::Aggregate {
        rule: Rule::FedAvg,
        weighting: Weighting::Samples,
    };
    /// Whether sites upload tensors of this policy.
    pub fn uploaded(&self) -> bool {
        !matches!(self, Self::Local)
    }
    /// Whether the server sends the aggregate back to overwrite the sites' copies.
    pub fn downloaded(&self) -> bool {
        matches!(self, Self::Aggregate { .. })
    }
    /// The rule and weighting of an aggregating policy.
    pub fn rule(&self) -> Option<(Rule, Weighting)> {
        match *self {
            Self::Aggregate { rule, weighting }
            | Self::AggregateNoOverwrite { rule, weighting } => Some((rule, weighting)),
            Self::Local => None,
        }
    }
}

/// A named set of glob patterns with one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamGroup {
    /// Group name (for reports).
    pub name: String,
    /// Patterns; a name belongs to the group if any pattern matches.
    pub patterns: Vec<NamePattern>,
    /// What happens to the group's tensors.
    pub policy: Policy,
}

impl ParamGroup {
    /// A group from pattern strings.
    pub fn new(name: &str, patterns: &[&str], policy: Policy) -> Result<Self> {
        Ok(Self {
            name: name.into(),
            patterns: patterns
                .iter()
                .map(|p| NamePattern::new(p))
                .collect::<Result<_>>()?,
            policy,
        })
    }
    /// Whether `name` belongs to this group.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(name))
    }
}

/// Ordered groups (first match wins) plus a default policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strategy {
    groups: Vec<ParamGroup>,
    default: Policy,
}

/// Server optimiser state: FedAdam/FedYogi first and second moments per parameter name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerState {
    /// First moments `m`.
    pub m: ParamSet,
    /// Second moments `v`.
    pub v: ParamSet,
}

/// One site's upload as seen by the aggregator.
#[derive(Debug, Clone, Copy)]
pub struct Contribution<'a> {
    /// Site name (for errors).
    pub site: &'a str,
    /// Uploaded tensors (the site's trained values).
    pub params: &'a ParamSet,
    /// Training samples used this round.
    pub num_samples: usize,
}

/// The group name used for the default policy in reports.
pub const DEFAULT_GROUP: &str = "default";

impl Strategy {
    /// A validated strategy.
    pub fn new(groups: Vec<ParamGroup>, default: Policy) -> Result<Self> {
        for g in &groups {
            if let Some((r, _)) = g.policy.rule() {
                r.validate().map_err(|e| prefix(&g.name, e))?;
            }
            if g.patterns.is_empty() {
                return Err(FedError::field(
                    format!("groups.{}.patterns", g.name),
                    "[]",
                    "a group needs at least one pattern",
                ));
            }
        }
        if let Some((r, _)) = default.rule() {
            r.validate().map_err(|e| prefix(DEFAULT_GROUP, e))?;
        }
        Ok(Self { groups, default })
    }
    /// The groups in priority order.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }
    /// The default policy.
    pub fn default_policy(&self) -> Policy {
        self.default
    }
    /// `(group name, policy)` of a parameter name.
    pub fn policy_of(&self, name: &str) -> (&str, Policy) {
        self.groups
            .iter()
            .find(|g| g.matches(name))
            .map(|g| (g.name.as_str(), g.policy))
            .unwrap_or((DEFAULT_GROUP, self.default))
    }
    /// How many of `names` each group takes (first match wins), in priority order, then the
    /// default group: `(group name, policy, count)`. A group taking nothing usually means its
    /// patterns do not fit the model (e.g. FedBN on a network without normalisation layers).
    pub fn group_counts<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(String, Policy, usize)> {
        let mut out: Vec<(String, Policy, usize)> = self
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.policy, 0))
            .chain(std::iter::once((
                DEFAULT_GROUP.to_string(),
                self.default,
                0,
            )))
            .collect();
        let last = out.len() - 1;
        for n in names {
            let i = self
                .groups
                .iter()
                .position(|g| g.matches(n))
                .unwrap_or(last);
            out[i].2 += 1;
        }
        out
    }
    /// What a site uploads: every non-local tensor.
    pub fn upload_view(&self, params: &ParamSet) -> ParamSet {
        params.filter(|n| self.policy_of(n).1.uploaded())
    }
    /// What the server sends down: the `Aggregate` tensors of the global model.
    pub fn download_view(&self, global: &ParamSet) -> ParamSet {
        global.filter(|n| self.policy_of(n).1.downloaded())
    }

    /// Combine the uploads into the next global model. `global` holds exactly the uploaded
    /// names (the server view); every contribution must hold the same names and shapes. The
    /// contributions are processed in the order given (callers pass them in site order).
    pub fn aggregate(
        &self,
        global: &ParamSet,
        updates: &[Contribution<'_>],
        state: &mut ServerState,
    ) -> Result<ParamSet> {
        if updates.is_empty() {
            return Ok(global.clone());
        }
        for u in updates {
            global.check_compatible(u.params, &format!("the upload of site `{}`", u.site))?;
        }
        let total: usize = updates.iter().map(|u| u.num_samples).sum();
        let mut out = ParamSet::new();
        for (name, g) in global.iter() {
            let (group, policy) = self.policy_of(name);
            let Some((rule, weighting)) = policy.rule() else {
                return Err(FedError::UnexpectedParam {
                    name: name.into(),
                    context: format!("the server model (group `{group}` is local)"),
                });
            };
            let weights: Vec<f64> = match weighting {
                Weighting::Uniform => vec![1.0 / updates.len() as f64; updates.len()],
                Weighting::Samples => {
                    if total == 0 {
                        return Err(FedError::field(
                            "num_samples",
                            0,
                            "sample weighting needs at least one training sample in the round",
                        ));
                    }
                    updates
                        .iter()
                        .map(|u| u.num_samples as f64 / total as f64)
                        .collect()
                }
            };
            let cols: Vec<&[f32]> = updates
                .iter()
                .map(|u| u.params.get(name).expect("checked").data.as_slice())
                .collect();
            let data = match rule {
                Rule::FedAvg => (0..g.len())
                    .map(|k| {
                        cols.iter()
                            .zip(&weights)
                            .map(|(c, w)| w * c[k] as f64)
                            .sum::<f64>() as f32
                    })
                    .collect(),
                Rule::Median => {
                    let mut buf = vec![0f64; cols.len()];
                    (0..g.len())
                        .map(|k| {
                            for (b, c) in buf.iter_mut().zip(&cols) {
                                *b = c[k] as f64;
                            }
                            median(&mut buf) as f32
                        })
                        .collect()
                }
                Rule::TrimmedMean { trim_fraction } => {
                    let n = cols.len();
                    let t = (trim_fraction * n as f64).floor() as usize;
                    let mut buf = vec![0f64; n];
                    (0..g.len())
                        .map(|k| {
                            for (b, c) in buf.iter_mut().zip(&cols) {
                                *b = c[k] as f64;
                            }
                            buf.sort_by(f64::total_cmp);
                            let kept = &buf[t..n - t];
                            (kept.iter().sum::<f64>() / kept.len() as f64) as f32
                        })
                        .collect()
                }
                Rule::FedAdam {
                    lr,
                    beta1,
                    beta2,
                    tau,
                }
                | Rule::FedYogi {
                    lr,
                    beta1,
                    beta2,
                    tau,
                } => {
                    let yogi = matches!(rule, Rule::FedYogi { .. });
                    let m = moment(&mut state.m, name, &g.shape, 0.0)?;
                    let mut m_data = std::mem::take(&mut m.data);
                    let v = moment(&mut state.v, name, &g.shape, (tau * tau) as f32)?;
                    let v_data = &mut v.data;
                    let mut x = Vec::with_capacity(g.len());
                    for k in 0..g.len() {
                        let xt = g.data[k] as f64;
                        let delta: f64 = cols
                            .iter()
                            .zip(&weights)
                            .map(|(c, w)| w * (c[k] as f64 - xt))
                            .sum();
                        let mk = beta1 * m_data[k] as f64 + (1.0 - beta1) * delta;
                        let vp = v_data[k] as f64;
                        let d2 = delta * delta;
                        let vk = if yogi {
                            vp - (1.0 - beta2) * d2 * (vp - d2).signum_or_zero()
                        } else {
                            beta2 * vp + (1.0 - beta2) * d2
                        };
                        m_data[k] = mk as f32;
                        v_data[k] = vk as f32;
                        x.push((xt + lr * mk / (vk.max(0.0).sqrt() + tau)) as f32);
                    }
                    state.m.get_mut(name).expect("inserted").data = m_data;
                    x
                }
            };
            out.insert(
                name,
                Param {
                    shape: g.shape.clone(),
                    data,
                },
            )?;
        }
        Ok(out)
    }
}

trait SignumOrZero {
    fn signum_or_zero(self) -> f64;
}
impl SignumOrZero for f64 {
    /// `sign(x)` with `sign(0) = 0`, as in Yogi (Zaheer et al. 2018).
    fn signum_or_zero(self) -> f64 {
        if self > 0.0 {
            1.0
        } else if self < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
}

/// The moment tensor for `name`, created with `init` on first use; shape-checked.
fn moment<'a>(
    set: &'a mut ParamSet,
    name: &str,
    shape: &[usize],
    init: f32,
) -> Result<&'a mut Param> {
    if !set.contains(name) {
        set.insert(name, Param::full(shape.to_vec(), init))?;
    }
    let p = set.get_mut(name).expect("inserted");
    if p.shape != shape {
        return Err(FedError::ShapeMismatch {
            name: name.into(),
            expected: shape.to_vec(),
            got: p.shape.clone(),
            context: "server optimiser state".into(),
        });
    }
    Ok(p)
}

/// Median of `v` (sorted in place); mean of the two middle values for an even count.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn prefix(group: &str, e: FedError) -> FedError {
    match e {
        FedError::InvalidField {
            field,
            value,
            reason,
        } => FedError::InvalidField {
            field: format!("groups.{group}.{field}"),
            value,
            reason,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, vals: &[f32]) -> ParamSet {
        ParamSet::from_tensors([(name, vec![vals.len()], vals.to_vec())]).unwrap()
    }

    fn strat(rule: Rule, weighting: Weighting) -> Strategy {
        Strategy::new(vec![], Policy::Aggregate { rule, weighting }).unwrap()
    }

    fn agg(
        s: &Strategy,
        global: &ParamSet,
        sites: &[(ParamSet, usize)],
        st: &mut ServerState,
    ) -> ParamSet {
        let names: Vec<String> = (0..sites.len()).map(|i| format!("s{i}")).collect();
        let c: Vec<Contribution> = sites
            .iter()
            .zip(&names)
            .map(|((p, n), s)| Contribution {
                site: s,
                params: p,
                num_samples: *n,
            })
            .collect();
        s.aggregate(global, &c, st).unwrap()
    }

    #[test]
    fn fedavg_weighted_by_samples_and_uniform() {
        let g = one("w", &[0.0, 0.0]);
        let sites = vec![
            (one("w", &[1.0, 2.0]), 10),
            (one("w", &[3.0, -1.0]), 30),
            (one("w", &[-2.0, 5.0]), 60),
        ];
        for weighting in [Weighting::Samples, Weighting::Uniform] {
            let out = agg(
                &strat(Rule::FedAvg, weighting),
                &g,
                &sites,
                &mut ServerState::default(),
            );
            let total: usize = sites.iter().map(|s| s.1).sum();
            for k in 0..2 {
                let e: f64 = sites
                    .iter()
                    .map(|(p, n)| {
                        let w = match weighting {
                            Weighting::Samples => *n as f64 / total as f64,
                            Weighting::Uniform => 1.0 / 3.0,
                        };
                        w * p.get("w").unwrap().data[k] as f64
                    })
                    .sum();
                assert_eq!(
                    out.get("w").unwrap().data[k],
                    e as f32,
                    "{weighting:?} [{k}]"
                );
            }
        }
    }

    #[test]
    fn median_odd_and_even_counts() {
        let g = one("w", &[0.0]);
        let s = strat(Rule::Median, Weighting::Samples);
        let odd: Vec<_> = [5.0, -1.0, 100.0]
            .iter()
            .map(|&v| (one("w", &[v]), 1))
            .collect();
        let out = agg(&s, &g, &odd, &mut ServerState::default());
        assert_eq!(out.get("w").unwrap().data, vec![5.0]);
        let even: Vec<_> = [5.0, -1.0, 100.0, 2.0]
            .iter()
            .map(|&v| (one("w", &[v]), 1))
            .collect();
        let out = agg(&s, &g, &even, &mut ServerState::default());
        // sorted: -1, 2, 5, 100 → mean of 2 and 5
        assert_eq!(out.get("w").unwrap().data, vec![(2.0 + 5.0) / 2.0]);
    }

    #[test]
    fn trimmed_mean_drops_extremes() {
        let g = one("w", &[0.0]);
        let vals = [10.0f32, -50.0, 1.0, 2.0, 3.0, 1000.0];
        let sites: Vec<_> = vals.iter().map(|&v| (one("w", &[v]), 1)).collect();
        for (beta, k) in [(0.0, 0usize), (0.2, 1), (0.34, 2)] {
            let s = strat(
                Rule::TrimmedMean {
                    trim_fraction: beta,
                },
                Weighting::Samples,
            );
            let out = agg(&s, &g, &sites, &mut ServerState::default());
            let mut sorted: Vec<f64> = vals.iter().map(|&v| v as f64).collect();
            sorted.sort_by(f64::total_cmp);
            let kept = &sorted[k..vals.len() - k];
            let e = kept.iter().sum::<f64>() / kept.len() as f64;
            assert_eq!(out.get("w").unwrap().data, vec![e as f32], "β = {beta}");
        }
        assert!(
            Strategy::new(
                vec![],
                Policy::Aggregate {
                    rule: Rule::TrimmedMean { trim_fraction: 0.5 },
                    weighting: Weighting::Samples
                }
            )
            .unwrap_err()
            .to_string()
            .contains("trim_fraction")
        );
    }

    /// Reddi et al. 2021, Algorithm 2, written out in f64 for one coordinate.
    fn reference_adaptive(
        yogi: bool,
        x0: f64,
        rounds: &[Vec<(f64, f64)>], // per round: (x_i, w_i)
        (lr, b1, b2, tau): (f64, f64, f64, f64),
    ) -> Vec<f64> {
        let (mut x, mut m, mut v) = (x0, 0.0, tau * tau);
        let mut xs = vec![];
        for r in rounds {
            let d: f64 = r.iter().map(|(xi, w)| w * (xi - x)).sum();
            m = b1 * m + (1.0 - b1) * d;
            v = if yogi {
                v - (1.0 - b2) * d * d * (v - d * d).signum()
            } else {
                b2 * v + (1.0 - b2) * d * d
            };
            x += lr * m / (v.sqrt() + tau);
            xs.push(x);
        }
        xs
    }

    #[test]
    fn fedadam_and_fedyogi_follow_reddi_et_al_for_two_rounds() {
        let hp = (0.1, 0.9, 0.99, 1e-3);
        for yogi in [false, true] {
            let rule = if yogi {
                Rule::FedYogi {
                    lr: hp.0,
                    beta1: hp.1,
                    beta2: hp.2,
                    tau: hp.3,
                }
            } else {
                Rule::FedAdam {
                    lr: hp.0,
                    beta1: hp.1,
                    beta2: hp.2,
                    tau: hp.3,
                }
            };
            let s = strat(rule, Weighting::Samples);
            let mut st = ServerState::default();
            let mut g = one("w", &[0.5, -0.2]);
            // two rounds of uploads for two sites, 1 and 3 samples
            let uploads = [[[0.7f32, -0.1], [0.4, -0.6]], [[0.9f32, 0.3], [0.2, -0.5]]];
            let x0 = g.get("w").unwrap().data.clone();
            let mut got = vec![vec![]; 2];
            for up in &uploads {
                let sites = vec![(one("w", &up[0]), 1), (one("w", &up[1]), 3)];
                g = agg(&s, &g, &sites, &mut st);
                for k in 0..2 {
                    got[k].push(g.get("w").unwrap().data[k]);
                }
            }
            for k in 0..2 {
                // the reference iterates on the same f32-rounded x as the server does
                let mut x = x0[k] as f64;
                let (mut m, mut v) = (0.0, hp.3 * hp.3);
                for (r, up) in uploads.iter().enumerate() {
                    let one_round = [(up[0][k] as f64, 0.25), (up[1][k] as f64, 0.75)];
                    // continue from the stored state
                    let d: f64 = one_round.iter().map(|(xi, w)| w * (xi - x)).sum();
                    m = hp.1 * m + (1.0 - hp.1) * d;
                    v = if yogi {
                        v - (1.0 - hp.2) * d * d * (v - d * d).signum()
                    } else {
                        hp.2 * v + (1.0 - hp.2) * d * d
                    };
                    let e = x + hp.0 * m / (v.sqrt() + hp.3);
                    assert!(
                        (got[k][r] as f64 - e).abs() < 1e-5,
                        "yogi={yogi} round {r} [{k}]: {} vs {e}",
                        got[k][r]
                    );
                    x = got[k][r] as f64;
                    m = m as f32 as f64;
                    v = v as f32 as f64;
                }
                // and the whole trajectory agrees with the pure-f64 algorithm to f32 accuracy
                let rounds: Vec<Vec<(f64, f64)>> = uploads
                    .iter()
                    .map(|up| vec![(up[0][k] as f64, 0.25), (up[1][k] as f64, 0.75)])
                    .collect();
                let pure = reference_adaptive(yogi, x0[k] as f64, &rounds, hp);
                for r in 0..2 {
                    assert!((got[k][r] as f64 - pure[r]).abs() < 1e-5);
                }
            }
            assert_eq!(st.m.names().collect::<Vec<_>>(), vec!["w"]);
        }
    }

    #[test]
    fn first_match_wins_and_views() {
        let s = Strategy::new(
            vec![
                ParamGroup::new("bn", &["**.bn.**"], Policy::Local).unwrap(),
                ParamGroup::new(
                    "hyper",
                    &["hyper.**"],
                    Policy::AggregateNoOverwrite {
                        rule: Rule::FedAvg,
                        weighting: Weighting::Uniform,
                    },
                )
                .unwrap(),
                ParamGroup::new("all-hyper-again", &["hyper.**", "x"], Policy::Local).unwrap(),
            ],
            Policy::FEDAVG,
        )
        .unwrap();
        assert_eq!(s.policy_of("hyper.bn.w").0, "bn");
        assert_eq!(s.policy_of("hyper.fc.w").0, "hyper");
        assert_eq!(s.policy_of("x").0, "all-hyper-again");
        assert_eq!(s.policy_of("conv.w").0, DEFAULT_GROUP);
        let p = ParamSet::from_tensors([
            ("hyper.fc.w", vec![1], vec![1.0]),
            ("enc.bn.w", vec![1], vec![2.0]),
            ("conv.w", vec![1], vec![3.0]),
        ])
        .unwrap();
        let up = s.upload_view(&p);
        assert_eq!(up.names().collect::<Vec<_>>(), vec!["hyper.fc.w", "conv.w"]);
        let down = s.download_view(&up);
        assert_eq!(down.names().collect::<Vec<_>>(), vec!["conv.w"]);
        // a local name in the server model is refused
        let e = s
            .aggregate(
                &p,
                &[Contribution {
                    site: "a",
                    params: &p,
                    num_samples: 1,
                }],
                &mut ServerState::default(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("enc.bn.w"), "{e}");
    }

    #[test]
    fn upload_mismatch_names_site_and_parameter() {
        let s = strat(Rule::FedAvg, Weighting::Samples);
        let g = one("w", &[0.0, 0.0]);
        let bad = one("w", &[1.0, 2.0, 3.0]);
        let e = s
            .aggregate(
                &g,
                &[Contribution {
                    site: "hospital-b",
                    params: &bad,
                    num_samples: 1,
                }],
                &mut ServerState::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hospital-b") && e.contains("`w`") && e.contains("[3]"),
            "{e}"
        );
        let e = s
            .aggregate(
                &g,
                &[Contribution {
                    site: "a",
                    params: &g,
                    num_samples: 0,
                }],
                &mut ServerState::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_samples"), "{e}");
    }

    #[test]
    fn group_counts_follow_first_match() {
        let s = Strategy::new(
            vec![
                ParamGroup::new("norm", &["**.*norm*.**"], Policy::Local).unwrap(),
                ParamGroup::new("hyper", &["hyper.**"], Policy::Local).unwrap(),
            ],
            Policy::Aggregate {
                rule: Rule::FedAvg,
                weighting: Weighting::Samples,
            },
        )
        .unwrap();
        let c = s.group_counts(["net.a.norm1.gamma", "net.a.conv.weight", "net.b.weight"]);
        let counts: Vec<(&str, usize)> = c.iter().map(|(n, _, k)| (n.as_str(), *k)).collect();
        assert_eq!(counts, [("norm", 1), ("hyper", 0), (DEFAULT_GROUP, 2)]);
    }
}
