//! Pieces shared by the subcommands: geometry flags, `--repeat` timing, sidecar configs,
//! progress bars.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use fedrecon_physics::geometry::{CtGeometry, GeometrySpec, Naming};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};

use std::time::Instant;

/// Beam type.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Beam {
    /// Parallel beam (default angles kπ/n).
    Parallel,
    /// Fan beam (default angles 2πk/n); needs --sod and --sdd.
    Fan,
}

/// CT geometry flags (conventions: see `fedrecon_physics::geometry`). A `--geometry file.toml`
/// gives defaults; flags override its fields.
#[derive(Debug, Clone, Args, Serialize)]
pub struct GeometryArgs {
    /// TOML geometry file (fields: beam, angles, angle_span, angle_list, detectors,
    /// detector_spacing, detector_offset, size, nx, ny, pixel_size, sod, sdd, curved).
    #[arg(long, value_name = "FILE")]
    pub geometry: Option<PathBuf>,
    /// Beam type.
    #[arg(long, value_enum)]
    pub beam: Option<Beam>,
    /// Number of equispaced projection angles (default 180 parallel, 360 fan).
    #[arg(long)]
    pub angles: Option<usize>,
    /// Angular span in degrees (default 180 parallel, 360 fan).
    #[arg(long, value_name = "DEG")]
    pub arc: Option<f64>,
    /// Number of detector cells (default ⌈√2·size⌉ + 1).
    #[arg(long)]
    pub detectors: Option<usize>,
    /// Detector cell pitch, measured on the detector (default: pixel size, × magnification for fan).
    #[arg(long)]
    pub detector_spacing: Option<f64>,
    /// Shift of the detector centre along its axis.
    #[arg(long, allow_hyphen_values = true)]
    pub detector_offset: Option<f64>,
    /// Source–isocentre distance (fan beam).
    #[arg(long)]
    pub sod: Option<f64>,
    /// Source–detector distance (fan beam).
    #[arg(long)]
    pub sdd: Option<f64>,
    /// Equiangular (curved) detector instead of flat (fan beam).
    #[arg(long)]
    pub curved: bool,
    /// Square image side for back-projection and reconstruction.
    #[arg(long)]
    pub size: Option<usize>,
    /// Pixel side length (default 1).
    #[arg(long)]
    pub pixel_size: Option<f64>,
}

impl GeometryArgs {
    /// The flags as a geometry spec (`--arc` in degrees becomes radians).
    pub fn spec(&self) -> GeometrySpec {
        GeometrySpec {
            beam: self.beam.map(|b| match b {
                Beam::Parallel => "parallel".into(),
                Beam::Fan => "fan".into(),
            }),
            angles: self.angles,
            angle_span: self.arc.map(f64::to_radians),
            angle_list: None,
            detectors: self.detectors,
            detector_spacing: self.detector_spacing,
            detector_offset: self.detector_offset,
            size: self.size,
            ny: None,
            nx: None,
            pixel_size: self.pixel_size,
            sod: self.sod,
            sdd: self.sdd,
            curved: self.curved.then_some(true),
        }
    }

    /// Merge flags over the optional file (`GeometrySpec::resolve`, the rules the Python package
    /// shares), with `image` = `(ny, nx)` from an input image and `sino` = `(angles, detectors)`
    /// from an input sinogram when known.
    pub fn resolve(
        &self,
        image: Option<[usize; 2]>,
        sino: Option<[usize; 2]>,
    ) -> Result<CtGeometry> {
        let file = match &self.geometry {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading geometry file {}", path.display()))?;
                Some(
                    GeometrySpec::from_toml(&text)
                        .with_context(|| format!("in {}", path.display()))?,
                )
            }
            None => None,
        };
        Ok(self
            .spec()
            .resolve(file.as_ref(), image, sino, Naming::Flags)?)
    }

    /// Merge flags over the optional file, with `image` = `(ny, nx)` from an input file when known.
    pub fn build(&self, image: Option<[usize; 2]>) -> Result<CtGeometry> {
        self.resolve(image, None)
    }
}

/// Refuse, naming `flag` and its `value`, a buffer of `counts` elements of `elem_bytes` bytes
/// (their product) that this machine's memory cannot hold — before allocating it.
pub fn ensure_fits(
    flag: &'static str,
    value: impl ToString,
    counts: &[usize],
    elem_bytes: usize,
) -> Result<()> {
    use fedrecon_physics::memory;
    Ok(memory::ensure_fits(
        flag,
        value,
        memory::bytes_of(counts, elem_bytes),
    )?)
}

/// Run `op` `repeat` times (at least once) and print the median time of the operator alone as
/// `time_ms: <float>` on stderr when `repeat > 1`.
pub fn timed<T>(repeat: usize, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let n = repeat.max(1);
    let mut times = Vec::with_capacity(n);
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        out = Some(op()?);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if repeat > 1 {
        times.sort_by(f64::total_cmp);
        eprintln!("time_ms: {:.3}", times[n / 2]);
    }
    Ok(out.expect("ran at least once"))
}

/// Write the resolved configuration of a run next to its output as `<output>.json`: the
/// subcommand, its arguments, the resolved geometry (if any) and the tool's version.
pub fn write_sidecar(
    output: &Path,
    command: &str,
    args: &impl Serialize,
    geometry: &impl Serialize,
) -> Result<()> {
    let mut name = output.as_os_str().to_owned();
    name.push(".json");
    let config = serde_json::json!({
        "fedrecon_version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "args": args,
        "geometry": geometry,
    });
    crate::files::write_text(Path::new(&name), &serde_json::to_string_pretty(&config)?)
}

/// Compute device: `cpu` (the reference), `cuda` or `cuda:N` (GPU `N`, needs a build with
/// `--features cuda`); parsed and checked by `fedrecon_nn::device`.
pub use fedrecon_nn::DeviceSpec as Device;

/// Reject `--device cuda` for a step that has no GPU path, naming the step.
pub fn require_cpu(device: Device, what: &str) -> Result<()> {
    if device != Device::Cpu {
        bail!("--device {device}: {what} has no CUDA path; run it with --device cpu");
    }
    Ok(())
}

/// The CUDA kernels' device for `--device cuda[:N]` (the classical operators), or `None` on the
/// CPU.
pub fn cuda_kernels(device: Device) -> Result<Option<fedrecon_cuda::CudaDevice>> {
    Ok(match device {
        Device::Cpu => None,
        Device::Cuda(n) => Some(fedrecon_cuda::CudaDevice::new(n)?),
    })
}

/// A progress bar for `n` iterations (hidden when stderr is not a terminal).
pub fn progress(n: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Print a line on stdout; a closed pipe (`fedrecon … | head`) is not an error worth a panic.
pub fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}
