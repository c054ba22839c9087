//! End-to-end tests of `fedrecon mri recon`'s iterative methods (CG-SENSE, CGLS, L1-wavelet, TV,
//! gridding) on simulated data: each must beat the zero-filled or gridding baseline.

mod common;
use common::{Tmp, fails, fedrecon, read_c32, read_f32};
use fedrecon_io::{FastmriFile, FastmriTarget};
use num_complex::Complex32;
use std::path::Path;

/// Run, require success, return stdout.
fn ok(args: &[&str]) -> String {
    String::from_utf8_lossy(&common::succeed(args).stdout).to_string()
}

/// The fully sampled RSS target of slice 0 of a simulated fastMRI file.
fn target_of(path: &str) -> Vec<f32> {
    FastmriFile::open(path)
        .unwrap()
        .read_reconstruction_slice(FastmriTarget::Rss, 0)
        .unwrap()
        .1
}

/// PSNR of the `.npy` image at `path` against `target` (peak of the target as the range).
fn psnr_of(path: &str, target: &[f32], n: usize) -> f64 {
    let (shape, img) = read_f32(path);
    assert_eq!(shape, vec![n, n], "{path}");
    let peak = target.iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    fedrecon_physics::metrics::psnr(&img, target, Some(peak)).unwrap()
}

