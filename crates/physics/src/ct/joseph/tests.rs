use super::*;
use crate::geometry::{Detector, DetectorShape, FanBeam, ImageGrid, ParallelBeam};
use crate::isa::Isa;
use crate::linop::testing::assert_adjoint;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_geometries(count: usize) -> Vec<CtGeometry> {
    random_geometries_sized(count, 5..40, 42)
}

fn random_geometries_sized(
    count: usize,
    sizes: std::ops::Range<usize>,
    seed: u64,
) -> Vec<CtGeometry> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for k in 0..count {
        let ny = rng.random_range(sizes.clone());
        let nx = if k % 3 == 0 {
            ny
        } else {
            rng.random_range(sizes.clone())
        };
        let h = [1.0, 0.5, 1.7][k % 3];
        let img = ImageGrid::new(ny, nx, h).unwrap();
        let n_ang = rng.random_range(1..9);
        let angles: Vec<f64> = (0..n_ang).map(|_| rng.random_range(-7.0..7.0)).collect();
        let nd = rng.random_range(3..60);
        let off = rng.random_range(-5.0..5.0) * h;
        let sp = rng.random_range(0.3..2.0) * h;
        let det = Detector::new(nd, sp, off).unwrap();
        if k % 2 == 0 {
            out.push(ParallelBeam::new(img, angles, det).unwrap().into());
        } else {
            let sod = img.radius() * rng.random_range(1.1..4.0);
            let sdd = sod * rng.random_range(1.05..3.0);
            let shape = if k % 4 == 1 {
                DetectorShape::Flat
            } else {
                DetectorShape::Curved
            };
            out.push(
                FanBeam::new(img, angles, det, sod, sdd, shape)
                    .unwrap()
                    .into(),
            );
        }
    }
    out
}

#[test]
fn matched_adjoint_on_random_geometries() {
    for g in random_geometries(40) {
        assert_adjoint(&JosephProjector::new(g), 1e-5);
    }
}

/// Geometries whose images span several blocks of the layouts (sizes not multiples of 64).
fn multi_block_geometries() -> Vec<CtGeometry> {
    let mut g = random_geometries_sized(6, 60..150, 7);
    g.push(ParallelBeam::standard(130, 37, 190).unwrap().into());
    g
}

#[test]
fn forward_matches_reference_sum() {
    let mut geoms = random_geometries(24);
    geoms.extend(multi_block_geometries());
    geoms.extend(regular_geometries());
    for (n, g) in geoms.into_iter().enumerate() {
        let p = JosephProjector::new(g.clone());
        let img: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), n as u64);
        let fast = p.forward_vec(&img).unwrap();
        let slow = reference_sinogram(&g, &img).unwrap();
        let diff: f64 = fast
            .iter()
            .zip(&slow)
            .map(|(a, b)| (*a as f64 - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = slow.iter().map(|b| b * b).sum::<f64>().sqrt();
        assert!(
            norm > 0.0 && diff <= 1e-5 * norm,
            "geometry {n}: relative L2 {:.3e}",
            diff / norm
        );
    }
}

#[test]
fn reference_rejects_wrong_image_length() {
    let g: CtGeometry = ParallelBeam::standard(8, 2, 9).unwrap().into();
    let e = reference_sinogram(&g, &[0.0; 63]).unwrap_err();
    assert!(e.to_string().contains("image"), "{e}");
}

#[test]
fn matched_adjoint_across_blocks() {
    for g in multi_block_geometries() {
        assert_adjoint(&JosephProjector::new(g), 1e-5);
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut geoms = multi_block_geometries();
    geoms.extend(regular_geometries().into_iter().take(3));
    for g in geoms {
        let p = JosephProjector::new(g);
        let x: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), 3);
        let y: Vec<f32> = crate::linop::testing::random_vec(p.range_len(), 4);
        let run = |threads: usize| {
            crate::linop::testing::on_threads(threads, || {
                (p.forward_vec(&x).unwrap(), p.adjoint_vec(&y).unwrap())
            })
        };
        let (f1, a1) = run(1);
        let (f3, a3) = run(3);
        assert!(
            f1.iter().zip(&f3).all(|(a, b)| a.to_bits() == b.to_bits()),
            "forward differs"
        );
        assert!(
            a1.iter().zip(&a3).all(|(a, b)| a.to_bits() == b.to_bits()),
            "adjoint differs"
        );
    }
}

fn bitwise_equal(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
}

#[test]
fn instruction_set_variants_agree_bitwise() {
    let isas = Isa::available();
    if isas.len() == 1 {
        println!("only the baseline instruction set on this CPU; nothing to compare");
        return;
    }
    let mut geoms = multi_block_geometries();
    geoms.extend(regular_geometries());
    for (n, g) in geoms.into_iter().enumerate() {
        let p = JosephProjector::new(g);
        let x: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), 5);
        let y: Vec<f32> = crate::linop::testing::random_vec(p.range_len(), 6);
        let fwd = |isa| {
            let mut f = vec![0.0; p.range_len()];
            p.forward_with(isa, &x, &mut f);
            f
        };
        let adj = |isa, gather| {
            let mut a = vec![0.0; p.domain_len()];
            p.adjoint_with(isa, gather, &y, &mut a);
            a
        };
        let (f0, scatter0, gather0) = (
            fwd(Isa::Baseline),
            adj(Isa::Baseline, false),
            adj(Isa::Baseline, true),
        );
        for &isa in &isas[1..] {
            assert!(
                bitwise_equal(&f0, &fwd(isa)),
                "geometry {n}: {isa:?} forward differs"
            );
            assert!(
                bitwise_equal(&scatter0, &adj(isa, false)),
                "geometry {n}: {isa:?} scatter differs"
            );
            assert!(
                bitwise_equal(&gather0, &adj(isa, true)),
                "geometry {n}: {isa:?} gather differs"
            );
        }
    }
}

