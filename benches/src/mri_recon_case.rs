//! The CG-SENSE / L1-wavelet benchmark problem, shared by the criterion bench
//! (`benches/mri_recon.rs`) and the peer-data writer (`src/bin/mri_recon_data.rs`), included
//! by `#[path]` in both.
//!
//! A fastMRI-knee-sized slice: 15 coils, `(ny, nx) = (640, 368)` (readout along y, phase
//! encoding along x), the modified Shepp–Logan phantom fitted to the grid (4 × 4 supersampled),
//! sigpy-style birdcage maps (ring radius 1.5 half-FOVs), fastMRI's `EquispacedMaskFractionFunc`
//! column mask at 4× with centre fraction 0.08 (offset drawn with seed 0), no noise. The data are
//! `y = M F S x` (centred orthonormal FFT), unsampled entries `+0`.

use fedrecon_physics::ImageGrid;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::mri::mask::equispaced_fraction_mask;
use fedrecon_physics::mri::{SamplingMask, SenseOperator, birdcage_maps};
use fedrecon_physics::numpy_rng::Mt19937;
use fedrecon_physics::phantom::Phantom;
use num_complex::Complex32;

pub const COILS: usize = 15;
pub const NY: usize = 640;
pub const NX: usize = 368;
pub const ACCELERATION: f64 = 4.0;
pub const CENTER_FRACTION: f64 = 0.08;
/// Iterations of both methods in the benchmark and the peer comparison.
pub const ITERATIONS: usize = 10;

/// The simulated problem.
pub struct ReconCase {
    /// `(ny, nx)` ground-truth image (real, as complex).
    pub image: Vec<Complex32>,
    /// `(coils, ny, nx)` coil maps, `Σ_c |S_c|² = 1`.
    pub maps: Vec<Complex32>,
    /// Column mask, length `nx`.
    pub mask: Vec<bool>,
    /// `(coils, ny, nx)` undersampled k-space.
    pub kspace: Vec<Complex32>,
}

impl ReconCase {
    /// Build the problem (deterministic).
    pub fn new() -> fedrecon_physics::Result<Self> {
        let grid = ImageGrid::new(NY, NX, 1.0)?;
        let image: Vec<Complex32> = Phantom::modified_shepp_logan()
            .fit_to(&grid)
            .rasterize(&grid, 4)
            .into_iter()
            .map(|v| Complex32::new(v, 0.0))
            .collect();
        let maps = birdcage_maps(COILS, NY, NX, 1.5)?;
        let mask = equispaced_fraction_mask(
            NX,
            CENTER_FRACTION,
            ACCELERATION,
            None,
            &mut Mt19937::new(0),
        )?;
        let op = SenseOperator::new(
            maps.clone(),
            COILS,
            NY,
            NX,
            Some(SamplingMask::columns(mask.clone())),
        )?;
        let kspace = op.forward_vec(&image)?;
        Ok(Self {
            image,
            maps,
            mask,
            kspace,
        })
    }

    /// The SENSE operator `M F S` of the problem.
    pub fn operator(&self) -> fedrecon_physics::Result<SenseOperator> {
        SenseOperator::new(
            self.maps.clone(),
            COILS,
            NY,
            NX,
            Some(SamplingMask::columns(self.mask.clone())),
        )
    }
}
