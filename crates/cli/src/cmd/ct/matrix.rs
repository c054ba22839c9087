//! `fedrecon ct matrix`: the projector as an explicit sparse matrix, for tools that want `A`
//! itself (scipy, PyTorch sparse ops; ASTRA users know it as `astra.matrix`).
//!
//! Writes `OUT/row.npy`, `OUT/col.npy` (int64) and `OUT/data.npy` (float32), the COO triplets of
//! `A` (rows = sinogram index `angle·n_det + detector`, columns = pixel index `y·nx + x`), and
//! `OUT/matrix.json` with the shape, the non-zero count and `‖A‖₂` (30 power iterations, the
//! normalisation the unrolled networks use). In Python:
//! `scipy.sparse.coo_matrix((data, (row, col)), shape=json["shape"])`. Column `j` is the
//! projection of the unit impulse at pixel `j` (exact for a linear projector), computed in
//! parallel over columns.

use super::Projector;
use crate::common::{self, GeometryArgs};
use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::solvers::power_iteration_norm;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `fedrecon ct matrix`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Output directory (`row.npy`, `col.npy`, `data.npy`, `matrix.json`).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub geometry: GeometryArgs,
    /// Projector model.
    #[arg(long, value_enum, default_value = "joseph")]
    pub projector: Projector,
}

/// Run `fedrecon ct matrix`.
pub fn run(a: Args) -> Result<()> {
    let g = a.geometry.build(None)?;
    let op = a.projector.build(g.clone(), common::Device::Cpu)?;
    let (n, m) = (op.domain_len(), op.range_len());
    common::ensure_fits("--size", n, &[m], 4)?;
    // one column per pixel: the projection of its unit impulse
    let cols: Vec<Vec<(i64, f32)>> = (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0.0f32; n], vec![0.0f32; m]),
            |(e, y), j| {
                e[j] = 1.0;
                op.apply_forward(e, y);
                e[j] = 0.0;
                y.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(r, v)| (r as i64, *v))
                    .collect()
            },
        )
        .collect();
    let nnz: usize = cols.iter().map(Vec::len).sum();
    let (mut row, mut col, mut data) = (
        Vec::with_capacity(nnz),
        Vec::with_capacity(nnz),
        Vec::with_capacity(nnz),
    );
    for (j, c) in cols.into_iter().enumerate() {
        for (r, v) in c {
            row.push(r);
            col.push(j as i64);
            data.push(v);
        }
    }
    let norm = power_iteration_norm(op.as_ref(), 30, 0x5eed)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let path = |f: &str| a.output.join(f);
    fedrecon_io::write_npy(path("row.npy"), &[nnz], &row)?;
    fedrecon_io::write_npy(path("col.npy"), &[nnz], &col)?;
    fedrecon_io::write_npy(path("data.npy"), &[nnz], &data)?;
    let meta = serde_json::json!({
        "shape": [m, n],
        "nnz": nnz,
        "norm": norm,
        "projector": a.projector,
        "geometry": g,
        "fedrecon_version": env!("CARGO_PKG_VERSION"),
    });
    crate::files::write_text(&path("matrix.json"), &serde_json::to_string_pretty(&meta)?)?;
    common::say(&format!("A: {m} x {n}, {nnz} non-zeros, ‖A‖₂ = {norm:.4}"));
    Ok(())
}
