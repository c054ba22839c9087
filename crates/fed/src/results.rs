//! Results output: per-round per-site metrics (CSV, JSON), the methods × sites table (Markdown,
//! CSV) and the `fed compare` JSON layout
//! `{"methods": {"<name>": {"mean_psnr": f, "mean_ssim": f, "sites": {"<site>": {"psnr": f, "ssim": f}}}}}`.
//! Means are unweighted over the sites listed for the method.

use crate::error::{FedError, Result};
use crate::runtime::{RoundRecord, SimulationOutcome, SiteMetrics, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Header of [`history_csv`].
pub const HISTORY_CSV_HEADER: &str =
    "round,site,participated,num_samples,train_loss,psnr,ssim,nmse";

/// One row per (round, site): every evaluating site, then training-only participants; fields a
/// site does not have in that round are empty.
pub fn history_csv(history: &[RoundRecord]) -> String {
    let mut s = String::from(HISTORY_CSV_HEADER);
    s.push('\n');
    for r in history {
        let train = |site: &str| r.train.iter().find(|t| t.site == site);
        let mut rows: Vec<&str> = r.metrics.iter().map(|m| m.site.as_str()).collect();
        rows.extend(
            r.train
                .iter()
                .map(|t| t.site.as_str())
                .filter(|n| !r.metrics.iter().any(|m| m.site == *n)),
        );
        for site in rows {
            let t = train(site);
            let m = r.metrics.iter().find(|m| m.site == site).map(|m| m.metrics);
            let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{}",
                r.round,
                site,
                r.participants.iter().any(|p| p == site),
                t.map(|t| t.report.num_samples.to_string())
                    .unwrap_or_default(),
                opt(t.map(|t| t.report.mean_loss)),
                opt(m.map(|m| m.psnr)),
                opt(m.map(|m| m.ssim)),
                opt(m.map(|m| m.nmse)),
            );
        }
    }
    s
}

/// Write [`history_csv`] atomically.
pub fn write_history_csv(path: &Path, history: &[RoundRecord]) -> Result<()> {
    write_atomic(path, history_csv(history).as_bytes())
}

/// Write the round records as pretty JSON (an array of [`RoundRecord`]) atomically.
pub fn write_history_json(path: &Path, history: &[RoundRecord]) -> Result<()> {
    let text = serde_json::to_vec_pretty(history).map_err(|e| FedError::Parse {
        what: "round history".into(),
        reason: e.to_string(),
    })?;
    write_atomic(path, &text)
}

/// One method's final per-site metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// Method name (`fedavg`, `hyperfed`, `central`, …).
    pub method: String,
    /// `(site, metrics)` in site order.
    pub sites: Vec<(String, SiteMetrics)>,
}

impl MethodResult {
    /// The metrics of the last recorded round of a simulation.
    pub fn from_outcome(method: &str, outcome: &SimulationOutcome) -> Result<Self> {
        let last = outcome.state.history.last().ok_or_else(|| {
            FedError::field("rounds", 0, format!("method `{method}` recorded no round"))
        })?;
        Ok(Self {
            method: method.into(),
            sites: last
                .metrics
                .iter()
                .map(|m| (m.site.clone(), m.metrics))
                .collect(),
        })
    }
    /// Unweighted mean `(psnr, ssim)` over the sites.
    pub fn means(&self) -> (f64, f64) {
        let n = self.sites.len().max(1) as f64;
        (
            self.sites.iter().map(|s| s.1.psnr).sum::<f64>() / n,
            self.sites.iter().map(|s| s.1.ssim).sum::<f64>() / n,
        )
    }
}

/// `fed compare`'s per-site entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteSummary {
    /// PSNR, dB.
    pub psnr: f64,
    /// SSIM.
    pub ssim: f64,
}

/// `fed compare`'s per-method entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    /// Mean PSNR over the sites.
    pub mean_psnr: f64,
    /// Mean SSIM over the sites.
    pub mean_ssim: f64,
    /// Per-site values.
    pub sites: BTreeMap<String, SiteSummary>,
}

/// The `fed compare --json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareJson {
    /// Per method.
    pub methods: BTreeMap<String, MethodSummary>,
}

/// Methods × sites.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultsTable {
    /// Rows in display order.
    pub rows: Vec<MethodResult>,
}

