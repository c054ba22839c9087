//! Metrics of a run: the per-step and validation rows, validation scoring (PSNR over each
//! target's range, SSIM 7 × 7, NMSE), the classical baselines (FBP; zero-filled RSS and
//! CG-SENSE), and the `metrics.csv`, `metrics.json` and `curves.png` outputs.

use super::{io_err, loss_of, tensor_to_vec, write_text};
use crate::config::RunConfig;
use crate::data::{Dataset, Measurement, Sample, center_crop};
use crate::error::{NnError, Result};
use crate::models::ReconNet;
use burn::tensor::Device;
use fedrecon_io::plot::Figure;
use fedrecon_physics::metrics;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One row of `metrics.csv` for a training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// 1-based step.
    pub step: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Training loss of the batch.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// Mean validation figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean loss (the training loss on the validation set).
    pub loss: f64,
    /// Mean PSNR in dB.
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Mean NMSE.
    pub nmse: f64,
}

/// A validation record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValRow {
    /// Steps completed when validated.
    pub step: usize,
    /// Scores.
    #[serde(flatten)]
    pub scores: Scores,
}

/// Everything logged so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Training steps.
    pub train: Vec<StepRow>,
    /// Validations.
    pub val: Vec<ValRow>,
}

/// Score reconstructions `(B·H·W)` against the batch's targets.
fn score_images(out: &[f32], samples: &[&Sample]) -> Result<Vec<[f64; 3]>> {
    let mut r = Vec::with_capacity(samples.len());
    let mut off = 0;
    for s in samples {
        let n = s.target.len();
        let img = &out[off..off + n];
        off += n;
        r.push(score_one(img, s)?);
    }
    Ok(r)
}

fn score_one(img: &[f32], s: &Sample) -> Result<[f64; 3]> {
    Ok([
        metrics::psnr(img, &s.target, None)?,
        metrics::ssim(img, &s.target, s.target_shape, None)?,
        metrics::nmse(img, &s.target)?,
    ])
}

fn mean_scores(loss: f64, rows: &[[f64; 3]]) -> Scores {
    let n = rows.len().max(1) as f64;
    let avg = |k: usize| rows.iter().map(|r| r[k]).sum::<f64>() / n;
    Scores {
        loss,
        psnr: avg(0),
        ssim: avg(1),
        nmse: avg(2),
    }
}

/// Reconstructions of the whole validation set (cropped to the targets), batch by batch.
pub(super) fn predict<M: ReconNet>(
    model: &M,
    val: &Dataset,
    batch: usize,
    device: &Device,
    cfg: &RunConfig,
) -> Result<(Vec<Vec<f32>>, Scores)> {
    let mut images = Vec::with_capacity(val.len());
    let mut rows = Vec::new();
    let mut loss_sum = 0.0;
    let idx: Vec<usize> = (0..val.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let b = val.batch(chunk, device)?;
        let [_, _, h, w] = b.target.dims();
        let out = model.reconstruct(&b.input, &val.physics, None)?;
        let out = center_crop(out, h, w)?;
        let l = loss_of(out.clone(), b.target.clone(), cfg.train.loss).into_scalar::<f32>() as f64;
        loss_sum += l * chunk.len() as f64;
        let v = tensor_to_vec(out)?;
        let samples = chunk
            .iter()
            .map(|&i| val.get(i))
            .collect::<Result<Vec<_>>>()?;
        rows.extend(score_images(&v, &samples)?);
        let n = h * w;
        for k in 0..chunk.len() {
            images.push(v[k * n..(k + 1) * n].to_vec());
        }
    }
    Ok((images, mean_scores(loss_sum / val.len() as f64, &rows)))
}

/// Centre crop of a host image.
fn crop_host(img: &[f32], shape: [usize; 2], to: [usize; 2]) -> Vec<f32> {
    let (y0, x0) = ((shape[0] - to[0]) / 2, (shape[1] - to[1]) / 2);
    (0..to[0])
        .flat_map(|i| {
            img[(y0 + i) * shape[1] + x0..(y0 + i) * shape[1] + x0 + to[1]]
                .iter()
                .copied()
        })
        .collect()
}

