//! End-to-end tests of `fedrecon mri …`: NUFFT, simulation, zero-filled reconstruction,
//! fastMRI evaluation.

use fedrecon_io::{
    FastmriAttrs, FastmriFile, FastmriTarget, FastmriVolume, ImageStack, IsmrmrdEncoding,
    MatrixSize,
};
use fedrecon_physics::mri::{nudft2_type1, nudft2_type2};
use num_complex::{Complex32, Complex64};
use std::path::Path;

mod common;
use common::{Tmp, fails, fedrecon, read_c32};

/// Run, require success, return stdout.
fn ok(args: &[&str]) -> String {
    String::from_utf8_lossy(&common::succeed(args).stdout).to_string()
}

/// Deterministic pseudo-random numbers in [−0.5, 0.5) (LCG).
fn lcg(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32
        })
        .collect()
}

fn complex(v: &[f32]) -> Vec<Complex32> {
    v.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

fn rel_err(a: &[Complex32], b: &[Complex64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (Complex64::new(x.re as f64, x.im as f64) - y).norm_sqr())
        .sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr()).sum();
    (num / den).sqrt()
}

#[test]
fn nufft_both_types_match_the_direct_nudft_for_real_and_complex_trajectories() {
    let t = Tmp::new("nufft");
    let (n, coils, m) = (12usize, 2usize, 15usize);
    let kxy = lcg(1, 2 * m);
    let img = complex(&lcg(2, 2 * coils * n * n));
    let samples = complex(&lcg(3, 2 * coils * m));
    let (traj_real, traj_cplx) = (t.path("traj.npy"), t.path("trajc.npy"));
    fedrecon_io::write_npy(Path::new(&traj_real), &[m, 2], &kxy).unwrap();
    // the same points as complex kx + i·ky, shape (5, 3)
    fedrecon_io::write_npy(Path::new(&traj_cplx), &[5, 3], &complex(&kxy)).unwrap();
    let (img_p, smp_p) = (t.path("img.npy"), t.path("smp.npy"));
    fedrecon_io::write_npy(Path::new(&img_p), &[coils, n, n], &img).unwrap();
    fedrecon_io::write_npy(Path::new(&smp_p), &[coils, m], &samples).unwrap();
    let size = n.to_string();

    let y_p = t.path("y.npy");
    ok(&[
        "mri", "nufft", "--type", "2", "--traj", &traj_real, "--input", &img_p, "--size", &size,
        "-o", &y_p,
    ]);
    let (shape, y) = read_c32(&y_p);
    assert_eq!(shape, vec![coils, m]);
    for c in 0..coils {
        let want = nudft2_type2(&img[c * n * n..(c + 1) * n * n], n, n, &kxy).unwrap();
        let e = rel_err(&y[c * m..(c + 1) * m], &want);
        assert!(e < 1e-5, "type 2 coil {c}: rel err {e}");
    }

    let yc_p = t.path("yc.npy");
    ok(&[
        "mri",
        "nufft",
        "--type",
        "2",
        "--traj",
        &traj_cplx,
        "--input",
        &img_p,
        "--size",
        &size,
        "-o",
        &yc_p,
        "--eps",
        "1e-4",
        "--upsampling",
        "1.25",
    ]);
    let (shape_c, yc) = read_c32(&yc_p);
    assert_eq!(shape_c, vec![coils, 5, 3]);
    for c in 0..coils {
        let want = nudft2_type2(&img[c * n * n..(c + 1) * n * n], n, n, &kxy).unwrap();
        let e = rel_err(&yc[c * m..(c + 1) * m], &want);
        assert!(
            e < 1e-3,
            "type 2 (σ = 1.25, ε = 1e-4) coil {c}: rel err {e}"
        );
    }

    let f_p = t.path("f.npy");
    let stderr = {
        let out = fedrecon(&[
            "mri", "nufft", "--type", "1", "--traj", &traj_real, "--input", &smp_p, "--size",
            &size, "-o", &f_p, "--repeat", "3",
        ]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(stderr.contains("time_ms:"), "{stderr}");
    let (shape, f) = read_c32(&f_p);
    assert_eq!(shape, vec![coils, n, n]);
    for c in 0..coils {
        let want = nudft2_type1(&samples[c * m..(c + 1) * m], n, n, &kxy).unwrap();
        let e = rel_err(&f[c * n * n..(c + 1) * n * n], &want);
        assert!(e < 1e-5, "type 1 coil {c}: rel err {e}");
    }

    // coils on the last axis (as the shared cardiac data): samples (5, 3, coils) with the
    // complex (5, 3) trajectory give images (n, n, coils) equal to the coil-first result
    let smp_last: Vec<Complex32> = (0..m)
        .flat_map(|k| (0..coils).map(move |c| (c, k)))
        .map(|(c, k)| samples[c * m + k])
        .collect();
    let sl_p = t.path("smp_last.npy");
    fedrecon_io::write_npy(Path::new(&sl_p), &[5, 3, coils], &smp_last).unwrap();
    let fl_p = t.path("f_last.npy");
    ok(&[
        "mri",
        "nufft",
        "--type",
        "1",
        "--traj",
        &traj_cplx,
        "--input",
        &sl_p,
        "--size",
        &size,
        "--coils-last",
        "-o",
        &fl_p,
    ]);
    let (shape_l, fl) = read_c32(&fl_p);
    assert_eq!(shape_l, vec![n, n, coils]);
    for c in 0..coils {
        for p in 0..n * n {
            assert_eq!(fl[p * coils + c], f[c * n * n + p], "coil {c} pixel {p}");
        }
    }

    // bad inputs: one clear error naming the file or flag
    let bad = t.path("bad.npy");
    fedrecon_io::write_npy(Path::new(&bad), &[5, 3], &lcg(4, 15)).unwrap();
    fails(
        &[
            "mri", "nufft", "--type", "2", "--traj", &bad, "--input", &img_p, "--size", &size,
            "-o", &y_p,
        ],
        "bad.npy",
    );
    fails(
        &[
            "mri", "nufft", "--type", "2", "--traj", &traj_real, "--input", &img_p, "--size", "10",
            "-o", &y_p,
        ],
        "--size 10",
    );
    fails(
        &[
            "mri", "nufft", "--type", "1", "--traj", &traj_real, "--input", &img_p, "--size",
            &size, "-o", &y_p,
        ],
        "img.npy",
    );
    fails(
        &[
            "mri",
            "nufft",
            "--type",
            "2",
            "--traj",
            &traj_real,
            "--input",
            &img_p,
            "--size",
            &size,
            "--upsampling",
            "1.5",
            "-o",
            &y_p,
        ],
        "sigma",
    );
}

#[test]
fn simulate_writes_the_fastmri_layout_and_zero_filled_recon_of_full_data_is_the_target() {
    let t = Tmp::new("sim");
    let (n, coils) = (32usize, 3usize);
    let (full, under) = (t.path("full.h5"), t.path("under.h5"));
    let common = [
        "mri",
        "simulate",
        "--phantom",
        "modified-shepp-logan",
        "--size",
        "32",
        "--coils",
        "3",
    ];
    ok(&[&common[..], &["-o", &full]].concat());
    ok(&[
        &common[..],
        &[
            "--mask",
            "equispaced",
            "--accel",
            "4",
            "--center-fraction",
            "0.125",
            "--noise",
            "0.01",
            "--seed",
            "5",
            "-o",
            &under,
        ],
    ]
    .concat());

    let f = FastmriFile::open(&full).unwrap();
    assert_eq!(f.kspace_shape(), &[1, coils, n, n]);
    let enc = f.encoding();
    assert_eq!(enc.encoded_matrix, MatrixSize { x: n, y: n, z: 1 });
    assert_eq!(enc.recon_matrix, MatrixSize { x: n, y: n, z: 1 });
    assert_eq!((enc.padding_left(), enc.padding_right()), (0, n as i64));
    let (tshape, target) = f.read_reconstruction_slice(FastmriTarget::Rss, 0).unwrap();
    assert_eq!(tshape, [n, n]);
    let max = target.iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    assert!((f.attrs().max.unwrap() - max).abs() < 1e-6 * max);
    assert!(f.attrs().norm.is_some() && f.attrs().patient_id.is_some());
    assert!(f.mask().is_none());

    // maps have unit RSS, so the noiseless target is the phantom itself
    let ph = t.path("ph.npy");
    ok(&[
        "phantom",
        "--kind",
        "modified-shepp-logan",
        "--size",
        "32",
        "--supersample",
        "4",
        "-o",
        &ph,
    ]);
    let phantom = fedrecon_io::read_npy_as_f32(Path::new(&ph)).unwrap().data;
    let err = target
        .iter()
        .zip(&phantom)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-4, "target vs phantom: max abs diff {err}");

    // zero-filled RSS of fully sampled k-space is the target
    let zf = t.path("zf.npy");
    ok(&[
        "mri", "recon", "--method", "zf", "--input", &full, "--slice", "0", "-o", &zf,
    ]);
    let img = fedrecon_io::read_npy_as_f32(Path::new(&zf)).unwrap();
    assert_eq!(img.shape, vec![n, n]);
    let err = img
        .data
        .iter()
        .zip(&target)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-5, "zf vs target: {err}");

    // undersampled: mask columns, attributes, unsampled columns are zero
    let u = FastmriFile::open(&under).unwrap();
    let mask = u.mask().expect("mask written").to_vec();
    let kept = mask.iter().filter(|&&b| b).count();
    assert!(kept >= 4 && kept < n / 2, "kept {kept} of {n}");
    assert_eq!(u.attrs().acceleration, Some(4));
    assert_eq!(u.attrs().num_low_frequency, Some(4));
    for j in 14..18 {
        assert!(mask[j], "centre column {j} sampled");
    }
    let (_, k) = u.read_kspace_slice(0).unwrap();
    for (idx, z) in k.iter().enumerate() {
        if !mask[idx % n] {
            assert_eq!(*z, Complex32::default());
        }
    }
    fails(
        &["mri", "recon", "--input", &under, "--slice", "3", "-o", &zf],
        "--slice 3",
    );
}

