//! Reconstructions of real measured k-space from `shared/data/mri` (see its README): coil maps
//! estimated from the calibration region, CG-SENSE and L1-wavelet on Cartesian brain data,
//! gridding and CG-SENSE on radial cardiac data. Each test prints a message and returns when the
//! data folder is absent. PNGs go to `$CARGO_TARGET_TMPDIR/mri_real/` for inspection.

use fedrecon_io::{Window, read_npy_as_c32, write_png};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::mri::coils::{
    EspiritOptions, WalshOptions, calibration_block, espirit_maps, map_correlation, walsh_maps,
};
use fedrecon_physics::mri::recon::{
    CgSenseOptions, L1WaveletOptions, cg_sense, data_residual, gridding, l1_wavelet, magnitude,
    wavelet_l1_penalty, zero_filled_rss,
};
use fedrecon_physics::mri::{
    Fft2Plan, NufftOptions, NufftPlan, NufftSenseOperator, SamplingMask, SenseOperator, Wavelet2,
    WaveletKind,
};
use fedrecon_physics::scalar::norm;
use num_complex::Complex32;

fn load(name: &str) -> Option<(Vec<usize>, Vec<Complex32>)> {
    let path = fedrecon_physics::test_env::shared_data(&format!("mri/{name}"))?;
    let a = read_npy_as_c32(&path).unwrap();
    Some((a.shape, a.data))
}

fn out_dir() -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mri_real");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn save(name: &str, ny: usize, nx: usize, img: &[f32]) {
    let path = out_dir().join(name);
    write_png(&path, ny, nx, img, Window::MinMax).unwrap();
    println!("wrote {}", path.display());
}

/// Fraction of `Σ img²` on the pixels where `support` holds.
fn energy_fraction(img: &[f32], support: &[bool]) -> f64 {
    let total: f64 = img.iter().map(|v| (*v as f64).powi(2)).sum();
    let inside: f64 = img
        .iter()
        .zip(support)
        .filter(|(_, s)| **s)
        .map(|(v, _)| (*v as f64).powi(2))
        .sum();
    inside / total
}

