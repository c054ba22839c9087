//! 2-D MRI: centred FFTs, multi-coil Cartesian SENSE, the non-uniform FFT, with their slow
//! references (dense DFT, direct NUDFT).

pub mod dcf;
pub mod eval;
pub mod fft;
pub mod mask;
pub mod noncart;
pub mod nufft;
pub mod pipeline;
#[cfg(test)]
mod realdata;
pub mod sense;
pub mod traj;

pub use fft::{CenteredFft2, Direction, Fft2Plan, dft2c_dense};
pub use noncart::NufftSenseOperator;
pub use nufft::{NufftOptions, NufftPlan, ToeplitzNormal, Upsampling, nudft2_type1, nudft2_type2};
pub use sense::{
    SamplingMask, SenseOperator, coil_combine, rss, rss_from_kspace, sens_expand, sens_reduce,
};
// Coil maps, wavelets, sampling masks and reconstructions.
pub mod coils;
pub mod poisson_disc;
pub mod recon;
pub use crate::wavelet;

pub use coils::{EspiritOptions, WalshOptions, birdcage_maps, espirit_maps, walsh_maps};
pub use poisson_disc::{PoissonDiscOptions, poisson_disc_mask};
pub use recon::{
    CgSenseOptions, L1WaveletOptions, ReconIteration, TvReconOptions, cg_sense, gridding,
    l1_wavelet, tv_recon, zero_filled_rss,
};
pub use wavelet::{Wavelet2, WaveletKind};
