//! Reconstruction of real measured CT data (`shared/data`, see its README).
//!
//! Each test skips with a message when the data folder is absent (fails with
//! `FEDRECON_REQUIRE_DATA=1`). Images are written to
//! `$CARGO_TARGET_TMPDIR/real_ct/<scan>/` (the paths are printed) for a human to look at; the
//! assertions are quantitative properties that a wrong centre, a wrong geometry mapping or a
//! broken reconstruction would fail.

use fedrecon_io::{
    Window, flat_dark_correct, read_dxchange, read_npy_as_f32, sinogram_row, write_png,
};
use fedrecon_physics::ct::center::{
    EntropyOptions, OffsetFbp, OppositePairOptions, axis_index_for_offset, find_center_entropy,
    find_center_opposite_pairs,
};
use fedrecon_physics::ct::{Fbp, FbpOptions, JosephProjector};
use fedrecon_physics::geometry::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, ParallelBeam,
};
use fedrecon_physics::solvers::{SirtOptions, TvOptions, sirt, tv_pdhg};
use fedrecon_tests::{
    boundary_points, disc_indices, fit_circle, fit_disc_sinogram, masked_entropy,
    relative_residual, shared_data,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("real_ct")
        .join(name);
    std::fs::create_dir_all(&d).expect("create the output folder");
    d
}

fn save(dir: &Path, file: &str, ny: usize, nx: usize, img: &[f32]) {
    let p = dir.join(file);
    write_png(&p, ny, nx, img, Window::MinMax).expect("write PNG");
    println!("wrote {}", p.display());
}

