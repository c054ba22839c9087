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
