//! Simulated multi-coil MRI phantoms (`source = "mri-phantom"`): birdcage maps, the protocol's
//! sampling mask and complex Gaussian noise.

use crate::config::{DataConfig, MaskType, MriSimulation};
use crate::data::{Measurement, PhysicsSpec, Sample, SampleSource, Split, mix, mri_scale};
use crate::error::{NnError, Result};
use fedrecon_physics::ImageGrid;
use fedrecon_physics::mri::mask::{MaskKind, fastmri_mask};
use fedrecon_physics::mri::{
    Fft2Plan, PoissonDiscOptions, SamplingMask, birdcage_maps, poisson_disc_mask, rss_from_kspace,
};
use fedrecon_physics::phantom::Phantom;
use num_complex::Complex32;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

/// Zero every unsampled entry of each `(ny, nx)` slice of `k`.
pub(super) fn apply_mask(
    mask: &SamplingMask,
    ny: usize,
    nx: usize,
    k: &mut [Complex32],
) -> Result<()> {
    mask.check_shape(ny, nx)?;
    for (r, row) in k.chunks_mut(nx).enumerate() {
        let i = r % ny;
        for (j, v) in row.iter_mut().enumerate() {
            if !mask.is_sampled(i, j) {
                *v = Complex32::new(0.0, 0.0);
            }
        }
    }
    Ok(())
}

/// The sampling mask of a simulated `n × n` phantom sample: the fastMRI column mask functions,
/// or a 2-D Poisson disc whose calibration square has side `⌈center_fraction · n⌉`.
fn phantom_mask(proto: &MriSimulation, n: usize, seed: u64) -> Result<SamplingMask> {
    let kind = match proto.mask {
        MaskType::Random => MaskKind::Random,
        MaskType::Equispaced => MaskKind::Equispaced,
        MaskType::EquispacedFraction => MaskKind::EquispacedFraction,
        MaskType::Poisson => {
            let c = ((proto.center_fraction * n as f64).ceil() as usize).clamp(1, n);
            let opts = PoissonDiscOptions {
                acceleration: proto.acceleration,
                calib: (c, c),
                seed,
                ..PoissonDiscOptions::default()
            };
            return Ok(poisson_disc_mask(n, n, &opts)?);
        }
    };
    Ok(fastmri_mask(
        kind,
        n,
        proto.center_fraction,
        proto.acceleration,
        seed,
    )?)
}

/// One simulated multi-coil MRI phantom sample (see the module docs of [`crate::data`]); `maps` are
/// the birdcage maps `(coils, n, n)`.
pub fn mri_phantom_sample(
    proto: &MriSimulation,
    maps: &[Complex32],
    phantom_seed: u64,
    noise_seed: u64,
    mask_seed: u64,
) -> Result<Sample> {
    let (n, c) = (proto.size, proto.coils);
    let grid = ImageGrid::square(n)?;
    let f = Phantom::random_ellipses(proto.ellipses, phantom_seed)
        .fit_to(&grid)
        .rasterize(&grid, 2);
    let peak = f.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    let mut k: Vec<Complex32> = (0..c)
        .flat_map(|ci| {
            let f = &f;
            maps[ci * n * n..(ci + 1) * n * n]
                .iter()
                .zip(f.iter())
                .map(|(s, v)| s * *v)
        })
        .collect();
    let plan = Fft2Plan::new(n, n)?;
    plan.fft2c(&mut k)?;
    if !(proto.noise.is_finite() && proto.noise >= 0.0) {
        return Err(NnError::argument(
            "data.mri.noise",
            proto.noise,
            "must be finite and ≥ 0",
        ));
    }
    if proto.noise > 0.0 {
        let normal = Normal::new(0.0, proto.noise * peak as f64).expect("σ finite and > 0");
        let mut rng = StdRng::seed_from_u64(noise_seed);
        for v in k.iter_mut() {
            v.re += normal.sample(&mut rng) as f32;
            v.im += normal.sample(&mut rng) as f32;
        }
    }
    let target = rss_from_kspace(&k, c, n, n)?;
    let mask = phantom_mask(proto, n, mask_seed)?;
    apply_mask(&mask, n, n, &mut k)?;
    let s = mri_scale(&k, c, n, n)?;
    k.iter_mut().for_each(|v| *v *= s);
    Ok(Sample {
        measurement: Measurement::Mri {
            kspace: k,
            mask,
            maps: proto.maps.then(|| maps.to_vec()),
        },
        target: target.iter().map(|v| v * s).collect(),
        target_shape: [n, n],
        scale: s,
        name: String::new(),
    })
}

/// Random-ellipse multi-coil MRI phantoms.
pub(crate) struct MriPhantoms {
    proto: MriSimulation,
    maps: Vec<Complex32>,
    seed: u64,
    split: Split,
    n: usize,
}

impl MriPhantoms {
    pub(crate) fn open(
        cfg: &DataConfig,
        split: Split,
        n: usize,
    ) -> Result<(PhysicsSpec, Box<dyn SampleSource>)> {
        let p = &cfg.mri;
        if p.size < 2 {
            return Err(NnError::argument("data.mri.size", p.size, "must be ≥ 2"));
        }
        let maps = birdcage_maps(p.coils, p.size, p.size, p.coil_radius)?;
        let protocol = PhysicsSpec::Mri {
            shape: [p.size, p.size],
            coils: p.coils,
        };
        Ok((
            protocol,
            Box::new(Self {
                proto: p.clone(),
                maps,
                seed: cfg.seed,
                split,
                n,
            }),
        ))
    }
}

impl SampleSource for MriPhantoms {
    fn len(&self) -> usize {
        self.n
    }
    fn load(&self, i: usize, _draw: Option<u64>) -> Result<Sample> {
        let base = mix(mix(self.seed, 0x3e1 + self.split.tag()), i as u64);
        let mut s = mri_phantom_sample(
            &self.proto,
            &self.maps,
            mix(base, 1),
            mix(base, 2),
            mix(base, 3),
        )?;
        s.name = format!("{:?}-phantom-{i}", self.split).to_lowercase();
        Ok(s)
    }
}
