//! Readers against the real files in `shared/data` (see its README for shapes and sources).
//! Each test skips with a message when the file is absent (fails with `FEDRECON_REQUIRE_DATA=1`).

use fedrecon_io::npy::{NpyDtype, read_npy_header};
use fedrecon_io::{flat_dark_correct, read_dxchange, read_npy, read_npy_as_c32, read_npy_as_f32};
use num_complex::Complex32;
use std::path::PathBuf;

fn data(rel: &str) -> Option<PathBuf> {
    fedrecon_physics::test_env::shared_data(rel)
}

/// The element at logical multi-index `idx` of a Fortran-order file, decoded straight from the
/// file bytes (the obviously-correct reference for the reader's transpose).
fn fortran_offset(offset: usize, shape: &[usize], idx: &[usize], size: usize) -> usize {
    let mut flat = 0;
    let mut stride = 1;
    for (i, d) in idx.iter().zip(shape) {
        flat += i * stride;
        stride *= d;
    }
    offset + flat * size
}

fn c_flat(shape: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |a, (i, d)| a * d + i)
}

fn c32_at(bytes: &[u8], at: usize) -> Complex32 {
    let re = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let im = f32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
    Complex32::new(re, im)
}

#[test]
fn brain_kspace_npy_has_the_documented_shape() {
    let Some(p) = data("mri/brain_8coil_cartesian_ksp.npy") else {
        return;
    };
    let h = read_npy_header(&p).unwrap();
    assert_eq!(h.dtype, NpyDtype::C64);
    let a = read_npy::<Complex32>(&p).unwrap();
    assert_eq!(a.shape, vec![8, 230, 180]);
    assert!(a.data.iter().all(|z| z.re.is_finite() && z.im.is_finite()));
    // Undersampled: many exact zeros, but a fully sampled centre.
    let zeros = a.data.iter().filter(|z| z.norm_sqr() == 0.0).count();
    assert!(zeros > a.len() / 2, "{zeros} zeros of {}", a.len());
    assert!(a.data[c_flat(&a.shape, &[0, 115, 90])].norm() > 0.0);
    // C-order file: element (c, y, x) sits at data_offset + 8·flat.
    let bytes = std::fs::read(&p).unwrap();
    for idx in [[0, 0, 0], [3, 115, 90], [7, 229, 179], [5, 100, 17]] {
        let at = h.data_offset + 8 * c_flat(&a.shape, &idx);
        assert_eq!(a.data[c_flat(&a.shape, &idx)], c32_at(&bytes, at));
    }
}

#[test]
fn cardiac_radial_fortran_order_npy_is_transposed_correctly() {
    let Some(p) = data("mri/cardiac_radial_12coil_ksp.npy") else {
        return;
    };
    let Some(t) = data("mri/cardiac_radial_12coil_traj.npy") else {
        return;
    };
    let h = read_npy_header(&p).unwrap();
    assert!(
        h.fortran_order,
        "the shared file is stored in Fortran order"
    );
    let a = read_npy_as_c32(&p).unwrap();
    assert_eq!(a.shape, vec![256, 25, 12]);
    let bytes = std::fs::read(&p).unwrap();
    for idx in [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [255, 24, 11],
        [128, 7, 5],
        [3, 20, 9],
    ] {
        let at = fortran_offset(h.data_offset, &a.shape, &idx, 8);
        assert_eq!(
            a.data[c_flat(&a.shape, &idx)],
            c32_at(&bytes, at),
            "{idx:?}"
        );
    }
    let traj = read_npy::<Complex32>(&t).unwrap();
    assert_eq!(traj.shape, vec![256, 25]);
    // k-space positions in cycles/pixel lie in [-0.5, 0.5]; along a spoke (axis 0) they move
    // steadily, which only holds if the transpose is right.
    assert!(
        traj.data
            .iter()
            .all(|z| z.re.abs() <= 0.5 + 1e-6 && z.im.abs() <= 0.5 + 1e-6)
    );
    let spoke: Vec<Complex32> = (0..256).map(|s| traj.data[s * 25 + 3]).collect();
    let step = (spoke[1] - spoke[0]).norm();
    assert!(step > 0.0);
    for w in spoke.windows(2) {
        assert!(((w[1] - w[0]).norm() - step).abs() < 1e-3 * step.max(1e-3) + 1e-5);
    }
}