/// The TomoPy tooth (APS, parallel beam, 181 views over 0..179°, 640 cells, 2 rows): centre of
/// rotation by both methods, FBP at the centre and off it, SIRT at the centre and off it.
#[test]
fn tooth_dxchange_centre_fbp_and_sirt() {
    let Some(path) = shared_data("ct/tooth_dxchange.h5") else {
        return;
    };
    let t0 = Instant::now();
    let scan = read_dxchange(&path).unwrap();
    let proj = flat_dark_correct(&scan.projections, &scan.flats, &scan.darks).unwrap();
    let shape = scan.projections.shape.clone();
    assert_eq!(shape, vec![181, 2, 640]);
    let n_det = shape[2];
    let angles = scan.theta_rad();
    let rows: Vec<Vec<f32>> = (0..2)
        .map(|r| sinogram_row(&shape, &proj, r).unwrap())
        .collect();
    // 384² unit pixels cover the tooth around an axis ~24 cells left of the detector middle
    let n_img = 384;
    let geom = ParallelBeam::new(
        ImageGrid::square(n_img).unwrap(),
        angles.clone(),
        Detector::new(n_det, 1.0, 0.0).unwrap(),
    )
    .unwrap();

    // (a) opposite views: only 0° and 179.0° (1° short of opposite) pair up in this scan
    let pairs: Vec<_> = rows
        .iter()
        .map(|s| find_center_opposite_pairs(&geom, s, &OppositePairOptions::default()).unwrap())
        .collect();
    // (b) image entropy over the middle half of the detector, no prior; on the detector binned
    // by 2 (320 cells of 2 units) and 192² pixels of 2 units, for speed
    let binned: Vec<Vec<f32>> = rows
        .iter()
        .map(|s| s.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])).collect())
        .collect();
    let geom_b = |offset: f64| {
        ParallelBeam::new(
            ImageGrid::new(n_img / 2, n_img / 2, 2.0).unwrap(),
            angles.clone(),
            Detector::new(n_det / 2, 2.0, offset).unwrap(),
        )
        .unwrap()
    };
    let t = Instant::now();
    let ent = find_center_entropy(&geom_b(0.0), &binned[0], &EntropyOptions::default()).unwrap();
    let ent_index = axis_index_for_offset(&geom.detector, ent.offset);
    println!(
        "tooth centre (cell index; offset): pairs row 0 {:.2} ({:.2}), row 1 {:.2} ({:.2}); entropy row 0 {:.2} ({:.2}) [{} FBPs, {:?}]",
        pairs[0].axis_index,
        pairs[0].offset,
        pairs[1].axis_index,
        pairs[1].offset,
        ent_index,
        ent.offset,
        ent.evaluations,
        t.elapsed()
    );
    assert!(
        (pairs[0].axis_index - ent_index).abs() < 1.0,
        "the two methods disagree: {pairs:?} vs {ent:?}"
    );
    assert!(
        (pairs[0].axis_index - pairs[1].axis_index).abs() < 0.5,
        "the two detector rows disagree: {pairs:?}"
    );
    // the axis is well off the detector's middle (319.5), so the search did real work
    assert!((ent_index - 319.5).abs() > 10.0, "{ent:?}");

    // FBP: the entropy of the image is lowest at the found centre, markedly higher 5 cells off
    let c = 0.5 * (pairs[0].axis_index + ent_index);
    let offset_at = |dc: f64| -(c + dc - (n_det as f64 - 1.0) / 2.0);
    let fbp = OffsetFbp::new(&geom, &rows[0], &FbpOptions::default()).unwrap();
    let mask = disc_indices(n_img, n_img, 1.0);
    let at_c = fbp.reconstruct(offset_at(0.0)).unwrap();
    let (lo, hi) = mask
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |m, &k| {
            (m.0.min(at_c[k] as f64), m.1.max(at_c[k] as f64))
        });
    let (lo, hi) = (2.0 * lo.min(0.0), 2.0 * hi);
    let dir = out_dir("tooth");
    let mut entropy = Vec::new();
    for dc in [-5.0, -2.0, 0.0, 2.0, 5.0] {
        let img = fbp.reconstruct(offset_at(dc)).unwrap();
        entropy.push((dc, masked_entropy(&img, &mask, lo, hi)));
        if dc == 0.0 || dc == 5.0 {
            save(&dir, &format!("fbp_centre{dc:+}.png"), n_img, n_img, &img);
        }
    }
    println!("FBP entropy (bits) vs centre shift: {entropy:.3?}");
    let h0 = entropy[2].1;
    for &(dc, h) in &entropy {
        if dc != 0.0 {
            assert!(h > h0, "entropy at shift {dc} ({h}) ≤ at the centre ({h0})");
        }
        if dc.abs() == 5.0 {
            assert!(
                h > h0 + 0.15,
                "entropy at shift {dc}: {h} vs {h0} at the centre"
            );
        }
    }

    // SIRT (binned as above): the data are consistent at the
    // centre and not 5 cells off it (a shifted axis breaks the mirror symmetry of the scan)
    let mut residuals = Vec::new();
    for dc in [0.0, -5.0, 5.0] {
        let t = Instant::now();
        let g = geom_b(offset_at(dc));
        let a = JosephProjector::new(g);
        let x = sirt(
            &a,
            &binned[0],
            None,
            &SirtOptions {
                iterations: 100,
                relaxation: 1.0,
                nonneg: true,
            },
            None,
        )
        .unwrap();
        let r = relative_residual(&a, &x, &binned[0]);
        println!(
            "SIRT, centre shift {dc:+}: residual ‖Ax − y‖/‖y‖ = {r:.4} ({:?})",
            t.elapsed()
        );
        residuals.push(r);
        save(
            &dir,
            &format!("sirt_centre{dc:+}.png"),
            n_img / 2,
            n_img / 2,
            &x,
        );
    }
    assert!(
        residuals[0] < 0.03,
        "SIRT residual at the centre {residuals:?}"
    );
    assert!(
        residuals[0] < 0.6 * residuals[1].min(residuals[2]),
        "SIRT fits the data at the centre not markedly better than 5 cells off: {residuals:?}"
    );
    println!("tooth test took {:?}", t0.elapsed());
}

/// One measured-data mapping onto [`FanBeam`]: angle sign and whether the detector's cell order
/// is reversed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mapping {
    angle_sign: f64,
    reversed: bool,
}