#[test]
fn simulate_radial_matches_nufft_of_its_own_dc() {
    let t = Tmp::new("radial");
    let (ksp, traj) = (t.path("ksp.npy"), t.path("traj.npy"));
    ok(&[
        "mri",
        "simulate",
        "--size",
        "16",
        "--coils",
        "2",
        "--traj",
        "radial",
        "--spokes",
        "6",
        "-o",
        &ksp,
        "--traj-out",
        &traj,
    ]);
    let (shape, y) = read_c32(&ksp);
    assert_eq!(shape, vec![2, 6 * 16]);
    let tr = fedrecon_io::read_npy_as_f32(Path::new(&traj)).unwrap();
    assert_eq!(tr.shape, vec![6 * 16, 2]);
    // every spoke passes through k = 0 at sample 8; those samples agree per coil
    for c in 0..2 {
        let dc = y[c * 96 + 8];
        for s in 0..6 {
            assert_eq!(
                (tr.data[2 * (s * 16 + 8)], tr.data[2 * (s * 16 + 8) + 1]),
                (0.0, 0.0)
            );
            assert!((y[c * 96 + s * 16 + 8] - dc).norm() <= 1e-5 * dc.norm());
        }
    }
    // the trajectory round-trips through `mri nufft` (adjoint then forward is consistent shape)
    let img = t.path("img.npy");
    ok(&[
        "mri", "nufft", "--type", "1", "--traj", &traj, "--input", &ksp, "--size", "16", "-o", &img,
    ]);
    assert_eq!(read_c32(&img).0, vec![2, 16, 16]);
    fails(
        &[
            "mri", "simulate", "--size", "16", "--traj", "radial", "-o", &ksp,
        ],
        "--traj-out",
    );
}

