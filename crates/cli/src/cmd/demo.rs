//! `fedrecon demo`: the built-in demonstration on phantom sites (`configs/ct-classical-demo.toml`, embedded).
//!
//! Every site simulates held-out phantoms in its own geometry and dose; FBP, CGLS and TV are run
//! on every site and scored (PSNR, SSIM against the rasterised phantom). Writes a results table
//! (Markdown + JSON), one PNG per site (truth | FBP | CGLS | TV) and the resolved config.

use crate::cmd::ct::Projector;
use crate::cmd::ct::recon::{Method, ReconArgs};
use crate::common::{self, Device};
use crate::files;
use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use fedrecon_physics::ct::noise::TransmissionNoise;
use fedrecon_physics::geometry::GeometrySpec;
use fedrecon_physics::phantom::Phantom;
use fedrecon_physics::{CtGeometry, metrics};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const DEMO_TOML: &str = include_str!("../../../../configs/ct-classical-demo.toml");

/// Arguments of `fedrecon demo`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Site configuration (default: the embedded `configs/ct-classical-demo.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
}

/// The demo configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    pub seed: u64,
    pub image_size: usize,
    pub test_samples: usize,
    pub ellipses: usize,
    pub mu_scale: f64,
    pub cgls_iterations: usize,
    pub tv_iterations: usize,
    pub tv_lambda_grid: Vec<f64>,
    pub fbp_filter: String,
    #[serde(rename = "site")]
    pub sites: Vec<SiteConfig>,
}

/// One site: a name, a dose and a geometry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    pub i0: f64,
    pub geometry: GeometrySpec,
}

/// PSNR / SSIM of one method on one site (means over the test samples).
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub psnr: f64,
    pub ssim: f64,
}

const METHODS: [(&str, Method); 3] = [
    ("fbp", Method::Fbp),
    ("cgls", Method::Cgls),
    ("tv", Method::Tv),
];

struct Sample {
    truth: Vec<f32>,
    sino: Vec<f32>,
}

fn simulate(cfg: &DemoConfig, g: &CtGeometry, i0: f64, seed: u64) -> Result<Sample> {
    let ph = Phantom::random_ellipses(cfg.ellipses, seed).fit_to(g.image());
    let truth = ph.rasterize(g.image(), 3);
    let clean = ph.sinogram(g);
    let sino = TransmissionNoise::new(i0, cfg.mu_scale)?.apply(&clean, seed)?;
    Ok(Sample { truth, sino })
}

/// Reconstruct with the same code path as `fedrecon ct recon` (Joseph projector, CPU).
fn reconstruct(
    cfg: &DemoConfig,
    g: &CtGeometry,
    sino: &[f32],
    method: Method,
    lambda: f64,
) -> Result<Vec<f32>> {
    let iters = match method {
        Method::Tv => cfg.tv_iterations,
        _ => cfg.cgls_iterations,
    };
    let args = ReconArgs {
        method,
        filter: cfg.fbp_filter.clone(),
        frequency_scaling: 1.0,
        padding: None,
        iters,
        lambda,
        nonneg: true,
        relaxation: 1.0,
        projector: Projector::Joseph,
        model: None,
    };
    args.reconstruct(g, sino, false, Device::Cpu)
}

