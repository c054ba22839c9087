//! NUFFT accuracy table: requested tolerance ε vs the achieved relative L2 error of types 1 and 2
//! against the direct NUDFT that ships in the library ([`nudft2_type2`], [`nudft2_type1`]), for
//! σ = 2 and σ = 1.25, with the kernel width and `β` used.
//!
//! ```text
//! cargo run --release -p fedrecon-benches --bin mri_nufft_accuracy -- [--size N] [--points M]
//!                                                                     [--seed S]
//! ```
//! Defaults: a 256 × 256 random complex image, 10 000 uniformly random points in [−0.5, 0.5)²,
//! random complex samples, seed 1. Prints a Markdown table on stdout; tolerances below
//! [`Upsampling::min_eps`] are listed with the planner's error message. Exits non-zero if any
//! achieved error exceeds its ε.

use fedrecon_physics::linop::testing::random_vec;
use fedrecon_physics::mri::{NufftOptions, NufftPlan, Upsampling, nudft2_type1, nudft2_type2};
use num_complex::{Complex32, Complex64};
use std::process::ExitCode;

fn rel_err(a: &[Complex32], b: &[Complex64]) -> f64 {
    let (mut d, mut n) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        d += (Complex64::new(x.re as f64, x.im as f64) - y).norm_sqr();
        n += y.norm_sqr();
    }
    (d / n).sqrt()
}

fn parse() -> Result<(usize, usize, u64), String> {
    let (mut n, mut m, mut seed) = (256usize, 10_000usize, 1u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--size" => n = value.parse().map_err(bad)?,
            "--points" => m = value.parse().map_err(bad)?,
            "--seed" => seed = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if n == 0 || m == 0 {
        return Err("--size and --points must be at least 1".into());
    }
    Ok((n, m, seed))
}

fn main() -> ExitCode {
    let (n, m, seed) = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // uniform points in [−0.5, 0.5) (64-bit LCG, top 24 bits)
    let mut s = seed;
    let traj: Vec<f32> = (0..2 * m)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32
        })
        .collect();
    let f: Vec<Complex32> = random_vec(n * n, seed + 1);
    let c: Vec<Complex32> = random_vec(m, seed + 2);
    let ref2 = nudft2_type2(&f, n, n, &traj).expect("valid sizes");
    let ref1 = nudft2_type1(&c, n, n, &traj).expect("valid sizes");
    println!("# {n} × {n} image, {m} random points, seed {seed}, f32 data; relative L2 vs NUDFT");
    println!(
        "| σ | ε requested | width w | β | degree | type 2 achieved | type 1 achieved | max/ε |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for up in [Upsampling::Two, Upsampling::FiveQuarters] {
        for eps in [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6] {
            let sigma = up.sigma();
            let plan = match NufftPlan::new(
                n,
                n,
                &traj,
                NufftOptions {
                    eps,
                    upsampling: up,
                },
            ) {
                Ok(p) => p,
                Err(e) => {
                    println!("| {sigma} | {eps:.0e} | — | — | — | rejected: {e} | | |");
                    continue;
                }
            };
            let mut y = vec![Complex32::default(); m];
            plan.type2(&f, &mut y).expect("sizes match");
            let mut g = vec![Complex32::default(); n * n];
            plan.type1(&c, &mut g).expect("sizes match");
            let (e2, e1) = (rel_err(&y, &ref2), rel_err(&g, &ref1));
            let k = plan.kernel();
            let ratio = e2.max(e1) / eps;
            ok &= ratio <= 1.0;
            println!(
                "| {sigma} | {eps:.0e} | {} | {:.2} | {} | {e2:.2e} | {e1:.2e} | {ratio:.2} |",
                k.width,
                k.beta,
                plan.kernel_fit().0
            );
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: an achieved error exceeds its requested ε");
        ExitCode::FAILURE
    }
}
