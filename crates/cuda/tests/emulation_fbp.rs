//! The FBP kernels (`kernels/fbp.cu`) executed as host C++ against the CPU `Fbp`.
//!
//! Tolerances:
//! - pixel-driven back-projection (`fbp_backproject_pixel_driven`) of the CPU's filtered sinogram
//!   vs `PixelDrivenBackprojector::forward`: **bit-exact**. The kernel performs the CPU's float
//!   operations in the same order (same double set-up, same atan polynomial, views summed in
//!   order), so any difference is a porting error;
//! - filtering (`fbp_filter_rows`, a direct float convolution with taps from the CPU's frequency
//!   response) vs `Fbp::filter_sinogram` (f64 FFT), per sample: |ΔQ_j| ≤ 4·n_det·u·Σ_d
//!   |g(j − d)·pre_d·p_d| (u = 2⁻²⁴: Higham's bound for a float sum of n_det products, with
//!   margin for the taps' and pre-weights' own rounding);
//! - whole FBP (filter then back-project) vs `Fbp::reconstruct`: relative L2 ≤ 1e-5.

mod common;

use common::{EMU, Emu};
use fedrecon_cuda::FbpTables;
use fedrecon_cuda::pipeline::FbpPipeline;
use fedrecon_physics::ct::fbp::{Fbp, FbpFilter, FbpOptions};
use fedrecon_physics::geometry::equispaced_angles;
use fedrecon_physics::metrics::nmse;
use fedrecon_physics::phantom::Phantom;
use fedrecon_physics::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, LinearOperator, ParallelBeam,
};
use std::f64::consts::PI;

fn geometries() -> Vec<(&'static str, CtGeometry)> {
    let im = ImageGrid::new(20, 24, 0.9).unwrap();
    let det = Detector::new(37, 0.8, 0.3).unwrap();
    let fan = |angles: Vec<f64>, shape| -> CtGeometry {
        FanBeam::new(
            im,
            angles,
            Detector::new(41, 1.1, -0.2).unwrap(),
            40.0,
            70.0,
            shape,
        )
        .unwrap()
        .into()
    };
    // irregular parallel angles
    let mut irregular = equispaced_angles(30, PI);
    irregular[7] += 0.02;
    irregular[19] -= 0.03;
    vec![
        (
            "parallel",
            ParallelBeam::new(im, equispaced_angles(32, PI), det)
                .unwrap()
                .into(),
        ),
        (
            "parallel irregular",
            ParallelBeam::new(im, irregular, det).unwrap().into(),
        ),
        (
            "fan flat",
            fan(equispaced_angles(48, 2.0 * PI), DetectorShape::Flat),
        ),
        (
            "fan curved",
            fan(equispaced_angles(48, 2.0 * PI), DetectorShape::Curved),
        ),
        (
            "fan flat short scan",
            fan(
                (0..40).map(|k| k as f64 * (PI + 0.9) / 39.0).collect(),
                DetectorShape::Flat,
            ),
        ),
        (
            "fan curved short scan",
            fan(
                (0..40)
                    .map(|k| 0.3 + k as f64 * (PI + 0.9) / 39.0)
                    .collect(),
                DetectorShape::Curved,
            ),
        ),
    ]
}

fn sinogram(geom: &CtGeometry) -> Vec<f32> {
    Phantom::modified_shepp_logan()
        .fit_to(geom.image())
        .sinogram(geom)
}

fn emu_filter(p: &FbpPipeline<Emu>, sino: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; sino.len()];
    p.filter(&EMU, &sino.to_vec(), &mut out).unwrap();
    out
}

fn emu_backproject(p: &FbpPipeline<Emu>, q: &[f32]) -> Vec<f32> {
    let mut img = vec![0.0f32; q.len() / p.tables().n_rays() * p.tables().n_pixels()];
    p.backproject(&EMU, &q.to_vec(), &mut img).unwrap();
    img
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    nmse(a, b).unwrap().sqrt()
}

fn filters() -> Vec<FbpOptions> {
    vec![
        FbpOptions::default(),
        FbpOptions {
            filter: FbpFilter::Hann,
            frequency_scaling: 0.8,
            padded_len: Some(90),
        },
    ]
}

