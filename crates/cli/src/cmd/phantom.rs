//! `fedrecon phantom`: rasterise an ellipse phantom.

use crate::{common, files};
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use fedrecon_physics::geometry::ImageGrid;
use fedrecon_physics::phantom::Phantom;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which phantom.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Kind {
    /// Shepp & Logan (1974).
    SheppLogan,
    /// Modified (high-contrast, Toft) Shepp–Logan.
    ModifiedSheppLogan,
    /// Random ellipses (seeded).
    Ellipses,
    /// Head-like: a skull ring around brain tissue with `count` soft-tissue ellipses (seeded).
    Head,
    /// Body-like: body, lungs, spine and `count` organ ellipses (seeded).
    Body,
}

/// Arguments of `fedrecon phantom`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Phantom kind.
    #[arg(long, value_enum, default_value = "modified-shepp-logan")]
    pub kind: Kind,
    /// Ellipse table (TOML, as in `phantoms/`) instead of a built-in kind.
    #[arg(long, value_name = "FILE", conflicts_with = "kind")]
    pub table: Option<PathBuf>,
    /// Image side in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Pixel side length (the phantom's field of view [−1, 1]² fills the image).
    #[arg(long, default_value_t = 1.0)]
    pub pixel_size: f64,
    /// Seed for `--kind ellipses | head | body`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of ellipses for `--kind ellipses` (inner structures for `head` / `body`).
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Sub-samples per pixel side.
    #[arg(long, default_value_t = 4)]
    pub supersample: usize,
    /// Output `.npy` (float32, shape (size, size)).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also save a PNG (min/max window).
    #[arg(long)]
    pub png: Option<PathBuf>,
}

/// Load the phantom the flags describe (normalised coordinates).
pub fn load(kind: Kind, table: Option<&Path>, seed: u64, count: usize) -> Result<Phantom> {
    Ok(match table {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Phantom::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => match kind {
            Kind::SheppLogan => Phantom::shepp_logan(),
            Kind::ModifiedSheppLogan => Phantom::modified_shepp_logan(),
            Kind::Ellipses => Phantom::random_ellipses(count, seed),
            Kind::Head => Phantom::head(count, seed),
            Kind::Body => Phantom::body(count, seed),
        },
    })
}

/// Run `fedrecon phantom`.
pub fn run(a: Args) -> Result<()> {
    if a.supersample == 0 || a.supersample > 64 {
        bail!("--supersample {} must be between 1 and 64", a.supersample);
    }
    common::ensure_fits("--size", a.size, &[a.size, a.size, 2], 4)?;
    let grid = ImageGrid::new(a.size, a.size, a.pixel_size)?;
    let ph = load(a.kind, a.table.as_deref(), a.seed, a.count)?.fit_to(&grid);
    let img = ph.rasterize(&grid, a.supersample);
    files::write_npy(&a.output, &[a.size, a.size], &img)?;
    if let Some(png) = &a.png {
        files::write_png(png, [a.size, a.size], &img, None)?;
    }
    common::write_sidecar(&a.output, "phantom", &a, &grid)?;
    eprintln!("wrote {} ({}×{})", a.output.display(), a.size, a.size);
    Ok(())
}
