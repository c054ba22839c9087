//! 2-D CT: projectors, the analytic reference, FBP and noise models.

pub mod center;
pub mod effects;
pub mod fbp;
pub mod joseph;
pub mod noise;
pub mod siddon;

pub use fbp::{Fbp, FbpFilter, FbpOptions, PixelDrivenBackprojector};
pub use joseph::{FanBeamJoseph, JosephProjector, ParallelBeamJoseph};
pub use noise::TransmissionNoise;
pub use siddon::SiddonProjector;

use rayon::prelude::*;

/// Memory the transpose may spend on per-chunk accumulators.
const SCATTER_BUDGET_BYTES: usize = 256 << 20;
/// Most angle chunks a transpose splits into (a fixed number, so that results do not depend on
/// the number of threads).
const MAX_SCATTER_CHUNKS: usize = 16;

/// Run a ray-driven transpose: split the `n_angles` angles into a fixed number of contiguous
/// chunks, let `body(angle, acc)` scatter each angle's rays into the chunk's own accumulator
/// (created by `init`, about `acc_floats` `f32`s), then zero `x` and `finish(acc, x)` every chunk in
/// order. Deterministic for a given problem size, race-free, parallel over chunks.
pub(crate) fn scatter_by_angle_chunks<A: Send>(
    n_angles: usize,
    acc_floats: usize,
    x: &mut [f32],
    init: impl Fn() -> A + Sync,
    body: impl Fn(usize, &mut A) + Sync,
    finish: impl Fn(&A, &mut [f32]),
) {
    let by_memory = (SCATTER_BUDGET_BYTES / (4 * acc_floats.max(1))).max(1);
    let chunks = n_angles.clamp(1, MAX_SCATTER_CHUNKS).min(by_memory);
    let per = n_angles.div_ceil(chunks);
    let accs: Vec<A> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut acc = init();
            for a in c * per..((c + 1) * per).min(n_angles) {
                body(a, &mut acc);
            }
            acc
        })
        .collect();
    x.fill(0.0);
    for acc in &accs {
        finish(acc, x);
    }
}
