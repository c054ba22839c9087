//! Unrolled reconstruction networks (burn) with the physics operators as autodiff ops.
//!
//! Work in progress: see the networks issue. The backend is a type parameter so a GPU backend
//! can be added without touching the models.

/// Re-export of the burn version this crate is built against.
pub use burn;