/// Classical reconstructions of a sample: `[(method, image)]` at the target's shape.
pub fn classical_recons(val: &Dataset, s: &Sample) -> Result<Vec<(String, Vec<f32>)>> {
    use fedrecon_physics::mri::recon::magnitude;
    use fedrecon_physics::mri::{
        CgSenseOptions, SenseOperator, WalshOptions, cg_sense, rss_from_kspace, walsh_maps,
    };
    match (&val.physics, &s.measurement) {
        (crate::physics::Physics::Ct(p), Measurement::Ct { sinogram }) => {
            Ok(vec![("fbp".into(), p.fbp.reconstruct(sinogram)?)])
        }
        (crate::physics::Physics::Mri(p), Measurement::Mri { kspace, mask, maps }) => {
            let ([ny, nx], c) = (p.shape, p.coils);
            let zf = rss_from_kspace(kspace, c, ny, nx)?;
            let maps = match maps {
                Some(m) => m.clone(),
                None => {
                    // Walsh maps from the fully sampled centred block (columns for fastMRI
                    // masks, a square for 2-D masks), as `mri recon` falls back to
                    use fedrecon_physics::mri::mask::center_block;
                    let cols: Vec<bool> = (0..nx).map(|j| mask.is_sampled(ny / 2, j)).collect();
                    let mut w = 0;
                    while w < nx && center_block(nx, w + 1).all(|j| cols[j]) {
                        w += 1;
                    }
                    let mut h = 0;
                    while w > 0
                        && h < ny
                        && center_block(ny, h + 1)
                            .all(|i| center_block(nx, w).all(|j| mask.is_sampled(i, j)))
                    {
                        h += 1;
                    }
                    let calib = (h.min(24), w.min(24));
                    if calib.0 < 2 || calib.1 < 2 {
                        // no calibration block to estimate coil maps from (e.g. one centre
                        // column): zero-filled is the only classical reference
                        let (shape, to) = ([ny, nx], s.target_shape);
                        return Ok(vec![("zero-filled".into(), crop_host(&zf, shape, to))]);
                    }
                    walsh_maps(
                        kspace,
                        c,
                        ny,
                        nx,
                        &WalshOptions {
                            calib,
                            threshold: 0.02,
                            ..Default::default()
                        },
                    )?
                }
            };
            let op = SenseOperator::new(maps, c, ny, nx, Some(mask.clone()))?;
            let x = cg_sense(
                &op,
                kspace,
                None,
                &CgSenseOptions {
                    iterations: 20,
                    ..Default::default()
                },
                None,
            )?;
            let cg = magnitude(&x);
            let (shape, to) = ([ny, nx], s.target_shape);
            Ok(vec![
                ("zero-filled".into(), crop_host(&zf, shape, to)),
                ("cg-sense".into(), crop_host(&cg, shape, to)),
            ])
        }
        _ => Err(NnError::argument(
            "sample",
            &s.name,
            "does not match the dataset's physics",
        )),
    }
}

/// Write `dir/<stem>_recon.png`, `<stem>_target.png` and, with `classical` (the sample's
/// dataset), the classical reconstructions `<stem>_<method>.png`, all in the target's value range.
pub fn write_sample_pngs(
    dir: &Path,
    stem: &str,
    recon: Vec<f32>,
    s: &Sample,
    classical: Option<&Dataset>,
) -> Result<()> {
    let (lo, hi) = s
        .target
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let win = fedrecon_io::Window::Range {
        lo,
        hi: hi.max(lo + 1e-6),
    };
    let [ny, nx] = s.target_shape;
    let mut pngs = vec![
        ("recon".to_string(), recon),
        ("target".to_string(), s.target.clone()),
    ];
    if let Some(val) = classical {
        pngs.extend(classical_recons(val, s)?);
    }
    for (what, data) in pngs {
        let p = dir.join(format!("{stem}_{what}.png"));
        fedrecon_io::write_png(&p, ny, nx, &data, win).map_err(|e| io_err(&p, e))?;
    }
    Ok(())
}

