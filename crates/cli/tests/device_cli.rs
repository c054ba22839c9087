//! `--device cuda` on `ct recon --method fbp`, `mri nufft` and `mri recon`: without the `cuda`
//! feature a clear "rebuild with --features cuda" error; with it but without a driver a clear
//! "libcuda not found" error; never a panic. On a machine with a GPU (feature on) the commands
//! succeed and their outputs are compared with the CPU's.

use num_complex::Complex32;
use std::path::Path;

mod common;
use common::{Tmp, fails, on_cuda, succeed};

fn read_f32(p: &str) -> Vec<f32> {
    common::read_f32(p).1
}

fn read_c32(p: &str) -> Vec<Complex32> {
    common::read_c32(p).1
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn ct_fbp_on_cuda_is_a_clear_error_or_matches_the_cpu() {
    let t = Tmp::new("dev-fbp");
    let (img, sino, cpu, gpu) = (
        t.path("img.npy"),
        t.path("sino.npy"),
        t.path("cpu.npy"),
        t.path("gpu.npy"),
    );
    succeed(&[
        "phantom",
        "--kind",
        "shepp-logan",
        "--size",
        "24",
        "-o",
        &img,
    ]);
    succeed(&[
        "ct", "project", "--input", &img, "-o", &sino, "--angles", "30",
    ]);
    let base = [
        "ct", "recon", "--method", "fbp", "--input", &sino, "--size", "24",
    ];
    let mut args = base.to_vec();
    args.extend(["-o", cpu.as_str()]);
    succeed(&args);
    let mut args = base.to_vec();
    args.extend(["-o", gpu.as_str()]);
    if on_cuda(&args) {
        assert!(rel(&read_f32(&gpu), &read_f32(&cpu)) <= 1e-5);
    }
}

#[test]
fn mri_nufft_and_recon_on_cuda_are_clear_errors_or_match_the_cpu() {
    let t = Tmp::new("dev-mri");
    let (n, coils, m) = (10usize, 2usize, 40usize);
    let kxy: Vec<f32> = (0..2 * m)
        .map(|k| ((k * 37 % 101) as f32 / 101.0) - 0.5)
        .collect();
    let img: Vec<Complex32> = (0..coils * n * n)
        .map(|k| Complex32::new((k % 7) as f32 - 3.0, (k % 5) as f32))
        .collect();
    let (traj, input) = (t.path("traj.npy"), t.path("img.npy"));
    fedrecon_io::write_npy(Path::new(&traj), &[m, 2], &kxy).unwrap();
    fedrecon_io::write_npy(Path::new(&input), &[coils, n, n], &img).unwrap();
    let (cpu, gpu) = (t.path("y_cpu.npy"), t.path("y_gpu.npy"));
    let size = n.to_string();
    let base = [
        "mri", "nufft", "--type", "2", "--traj", &traj, "--input", &input, "--size", &size,
    ];
    let mut args = base.to_vec();
    args.extend(["-o", cpu.as_str()]);
    succeed(&args);
    let mut args = base.to_vec();
    args.extend(["-o", gpu.as_str()]);
    if on_cuda(&args) {
        let (a, b) = (read_c32(&gpu), read_c32(&cpu));
        let num: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).norm_sqr()).sum();
        let den: f32 = b.iter().map(|y| y.norm_sqr()).sum();
        assert!((num / den).sqrt() <= 1e-6);
    }

    // Cartesian k-space (coils, ny, nx), fully sampled: cgsense on the device
    let (ny, nx) = (12usize, 10usize);
    let k: Vec<Complex32> = (0..coils * ny * nx)
        .map(|i| Complex32::new(((i * 13) % 17) as f32 / 17.0, ((i * 7) % 11) as f32 / 11.0))
        .collect();
    let kin = t.path("k.npy");
    fedrecon_io::write_npy(Path::new(&kin), &[coils, ny, nx], &k).unwrap();
    let (rc, rg) = (t.path("r_cpu.npy"), t.path("r_gpu.npy"));
    let base = [
        "mri",
        "recon",
        "--method",
        "cgsense",
        "--iters",
        "5",
        "--estimate-maps",
        "walsh",
        "--input",
        &kin,
    ];
    let mut args = base.to_vec();
    args.extend(["-o", rc.as_str()]);
    succeed(&args);
    let mut args = base.to_vec();
    args.extend(["-o", rg.as_str()]);
    if on_cuda(&args) {
        assert!(rel(&read_f32(&rg), &read_f32(&rc)) <= 1e-4);
    }
    // zero-filled reconstruction has no operator to put on a GPU: an error in every build
    fails(
        &[
            "mri", "recon", "--method", "zf", "--input", &kin, "-o", &rg, "--device", "cuda",
        ],
        "--method zf",
    );
}
