//! Tests on real measured k-space from `shared/data/mri` (see its README). They skip through
//! [`crate::test_env::shared_data`] when the folder is absent.

use crate::linop::LinearOperator;
use crate::linop::testing::assert_adjoint;
use crate::mri::dcf::pipe_menon_dcf;
use crate::mri::fft::Fft2Plan;
use crate::mri::nufft::{NufftOptions, NufftPlan, nudft2_type1, nudft2_type2};
use crate::mri::sense::{SamplingMask, rss_from_kspace};
use crate::scalar::norm;
use num_complex::{Complex32, Complex64};

/// Minimal `.npy` reader for little-endian `complex64` arrays, returned in C order (test-only).
fn read_npy_c64(name: &str) -> Option<(Vec<usize>, Vec<Complex32>)> {
    let path = crate::test_env::shared_data(&format!("mri/{name}"))?;
    let bytes = std::fs::read(&path).expect("readable real data file");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{name}: not a .npy file");
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains("'descr': '<c8'"), "{name}: {header}");
    let fortran = header.contains("'fortran_order': True");
    let shape_str = &header[header.find("'shape': (").unwrap() + 10..];
    let shape: Vec<usize> = shape_str[..shape_str.find(')').unwrap()]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data: Vec<Complex32> = bytes[start + hlen..]
        .chunks_exact(8)
        .map(|b| {
            Complex32::new(
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            )
        })
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>(), "{name}");
    if !fortran {
        return Some((shape, data));
    }
    // column-major → row-major: C index (i_0, …, i_k) sits at Σ i_d · Π_{e<d} shape_e
    let mut c_order = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..data.len() {
        let mut f = 0;
        let mut stride = 1;
        for (d, &i) in idx.iter().enumerate() {
            f += i * stride;
            stride *= shape[d];
        }
        c_order.push(data[f]);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some((shape, c_order))
}

#[test]
fn cartesian_brain_rss_image_is_centred() {
    let Some((shape, ksp)) = read_npy_c64("brain_8coil_cartesian_ksp.npy") else {
        return;
    };
    let (coils, ny, nx) = (shape[0], shape[1], shape[2]);
    // the sampling pattern is where the data is non-zero (the same for every coil)
    let pattern: Vec<bool> = ksp[..ny * nx].iter().map(|v| v.norm_sqr() > 0.0).collect();
    let mask = SamplingMask::full(ny, nx, pattern).unwrap();
    let frac = mask.sampled_fraction(ny, nx).unwrap();
    assert!((0.05..0.3).contains(&frac), "sampled fraction {frac}");
    let rss = rss_from_kspace(&ksp, coils, ny, nx).unwrap();
    // Parseval: ifft2c is unitary
    let e_k: f64 = ksp.iter().map(|v| v.norm_sqr() as f64).sum();
    let e_i: f64 = rss.iter().map(|v| (*v as f64).powi(2)).sum();
    assert!((e_k - e_i).abs() < 1e-4 * e_k);
    // with correct centring the head sits in the middle of the field of view: the central half box
    // holds far more energy than with the quadrants swapped (a missing fftshift)
    let centre = |img: &dyn Fn(usize, usize) -> f64| {
        let mut c = 0.0;
        for i in ny / 4..3 * ny / 4 {
            for j in nx / 4..3 * nx / 4 {
                c += img(i, j).powi(2);
            }
        }
        c / e_i
    };
    let ours = centre(&|i, j| rss[i * nx + j] as f64);
    let swapped = centre(&|i, j| rss[((i + ny / 2) % ny) * nx + (j + nx / 2) % nx] as f64);
    assert!(
        ours > 0.3 && ours > 3.0 * swapped,
        "central energy {ours:.3} vs swapped {swapped:.3}"
    );
    // and the round trip through fft2c restores the coil k-space
    let plan = Fft2Plan::new(ny, nx).unwrap();
    let mut t = ksp[..ny * nx].to_vec();
    plan.ifft2c(&mut t).unwrap();
    plan.fft2c(&mut t).unwrap();
    let d: Vec<Complex32> = t.iter().zip(&ksp[..ny * nx]).map(|(a, b)| a - b).collect();
    assert!(norm(&d) < 1e-5 * norm(&ksp[..ny * nx]));
}