/// Run the demo.
pub fn run(a: Args) -> Result<()> {
    let text = match &a.config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => DEMO_TOML.to_string(),
    };
    let cfg: DemoConfig = toml::from_str(&text).context("parsing the demo config")?;
    if cfg.sites.is_empty() || cfg.test_samples == 0 || cfg.tv_lambda_grid.is_empty() {
        bail!(
            "the demo config needs at least one [[site]], test_samples ≥ 1 and a non-empty tv_lambda_grid"
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let n = cfg.image_size;
    let mut table: Vec<(String, Vec<Score>, f64)> = Vec::new();
    let started = std::time::Instant::now();
    for (s, site) in cfg.sites.iter().enumerate() {
        let g = site
            .geometry
            .build(Some(n))
            .with_context(|| format!("site {}: geometry", site.name))?;
        let base = cfg.seed.wrapping_add(1_000_003 * s as u64);
        // λ for TV from a validation phantom that is not in the test set
        let val = simulate(&cfg, &g, site.i0, base.wrapping_add(999_983))?;
        let mut best = (f64::NEG_INFINITY, cfg.tv_lambda_grid[0]);
        for &lambda in &cfg.tv_lambda_grid {
            let x = reconstruct(&cfg, &g, &val.sino, Method::Tv, lambda)?;
            let p = metrics::psnr(&x, &val.truth, None)?;
            if p > best.0 {
                best = (p, lambda);
            }
        }
        let lambda = best.1;
        let pb = common::progress((cfg.test_samples * METHODS.len()) as u64, &site.name);
        let mut sums = vec![(0.0, 0.0); METHODS.len()];
        let mut montage: Vec<Vec<f32>> = Vec::new();
        for k in 0..cfg.test_samples {
            let sample = simulate(&cfg, &g, site.i0, base.wrapping_add(k as u64))?;
            if k == 0 {
                montage.push(sample.truth.clone());
            }
            for (m, (_, method)) in METHODS.iter().enumerate() {
                let x = reconstruct(&cfg, &g, &sample.sino, *method, lambda)?;
                sums[m].0 += metrics::psnr(&x, &sample.truth, None)?;
                sums[m].1 += metrics::ssim(&x, &sample.truth, [n, n], None)?;
                if k == 0 {
                    montage.push(x);
                }
                pb.inc(1);
            }
        }
        pb.finish_and_clear();
        let k = cfg.test_samples as f64;
        let scores = sums
            .iter()
            .map(|(p, q)| Score {
                psnr: p / k,
                ssim: q / k,
            })
            .collect();
        // one PNG per site: truth | fbp | cgls | tv, windowed to the truth's range
        let (lo, hi) = montage[0]
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let mut row = vec![0.0f32; n * n * montage.len()];
        for (c, img) in montage.iter().enumerate() {
            for i in 0..n {
                row[i * n * montage.len() + c * n..i * n * montage.len() + (c + 1) * n]
                    .copy_from_slice(&img[i * n..(i + 1) * n]);
            }
        }
        let png = a.out.join(format!("{}.png", site.name));
        let clipped: Vec<f32> = row.iter().map(|v| v.clamp(lo, hi)).collect();
        files::write_png(
            &png,
            [n, n * montage.len()],
            &clipped,
            Some((lo, hi.max(lo + 1e-6))),
        )?;
        table.push((site.name.clone(), scores, lambda));
    }
    // report
    let mut md = String::from(
        "| site | TV λ | FBP PSNR / SSIM | CGLS PSNR / SSIM | TV PSNR / SSIM |\n|---|---|---|---|---|\n",
    );
    for (name, scores, lambda) in &table {
        md.push_str(&format!("| {name} | {lambda} |"));
        for s in scores {
            md.push_str(&format!(" {:.2} dB / {:.3} |", s.psnr, s.ssim));
        }
        md.push('\n');
    }
    let json = serde_json::json!({
        "sites": table.iter().map(|(name, scores, lambda)| {
            let methods: serde_json::Map<String, serde_json::Value> = METHODS.iter().zip(scores)
                .map(|((m, _), s)| (m.to_string(), serde_json::json!({"psnr": s.psnr, "ssim": s.ssim}))).collect();
            (name.clone(), serde_json::json!({"tv_lambda": lambda, "methods": methods}))
        }).collect::<serde_json::Map<_, _>>(),
    });
    files::write_text(&a.out.join("results.md"), &md)?;
    files::write_text(
        &a.out.join("results.json"),
        &serde_json::to_string_pretty(&json)?,
    )?;
    files::write_text(&a.out.join("config.toml"), &toml::to_string(&cfg)?)?;
    common::say(&md);
    common::say(&format!(
        "{} sites, {} test phantoms each, {:.1} s. Images (truth | FBP | CGLS | TV per site), results.md/json and the resolved config.toml are in {}",
        cfg.sites.len(),
        cfg.test_samples,
        started.elapsed().as_secs_f64(),
        a.out.display()
    ));
    Ok(())
}
