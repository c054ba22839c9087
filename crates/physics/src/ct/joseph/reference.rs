//! The slow, obviously-correct Joseph sum the fast projector is tested against.

use crate::error::{Result, check_len};
use crate::geometry::CtGeometry;

/// The Joseph sinogram of `image` on `geom`, evaluated straight from the formula in the
/// [module docs](super): for every ray and every column (x-major) or row (y-major) of the image,
/// the ray's fractional row (column) in `f64`, linear interpolation between the two neighbours
/// with pixels outside the image read as zero, times the path length per step. Slow,
/// `O(rays · n)`, and obviously correct: the reference the fast
/// [`JosephProjector`](super::JosephProjector) is tested against.
pub fn reference_sinogram(geom: &CtGeometry, image: &[f32]) -> Result<Vec<f64>> {
    let im = *geom.image();
    check_len("image", &geom.image_shape(), image.len())?;
    let (ny, nx, h) = (im.ny as isize, im.nx as isize, im.pixel_size);
    let f = |i: isize, j: isize| {
        if (0..ny).contains(&i) && (0..nx).contains(&j) {
            image[(i * nx + j) as usize] as f64
        } else {
            0.0
        }
    };
    let [na, nd] = geom.sino_shape();
    let mut out = vec![0.0; na * nd];
    for (r, o) in out.iter_mut().enumerate() {
        let ray = geom.ray(r / nd, r % nd);
        let ([ox, oy], [vx, vy]) = (ray.origin, ray.dir);
        let mut acc = 0.0;
        if vx.abs() >= vy.abs() {
            for j in 0..nx {
                // the ray's height at column j's centre, as a fractional row index
                let y = oy + (im.x(j as f64) - ox) / vx * vy;
                let row = (im.ny as f64 - 1.0) / 2.0 - y / h;
                let (i0, w) = (row.floor(), row - row.floor());
                acc += (1.0 - w) * f(i0 as isize, j) + w * f(i0 as isize + 1, j);
            }
            *o = acc * h / vx.abs();
        } else {
            for i in 0..ny {
                let x = ox + (im.y(i as f64) - oy) / vy * vx;
                let col = x / h + (im.nx as f64 - 1.0) / 2.0;
                let (j0, w) = (col.floor(), col - col.floor());
                acc += (1.0 - w) * f(i, j0 as isize) + w * f(i, j0 as isize + 1);
            }
            *o = acc * h / vy.abs();
        }
    }
    Ok(out)
}
