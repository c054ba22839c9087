//! Shared by the emulation tests: the host-C++ kernels (`fedrecon-cuda-emu`) as a [`Backend`] for
//! the pipelines — buffers are `Vec`s and every launch runs serially — and common helpers.
#![allow(dead_code)] // every test binary uses a part

use fedrecon_cuda::CudaError;
use fedrecon_cuda::pipeline::{HostBackend, HostCall, HostLaunch};
use num_complex::{Complex32, Complex64};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The host-C++ kernels, run serially.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmuKernels;

impl HostLaunch for EmuKernels {
    unsafe fn launch(&self, call: HostCall<'_>) -> Result<(), CudaError> {
        let k = call.kernel;
        // SAFETY: the caller's contract (`HostLaunch::launch`) is `fedrecon_cuda_emu::launch`'s.
        unsafe { fedrecon_cuda_emu::launch(k.name, k.params, call.grid, call.block, call.args) }
            .map_err(|e| CudaError::Driver {
                during: "an emulated launch".into(),
                message: e.to_string(),
            })
    }
}

/// Serial host emulation of the device (`Vec` buffers).
pub type Emu = HostBackend<EmuKernels>;

/// The emulator with the device's block sizes.
pub const EMU: Emu = HostBackend {
    launcher: EmuKernels,
    block: None,
};

/// Relative L2 distance `‖a − b‖ / ‖b‖` of `a` from the reference `b`.
pub fn rel_l2(a: &[Complex32], b: &[Complex64]) -> f64 {
    let sq = |v: &[Complex64]| v.iter().map(|z| z.norm_sqr()).sum::<f64>();
    let diff: Vec<Complex64> = to64(a).iter().zip(b).map(|(x, y)| x - y).collect();
    (sq(&diff) / sq(b)).sqrt()
}

/// `a` in double precision.
pub fn to64(a: &[Complex32]) -> Vec<Complex64> {
    a.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

/// `m` random points `(kx, ky)` in the valid range, the periodic edges included.
pub fn random_traj(m: usize, seed: u64) -> Vec<f32> {
    random_traj_from(m, &mut StdRng::seed_from_u64(seed))
}

/// [`random_traj`] drawing from `rng`.
pub fn random_traj_from(m: usize, rng: &mut StdRng) -> Vec<f32> {
    let mut t: Vec<f32> = (0..2 * m)
        .map(|_| rng.random_range(-0.5f32..=0.5))
        .collect();
    t[0] = -0.5;
    t[3] = 0.5;
    t
}

/// `n` complex values with parts uniform in `[−1, 1)`.
pub fn random_complex(n: usize, rng: &mut StdRng) -> Vec<Complex32> {
    (0..n)
        .map(|_| Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
        .collect()
}