/// Parallel-beam geometries whose angles are evenly spaced lines (the gather's domain), with
/// detector spacings from just above the gather's limit (0.6 pixels per step) to coarse, cells
/// in both directions, offsets, and images several windows wide.
fn regular_geometries() -> Vec<CtGeometry> {
    let mut rng = StdRng::seed_from_u64(11);
    let mut out: Vec<CtGeometry> = vec![ParallelBeam::standard(97, 45, 140).unwrap().into()];
    for k in 0..8 {
        let ny = rng.random_range(20..90);
        let nx = if k % 2 == 0 {
            ny
        } else {
            rng.random_range(20..90)
        };
        let h = [1.0, 0.7][k % 2];
        let img = ImageGrid::new(ny, nx, h).unwrap();
        let angles: Vec<f64> = (0..rng.random_range(3..12))
            .map(|_| rng.random_range(-4.0..4.0))
            .collect();
        let sp = [0.61, 0.75, 1.0, 1.4, 2.3, 0.9, 1.2, 0.65][k] * h;
        let nd = rng.random_range(20..200);
        let off = rng.random_range(-8.0..8.0) * h;
        out.push(
            ParallelBeam::new(img, angles, Detector::new(nd, sp, off).unwrap())
                .unwrap()
                .into(),
        );
    }
    out
}

#[test]
fn gather_covers_the_evenly_spaced_parallel_angles() {
    let mut gathered = 0;
    for (n, g) in regular_geometries().into_iter().enumerate() {
        let p = JosephProjector::new(g.clone());
        gathered += p.regular.angles.len();
        // adjoint test for each method, whatever this CPU runs by default
        let x: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), 7);
        let y: Vec<f32> = crate::linop::testing::random_vec(p.range_len(), 8);
        let px = p.forward_vec(&x).unwrap();
        let lhs: f64 = px.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        let mut back = [vec![0.0; p.domain_len()], vec![0.0; p.domain_len()]];
        for (gather, out) in [false, true].into_iter().zip(&mut back) {
            p.adjoint_with(Isa::Baseline, gather, &y, out);
            let rhs: f64 = x
                .iter()
                .zip(out.iter())
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-5 * lhs.abs().max(rhs.abs()),
                "geometry {n}, gather {gather}: <Px, y> = {lhs}, <x, P^T y> = {rhs}"
            );
        }
        // the two methods agree pixel by pixel up to rounding (a missed candidate ray would not)
        let scale = back[0].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (s, t)) in back[0].iter().zip(&back[1]).enumerate() {
            assert!(
                (s - t).abs() <= 1e-5 * scale,
                "geometry {n}, pixel {i}: scatter {s} vs gather {t}"
            );
        }
    }
    assert!(gathered > 0, "no test geometry exercised the gather");
}

#[test]
fn axis_aligned_rays_and_exact_angles() {
    // θ = 0 is the vertical ray x = s: the column sum through pixel centres.
    let g = ParallelBeam::new(
        ImageGrid::square(4).unwrap(),
        vec![0.0, std::f64::consts::FRAC_PI_2],
        Detector::new(4, 1.0, 0.0).unwrap(),
    )
    .unwrap();
    let p = JosephProjector::new(g);
    let img: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let s = p.forward_vec(&img).unwrap();
    for j in 0..4 {
        let col: f32 = (0..4).map(|i| img[i * 4 + j]).sum();
        assert!((s[j] - col).abs() < 1e-4, "column {j}: {} vs {col}", s[j]);
    }
    // θ = π/2 is the horizontal ray y = s; s increases with the detector index, row 0 is the top
    for d in 0..4 {
        let row = 3 - d;
        let sum: f32 = (0..4).map(|j| img[row * 4 + j]).sum();
        assert!(
            (s[4 + d] - sum).abs() < 1e-4,
            "row {row}: {} vs {sum}",
            s[4 + d]
        );
    }
}

#[test]
fn constant_image_gives_chord_lengths() {
    // for a disc-like check: a uniform image's central ray at any angle has length ≈ the
    // image's extent along that ray
    let n = 64;
    let g = ParallelBeam::standard(n, 8, 1).unwrap();
    let p = JosephProjector::new(g.clone());
    let s = p.forward_vec(&vec![1.0; n * n]).unwrap();
    for (a, &th) in g.angles.iter().enumerate() {
        let expected = n as f64 / th.cos().abs().max(th.sin().abs());
        assert!(
            (s[a] as f64 - expected).abs() / expected < 0.02,
            "angle {th}: {} vs {expected}",
            s[a]
        );
    }
}
