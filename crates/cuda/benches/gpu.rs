//! Criterion bench of the CUDA operators on GPU 0, with and without host↔device transfers.
//!
//! Run with `cargo bench -p fedrecon-cuda --features cuda --bench gpu`. Without the `cuda`
//! feature, or without a device, it prints "skipped: no CUDA device (…)" and exits 0.
//!
//! Throughput is reported by criterion as elements per second:
//! - projector (`joseph/*`, `fbp/*`): elements = n_angles · ny · nx voxel updates, so
//!   "Gelem/s" is GUPS (giga updates per second, the usual CT projector figure);
//! - NUFFT (`nufft/*`): elements = points × coils, so "Melem/s" is millions of points per second.
//!
//! `*/device` keeps inputs and outputs on the device (the cost inside an iterative solver);
//! `*/host` includes the copies of the input to and the output from the device.
//! No result of this bench is quoted anywhere in the project: it has never run on a GPU here.

fn main() {
    match fedrecon_cuda::CudaDevice::new(0) {
        Ok(dev) => run(dev),
        Err(e) => println!("skipped: no CUDA device ({e})"),
    }
}

#[cfg(not(feature = "cuda"))]
fn run(dev: fedrecon_cuda::CudaDevice) {
    // without the feature no device value can exist
    let _ = dev;
}

#[cfg(feature = "cuda")]
fn run(dev: fedrecon_cuda::CudaDevice) {
    let mut c = criterion::Criterion::default().configure_from_args();
    gpu::joseph(&mut c, &dev);
    gpu::fbp(&mut c, &dev);
    gpu::nufft(&mut c, &dev);
    c.final_summary();
}

#[cfg(feature = "cuda")]
mod gpu {
    use criterion::{BenchmarkId, Criterion, Throughput};
    use fedrecon_cuda::{CudaDevice, FbpCuda, JosephProjectorCuda, NufftPlanCuda};
    use fedrecon_physics::ct::fbp::FbpOptions;
    use fedrecon_physics::linop::testing::random_vec;
    use fedrecon_physics::mri::{NufftOptions, NufftPlan};
    use fedrecon_physics::{CtGeometry, LinearOperator, ParallelBeam};
    use num_complex::Complex32;
    use std::hint::black_box;
    use std::time::Duration;

    fn sync(dev: &CudaDevice) {
        dev.stream().synchronize().expect("device synchronises");
    }

    fn upload(dev: &CudaDevice, v: &[f32]) -> cudarc::driver::CudaSlice<f32> {
        dev.stream().clone_htod(v).expect("device copy")
    }

    fn zeros(dev: &CudaDevice, n: usize) -> cudarc::driver::CudaSlice<f32> {
        dev.stream()
            .alloc_zeros::<f32>(n)
            .expect("device allocation")
    }

    /// 512² image, 720 angles over π, 729 cells (the CPU benches' main geometry).
    pub fn joseph(c: &mut Criterion, dev: &CudaDevice) {
        let geom: CtGeometry = ParallelBeam::standard(512, 720, 729).unwrap().into();
        let op = JosephProjectorCuda::new(dev, geom.clone()).unwrap();
        let x: Vec<f32> = random_vec(512 * 512, 1);
        let y: Vec<f32> = random_vec(720 * 729, 2);
        let mut g = c.benchmark_group("joseph");
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.throughput(Throughput::Elements(720 * 512 * 512));
        let (dx, dy) = (upload(dev, &x), upload(dev, &y));
        let (mut ox, mut oy) = (zeros(dev, x.len()), zeros(dev, y.len()));
        g.bench_function(BenchmarkId::new("forward", "device"), |b| {
            b.iter(|| {
                op.forward_device(&dx, &mut oy).unwrap();
                sync(dev);
            })
        });
        g.bench_function(BenchmarkId::new("adjoint", "device"), |b| {
            b.iter(|| {
                op.adjoint_device(&dy, &mut ox).unwrap();
                sync(dev);
            })
        });
        g.bench_function(BenchmarkId::new("forward", "host"), |b| {
            b.iter(|| op.forward_vec(black_box(&x)).unwrap())
        });
        g.bench_function(BenchmarkId::new("adjoint", "host"), |b| {
            b.iter(|| op.adjoint_vec(black_box(&y)).unwrap())
        });
        g.finish();
    }

    pub fn fbp(c: &mut Criterion, dev: &CudaDevice) {
        let geom: CtGeometry = ParallelBeam::standard(512, 720, 729).unwrap().into();
        let plan = FbpCuda::new(dev, geom, &FbpOptions::default()).unwrap();
        let y: Vec<f32> = random_vec(720 * 729, 3);
        let dy = upload(dev, &y);
        let mut out = zeros(dev, 512 * 512);
        let mut g = c.benchmark_group("fbp");
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.throughput(Throughput::Elements(720 * 512 * 512));
        g.bench_function(BenchmarkId::new("ram-lak", "device"), |b| {
            b.iter(|| {
                plan.reconstruct_device(&dy, &mut out).unwrap();
                sync(dev);
            })
        });
        g.bench_function(BenchmarkId::new("ram-lak", "host"), |b| {
            b.iter(|| plan.reconstruct(black_box(&y)).unwrap())
        });
        g.finish();
    }

    /// 256² image, 8 coils, 402 radial spokes × 512 samples, ε = 1e-6.
    pub fn nufft(c: &mut Criterion, dev: &CudaDevice) {
        let (n, coils, spokes, reads) = (256usize, 8usize, 402usize, 512usize);
        let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        let traj: Vec<f32> = (0..spokes)
            .flat_map(|s| {
                let a = s as f64 * golden;
                (0..reads).flat_map(move |r| {
                    let k = (r as f64 / reads as f64 - 0.5) * 0.999;
                    [(k * a.cos()) as f32, (k * a.sin()) as f32]
                })
            })
            .collect();
        let m = spokes * reads;
        let plan = NufftPlan::new(n, n, &traj, NufftOptions::default()).unwrap();
        let op = NufftPlanCuda::new(dev, &plan).unwrap();
        let f: Vec<Complex32> = random_vec(coils * n * n, 4);
        let y: Vec<Complex32> = random_vec(coils * m, 5);
        let inter = |z: &[Complex32]| -> Vec<f32> { z.iter().flat_map(|c| [c.re, c.im]).collect() };
        let (df, dy) = (upload(dev, &inter(&f)), upload(dev, &inter(&y)));
        let (mut of, mut oy) = (zeros(dev, 2 * coils * n * n), zeros(dev, 2 * coils * m));
        let mut g = c.benchmark_group("nufft");
        g.sample_size(10).measurement_time(Duration::from_secs(5));
        g.throughput(Throughput::Elements((m * coils) as u64));
        g.bench_function(BenchmarkId::new("type2", "device"), |b| {
            b.iter(|| {
                op.type2_device(&df, &mut oy).unwrap();
                sync(dev);
            })
        });
        g.bench_function(BenchmarkId::new("type1", "device"), |b| {
            b.iter(|| {
                op.type1_device(&dy, &mut of).unwrap();
                sync(dev);
            })
        });
        let (mut hy, mut hf) = (
            vec![Complex32::default(); coils * m],
            vec![Complex32::default(); coils * n * n],
        );
        g.bench_function(BenchmarkId::new("type2", "host"), |b| {
            b.iter(|| op.forward_batch(black_box(&f), &mut hy).unwrap())
        });
        g.bench_function(BenchmarkId::new("type1", "host"), |b| {
            b.iter(|| op.adjoint_batch(black_box(&y), &mut hf).unwrap())
        });
        g.finish();
    }
}