/// Score the classical methods on the whole validation set.
pub fn score_classical(val: &Dataset) -> Result<Vec<(String, Scores)>> {
    let mut by: Vec<(String, Vec<[f64; 3]>)> = Vec::new();
    for i in 0..val.len() {
        let s = val.get(i)?;
        for (name, img) in classical_recons(val, s)? {
            let r = score_one(&img, s)?;
            match by.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(r),
                None => by.push((name, vec![r])),
            }
        }
    }
    Ok(by
        .into_iter()
        .map(|(n, rows)| (n, mean_scores(f64::NAN, &rows)))
        .collect())
}

fn csv(history: &History) -> String {
    let mut s = String::from("step,lr,loss,grad_norm,val_loss,val_psnr,val_ssim,val_nmse\n");
    for r in &history.train {
        s.push_str(&format!(
            "{},{:e},{:e},{:e}",
            r.step, r.lr, r.loss, r.grad_norm
        ));
        match history.val.iter().find(|v| v.step == r.step) {
            Some(v) => s.push_str(&format!(
                ",{:e},{:.4},{:.5},{:e}\n",
                v.scores.loss, v.scores.psnr, v.scores.ssim, v.scores.nmse
            )),
            None => s.push_str(",,,,\n"),
        }
    }
    s
}

pub(super) fn write_outputs(
    out: &Path,
    history: &History,
    classical: &[(String, Scores)],
) -> Result<()> {
    write_text(&out.join("metrics.csv"), &csv(history))?;
    let json = serde_json::json!({
        "train": history.train,
        "val": history.val,
        "classical": classical.iter().map(|(n, s)| serde_json::json!({"method": n, "psnr": s.psnr, "ssim": s.ssim, "nmse": s.nmse})).collect::<Vec<_>>(),
    });
    write_text(
        &out.join("metrics.json"),
        &serde_json::to_string_pretty(&json).expect("json"),
    )?;
    match curves_figure(history, classical) {
        Some(fig) => {
            let path = out.join("curves.png");
            fig.write_png(&path, 1350, 460)
                .map_err(|e| io_err(&path, e))
        }
        None => Ok(()),
    }
}

/// `curves.png`: training and validation loss (log scale), validation PSNR and SSIM against the
/// step, the classical methods as dashed reference levels; `None` before the first step.
pub fn curves_figure(history: &History, classical: &[(String, Scores)]) -> Option<Figure> {
    use fedrecon_io::plot::{LinePlot, Series};
    if history.train.is_empty() {
        return None;
    }
    let val = |f: fn(&Scores) -> f64| -> Vec<(f64, f64)> {
        history
            .val
            .iter()
            .map(|r| (r.step as f64, f(&r.scores)))
            .collect()
    };
    let train: Vec<(f64, f64)> = history
        .train
        .iter()
        .map(|r| (r.step as f64, r.loss))
        .collect();
    let mut loss = vec![Series::new("train", train)];
    if !history.val.is_empty() {
        loss.push(Series::new("validation", val(|s| s.loss)));
    }
    let mut panels = vec![
        LinePlot {
            title: "Loss".into(),
            x_label: "step".into(),
            y_label: "loss (log scale)".into(),
            log_y: true,
            series: loss,
        }
        .into(),
    ];
    if let (Some(first), Some(last)) = (history.val.first(), history.val.last()) {
        let span = (first.step as f64, last.step as f64);
        for (title, unit, f) in [
            (
                "Validation PSNR",
                "PSNR [dB]",
                (|s: &Scores| s.psnr) as fn(&Scores) -> f64,
            ),
            ("Validation SSIM", "SSIM", |s: &Scores| s.ssim),
        ] {
            let mut series = vec![Series::new("validation", val(f))];
            for (name, sc) in classical {
                series.push(
                    Series::new(name.clone(), vec![(span.0, f(sc)), (span.1, f(sc))]).dashed(),
                );
            }
            panels.push(
                LinePlot {
                    title: title.into(),
                    x_label: "step".into(),
                    y_label: unit.into(),
                    log_y: false,
                    series,
                }
                .into(),
            );
        }
    }
    let mut fig = Figure::new(panels);
    fig.shared_legend = true;
    fig.colors = vec![("fbp".into(), fedrecon_io::plot::GRAY)];
    Some(fig)
}