#[test]
fn zero_filled_recon_of_flat_kspace_is_a_centred_delta_from_npy_and_cfl() {
    let t = Tmp::new("zf");
    let (ny, nx) = (8usize, 6usize);
    // one coil of all-ones k-space: ifft2c (orthonormal) gives √(ny·nx) at (ny/2, nx/2)
    let ones = vec![Complex32::new(1.0, 0.0); ny * nx];
    let npy = t.path("k.npy");
    fedrecon_io::write_npy(Path::new(&npy), &[1, ny, nx], &ones).unwrap();
    let base = t.path("k");
    fedrecon_io::write_cfl(Path::new(&base), &[nx, ny, 1, 1], &ones).unwrap();
    for input in [npy, format!("{base}.cfl")] {
        let out = t.path("img.npy");
        ok(&[
            "mri", "recon", "--method", "zf", "--input", &input, "-o", &out,
        ]);
        let img = fedrecon_io::read_npy_as_f32(Path::new(&out)).unwrap();
        assert_eq!(img.shape, vec![ny, nx], "{input}");
        for (k, v) in img.data.iter().enumerate() {
            let want = if k == (ny / 2) * nx + nx / 2 {
                ((ny * nx) as f32).sqrt()
            } else {
                0.0
            };
            assert!(
                (v - want).abs() < 1e-5,
                "{input}: pixel {k} = {v}, want {want}"
            );
        }
    }
    fails(
        &[
            "mri",
            "recon",
            "--input",
            &t.path("missing.npy"),
            "-o",
            &t.path("x.npy"),
        ],
        "missing.npy",
    );
}

fn target_volume(shape: [usize; 3], data: Vec<f32>, acquisition: &str) -> FastmriVolume {
    let size = MatrixSize {
        x: shape[1],
        y: shape[2],
        z: 1,
    };
    let enc = IsmrmrdEncoding {
        encoded_matrix: size,
        recon_matrix: size,
        kspace_encoding_step_1_center: (shape[2] / 2) as i64,
        kspace_encoding_step_1_maximum: shape[2] as i64 - 1,
    };
    FastmriVolume {
        kspace_shape: vec![shape[0], 2, shape[1], shape[2]],
        kspace: vec![Complex32::default(); 2 * shape.iter().product::<usize>()],
        ismrmrd_header: enc.to_xml(),
        reconstruction_rss: Some(ImageStack { shape, data }),
        reconstruction_esc: None,
        mask: None,
        attrs: FastmriAttrs {
            acquisition: Some(acquisition.into()),
            ..Default::default()
        },
    }
}

