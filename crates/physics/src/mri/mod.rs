//! 2-D MRI: centred FFTs, multi-coil Cartesian SENSE, the non-uniform FFT, with their slow
//! references (dense DFT, direct NUDFT).

pub mod fft;

pub use fft::{CenteredFft2, Direction, Fft2Plan, dft2c_dense};