#[test]
fn filtering_matches_the_cpu_fft_filter() {
    let u = f32::EPSILON as f64 / 2.0;
    for (name, geom) in geometries() {
        for opts in filters() {
            let cpu = Fbp::new(geom.clone(), &opts).unwrap();
            let p = FbpPipeline::new(&EMU, &geom, &opts).unwrap();
            let t = p.tables();
            assert_eq!(t.padded_len, cpu.padded_len());
            let sino = sinogram(&geom);
            let want = cpu.filter_sinogram(&sino).unwrap();
            let got = emu_filter(&p, &sino);
            let nd = t.dims[3] as usize;
            let mut worst = 0.0f64;
            for (a, (row_g, row_w)) in got.chunks(nd).zip(want.chunks(nd)).enumerate() {
                for j in 0..nd {
                    let bound: f64 = (0..nd)
                        .map(|d| {
                            (t.taps[j + nd - 1 - d] as f64
                                * t.preweight[a * nd + d] as f64
                                * sino[a * nd + d] as f64)
                                .abs()
                        })
                        .sum::<f64>()
                        * 4.0
                        * nd as f64
                        * u
                        + 1e-30;
                    let d = (row_g[j] as f64 - row_w[j] as f64).abs();
                    assert!(
                        d <= bound,
                        "{name}, {opts:?}: Q[{a}, {j}] = {} vs CPU {} (bound {bound:.2e})",
                        row_g[j],
                        row_w[j]
                    );
                    worst = worst.max(d / bound);
                }
            }
            eprintln!(
                "{name}, {:?}: filter rel L2 {:.2e}, worst / bound {worst:.3}",
                opts.filter,
                rel_l2(&got, &want)
            );
        }
    }
}

#[test]
fn pixel_driven_backprojection_is_bit_exact() {
    for (name, geom) in geometries() {
        let opts = FbpOptions::default();
        let cpu = Fbp::new(geom.clone(), &opts).unwrap();
        let p = FbpPipeline::new(&EMU, &geom, &opts).unwrap();
        let q = cpu.filter_sinogram(&sinogram(&geom)).unwrap();
        let want = cpu.backprojector().forward_vec(&q).unwrap();
        let got = emu_backproject(&p, &q);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{name}: pixel {k}: {g} vs CPU {w}"
            );
        }
        assert!(want.iter().any(|v| v.abs() > 0.05), "{name}: empty image");
    }
}

#[test]
fn whole_fbp_matches_the_cpu_and_batches() {
    for (name, geom) in geometries() {
        let opts = FbpOptions::with_filter(FbpFilter::SheppLogan);
        let cpu = Fbp::new(geom.clone(), &opts).unwrap();
        // the device path's launch sequence, on the emulated kernels
        let pipe = FbpPipeline::new(&EMU, &geom, &opts).unwrap();
        let sino = sinogram(&geom);
        let want = cpu.reconstruct(&sino).unwrap();
        // a batch of two: the sinogram and its double
        let two: Vec<f32> = sino
            .iter()
            .copied()
            .chain(sino.iter().map(|v| 2.0 * v))
            .collect();
        let n = pipe.tables().n_pixels();
        let mut got = vec![0.0f32; 2 * n];
        assert_eq!(pipe.reconstruct(&EMU, &two, &mut got).unwrap(), 2);
        let e = rel_l2(&got[..n], &want);
        eprintln!("{name}: FBP rel L2 vs CPU {e:.2e}");
        assert!(e <= 1e-5, "{name}: FBP vs CPU {e:.2e}");
        for (a, b) in got[n..].iter().zip(&got[..n]) {
            assert_eq!(*a, 2.0 * b, "{name}: batch item 2 is not twice item 1");
        }
    }
}

#[test]
fn tables_report_the_cpu_errors() {
    let im = ImageGrid::square(16).unwrap();
    // 120° of fan data: too short for a short scan
    let g: CtGeometry = FanBeam::new(
        im,
        (0..20).map(|k| k as f64 * 2.1 / 19.0).collect(),
        Detector::new(21, 1.0, 0.0).unwrap(),
        30.0,
        60.0,
        DetectorShape::Flat,
    )
    .unwrap()
    .into();
    let e = FbpTables::new(&g, &FbpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("angles"), "{e}");
    let p: CtGeometry = ParallelBeam::new(
        im,
        equispaced_angles(8, PI),
        Detector::new(21, 1.0, 0.0).unwrap(),
    )
    .unwrap()
    .into();
    let bad = FbpOptions {
        frequency_scaling: 0.0,
        ..FbpOptions::default()
    };
    let e = FbpTables::new(&p, &bad).unwrap_err();
    assert!(e.to_string().contains("frequency_scaling"), "{e}");
}