/// The number after `NAME = ` in the evaluate.py-style line that starts with `prefix`.
fn metric(out: &str, prefix: &str, name: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {out}"));
    let key = format!(" {name} = ");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {line}"))
        + key.len();
    line[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn eval_matches_evaluate_py_definitions() {
    let t = Tmp::new("eval");
    let (tdir, pdir) = (t.0.join("targets"), t.0.join("preds"));
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::create_dir_all(&pdir).unwrap();
    // two 2-slice volumes 10 × 8 (cropped to 8 × 8), two acquisitions
    let shape = [2usize, 10, 8];
    let len = shape.iter().product::<usize>();
    let g1: Vec<f32> = lcg(10, len).iter().map(|v| v + 1.0).collect();
    let g2: Vec<f32> = lcg(11, len).iter().map(|v| 2.0 * v + 1.5).collect();
    for (name, g, acq) in [("a.h5", &g1, "AXT2"), ("b.h5", &g2, "CORPD_FBK")] {
        fedrecon_io::write_fastmri(tdir.join(name), &target_volume(shape, g.clone(), acq)).unwrap();
    }
    // exact predictions: NMSE 0, PSNR inf
    fedrecon_io::write_reconstruction(pdir.join("a.h5"), shape, &g1).unwrap();
    fedrecon_io::write_reconstruction(pdir.join("b.h5"), shape, &g2).unwrap();
    let (td, pd) = (tdir.to_string_lossy(), pdir.to_string_lossy());
    let out = ok(&["mri", "eval", "--target-dir", &td, "--predictions-dir", &pd]);
    assert_eq!(metric(&out, "all (2 volumes)", "NMSE"), 0.0);
    assert_eq!(metric(&out, "all (2 volumes)", "MSE"), 0.0);
    assert_eq!(metric(&out, "all (2 volumes)", "PSNR"), f64::INFINITY);
    assert_eq!(metric(&out, "all (2 volumes)", "SSIM"), 1.0);
    assert!(out.contains("AXT2 (1 volumes)") && out.contains("CORPD_FBK (1 volumes)"));

    // a noisy prediction of `a`, stored larger (2, 12, 8): the centre 8 × 8 is compared
    let pshape = [2usize, 12, 8];
    let noise = lcg(12, pshape.iter().product());
    let mut p = vec![0.0f32; pshape.iter().product()];
    for s in 0..2 {
        for i in 0..12 {
            for j in 0..8 {
                // prediction row i ↔ target row i − 1 (both centre crops start at their own
                // offsets: target (10 − 8)/2 = 1, prediction (12 − 8)/2 = 2)
                let gi = (i as isize - 1).clamp(0, 9) as usize;
                p[(s * 12 + i) * 8 + j] =
                    g1[(s * 10 + gi) * 8 + j] + 0.1 * noise[(s * 12 + i) * 8 + j];
            }
        }
    }
    fedrecon_io::write_reconstruction(pdir.join("a.h5"), pshape, &p).unwrap();
    let out = ok(&[
        "mri",
        "eval",
        "--target-dir",
        &td,
        "--predictions-dir",
        &pd,
        "--acquisition",
        "AXT2",
    ]);
    // independent computation of NMSE and PSNR on the crops
    let (mut se, mut gg, mut mx, mut cnt) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for s in 0..2 {
        for i in 0..8 {
            for j in 0..8 {
                let gv = g1[(s * 10 + i + 1) * 8 + j] as f64;
                let pv = p[(s * 12 + i + 2) * 8 + j] as f64;
                se += (gv - pv).powi(2);
                gg += gv * gv;
                mx = mx.max(gv);
                cnt += 1.0;
            }
        }
    }
    let nmse = se / gg;
    let psnr = 10.0 * (mx * mx / (se / cnt)).log10();
    let got_nmse = metric(&out, "all (1 volumes)", "NMSE");
    let got_psnr = metric(&out, "all (1 volumes)", "PSNR");
    assert!(
        (got_nmse - nmse).abs() <= 1e-3 * nmse,
        "NMSE {got_nmse} vs {nmse}"
    );
    assert!(
        (got_psnr - psnr).abs() <= 1e-3 * psnr,
        "PSNR {got_psnr} vs {psnr}"
    );
    let ssim = metric(&out, "all (1 volumes)", "SSIM");
    assert!(ssim > 0.0 && ssim < 1.0, "SSIM {ssim}");

    std::fs::remove_file(pdir.join("b.h5")).unwrap();
    fails(
        &["mri", "eval", "--target-dir", &td, "--predictions-dir", &pd],
        "b.h5",
    );
}