#[test]
fn cg_sense_with_estimated_or_given_maps_beats_zero_filled_at_4x() {
    let t = Tmp::new("cgsense");
    let n = 96usize;
    let ksp = t.path("r4.h5");
    ok(&[
        "mri",
        "simulate",
        "--size",
        "96",
        "--coils",
        "8",
        "--mask",
        "random",
        "--accel",
        "4",
        "--center-fraction",
        "0.16",
        "--noise",
        "0.002",
        "--seed",
        "1",
        "-o",
        &ksp,
    ]);
    let target = target_of(&ksp);
    let recon = |name: &str, extra: &[&str]| {
        let out = t.path(name);
        ok(&[
            &["mri", "recon", "--input", &ksp, "--slice", "0", "-o", &out][..],
            extra,
        ]
        .concat());
        psnr_of(&out, &target, n)
    };
    let zf = recon("zf.npy", &["--method", "zf"]);
    let espirit = recon("esp.npy", &["--method", "cgsense", "--estimate-maps"]);
    let walsh = recon(
        "walsh.npy",
        &["--method", "cgsense", "--estimate-maps", "walsh"],
    );
    // the true (birdcage) maps, as the simulation used them
    let maps = fedrecon_physics::mri::birdcage_maps(8, n, n, 1.5).unwrap();
    let maps_p = t.path("maps.npy");
    fedrecon_io::write_npy(Path::new(&maps_p), &[8, n, n], &maps).unwrap();
    let truth = recon("true.npy", &["--method", "cgsense", "--maps", &maps_p]);
    // CGLS builds the same Krylov iterates as CG on the normal equations (λ = 0)
    let cgls = recon("cgls.npy", &["--method", "cgls", "--maps", &maps_p]);
    assert!(
        (cgls - truth).abs() < 0.5,
        "CGLS {cgls:.2} vs CG-SENSE {truth:.2}"
    );
    fails(
        &[
            "mri",
            "recon",
            "--method",
            "cgls",
            "--input",
            &ksp,
            "--lambda",
            "0.1",
            "-o",
            &t.path("x.npy"),
        ],
        "--lambda",
    );
    println!(
        "4x random, 96², 8 coils: zero-filled {zf:.2} dB; CG-SENSE ESPIRiT {espirit:.2} dB, Walsh {walsh:.2} dB, true maps {truth:.2} dB"
    );
    assert!(espirit > zf + 3.0, "ESPIRiT {espirit:.2} vs ZF {zf:.2}");
    assert!(walsh > zf + 2.0, "Walsh {walsh:.2} vs ZF {zf:.2}");
    assert!(truth > zf + 2.0, "true maps {truth:.2} vs ZF {zf:.2}");

    // bad inputs: maps of the wrong shape, ESPIRiT without enough calibration
    let bad_maps = t.path("bad_maps.npy");
    fedrecon_io::write_npy(Path::new(&bad_maps), &[4, n, n], &maps[..4 * n * n]).unwrap();
    let out = fedrecon(&[
        "mri",
        "recon",
        "--method",
        "cgsense",
        "--input",
        &ksp,
        "--maps",
        &bad_maps,
        "-o",
        &t.path("x.npy"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && !stderr.contains("panicked"));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad_maps.npy")
            && stderr.contains("[4, 96, 96]")
            && stderr.contains("(8, 96, 96)"),
        "{stderr}"
    );
    fails(
        &[
            "mri",
            "recon",
            "--method",
            "zf",
            "--input",
            &ksp,
            "--lambda",
            "0.1",
            "-o",
            &t.path("x.npy"),
        ],
        "--lambda",
    );
    let narrow = t.path("narrow.h5");
    ok(&[
        "mri",
        "simulate",
        "--size",
        "64",
        "--coils",
        "4",
        "--mask",
        "random",
        "--accel",
        "4",
        "--center-fraction",
        "0.08",
        "-o",
        &narrow,
    ]);
    fails(
        &[
            "mri",
            "recon",
            "--method",
            "cgsense",
            "--estimate-maps",
            "espirit",
            "--input",
            &narrow,
            "-o",
            &t.path("x.npy"),
        ],
        "ESPIRiT needs a fully sampled centred calibration square",
    );
}

#[test]
fn l1_wavelet_and_tv_beat_zero_filled_on_a_poisson_disc_8x_simulation() {
    let t = Tmp::new("poisson");
    let n = 96usize;
    let ksp = t.path("p8.h5");
    ok(&[
        "mri",
        "simulate",
        "--size",
        "96",
        "--coils",
        "8",
        "--mask",
        "poisson",
        "--accel",
        "8",
        "--center-fraction",
        "0.2",
        "--noise",
        "0.002",
        "--seed",
        "1",
        "-o",
        &ksp,
    ]);
    // a 2-D mask: no mask dataset, unsampled k-space is zero, ≈ 1/8 sampled, the centre 19² full
    let f = FastmriFile::open(&ksp).unwrap();
    assert!(f.mask().is_none());
    assert_eq!(f.attrs().num_low_frequency, Some(19));
    let (_, k) = f.read_kspace_slice(0).unwrap();
    let nn = n * n;
    let sampled: Vec<bool> = (0..nn)
        .map(|p| (0..8).any(|c| k[c * nn + p] != Complex32::default()))
        .collect();
    let frac = sampled.iter().filter(|&&b| b).count() as f64 / nn as f64;
    assert!((frac - 0.125).abs() < 0.01, "sampled fraction {frac}");
    for i in 48 - 9..48 + 9 {
        for j in 48 - 9..48 + 9 {
            assert!(sampled[i * n + j], "calibration ({i}, {j})");
        }
    }
    let target = target_of(&ksp);
    let recon = |name: &str, method: &str| {
        let out = t.path(name);
        ok(&[
            "mri", "recon", "--method", method, "--input", &ksp, "-o", &out,
        ]);
        psnr_of(&out, &target, n)
    };
    let zf = recon("zf.npy", "zf");
    let l1 = recon("l1.npy", "l1");
    let tv = recon("tv.npy", "tv");
    println!(
        "Poisson 8x, 96², 8 coils: zero-filled {zf:.2} dB, L1-wavelet {l1:.2} dB, TV {tv:.2} dB"
    );
    assert!(l1 > zf + 3.0, "L1 {l1:.2} vs ZF {zf:.2}");
    assert!(tv > zf + 3.0, "TV {tv:.2} vs ZF {zf:.2}");
}

#[test]
fn radial_cg_sense_beats_gridding_with_coils_first_or_last() {
    let t = Tmp::new("radrecon");
    let n = 64usize;
    let (ksp, traj, full) = (t.path("rad.npy"), t.path("traj.npy"), t.path("full.h5"));
    ok(&[
        "mri",
        "simulate",
        "--size",
        "64",
        "--coils",
        "8",
        "--traj",
        "radial",
        "--spokes",
        "48",
        "--readout",
        "128",
        "--golden",
        "--noise",
        "0.002",
        "-o",
        &ksp,
        "--traj-out",
        &traj,
    ]);
    ok(&[
        "mri", "simulate", "--size", "64", "--coils", "8", "-o", &full,
    ]);
    let target = target_of(&full);
    let recon = |name: &str, input: &str, method: &str| {
        let out = t.path(name);
        ok(&[
            "mri", "recon", "--method", method, "--traj", &traj, "--size", "64", "--input", input,
            "-o", &out,
        ]);
        out
    };
    let grid = psnr_of(&recon("grid.npy", &ksp, "zf"), &target, n);
    let cg_p = recon("cg.npy", &ksp, "cgsense");
    let cg = psnr_of(&cg_p, &target, n);
    println!(
        "radial 48 golden spokes × 128, 64², 8 coils: gridding {grid:.2} dB, CG-SENSE (Walsh maps) {cg:.2} dB"
    );
    assert!(cg > grid + 3.0, "CG-SENSE {cg:.2} vs gridding {grid:.2}");
    // the same samples stored (M, coils) give the same image
    let (shape, y) = read_c32(&ksp);
    let (coils, m) = (shape[0], shape[1]);
    let last: Vec<Complex32> = (0..m * coils)
        .map(|q| y[(q % coils) * m + q / coils])
        .collect();
    let last_p = t.path("rad_last.npy");
    fedrecon_io::write_npy(Path::new(&last_p), &[m, coils], &last).unwrap();
    let a = read_f32(&cg_p).1;
    let b = read_f32(&recon("cg_last.npy", &last_p, "cgsense")).1;
    assert_eq!(a, b);
    fails(
        &[
            "mri",
            "recon",
            "--method",
            "cgsense",
            "--traj",
            &traj,
            "--size",
            "64",
            "--input",
            &t.path("traj.npy"),
            "-o",
            &t.path("x.npy"),
        ],
        "traj.npy",
    );
}
