//! Criterion bench of FBP (Ram-Lak, default padding; filtering + pixel-driven back-projection)
//! on the shared benchmark geometries: 512² / 720 angles / 729 cells and LoDoPaB.
//! Run with `cargo bench -p fedrecon-benches --bench ct_fbp`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fedrecon_benches::cases;
use fedrecon_physics::CtGeometry;
use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
use fedrecon_physics::phantom::Phantom;
use std::hint::black_box;
use std::time::Duration;

fn fbp(c: &mut Criterion) {
    let mut g = c.benchmark_group("fbp");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    for case in cases().expect("benchmark geometries are valid") {
        let geom: CtGeometry = case.geom.clone().into();
        let sino = Phantom::modified_shepp_logan()
            .fit_to(&case.geom.image)
            .sinogram(&geom);
        let plan = Fbp::new(geom, &FbpOptions::default()).expect("valid FBP options");
        g.bench_function(BenchmarkId::new("ram-lak", case.name), |b| {
            b.iter(|| plan.reconstruct(black_box(&sino)).expect("shapes match"))
        });
    }
    g.finish();
}

criterion_group!(benches, fbp);
criterion_main!(benches);
