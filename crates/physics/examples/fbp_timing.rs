//! FBP timing and accuracy at 512², 720 views, 729 detector cells (modified Shepp–Logan,
//! analytic sinogram). Run with `cargo run --release -p fedrecon-physics --example fbp_timing`.

use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
use fedrecon_physics::geometry::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, ParallelBeam, equispaced_angles,
};
use fedrecon_physics::metrics::{psnr, ssim};
use fedrecon_physics::phantom::Phantom;
use std::f64::consts::PI;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 512;
    let grid = ImageGrid::square(n)?;
    let det = Detector::new(729, 1.0, 0.0)?;
    let ph = Phantom::modified_shepp_logan().fit_to(&grid);
    let truth = ph.rasterize(&grid, 4);
    let cases: Vec<(&str, CtGeometry)> = vec![
        (
            "parallel",
            ParallelBeam::new(grid, equispaced_angles(720, PI), det)?.into(),
        ),
        (
            "fan flat",
            FanBeam::new(
                grid,
                equispaced_angles(720, 2.0 * PI),
                Detector::new(729, 2.0, 0.0)?,
                700.0,
                1400.0,
                DetectorShape::Flat,
            )?
            .into(),
        ),
        (
            "fan curved",
            FanBeam::new(
                grid,
                equispaced_angles(720, 2.0 * PI),
                Detector::new(729, 2.0, 0.0)?,
                700.0,
                1400.0,
                DetectorShape::Curved,
            )?
            .into(),
        ),
    ];
    println!("threads: {}", rayon::current_num_threads());
    for (name, geom) in cases {
        let sino = ph.sinogram(&geom);
        let t = Instant::now();
        let plan = Fbp::new(geom.clone(), &FbpOptions::default())?;
        let plan_s = t.elapsed().as_secs_f64();
        let mut times = Vec::new();
        let mut rec = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let q = plan.filter_sinogram(&sino)?;
            let tf = t.elapsed().as_secs_f64();
            rec = fedrecon_physics::LinearOperator::forward_vec(plan.backprojector(), &q)?;
            times.push((tf, t.elapsed().as_secs_f64()));
        }
        times.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (tf, tt) = times[2];
        println!(
            "{name}: {n}², 720 views, 729 cells: plan {:.1} ms, filter {:.1} ms, total {:.1} ms (median of 5); PSNR {:.2} dB, SSIM {:.4}",
            plan_s * 1e3,
            tf * 1e3,
            tt * 1e3,
            psnr(&rec, &truth, None)?,
            ssim(&rec, &truth, [n, n], None)?
        );
    }
    Ok(())
}
