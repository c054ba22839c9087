//! `fedrecon mri eval`: fastMRI's `evaluate.py` (metrics: `fedrecon_physics::mri::eval`).
//!
//! Every `.h5` file in `--target-dir` (sorted by name) is a target volume; the prediction is the
//! file of the same name in `--predictions-dir` (dataset `reconstruction`, fastMRI's
//! `save_reconstructions` layout). The target dataset is `reconstruction_rss` for
//! `--challenge multicoil`, `reconstruction_esc` for `singlecoil`, and by default the one
//! fastMRI's loader uses for the file (RSS for multi-coil k-space, ESC for single-coil).
//! Output: one line per group of volumes in `evaluate.py`'s format,
//! `MSE = m +/- 2s NMSE = … PSNR = … SSIM = …` (mean and twice the sample standard deviation
//! over volumes, 4 significant digits); a line per acquisition when there are several.

use crate::common;
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use fedrecon_io::{FastmriFile, FastmriTarget};
use fedrecon_physics::mri::eval::{RunningStats, VolumeMetrics, evaluate_volume};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which target, as `evaluate.py --challenge`.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Challenge {
    /// `reconstruction_esc`.
    Singlecoil,
    /// `reconstruction_rss`.
    Multicoil,
}

/// Arguments of `fedrecon mri eval`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Folder of fastMRI target volumes (`.h5`).
    #[arg(long)]
    pub target_dir: PathBuf,
    /// Folder of reconstructions with the same file names (dataset `reconstruction`).
    #[arg(long)]
    pub predictions_dir: PathBuf,
    /// Target dataset (default: per file, RSS for multi-coil, ESC for single-coil).
    #[arg(long, value_enum)]
    pub challenge: Option<Challenge>,
    /// Only volumes with this `acquisition` attribute.
    #[arg(long)]
    pub acquisition: Option<String>,
    /// Also print the metrics of every volume.
    #[arg(long)]
    pub per_volume: bool,
}

/// Statistics of the four metrics over a group of volumes.
#[derive(Default)]
struct Group {
    stats: [RunningStats; 4],
}

impl Group {
    fn push(&mut self, m: &VolumeMetrics) {
        for (s, v) in self.stats.iter_mut().zip(m.values()) {
            s.push(v);
        }
    }
    /// `evaluate.py`'s `Metrics.__repr__`.
    fn line(&self) -> String {
        VolumeMetrics::NAMES
            .iter()
            .zip(&self.stats)
            .map(|(name, s)| {
                format!(
                    "{name} = {} +/- {}",
                    fmt_g4(s.mean()),
                    fmt_g4(2.0 * s.stddev())
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Python's `format(v, ".4g")`.
pub fn fmt_g4(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let exp = format!("{v:.3e}");
    let (mant, e) = exp.split_once('e').expect("`e` in {:e} output");
    let e: i32 = e.parse().expect("integer exponent");
    if !(-4..4).contains(&e) {
        let mant = trim_zeros(mant);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        let decimals = (3 - e).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn read_target(
    path: &Path,
    challenge: Option<Challenge>,
) -> Result<(String, [usize; 3], Vec<f32>)> {
    let f = FastmriFile::open(path).with_context(|| format!("reading {}", path.display()))?;
    let kind = match challenge {
        Some(Challenge::Multicoil) => FastmriTarget::Rss,
        Some(Challenge::Singlecoil) => FastmriTarget::Esc,
        None => f.target_name(),
    };
    let Some(shape) = f.reconstruction_shape(kind) else {
        bail!(
            "{}: no dataset `{}` to evaluate against",
            path.display(),
            kind.dataset_name()
        );
    };
    let mut data = Vec::with_capacity(shape.iter().product());
    for i in 0..shape[0] {
        let (_, s) = f
            .read_reconstruction_slice(kind, i)
            .with_context(|| format!("reading {}", path.display()))?;
        data.extend(s);
    }
    let acq = f.attrs().acquisition.clone().unwrap_or_default();
    Ok((acq, shape, data))
}

/// Run `fedrecon mri eval`.
pub fn run(a: Args) -> Result<()> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(&a.target_dir)
        .with_context(|| format!("listing {}", a.target_dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", a.target_dir.display()))?;
    names.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "h5"));
    names.sort();
    let mut all = Group::default();
    let mut by_acq: BTreeMap<String, Group> = BTreeMap::new();
    for tgt in &names {
        let (acq, tshape, target) = read_target(tgt, a.challenge)?;
        if a.acquisition.as_ref().is_some_and(|want| *want != acq) {
            continue;
        }
        let file_name = tgt.file_name().expect("listed files have names");
        let pred_path = a.predictions_dir.join(file_name);
        let (pshape, pred) = fedrecon_io::read_reconstruction(&pred_path)
            .with_context(|| format!("reading prediction {}", pred_path.display()))?;
        let m = evaluate_volume(&target, tshape, &pred, pshape)
            .with_context(|| format!("evaluating {}", pred_path.display()))?;
        if a.per_volume {
            let mut g = Group::default();
            g.push(&m);
            common::say(&format!(
                "{} [{acq}]: {}",
                file_name.to_string_lossy(),
                VolumeMetrics::NAMES
                    .iter()
                    .zip(m.values())
                    .map(|(n, v)| format!("{n} = {}", fmt_g4(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        all.push(&m);
        by_acq.entry(acq).or_default().push(&m);
    }
    let count = all.stats[0].count();
    if count == 0 {
        bail!(
            "no volumes to evaluate in {}{}",
            a.target_dir.display(),
            a.acquisition
                .as_ref()
                .map(|q| format!(" with acquisition {q}"))
                .unwrap_or_default()
        );
    }
    if by_acq.len() > 1 {
        for (acq, g) in &by_acq {
            common::say(&format!(
                "{acq} ({} volumes): {}",
                g.stats[0].count(),
                g.line()
            ));
        }
    }
    common::say(&format!("all ({count} volumes): {}", all.line()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fmt_g4;

    #[test]
    fn g4_matches_python() {
        // values checked with Python's format(v, ".4g")
        for (v, s) in [
            (0.0, "0"),
            (1.0, "1"),
            (31.234567, "31.23"),
            (0.000123456, "0.0001235"),
            (1.2e-5, "1.2e-05"),
            (12346.0, "1.235e+04"),
            (-2.5, "-2.5"),
            (0.9, "0.9"),
            (9999.6, "1e+04"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(fmt_g4(v), s, "{v}");
        }
    }
}
