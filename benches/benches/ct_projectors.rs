//! Criterion benches of the CT projectors on the shared benchmark geometries
//! (`fedrecon_benches::cases`): Joseph forward and back projection at 512² / 720 angles / 729
//! cells and on the LoDoPaB geometry. Run with `cargo bench -p fedrecon-benches`; filter with e.g.
//! `cargo bench -p fedrecon-benches -- joseph/forward/512`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fedrecon_benches::cases;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::ct::JosephProjector;
use fedrecon_physics::phantom::Phantom;
use std::hint::black_box;
use std::time::Duration;

fn joseph(c: &mut Criterion) {
    let mut g = c.benchmark_group("joseph");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    for case in cases().expect("benchmark geometries are valid") {
        let op = JosephProjector::new(case.geom.clone());
        let img = Phantom::modified_shepp_logan()
            .fit_to(&case.geom.image)
            .rasterize(&case.geom.image, 1);
        let sino = op.forward_vec(&img).expect("shapes match");
        let mut y = vec![0.0f32; op.range_len()];
        g.bench_function(BenchmarkId::new("forward", case.name), |b| {
            b.iter(|| {
                op.forward(black_box(&img), black_box(&mut y))
                    .expect("shapes match")
            })
        });
        let mut x = vec![0.0f32; op.domain_len()];
        g.bench_function(BenchmarkId::new("adjoint", case.name), |b| {
            b.iter(|| {
                op.adjoint(black_box(&sino), black_box(&mut x))
                    .expect("shapes match")
            })
        });
    }
    g.finish();
}

fn joseph_setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("joseph");
    g.sample_size(10);
    for case in cases().expect("benchmark geometries are valid") {
        g.bench_function(BenchmarkId::new("new", case.name), |b| {
            b.iter(|| JosephProjector::new(black_box(case.geom.clone())))
        });
    }
    g.finish();
}

criterion_group!(benches, joseph, joseph_setup);
criterion_main!(benches);
