//! The figures of `fed simulate` (`curves.png`) and `fed compare` (`compare.png`), drawn with
//! `fedrecon_io::plot`. Rounds are numbered from 1 as in the progress lines; "mean" is the
//! unweighted mean over the sites evaluated (or, for the loss, trained) in that round, as in
//! `results.md`; FBP is drawn as a dashed gray level.

use anyhow::{Context, Result};
use fedrecon_fed::SiteMetrics;
use fedrecon_fed::results::{MethodResult, ResultsTable};
use fedrecon_fed::runtime::RoundRecord;
use fedrecon_io::plot::{BLACK, BarChart, Figure, GRAY, LinePlot, Panel, Series};
use std::path::Path;

/// Size of `curves.png`.
pub const CURVES_SIZE: (usize, usize) = (1500, 520);
/// Size of `compare.png`.
pub const COMPARE_SIZE: (usize, usize) = (1500, 1000);

const MEAN: &str = "mean over sites";
const FBP: &str = "fbp";
/// The classical reference rows: FBP for CT, zero-filled for MRI.
const REFERENCES: [&str; 2] = [FBP, "zero-filled"];

fn is_reference(method: &str) -> bool {
    REFERENCES.contains(&method)
}

/// One metric per site and round.
type Pick = fn(&RoundRecord) -> Vec<(String, f64)>;

fn psnr(r: &RoundRecord) -> Vec<(String, f64)> {
    r.metrics
        .iter()
        .map(|m| (m.site.clone(), m.metrics.psnr))
        .collect()
}

fn ssim(r: &RoundRecord) -> Vec<(String, f64)> {
    r.metrics
        .iter()
        .map(|m| (m.site.clone(), m.metrics.ssim))
        .collect()
}

fn loss(r: &RoundRecord) -> Vec<(String, f64)> {
    r.train
        .iter()
        .map(|t| (t.site.clone(), t.report.mean_loss))
        .collect()
}

/// One series per site (in order of first appearance) and the per-round mean over the sites
/// other than `skip`.
fn per_site(history: &[RoundRecord], pick: Pick, skip: &str) -> (Vec<Series>, Vec<(f64, f64)>) {
    let mut sites: Vec<Series> = vec![];
    let mut mean = vec![];
    for r in history {
        let x = (r.round + 1) as f64;
        let vals: Vec<(String, f64)> = pick(r).into_iter().filter(|v| v.0 != skip).collect();
        for (site, v) in &vals {
            match sites.iter_mut().find(|s| &s.name == site) {
                Some(s) => s.points.push((x, *v)),
                None => sites.push(Series::new(site.clone(), vec![(x, *v)])),
            }
        }
        if !vals.is_empty() {
            mean.push((x, vals.iter().map(|v| v.1).sum::<f64>() / vals.len() as f64));
        }
    }
    (sites, mean)
}

/// A dashed reference level over the rounds of `history`.
fn level(name: &str, history: &[RoundRecord], v: f64) -> Series {
    let (a, b) = match (history.first(), history.last()) {
        (Some(a), Some(b)) => ((a.round + 1) as f64, (b.round + 1) as f64),
        _ => (1.0, 1.0),
    };
    Series::new(name, vec![(a, v), (b, v)]).color(GRAY).dashed()
}

/// A linear-axis panel of `series` against the round.
fn per_round(title: &str, unit: &str, series: Vec<Series>) -> Panel {
    LinePlot {
        title: title.into(),
        x_label: "round".into(),
        y_label: unit.into(),
        log_y: false,
        series,
    }
    .into()
}