#[test]
fn brain_cartesian_walsh_maps_cg_sense_and_l1_wavelet() {
    let Some((shape, mut ksp)) = load("brain_8coil_cartesian_ksp.npy") else {
        return;
    };
    let (coils, ny, nx) = (shape[0], shape[1], shape[2]);
    let n = ny * nx;
    // the sampling pattern: where any coil has data
    let pattern: Vec<bool> = (0..n)
        .map(|k| (0..coils).any(|c| ksp[c * n + k].norm_sqr() > 0.0))
        .collect();
    let accel = n as f64 / pattern.iter().filter(|&&b| b).count() as f64;
    // the largest fully sampled centred square
    let calib = (2..ny.min(nx))
        .step_by(2)
        .take_while(|&c| {
            let (ry, rx) = calibration_block(ny, nx, (c, c));
            ry.clone().all(|i| rx.clone().all(|j| pattern[i * nx + j]))
        })
        .last()
        .unwrap();
    println!("brain: ({coils}, {ny}, {nx}), acceleration {accel:.2}, calibration {calib}×{calib}");
    assert!(accel > 4.0 && calib >= 16);
    // scale so that the zero-filled RSS peaks at 1 (λ is then relative to the image scale)
    let zf0 = zero_filled_rss(&ksp, coils, ny, nx).unwrap();
    let s = 1.0 / zf0.iter().cloned().fold(0.0f32, f32::max);
    ksp.iter_mut().for_each(|v| *v *= s);
    let zf = zero_filled_rss(&ksp, coils, ny, nx).unwrap();

    let walsh = walsh_maps(
        &ksp,
        coils,
        ny,
        nx,
        &WalshOptions {
            calib: (calib, calib),
            window: 3,
            threshold: 0.08,
            power_iterations: 20,
        },
    )
    .unwrap();
    let maps = espirit_maps(
        &ksp,
        coils,
        ny,
        nx,
        &EspiritOptions {
            calib,
            ..Default::default()
        },
    )
    .unwrap();
    // the two estimates agree where both are defined
    let both: Vec<bool> = (0..n)
        .map(|k| maps[k].norm() > 0.0 && walsh[k].norm() > 0.0)
        .collect();
    let agree = map_correlation(&maps, &walsh, coils, &both).unwrap();
    println!("ESPIRiT vs Walsh map correlation on the common support: {agree:.4}");
    assert!(agree > 0.9);
    let support: Vec<bool> = (0..n).map(|k| maps[k].norm() > 0.0).collect();
    let support_frac = support.iter().filter(|&&b| b).count() as f64 / n as f64;
    println!(
        "map support: {:.1} % of the field of view",
        100.0 * support_frac
    );
    assert!((0.2..0.9).contains(&support_frac));

    let mask = SamplingMask::full(ny, nx, pattern).unwrap();
    let op = SenseOperator::new(maps.clone(), coils, ny, nx, Some(mask)).unwrap();
    let x_cg = cg_sense(
        &op,
        &ksp,
        None,
        &CgSenseOptions {
            iterations: 20,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let x_l1 = l1_wavelet(
        &op,
        &ksp,
        None,
        &L1WaveletOptions {
            iterations: 80,
            lambda: 0.005,
            levels: 3,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let (cg, l1) = (magnitude(&x_cg), magnitude(&x_l1));
    save("brain_zero_filled.png", ny, nx, &zf);
    save("brain_cg_sense.png", ny, nx, &cg);
    save("brain_l1_wavelet.png", ny, nx, &l1);
    save(
        "brain_espirit_map_coil0.png",
        ny,
        nx,
        &magnitude(&maps[..n]),
    );
    save("brain_walsh_map_coil0.png", ny, nx, &magnitude(&walsh[..n]));

    // data consistency: both fit the measured samples; the zero-filled image (pushed through the
    // estimated maps) does not
    let r_cg = data_residual(&op, &x_cg, &ksp).unwrap();
    let r_l1 = data_residual(&op, &x_l1, &ksp).unwrap();
    let zf_x = op.adjoint_vec(&ksp).unwrap();
    let r_zf = data_residual(&op, &zf_x, &ksp).unwrap();
    // sparsity: the L1 image has a smaller wavelet L1 norm at a comparable residual
    let w = Wavelet2::new(ny, nx, WaveletKind::Db4, 3).unwrap();
    let (w_cg, w_l1) = (
        wavelet_l1_penalty(&w, &x_cg).unwrap(),
        wavelet_l1_penalty(&w, &x_l1).unwrap(),
    );
    // energy in the head, not in ghosts or background
    let (e_zf, e_cg, e_l1) = (
        energy_fraction(&zf, &support),
        energy_fraction(&cg, &support),
        energy_fraction(&l1, &support),
    );
    println!(
        "residual ‖Ax−y‖/‖y‖: zero-filled {r_zf:.4}, CG-SENSE {r_cg:.4}, L1 {r_l1:.4}; wavelet L1: CG {w_cg:.1}, L1 {w_l1:.1}; energy in support: ZF {e_zf:.4}, CG {e_cg:.4}, L1 {e_l1:.4}"
    );
    assert!(r_cg < 0.1 && r_l1 < 0.15 && r_cg < 0.5 * r_zf, "residuals");
    assert!(r_l1 < 2.0 * r_cg.max(0.02));
    assert!(w_l1 < 0.9 * w_cg, "wavelet L1 {w_l1} vs {w_cg}");
    // the SENSE images are zero outside the map support by construction (e_cg = 1); the
    // zero-filled image leaks into the background, the L1 image (wavelets straddle the edge) less
    assert!(
        e_zf < 0.999 && e_l1 > e_zf && e_cg > 0.9999,
        "energy fractions"
    );
    // the support is the head: it holds the centre of the field of view, not the corners
    assert!(support[(ny / 2) * nx + nx / 2] && !support[0] && !support[n - 1]);
}

#[test]
fn cardiac_radial_gridding_and_cg_sense() {
    let Some((tshape, traj_c)) = load("cardiac_radial_12coil_traj.npy") else {
        return;
    };
    let Some((kshape, ksp)) = load("cardiac_radial_12coil_ksp.npy") else {
        return;
    };
    let (n_read, n_spokes, coils) = (kshape[0], kshape[1], kshape[2]);
    assert_eq!(&tshape[..], &[n_read, n_spokes]);
    let m = n_read * n_spokes;
    let traj: Vec<f32> = traj_c.iter().flat_map(|k| [k.re, k.im]).collect();
    // (readout, spoke, coil) → (coil, readout·spoke)
    let mut y: Vec<Complex32> = (0..coils)
        .flat_map(|c| (0..m).map(move |p| (c, p)))
        .map(|(c, p)| ksp[p * coils + c])
        .collect();
    // the readout spans [−0.5, 0.5] cycles/pixel in 256 samples (a 255-pixel field of view along
    // each spoke); the body fills about 190 of them, so reconstruct on 192² (at 128² it is cut off)
    let nn = 3 * n_read / 4;
    let plan = NufftPlan::new(nn, nn, &traj, NufftOptions::default()).unwrap();
    let (grid_imgs, grid) = gridding(&plan, &y, coils, 20).unwrap();
    let s = 1.0 / grid.iter().cloned().fold(0.0f32, f32::max);
    y.iter_mut().for_each(|v| *v *= s);
    let grid_imgs: Vec<Complex32> = grid_imgs.iter().map(|v| v * s).collect();
    let grid: Vec<f32> = grid.iter().map(|v| v * s).collect();
    save("cardiac_gridding.png", nn, nn, &grid);

    // maps from the centre of the gridded k-space
    let mut kgrid = grid_imgs.clone();
    Fft2Plan::new(nn, nn).unwrap().fft2c(&mut kgrid).unwrap();
    let maps = walsh_maps(
        &kgrid,
        coils,
        nn,
        nn,
        &WalshOptions {
            calib: (24, 24),
            window: 3,
            threshold: 0.02,
            power_iterations: 20,
        },
    )
    .unwrap();
    let n = nn * nn;
    let support: Vec<bool> = (0..n).map(|k| maps[k].norm() > 0.0).collect();
    let op = NufftSenseOperator::from_plan(plan.clone(), maps, coils)
        .unwrap()
        .with_toeplitz()
        .unwrap();
    let x_cg = cg_sense(
        &op,
        &y,
        None,
        &CgSenseOptions {
            iterations: 10,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let cg = magnitude(&x_cg);
    save("cardiac_cg_sense.png", nn, nn, &cg);
    // the gridded image, combined with the same maps, as a SENSE image for comparison
    let mut x_grid = vec![Complex32::default(); n];
    for c in 0..coils {
        for k in 0..n {
            x_grid[k] += op.maps()[c * n + k].conj() * grid_imgs[c * n + k];
        }
    }
    let r_cg = data_residual(&op, &x_cg, &y).unwrap();
    let r_grid = data_residual(&op, &x_grid, &y).unwrap();
    // the floor: every coil fitted on its own (no SENSE constraint) by the same CG; what remains is
    // noise, motion and signal the model cannot represent
    let ones = vec![Complex32::new(1.0, 0.0); n];
    let single = NufftSenseOperator::from_plan(plan.clone(), ones, 1)
        .unwrap()
        .with_toeplitz()
        .unwrap();
    let mut free2 = 0.0;
    for c in 0..coils {
        let yc = &y[c * m..(c + 1) * m];
        let opts = CgSenseOptions {
            iterations: 10,
            ..Default::default()
        };
        let xc = cg_sense(&single, yc, None, &opts, None).unwrap();
        let rc = data_residual(&single, &xc, yc).unwrap();
        free2 += (rc * norm(yc)).powi(2);
    }
    let r_free = free2.sqrt() / norm(&y);
    let e_grid = energy_fraction(&grid, &support);
    println!(
        "cardiac: {n_spokes} spokes × {n_read}, {coils} coils → {nn}²; residual ‖Ax−y‖/‖y‖: gridding {r_grid:.4}, CG-SENSE {r_cg:.4}, per-coil unconstrained fits {r_free:.4}; gridded energy inside the map support {e_grid:.4}"
    );
    assert!(r_cg < r_grid && r_free < r_grid, "residuals");
    // the estimated maps explain the coil structure: SENSE (one image) fits almost as well as
    // twelve independent images
    assert!(r_cg < 1.3 * r_free, "SENSE {r_cg:.4} vs free {r_free:.4}");
    // the map support (thresholded low-res RSS) holds the object: most gridded energy is inside
    assert!(e_grid > 0.9, "energy fraction {e_grid}");
}
