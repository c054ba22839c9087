//! NUFFT throughput: types 1 and 2, 10⁶ uniformly random points in [−0.5, 0.5)² cycles/pixel,
//! a 256 × 256 image, ε = 1e-6, σ = 2, f32 data — the setting of FINUFFT's usual 2-D benchmark
//! (Barnett, Magland, af Klinteberg 2019). Planning (kernel fit, point sort) is outside the timed
//! loop, as FINUFFT's `setpts`. The peer comparison is `benches/peers/mri_nufft_run.sh`.
//!
//! Also the non-Cartesian SENSE normal operator `Σ_c S_cᴴ AᴴA S_c` of issue 16's radial case
//! (32 coils, 256², 512 samples × 64 spokes) by the Toeplitz embedding and by a type 2 and a
//! type 1 per coil; one CG-SENSE iteration is one such application. The peer comparison (BART
//! `pics`) is `benches/peers/mri_radial_run.sh`.

use criterion::{Criterion, criterion_group, criterion_main};
use fedrecon_physics::linop::LinearOperator;
use fedrecon_physics::mri::traj::{RadialOrdering, radial};
use fedrecon_physics::mri::{NufftOptions, NufftPlan, NufftSenseOperator};
use num_complex::Complex32;
use std::hint::black_box;

const N: usize = 256;
const M: usize = 1_000_000;

/// Deterministic uniform numbers in [−0.5, 0.5) (64-bit LCG, top 24 bits).
fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32
        })
        .collect()
}

fn complex(v: &[f32]) -> Vec<Complex32> {
    v.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

fn bench(c: &mut Criterion) {
    let traj = uniform(1, 2 * M);
    let plan = NufftPlan::new(N, N, &traj, NufftOptions::default()).expect("valid plan");
    let image = complex(&uniform(2, 2 * N * N));
    let samples = complex(&uniform(3, 2 * M));
    let mut g = c.benchmark_group("mri_nufft_256_1e6pts_eps1e-6");
    g.sample_size(10);
    let mut y = vec![Complex32::default(); M];
    g.bench_function("type2", |b| {
        b.iter(|| plan.type2(black_box(&image), &mut y).expect("sizes match"))
    });
    let mut f = vec![Complex32::default(); N * N];
    g.bench_function("type1", |b| {
        b.iter(|| {
            plan.type1(black_box(&samples), &mut f)
                .expect("sizes match")
        })
    });
    g.finish();

    let (coils, spokes) = (32, 64);
    let traj = radial(spokes, 2 * N, RadialOrdering::Uniform).expect("valid trajectory");
    let maps = complex(&uniform(4, 2 * coils * N * N));
    let plain = NufftSenseOperator::new(maps, coils, N, N, &traj, NufftOptions::default())
        .expect("valid operator");
    let toeplitz = plain.clone().with_toeplitz().expect("valid operator");
    let x = complex(&uniform(5, 2 * N * N));
    let mut z = vec![Complex32::default(); N * N];
    let mut g = c.benchmark_group("mri_sense_normal_32coils_256_radial512x64");
    g.sample_size(10);
    g.bench_function("toeplitz", |b| {
        b.iter(|| toeplitz.normal(black_box(&x), &mut z).expect("sizes match"))
    });
    g.bench_function("nufft_pair", |b| {
        b.iter(|| plain.normal(black_box(&x), &mut z).expect("sizes match"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
