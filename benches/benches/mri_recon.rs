//! CG-SENSE and L1-wavelet (FISTA, Daubechies-4, 4 levels, 30 power iterations for the step) at a
//! fixed number of iterations ([`case::ITERATIONS`]) on a simulated 15-coil 640 × 368 slice with
//! a fastMRI equispaced 4× mask (see `src/mri_recon_case.rs`). Operator construction is outside
//! the timed loop; the timed call is the library's `cg_sense` / `l1_wavelet`, as `fedrecon mri
//! recon` runs them. The peer comparison (BART `pics`, sigpy) is `benches/peers/mri_recon_run.sh`.

use criterion::{Criterion, criterion_group, criterion_main};
use fedrecon_physics::mri::{CgSenseOptions, L1WaveletOptions, cg_sense, l1_wavelet};
use std::hint::black_box;

#[path = "../src/mri_recon_case.rs"]
mod case;

fn bench(c: &mut Criterion) {
    let problem = case::ReconCase::new().expect("valid problem");
    let op = problem.operator().expect("valid operator");
    // sanity: the reconstruction approaches the phantom
    let x = cg_sense(
        &op,
        &problem.kspace,
        None,
        &CgSenseOptions {
            iterations: case::ITERATIONS,
            lambda: 0.0,
            tolerance: 0.0,
        },
        None,
    )
    .expect("valid");
    let (mut d, mut t) = (0.0f64, 0.0f64);
    for (a, b) in x.iter().zip(&problem.image) {
        d += (a.norm() - b.re) as f64 * (a.norm() - b.re) as f64;
        t += b.re as f64 * b.re as f64;
    }
    eprintln!(
        "# CG-SENSE {} it: NMSE vs phantom {:.2e}",
        case::ITERATIONS,
        d / t
    );
    let mut g = c.benchmark_group("mri_recon_15x640x368_eqspaced4x");
    g.sample_size(10);
    let cg = CgSenseOptions {
        iterations: case::ITERATIONS,
        lambda: 0.0,
        tolerance: 0.0,
    };
    g.bench_function("cg_sense_10it", |b| {
        b.iter(|| cg_sense(&op, black_box(&problem.kspace), None, &cg, None).expect("valid"))
    });
    let l1 = L1WaveletOptions {
        iterations: case::ITERATIONS,
        lambda: 1e-3,
        ..Default::default()
    };
    g.bench_function("l1_wavelet_10it", |b| {
        b.iter(|| l1_wavelet(&op, black_box(&problem.kspace), None, &l1, None).expect("valid"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