#[test]
fn htc2022_fanbeam_sinogram_npy_has_the_documented_shape() {
    let Some(p) = data("ct/htc2022_disc_fanbeam_sino.npy") else {
        return;
    };
    let h = read_npy_header(&p).unwrap();
    assert_eq!(h.dtype, NpyDtype::F32);
    let a = read_npy::<f32>(&p).unwrap();
    assert_eq!(a.shape, vec![121, 560]);
    assert_eq!(read_npy_as_f32(&p).unwrap(), a);
    let bytes = std::fs::read(&p).unwrap();
    for idx in [[0, 0], [1, 0], [0, 1], [120, 559], [60, 280], [17, 401]] {
        let at = if h.fortran_order {
            fortran_offset(h.data_offset, &a.shape, &idx, 4)
        } else {
            h.data_offset + 4 * c_flat(&a.shape, &idx)
        };
        let want = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(a.data[c_flat(&a.shape, &idx)], want, "{idx:?}");
    }
    // Already log-transformed attenuation of a disc: finite, and its middle row crosses it.
    assert!(a.data.iter().all(|v| v.is_finite()));
    let mid_row = &a.data[60 * 560..61 * 560];
    let peak = mid_row.iter().cloned().fold(f32::MIN, f32::max);
    assert!(
        peak > 10.0 * mid_row[0].abs().max(1e-3),
        "peak {peak}, edge {}",
        mid_row[0]
    );
}

#[test]
fn tooth_dxchange_has_the_documented_layout_and_corrects_to_attenuation() {
    let Some(p) = data("ct/tooth_dxchange.h5") else {
        return;
    };
    let s = read_dxchange(&p).unwrap();
    assert_eq!(s.projections.shape, vec![181, 2, 640]);
    assert_eq!(s.flats.shape, vec![10, 2, 640]);
    assert_eq!(s.darks.shape, vec![10, 2, 640]);
    assert_eq!(s.theta_deg.len(), 181);
    assert_eq!(s.theta_deg[0], 0.0);
    let last = s.theta_deg[180];
    assert!(last > 178.0 && last < 180.0, "last angle {last}");
    assert!(s.theta_deg.windows(2).all(|w| w[1] > w[0]));
    let corrected = flat_dark_correct(&s.projections, &s.flats, &s.darks).unwrap();
    assert_eq!(corrected.len(), 181 * 2 * 640);
    assert!(corrected.iter().all(|v| v.is_finite()));
    // One pixel against the formula computed directly.
    let (a, r, c) = (90usize, 1usize, 320usize);
    let mean = |arr: &fedrecon_io::NdArray<f32>| {
        (0..arr.shape[0])
            .map(|f| arr.data[(f * 2 + r) * 640 + c] as f64)
            .sum::<f64>()
            / arr.shape[0] as f64
    };
    let (w, d) = (mean(&s.flats), mean(&s.darks));
    let pv = s.projections.data[(a * 2 + r) * 640 + c] as f64;
    let want = -((pv - d) / (w - d)).ln();
    let got = corrected[(a * 2 + r) * 640 + c] as f64;
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    // The tooth attenuates: the sinogram's central columns are well above the air margins.
    let centre: f64 = (300..340)
        .map(|c| corrected[(a * 2 + r) * 640 + c] as f64)
        .sum::<f64>()
        / 40.0;
    let margin: f64 = (0..20)
        .map(|c| corrected[(a * 2 + r) * 640 + c] as f64)
        .sum::<f64>()
        / 20.0;
    assert!(centre > margin + 0.1, "centre {centre}, margin {margin}");
}