impl ResultsTable {
    /// Site names in order of first appearance.
    pub fn site_names(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for r in &self.rows {
            for (s, _) in &r.sites {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// Markdown: one row per method, one `PSNR / SSIM` column per site, then the means.
    pub fn to_markdown(&self) -> String {
        let sites = self.site_names();
        let mut s = String::from("| method |");
        for n in &sites {
            let _ = write!(s, " {n} PSNR / SSIM |");
        }
        s.push_str(" mean PSNR | mean SSIM |\n|---|");
        for _ in &sites {
            s.push_str("---:|");
        }
        s.push_str("---:|---:|\n");
        for r in &self.rows {
            let _ = write!(s, "| {} |", r.method);
            for n in &sites {
                match r.sites.iter().find(|(m, _)| m == n) {
                    Some((_, m)) => {
                        let _ = write!(s, " {:.2} / {:.4} |", m.psnr, m.ssim);
                    }
                    None => s.push_str(" — |"),
                }
            }
            let (p, q) = r.means();
            let _ = writeln!(s, " {p:.2} | {q:.4} |");
        }
        s
    }

    /// CSV `method,site,psnr,ssim,nmse`, one row per (method, site) plus a `mean` row per method
    /// (its `nmse` is the mean NMSE).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("method,site,psnr,ssim,nmse\n");
        for r in &self.rows {
            for (n, m) in &r.sites {
                let _ = writeln!(s, "{},{},{},{},{}", r.method, n, m.psnr, m.ssim, m.nmse);
            }
            let (p, q) = r.means();
            let nm = r.sites.iter().map(|x| x.1.nmse).sum::<f64>() / r.sites.len().max(1) as f64;
            let _ = writeln!(s, "{},mean,{p},{q},{nm}", r.method);
        }
        s
    }

    /// The `fed compare` JSON document.
    pub fn to_compare_json(&self) -> CompareJson {
        CompareJson {
            methods: self
                .rows
                .iter()
                .map(|r| {
                    let (mean_psnr, mean_ssim) = r.means();
                    (
                        r.method.clone(),
                        MethodSummary {
                            mean_psnr,
                            mean_ssim,
                            sites: r
                                .sites
                                .iter()
                                .map(|(n, m)| {
                                    (
                                        n.clone(),
                                        SiteSummary {
                                            psnr: m.psnr,
                                            ssim: m.ssim,
                                        },
                                    )
                                })
                                .collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Write `<stem>.md`, `<stem>.csv` into `dir` and, when given, the compare JSON to `json`.
    pub fn write(&self, dir: &Path, stem: &str, json: Option<&Path>) -> Result<()> {
        write_atomic(
            &dir.join(format!("{stem}.md")),
            self.to_markdown().as_bytes(),
        )?;
        write_atomic(&dir.join(format!("{stem}.csv")), self.to_csv().as_bytes())?;
        if let Some(j) = json {
            let text = serde_json::to_vec_pretty(&self.to_compare_json()).map_err(|e| {
                FedError::Parse {
                    what: "compare JSON".into(),
                    reason: e.to_string(),
                }
            })?;
            write_atomic(j, &text)?;
        }
        Ok(())
    }
}

/// Mean and sample standard deviation (n − 1; 0 for a single value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// The same comparison run once per run seed (`fed compare --seeds`): the data and sites are the
/// same, the seeds change the initial weights, the mini-batch order and the random masks. Every
/// figure is a mean ± sample standard deviation over the seeds; differences between methods are
/// paired (per seed, then mean ± sd), which is what decides "A beats B" on the same data.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedStudy {
    /// `(seed, table)` in run order.
    pub runs: Vec<(u64, ResultsTable)>,
}

/// One method's entry in [`SeedStudyJson`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyMethod {
    /// Mean over seeds of the site-mean PSNR.
    pub mean_psnr: f64,
    /// Sample sd over seeds of the site-mean PSNR.
    pub sd_psnr: f64,
    /// Mean over seeds of the site-mean SSIM.
    pub mean_ssim: f64,
    /// Sample sd over seeds of the site-mean SSIM.
    pub sd_ssim: f64,
    /// Site-mean PSNR per seed, in seed order.
    pub seed_psnr: Vec<f64>,
    /// Per site: mean and sd over seeds.
    pub sites: BTreeMap<String, StudySite>,
}

/// One site's entry in [`StudyMethod`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySite {
    /// Mean PSNR over seeds.
    pub psnr: f64,
    /// Its sample sd.
    pub sd_psnr: f64,
    /// Mean SSIM over seeds.
    pub ssim: f64,
    /// Its sample sd.
    pub sd_ssim: f64,
}

/// The `fed compare --seeds … --json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedStudyJson {
    /// The run seeds.
    pub seeds: Vec<u64>,
    /// Per method.
    pub methods: BTreeMap<String, StudyMethod>,
}

impl SeedStudy {
    /// Methods in the order of the first run.
    fn methods(&self) -> Vec<String> {
        self.runs
            .first()
            .map(|(_, t)| t.rows.iter().map(|r| r.method.clone()).collect())
            .unwrap_or_default()
    }

    /// Sites in the order of the first run.
    fn sites(&self) -> Vec<String> {
        self.runs
            .first()
            .map(|(_, t)| t.site_names())
            .unwrap_or_default()
    }

    /// The sites `method` reported in at least one run, in site order.
    fn sites_of(&self, method: &str) -> Vec<String> {
        self.sites()
            .into_iter()
            .filter(|s| !self.site_values(method, s, |x| x.psnr).is_empty())
            .collect()
    }

    fn row<'a>(t: &'a ResultsTable, method: &str) -> Option<&'a MethodResult> {
        t.rows.iter().find(|r| r.method == method)
    }

    /// Per-seed values of `f` on `method` (seeds where the method is missing are skipped).
    fn per_seed(&self, method: &str, f: impl Fn(&MethodResult) -> Option<f64>) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|(_, t)| Self::row(t, method).and_then(&f))
            .collect()
    }

