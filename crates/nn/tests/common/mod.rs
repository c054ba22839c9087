//! Helpers shared by the integration tests of `fedrecon-nn` (each test file uses a subset).
#![allow(dead_code)]

use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `n` values uniform in `[-1, 1)` from `seed`.
pub fn randv(n: usize, seed: u64) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n).map(|_| r.random::<f32>() * 2.0 - 1.0).collect()
}

/// The values of a tensor on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// Relative error `‖a − b‖ / ‖b‖` (the square root of the NMSE).
pub fn rel(a: &[f32], b: &[f32]) -> f64 {
    fedrecon_physics::metrics::nmse(a, b).unwrap().sqrt()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