/// HTC 2022 phantom "ta" (acrylic disc, 70 mm, with holes), limited angle: 121 views over
/// 0..60°, flat detector of 560 cells of 0.2 mm, sod 410.66 mm, sdd 553.74 mm.
#[test]
fn htc2022_limited_angle_fan_beam_mapping_and_tv() {
    let (Some(sino_path), Some(meta_path)) = (
        shared_data("ct/htc2022_disc_fanbeam_sino.npy"),
        shared_data("ct/htc2022_disc_fanbeam_geometry.json"),
    ) else {
        return;
    };
    let t0 = Instant::now();
    let sino = read_npy_as_f32(&sino_path).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    let num = |k: &str| {
        meta[k]
            .as_f64()
            .unwrap_or_else(|| panic!("geometry JSON: `{k}` is not a number"))
    };
    let deg: Vec<f64> = meta["angles"]
        .as_array()
        .expect("geometry JSON: `angles` is a list")
        .iter()
        .map(|v| v.as_f64().expect("angle is a number"))
        .collect();
    let (sod, sdd, pitch) = (
        num("distanceSourceOrigin"),
        num("distanceSourceDetector"),
        num("pixelSizePost"),
    );
    let nd = num("numDetectorsPost") as usize;
    assert_eq!(sino.shape, vec![deg.len(), nd]);
    // the JSON's isocentre pitch is the detector pitch demagnified
    assert!((num("effectivePixelSizePost") - pitch * sod / sdd).abs() < 1e-9);
    assert!((num("geometricMagnification") - sdd / sod).abs() < 1e-9);

    let n = 192;
    let grid = ImageGrid::new(n, n, 80.0 / n as f64).unwrap();
    let geometry = |m: Mapping| -> CtGeometry {
        FanBeam::new(
            grid,
            deg.iter().map(|d| m.angle_sign * d.to_radians()).collect(),
            Detector::new(nd, pitch, 0.0).unwrap(),
            sod,
            sdd,
            DetectorShape::Flat,
        )
        .unwrap()
        .into()
    };
    let data = |m: Mapping| -> Vec<f32> {
        if m.reversed {
            sino.data
                .chunks_exact(nd)
                .flat_map(|r| r.iter().rev().copied())
                .collect()
        } else {
            sino.data.clone()
        }
    };

    // Which mapping? Fit a disc to the shadow's outer edges (tangent rays) under each of the
    // four (angle sign × detector order) readings. A mirror of the whole set-up turns
    // (θ, u) into (−θ, −u), so each reading has a mirror twin that fits exactly as well (the
    // disc mirrored in x): the data fix the handedness, not the mirror. The two handedness
    // classes differ through the fan's magnification, which depends on the distance of the
    // disc's rim from the source; the holes do not enter (the outer edges are the rim's).
    let maps = [
        Mapping {
            angle_sign: 1.0,
            reversed: false,
        },
        Mapping {
            angle_sign: -1.0,
            reversed: true,
        },
        Mapping {
            angle_sign: -1.0,
            reversed: false,
        },
        Mapping {
            angle_sign: 1.0,
            reversed: true,
        },
    ];
    let fits: Vec<_> = maps
        .iter()
        .map(|&m| {
            let g = geometry(m);
            let y = data(m);
            let fit = fit_disc_sinogram(&g, &y, 0.05, 0);
            println!(
                "{m:?}: disc centre ({:.3}, {:.3}) mm, diameter {:.3} mm; edge-tangent RMS {:.4} mm; whole-sinogram residual of that disc {:.4}",
                fit.disc.x,
                fit.disc.y,
                2.0 * fit.disc.r,
                fit.edge_rms,
                fit.relative_residual
            );
            fit
        })
        .collect();
    // mirror twins: identical fits, disc mirrored in x
    for (a, b) in [(0, 1), (2, 3)] {
        assert!((fits[a].edge_rms - fits[b].edge_rms).abs() < 1e-6 * fits[a].edge_rms);
        assert!((fits[a].disc.x + fits[b].disc.x).abs() < 1e-6);
    }
    // the chosen handedness fits the rim far better than the other
    assert!(
        fits[0].edge_rms < 0.5 * fits[2].edge_rms,
        "angle sign / detector order not determined: {fits:?}"
    );
    // and the rim is the phantom's: a 70 mm disc
    let disc = fits[0].disc;
    assert!(
        (2.0 * disc.r - 70.0).abs() < 1.5,
        "fitted diameter {} mm",
        2.0 * disc.r
    );
    // the whole-sinogram residual is dominated by the holes and does not tell the classes apart
    // (reported above); of the twins we keep the reading with the scanner's own angles and cell
    // order, which puts the image in the orientation of the HTC reference segmentation published
    // with CIL's HTC2022 entry (checked by eye and by correlation while writing this test; the
    // reference is not part of the test data).
    let chosen = maps[0];
    let g = geometry(chosen);
    let y = data(chosen);

    // FBP refuses a fan scan shorter than π + 2γ_m (Parker short scan) with an error naming it
    let e = Fbp::new(g.clone(), &FbpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("`angles`"), "{e}");

    // TV-PDHG with x ≥ 0 on the Joseph projector
    let t = Instant::now();
    let a = JosephProjector::new(g);
    let x = tv_pdhg(
        &a,
        &y,
        None,
        &TvOptions {
            iterations: 200,
            lambda: 0.5,
            nonneg: true,
            power_iterations: 20,
        },
        None,
    )
    .unwrap();
    let res = relative_residual(&a, &x, &y);
    println!(
        "TV-PDHG 192², 200 iterations: residual ‖Ax − y‖/‖y‖ = {res:.4} ({:?})",
        t.elapsed()
    );
    let dir = out_dir("htc2022");
    save(&dir, "tv_pdhg.png", n, n, &x);
    save(&dir, "sinogram.png", deg.len(), nd, &y);
    assert!(res < 0.02, "TV-PDHG data residual {res}");

    // The reconstructed rim, where the scan sees it (boundary normals inside the measured range
    // of parallel-ray angles β − γ, with a margin), matches the disc fitted to the sinogram.
    let dirs: Vec<f64> = (0..=40)
        .flat_map(|k| {
            let phi = (5.0 + 1.25 * k as f64).to_radians();
            [phi, phi + std::f64::consts::PI]
        })
        .collect();
    let inside = disc_indices(n, n, 1.0)
        .into_iter()
        .filter(|&k| {
            let (px, py) = (grid.x((k % n) as f64), grid.y((k / n) as f64));
            (px - disc.x).hypot(py - disc.y) < 0.9 * disc.r
        })
        .map(|k| x[k])
        .collect::<Vec<f32>>();
    let mut sorted = inside.clone();
    sorted.sort_by(f32::total_cmp);
    let acrylic = sorted[sorted.len() * 3 / 4] as f64; // above the holes' share of the area
    let pts = boundary_points(
        &x,
        &grid,
        [disc.x, disc.y],
        &dirs,
        disc.r + 5.0,
        0.5 * acrylic,
    );
    assert!(
        pts.len() >= dirs.len() - 2,
        "rim found along {} of {} directions",
        pts.len(),
        dirs.len()
    );
    let (centre, radius) = fit_circle(&pts).expect("rim points fit a circle");
    let px = grid.pixel_size;
    println!(
        "reconstructed rim: centre ({:.3}, {:.3}) mm, radius {:.3} mm; sinogram disc ({:.3}, {:.3}), {:.3} mm; acrylic level {acrylic:.4}/mm (disc fit {:.4}/mm)",
        centre[0], centre[1], radius, disc.x, disc.y, disc.r, disc.value
    );
    assert!(
        (centre[0] - disc.x).hypot(centre[1] - disc.y) < 2.0 * px,
        "rim centre ({:?}) vs fitted disc {disc:?}",
        centre
    );
    assert!(
        (radius - disc.r).abs() < 2.0 * px,
        "rim radius {radius} vs {}",
        disc.r
    );
    println!("HTC test took {:?}", t0.elapsed());
}