fn mean_of(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// `fed simulate`'s figure: held-out PSNR and SSIM and the local training loss (log scale) per
/// round, one line per site plus the mean over sites (black) and the FBP mean (dashed); `None`
/// without any round.
pub fn simulate_figure(
    method: &str,
    history: &[RoundRecord],
    reference: &str,
    fbp: &[(String, SiteMetrics)],
) -> Option<Figure> {
    if history.is_empty() {
        return None;
    }
    // sites in the order of the history (evaluating sites, then training-only ones), so that
    // colours and the legend follow the config whichever sites trained first
    let mut order: Vec<&str> = vec![];
    for r in history {
        for site in r
            .metrics
            .iter()
            .map(|m| &m.site)
            .chain(r.train.iter().map(|t| &t.site))
        {
            if !order.contains(&site.as_str()) {
                order.push(site);
            }
        }
    }
    let sorted = |mut v: Vec<Series>| {
        v.sort_by_key(|s| order.iter().position(|o| *o == s.name));
        v
    };
    let mut panels: Vec<Panel> = vec![];
    if history.iter().any(|r| !r.metrics.is_empty()) {
        for (pick, f, title, unit) in [
            (
                psnr as Pick,
                (|m: &SiteMetrics| m.psnr) as fn(&SiteMetrics) -> f64,
                "Held-out PSNR",
                "PSNR [dB]",
            ),
            (ssim, |m| m.ssim, "Held-out SSIM", "SSIM"),
        ] {
            let (series, mean) = per_site(history, pick, "");
            let mut series = sorted(series);
            if series.len() > 1 {
                series.push(Series::new(MEAN, mean).color(BLACK).width(1.6));
            }
            if let Some(v) = mean_of(fbp.iter().map(|s| f(&s.1))) {
                series.push(level(&format!("{reference} (mean over sites)"), history, v));
            }
            panels.push(per_round(title, unit, series));
        }
    }
    let (train, mean) = per_site(history, loss, "");
    let mut train = sorted(train);
    if !train.is_empty() {
        if train.len() > 1 {
            train.push(Series::new(MEAN, mean).color(BLACK).width(1.6));
        }
        panels.push(
            LinePlot {
                title: "Local training loss".into(),
                x_label: "round".into(),
                y_label: "loss (log scale)".into(),
                log_y: true,
                series: train,
            }
            .into(),
        );
    }
    if panels.is_empty() {
        return None;
    }
    let mut fig = Figure::new(panels);
    fig.title = Some(format!("fed simulate: {method}, {} rounds", history.len()));
    fig.shared_legend = true;
    Some(fig)
}

/// `fed compare`'s figure: final held-out PSNR and SSIM per site as grouped bars (one bar per
/// method, FBP included), and the mean over sites per round for every method.
pub fn compare_figure(
    table: &ResultsTable,
    histories: &[(String, Vec<RoundRecord>)],
) -> Option<Figure> {
    let sites = table.site_names();
    if sites.is_empty() || table.rows.is_empty() {
        return None;
    }
    // the methods in table order, FBP (the reference) last
    let mut rows: Vec<&MethodResult> = table
        .rows
        .iter()
        .filter(|r| !is_reference(&r.method))
        .collect();
    rows.extend(table.rows.iter().filter(|r| is_reference(&r.method)));
    let bars = |f: fn(&SiteMetrics) -> f64, title: &str, unit: &str| BarChart {
        title: title.into(),
        y_label: unit.into(),
        groups: sites.clone(),
        series: rows
            .iter()
            .map(|r| {
                let v = sites
                    .iter()
                    .map(|s| {
                        r.sites
                            .iter()
                            .find(|x| &x.0 == s)
                            .map_or(f64::NAN, |x| f(&x.1))
                    })
                    .collect();
                (r.method.clone(), v)
            })
            .collect(),
    };
    let mut panels: Vec<Panel> = vec![
        bars(|m| m.psnr, "Final held-out PSNR per site", "PSNR [dB]").into(),
        bars(|m| m.ssim, "Final held-out SSIM per site", "SSIM").into(),
    ];
    let longest = histories.iter().max_by_key(|h| h.1.len());
    if let Some((_, longest)) = longest.filter(|h| !h.1.is_empty()) {
        let fbp = table.rows.iter().find(|r| is_reference(&r.method));
        for (pick, f, title, unit) in [
            (
                psnr as Pick,
                (|m: &SiteMetrics| m.psnr) as fn(&SiteMetrics) -> f64,
                "Mean held-out PSNR over sites",
                "PSNR [dB]",
            ),
            (ssim, |m| m.ssim, "Mean held-out SSIM over sites", "SSIM"),
        ] {
            let mut series: Vec<Series> = histories
                .iter()
                .filter(|h| !h.1.is_empty())
                .map(|(m, h)| Series::new(m.clone(), per_site(h, pick, "central").1))
                .collect();
            if let Some(v) = fbp.and_then(|r| mean_of(r.sites.iter().map(|s| f(&s.1)))) {
                let name = fbp.map_or(FBP, |r| r.method.as_str());
                series.push(level(name, longest, v));
            }
            panels.push(per_round(title, unit, series));
        }
    }
    let mut fig = Figure::new(panels);
    fig.title = Some(format!(
        "fed compare: {} methods on {} sites",
        histories.len(),
        sites.len()
    ));
    fig.columns = 2;
    fig.shared_legend = true;
    fig.colors = REFERENCES.iter().map(|r| (r.to_string(), GRAY)).collect();
    Some(fig)
}

/// Write `fig` (if any) as `path`.
pub fn write_figure(fig: Option<Figure>, path: &Path, size: (usize, usize)) -> Result<()> {
    if let Some(fig) = fig {
        fig.write_png(path, size.0, size.1)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedrecon_fed::TrainReport;
    use fedrecon_fed::runtime::{SiteMetricsRecord, SiteTrainRecord};

    fn record(round: usize, train: &[(&str, f64)], psnr: &[(&str, f64)]) -> RoundRecord {
        RoundRecord {
            round,
            participants: train.iter().map(|t| t.0.to_string()).collect(),
            train: train
                .iter()
                .map(|&(site, l)| SiteTrainRecord {
                    site: site.into(),
                    report: TrainReport {
                        num_samples: 4,
                        mean_loss: l,
                    },
                })
                .collect(),
            metrics: psnr
                .iter()
                .map(|&(site, p)| SiteMetricsRecord {
                    site: site.into(),
                    metrics: SiteMetrics {
                        psnr: p,
                        ssim: p / 40.0,
                        nmse: 0.1,
                    },
                })
                .collect(),
        }
    }

    fn line(p: &Panel) -> &LinePlot {
        match p {
            Panel::Line(l) => l,
            Panel::Bar(_) => panic!("expected a line plot"),
        }
    }

    #[test]
    fn simulate_figure_has_sites_in_history_order_the_mean_and_fbp() {
        // site b trains first, c is evaluation-only
        let h = vec![
            record(0, &[("b", 0.4)], &[("a", 20.0), ("b", 22.0), ("c", 18.0)]),
            record(
                1,
                &[("a", 0.3), ("b", 0.2)],
                &[("a", 24.0), ("b", 26.0), ("c", 19.0)],
            ),
        ];
        let fbp = vec![(
            "a".to_string(),
            SiteMetrics {
                psnr: 21.0,
                ssim: 0.5,
                nmse: 0.2,
            },
        )];
        let f = simulate_figure("fedavg", &h, FBP, &fbp).unwrap();
        assert_eq!(f.panels.len(), 3);
        let psnr = line(&f.panels[0]);
        let names: Vec<&str> = psnr.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", MEAN, "fbp (mean over sites)"]);
        assert_eq!(psnr.series[1].points, vec![(1.0, 22.0), (2.0, 26.0)]);
        assert_eq!(psnr.series[3].points, vec![(1.0, 20.0), (2.0, 23.0)]);
        assert_eq!(psnr.series[4].points, vec![(1.0, 21.0), (2.0, 21.0)]);
        let loss = line(&f.panels[2]);
        assert!(loss.log_y);
        let names: Vec<&str> = loss.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", MEAN]);
        assert_eq!(loss.series[2].points, vec![(1.0, 0.4), (2.0, 0.25)]);
        assert!(simulate_figure("fedavg", &[], FBP, &fbp).is_none());
        assert!(f.render(CURVES_SIZE.0, CURVES_SIZE.1).is_ok());
    }

    #[test]
    fn compare_figure_puts_fbp_last_and_skips_the_central_site() {
        let h = vec![record(0, &[("a", 0.4)], &[("a", 20.0), ("central", 99.0)])];
        let m = |method: &str, p: f64| MethodResult {
            method: method.into(),
            sites: vec![(
                "a".into(),
                SiteMetrics {
                    psnr: p,
                    ssim: 0.5,
                    nmse: 0.1,
                },
            )],
        };
        let table = ResultsTable {
            rows: vec![m("local", 20.0), m(FBP, 21.0), m("central", 22.0)],
        };
        let f = compare_figure(
            &table,
            &[("local".into(), h.clone()), ("central".into(), h)],
        )
        .unwrap();
        let Panel::Bar(b) = &f.panels[0] else {
            panic!("expected bars")
        };
        let names: Vec<&str> = b.series.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["local", "central", FBP]);
        assert_eq!(b.series[1].1, vec![22.0]);
        let mean = line(&f.panels[2]);
        assert_eq!(mean.series[1].points, vec![(1.0, 20.0)]);
        assert_eq!(mean.series[2].name, FBP);
        assert!(f.render(COMPARE_SIZE.0, COMPARE_SIZE.1).is_ok());
    }
}
