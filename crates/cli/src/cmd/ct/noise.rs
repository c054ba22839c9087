//! `fedrecon ct noise`: simulate a low-dose scan from a clean sinogram.

use crate::common;
use crate::files;
use anyhow::Result;
use clap::Args as ClapArgs;
use fedrecon_physics::ct::noise::TransmissionNoise;
use fedrecon_physics::error::check_finite;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `fedrecon ct noise`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Clean post-log sinogram `.npy` (line integrals).
    #[arg(long)]
    pub input: PathBuf,
    /// Noisy post-log sinogram `.npy`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Incident photons per detector cell I0 (LoDoPaB: 4096).
    #[arg(long)]
    pub i0: f64,
    /// Attenuation scale μ: counts ~ Poisson(I0·exp(−p·μ)), output −log(counts/I0)/μ
    /// (LoDoPaB: 81.35858 with p in metres of normalised μ).
    #[arg(long, default_value_t = 1.0)]
    pub mu_scale: f64,
    /// Value that replaces zero counts before the log (LoDoPaB: 0.1).
    #[arg(long, default_value_t = 0.1)]
    pub min_count: f64,
    /// Standard deviation of additive electronic (Gaussian) noise on the counts.
    #[arg(long, default_value_t = 0.0)]
    pub sigma_e: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Run `fedrecon ct noise`.
pub fn run(a: Args) -> Result<()> {
    let sino = files::read_npy(&a.input)?;
    check_finite("input sinogram", &sino.data)?;
    let model = TransmissionNoise::new(a.i0, a.mu_scale)?
        .with_min_count(a.min_count)?
        .with_electronic_sigma(a.sigma_e)?;
    let noisy = model.apply(&sino.data, a.seed)?;
    files::write_npy(&a.output, &sino.shape, &noisy)?;
    common::write_sidecar(&a.output, "ct noise", &a, &serde_json::Value::Null)?;
    Ok(())
}