    fn site_values(&self, method: &str, site: &str, f: fn(&SiteMetrics) -> f64) -> Vec<f64> {
        self.per_seed(method, |r| {
            r.sites.iter().find(|(s, _)| s == site).map(|(_, m)| f(m))
        })
    }

    /// Per-seed paired difference of the site-mean PSNR, `method − baseline`.
    pub fn paired_psnr_gain(&self, method: &str, baseline: &str) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|(_, t)| {
                let a = Self::row(t, method)?.means().0;
                let b = Self::row(t, baseline)?.means().0;
                Some(a - b)
            })
            .collect()
    }

    /// The table of per-(method, site) means over the seeds (for figures).
    pub fn mean_table(&self) -> ResultsTable {
        ResultsTable {
            rows: self
                .methods()
                .into_iter()
                .map(|m| MethodResult {
                    sites: self
                        .sites_of(&m)
                        .into_iter()
                        .map(|s| {
                            let v = |f: fn(&SiteMetrics) -> f64| {
                                mean_sd(&self.site_values(&m, &s, f)).0
                            };
                            let metrics = SiteMetrics {
                                psnr: v(|x| x.psnr),
                                ssim: v(|x| x.ssim),
                                nmse: v(|x| x.nmse),
                            };
                            (s, metrics)
                        })
                        .collect(),
                    method: m,
                })
                .collect(),
        }
    }

    /// Markdown: one row per method; per site the PSNR mean ± sd over seeds; the site-mean PSNR
    /// and SSIM (mean ± sd over seeds); and, when `baseline` ran, the paired PSNR gain over it.
    pub fn to_markdown(&self, baseline: &str) -> String {
        let sites = self.sites();
        let has_base = self.methods().iter().any(|m| m == baseline);
        let mut s = String::from("| method |");
        for n in &sites {
            let _ = write!(s, " {n} PSNR |");
        }
        s.push_str(" mean PSNR | mean SSIM |");
        if has_base {
            let _ = write!(s, " Δ PSNR vs {baseline} (paired) |");
        }
        s.push_str("\n|---|");
        for _ in &sites {
            s.push_str("---:|");
        }
        s.push_str("---:|---:|");
        if has_base {
            s.push_str("---:|");
        }
        s.push('\n');
        for m in self.methods() {
            let _ = write!(s, "| {m} |");
            for n in &sites {
                let v = self.site_values(&m, n, |x| x.psnr);
                if v.is_empty() {
                    s.push_str(" — |");
                } else {
                    let (a, d) = mean_sd(&v);
                    let _ = write!(s, " {a:.2} ± {d:.2} |");
                }
            }
            let (p, pd) = mean_sd(&self.per_seed(&m, |r| Some(r.means().0)));
            let (q, qd) = mean_sd(&self.per_seed(&m, |r| Some(r.means().1)));
            let _ = write!(s, " {p:.2} ± {pd:.2} | {q:.4} ± {qd:.4} |");
            if has_base {
                let (g, gd) = mean_sd(&self.paired_psnr_gain(&m, baseline));
                let _ = write!(s, " {g:+.2} ± {gd:.2} |");
            }
            s.push('\n');
        }
        s
    }

    /// CSV `seed,method,site,psnr,ssim,nmse`: every run's rows (with its `mean` rows).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("seed,method,site,psnr,ssim,nmse\n");
        for (seed, t) in &self.runs {
            for line in t.to_csv().lines().skip(1) {
                let _ = writeln!(s, "{seed},{line}");
            }
        }
        s
    }

    /// The JSON document.
    pub fn to_json(&self) -> SeedStudyJson {
        SeedStudyJson {
            seeds: self.runs.iter().map(|(s, _)| *s).collect(),
            methods: self
                .methods()
                .into_iter()
                .map(|m| {
                    let seed_psnr = self.per_seed(&m, |r| Some(r.means().0));
                    let (mean_psnr, sd_psnr) = mean_sd(&seed_psnr);
                    let (mean_ssim, sd_ssim) = mean_sd(&self.per_seed(&m, |r| Some(r.means().1)));
                    let sites = self
                        .sites_of(&m)
                        .into_iter()
                        .map(|s| {
                            let (psnr, sd_psnr) = mean_sd(&self.site_values(&m, &s, |x| x.psnr));
                            let (ssim, sd_ssim) = mean_sd(&self.site_values(&m, &s, |x| x.ssim));
                            (
                                s,
                                StudySite {
                                    psnr,
                                    sd_psnr,
                                    ssim,
                                    sd_ssim,
                                },
                            )
                        })
                        .collect();
                    (
                        m,
                        StudyMethod {
                            mean_psnr,
                            sd_psnr,
                            mean_ssim,
                            sd_ssim,
                            seed_psnr,
                            sites,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Write `<stem>.md` (paired gains against `baseline`), `<stem>.csv` into `dir` and, when
    /// given, the JSON to `json`.
    pub fn write(&self, dir: &Path, stem: &str, baseline: &str, json: Option<&Path>) -> Result<()> {
        write_atomic(
            &dir.join(format!("{stem}.md")),
            self.to_markdown(baseline).as_bytes(),
        )?;
        write_atomic(&dir.join(format!("{stem}.csv")), self.to_csv().as_bytes())?;
        if let Some(j) = json {
            let text = serde_json::to_vec_pretty(&self.to_json()).map_err(|e| FedError::Parse {
                what: "compare JSON".into(),
                reason: e.to_string(),
            })?;
            write_atomic(j, &text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{SiteMetricsRecord, SiteTrainRecord, TrainReport};

    fn m(psnr: f64, ssim: f64, nmse: f64) -> SiteMetrics {
        SiteMetrics { psnr, ssim, nmse }
    }

    fn table() -> ResultsTable {
        ResultsTable {
            rows: vec![
                MethodResult {
                    method: "fedavg".into(),
                    sites: vec![
                        ("A".into(), m(30.0, 0.8, 0.01)),
                        ("B".into(), m(26.0, 0.7, 0.03)),
                    ],
                },
                MethodResult {
                    method: "hyperfed".into(),
                    sites: vec![
                        ("A".into(), m(32.5, 0.85, 0.008)),
                        ("B".into(), m(29.0, 0.75, 0.02)),
                    ],
                },
            ],
        }
    }

    #[test]
    fn compare_json_has_the_issue_layout_and_means() {
        let t = table();
        let v = serde_json::to_value(t.to_compare_json()).unwrap();
        for r in &t.rows {
            let e = &v["methods"][&r.method];
            let n = r.sites.len() as f64;
            let mp: f64 = r.sites.iter().map(|s| s.1.psnr).sum::<f64>() / n;
            let ms: f64 = r.sites.iter().map(|s| s.1.ssim).sum::<f64>() / n;
            assert_eq!(e["mean_psnr"].as_f64().unwrap(), mp);
            assert_eq!(e["mean_ssim"].as_f64().unwrap(), ms);
            for (site, sm) in &r.sites {
                assert_eq!(e["sites"][site]["psnr"].as_f64().unwrap(), sm.psnr);
                assert_eq!(e["sites"][site]["ssim"].as_f64().unwrap(), sm.ssim);
                assert_eq!(e["sites"][site].as_object().unwrap().len(), 2);
            }
            assert_eq!(e.as_object().unwrap().len(), 3);
        }
    }

    #[test]
    fn mean_sd_is_the_sample_formula() {
        let (m, d) = mean_sd(&[1.0, 2.0, 4.0]);
        assert!((m - 7.0 / 3.0).abs() < 1e-15);
        let var = ((1.0 - m).powi(2) + (2.0 - m).powi(2) + (4.0 - m).powi(2)) / 2.0;
        assert!((d - f64::sqrt(var)).abs() < 1e-15);
        assert_eq!(mean_sd(&[3.5]), (3.5, 0.0));
        assert!(mean_sd(&[]).0.is_nan());
    }

    #[test]
    fn seed_study_means_sds_and_paired_gains() {
        // seed 1: every PSNR of the base table + 1 dB for fedavg, + 3 dB for hyperfed
        let t0 = table();
        let mut t1 = table();
        for r in &mut t1.rows {
            let add = if r.method == "fedavg" { 1.0 } else { 3.0 };
            for (_, m) in &mut r.sites {
                m.psnr += add;
            }
        }
        let st = SeedStudy {
            runs: vec![(0, t0.clone()), (1, t1)],
        };
        // fedavg site means 28, 29; hyperfed 30.75, 33.75
        let g = st.paired_psnr_gain("hyperfed", "fedavg");
        assert_eq!(g, vec![2.75, 4.75]);
        let j = st.to_json();
        assert_eq!(j.seeds, vec![0, 1]);
        let h = &j.methods["hyperfed"];
        assert_eq!(h.seed_psnr, vec![30.75, 33.75]);
        assert!((h.mean_psnr - 32.25).abs() < 1e-12);
        assert!((h.sd_psnr - (4.5f64).sqrt()).abs() < 1e-12);
        assert!((h.sites["A"].psnr - 34.0).abs() < 1e-12);
        assert_eq!(h.sites["A"].sd_ssim, 0.0);
        let md = st.to_markdown("fedavg");
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("Δ PSNR vs fedavg (paired)"), "{md}");
        assert!(
            lines[2].starts_with("| fedavg |") && lines[2].contains("+0.00 ± 0.00"),
            "{md}"
        );
        assert!(
            lines[3].contains("+3.75 ± 1.41") && lines[3].contains("32.25 ± 2.12"),
            "{md}"
        );
        // no baseline column when the baseline did not run
        assert!(!st.to_markdown("central").contains("Δ PSNR"));
        let mt = st.mean_table();
        assert_eq!(mt.rows[1].sites[1].1.psnr, 30.5);
        let csv = st.to_csv();
        assert_eq!(csv.lines().count(), 1 + 2 * 6);
        assert!(csv.lines().nth(7).unwrap().starts_with("1,fedavg,A,31"));
    }

    #[test]
    fn markdown_and_csv_tables() {
        let t = table();
        let md = t.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("A PSNR / SSIM") && lines[0].contains("mean PSNR"));
        assert!(lines[3].starts_with("| hyperfed |") && lines[3].contains("32.50 / 0.8500"));
        assert!(lines[3].contains(&format!("{:.2}", (32.5 + 29.0) / 2.0)));
        let csv = t.to_csv();
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[2][..2], ["fedavg", "mean"]);
        assert_eq!(rows[2][2].parse::<f64>().unwrap(), 28.0);
        assert_eq!(rows[3][..3], ["hyperfed", "A", "32.5"]);
    }

    #[test]
    fn history_csv_rows_and_json_roundtrip() {
        let h = vec![RoundRecord {
            round: 0,
            participants: vec!["A".into()],
            train: vec![SiteTrainRecord {
                site: "A".into(),
                report: TrainReport {
                    num_samples: 12,
                    mean_loss: 0.5,
                },
            }],
            metrics: vec![
                SiteMetricsRecord {
                    site: "A".into(),
                    metrics: m(20.0, 0.5, 0.1),
                },
                SiteMetricsRecord {
                    site: "B".into(),
                    metrics: m(21.0, 0.6, 0.2),
                },
            ],
        }];
        let csv = history_csv(&h);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], HISTORY_CSV_HEADER);
        assert_eq!(lines[1], "0,A,true,12,0.5,20,0.5,0.1");
        assert_eq!(lines[2], "0,B,false,,,21,0.6,0.2");
        let dir = std::env::temp_dir().join(format!("fedrecon-fed-results-{}", std::process::id()));
        write_history_json(&dir.join("h.json"), &h).unwrap();
        let back: Vec<RoundRecord> =
            serde_json::from_slice(&std::fs::read(dir.join("h.json")).unwrap()).unwrap();
        assert_eq!(back, h);
        table()
            .write(&dir, "results", Some(&dir.join("c.json")))
            .unwrap();
        assert!(dir.join("results.md").exists() && dir.join("results.csv").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