#[test]
fn radial_cardiac_nufft_matches_nudft_on_the_real_trajectory() {
    let Some((tshape, traj_c)) = read_npy_c64("cardiac_radial_12coil_traj.npy") else {
        return;
    };
    let Some((kshape, ksp)) = read_npy_c64("cardiac_radial_12coil_ksp.npy") else {
        return;
    };
    let (n_read, n_spokes) = (tshape[0], tshape[1]);
    assert_eq!(&kshape[..2], &tshape[..]);
    let coils = kshape[2];
    // (readout, spoke) → points in the same C order as the k-space samples; kx + i·ky
    let traj: Vec<f32> = traj_c.iter().flat_map(|k| [k.re, k.im]).collect();
    assert!(
        traj.iter().any(|&v| v == 0.5 || v == -0.5),
        "the real trajectory reaches the band edge"
    );
    let m = n_read * n_spokes;
    let coil0: Vec<Complex32> = (0..m).map(|p| ksp[p * coils]).collect();
    let (ny, nx) = (64, 64);
    for eps in [1e-3, 1e-6] {
        let plan = NufftPlan::new(
            ny,
            nx,
            &traj,
            NufftOptions {
                eps,
                ..Default::default()
            },
        )
        .unwrap();
        assert_adjoint(&plan, 1e-5);
        let img = plan.adjoint_vec(&coil0).unwrap();
        let reference = nudft2_type1(&coil0, ny, nx, &traj).unwrap();
        let d: Vec<Complex64> = img
            .iter()
            .zip(&reference)
            .map(|(a, b)| Complex64::new(a.re as f64, a.im as f64) - b)
            .collect();
        let e1 = norm(&d) / norm(&reference);
        let y = plan.forward_vec(&img).unwrap();
        let reference2 = nudft2_type2(&img, ny, nx, &traj).unwrap();
        let d: Vec<Complex64> = y
            .iter()
            .zip(&reference2)
            .map(|(a, b)| Complex64::new(a.re as f64, a.im as f64) - b)
            .collect();
        let e2 = norm(&d) / norm(&reference2);
        assert!(
            e1 <= eps && e2 <= eps,
            "ε={eps:e}: type 1 {e1:.2e}, type 2 {e2:.2e}"
        );
    }
    // Pipe–Menon weights on a radial trajectory grow with |k| (ramp-like)
    let plan = NufftPlan::new(
        n_read / 2,
        n_read / 2,
        &traj,
        NufftOptions {
            eps: 1e-4,
            ..Default::default()
        },
    )
    .unwrap();
    let w = pipe_menon_dcf(&plan, 15).unwrap();
    let mean_at = |lo: f64, hi: f64| {
        let v: Vec<f64> = (0..m)
            .filter(|&p| {
                let r = (traj[2 * p] as f64).hypot(traj[2 * p + 1] as f64);
                (lo..hi).contains(&r)
            })
            .map(|p| w[p] as f64)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    // 25 spokes overlap under the kernel only near the centre: there the weights ramp up with |k|,
    // further out the spokes are isolated lines and the weights level off
    let (r1, r2) = (mean_at(0.005, 0.01), mean_at(0.035, 0.04));
    assert!(
        r2 > 4.0 * r1,
        "no ramp: DCF {r1:.3e} at |k|≈0.0075, {r2:.3e} at 0.0375"
    );
    let (p1, p2) = (mean_at(0.15, 0.2), mean_at(0.3, 0.35));
    assert!(
        (p2 / p1 - 1.0).abs() < 0.05,
        "no plateau: DCF {p1:.3e} at |k|≈0.175, {p2:.3e} at 0.325"
    );
}
