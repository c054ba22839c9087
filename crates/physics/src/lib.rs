//! # fedrecon-physics
//!
//! The physics core of fedrecon: the [`LinearOperator`](linop::LinearOperator) contract and its
//! combinators, 2-D CT geometry and projectors with matched adjoints, MRI (centred FFT, SENSE,
//! NUFFT), classical solvers, phantoms, noise models and metrics, and the slow,
//! obviously-correct references every fast path is tested against.

pub mod ct;
pub mod error;
pub mod geometry;
pub mod huge_pages;
mod isa;
pub mod linop;
pub mod memory;
pub mod metrics;
pub mod mri;
pub mod numpy_rng;
pub mod phantom;
pub mod scalar;
pub mod scratch;
pub mod solvers;
pub mod test_env;
pub mod wavelet;

pub use error::{PhysicsError, Result};
pub use geometry::{CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, ParallelBeam};
pub use linop::LinearOperator;
