//! Multi-coil non-Cartesian SENSE: `y_c = A (S_c ⊙ x)` with `A` the type-2 NUFFT of a trajectory.
//!
//! Pruessmann, Weiger, Börnert, Boesiger (2001), "Advances in sensitivity encoding with arbitrary
//! k-space trajectories", Magn. Reson. Med. 46(4). Image `(ny, nx)` → samples `(coils, M)`; the
//! adjoint is `x = Σ_c conj(S_c) ⊙ Aᴴ y_c` (type 1). Conventions are the NUFFT's
//! ([`super::nufft`]): no normalisation, so on a full Cartesian grid `A` is `√(ny·nx)` times the
//! centred orthonormal FFT.
//!
//! With [`NufftSenseOperator::with_toeplitz`] the normal operator
//! `Σ_c conj(S_c) ⊙ (Aᴴ A)(S_c ⊙ x)` applies `AᴴA` as the Toeplitz embedding
//! ([`super::nufft::ToeplitzNormal`]): two pruned FFTs on a `(2ny, 2nx)` grid per coil instead of a
//! type 2 and a type 1, accurate to the plan's tolerance, coils in parallel and the per-coil
//! buffer pooled (a CG iteration allocates nothing once warm).

use crate::error::Result;
use crate::linop::LinearOperator;
use crate::mri::nufft::{NufftOptions, NufftPlan, ToeplitzNormal};
use crate::mri::sense::{check_maps, reduce_by_maps, weight_by_maps};
use crate::scratch::ScratchPool;
use num_complex::Complex32;

/// `y_c = A (S_c ⊙ x)` for every coil.
#[derive(Debug, Clone)]
pub struct NufftSenseOperator {
    plan: NufftPlan,
    maps: Vec<Complex32>,
    toeplitz: Option<ToeplitzNormal>,
    /// The per-coil images `(coils, ny, nx)` of the Toeplitz normal operator.
    coil_images: ScratchPool<Vec<Complex32>>,
    domain: [usize; 2],
    range: [usize; 2],
}

impl NufftSenseOperator {
    /// SENSE with coil `maps` `(coils, ny, nx)` on the `(M, 2)` trajectory `traj`.
    pub fn new(
        maps: Vec<Complex32>,
        coils: usize,
        ny: usize,
        nx: usize,
        traj: &[f32],
        options: NufftOptions,
    ) -> Result<Self> {
        check_maps(&maps, coils, ny, nx)?;
        let plan = NufftPlan::new(ny, nx, traj, options)?;
        let m = plan.n_points();
        Ok(Self {
            plan,
            maps,
            toeplitz: None,
            coil_images: ScratchPool::new(),
            domain: [ny, nx],
            range: [coils, m],
        })
    }

    /// SENSE from an existing plan (shared trajectory and tolerance).
    pub fn from_plan(plan: NufftPlan, maps: Vec<Complex32>, coils: usize) -> Result<Self> {
        let (ny, nx) = plan.image_shape();
        check_maps(&maps, coils, ny, nx)?;
        let m = plan.n_points();
        Ok(Self {
            plan,
            maps,
            toeplitz: None,
            coil_images: ScratchPool::new(),
            domain: [ny, nx],
            range: [coils, m],
        })
    }

    /// Use the Toeplitz embedding for the normal operator (one type-1 NUFFT onto `(2ny, 2nx)` now).
    pub fn with_toeplitz(mut self) -> Result<Self> {
        self.toeplitz = Some(self.plan.toeplitz_normal(None)?);
        Ok(self)
    }

    /// The NUFFT plan.
    pub fn plan(&self) -> &NufftPlan {
        &self.plan
    }

    /// Number of coils.
    pub fn coils(&self) -> usize {
        self.range[0]
    }

    /// The coil maps `(coils, ny, nx)`.
    pub fn maps(&self) -> &[Complex32] {
        &self.maps
    }
}

impl LinearOperator<Complex32> for NufftSenseOperator {
    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        let mut sx = vec![Complex32::default(); self.maps.len()];
        weight_by_maps(x, &self.maps, &mut sx);
        self.plan
            .type2(&sx, y)
            .expect("lengths checked by the caller");
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        let mut t = vec![Complex32::default(); self.maps.len()];
        self.plan
            .type1(y, &mut t)
            .expect("lengths checked by the caller");
        reduce_by_maps(&t, &self.maps, x);
    }
    fn apply_normal(&self, x: &[Complex32], z: &mut [Complex32]) {
        match &self.toeplitz {
            None => {
                let mut t = vec![Complex32::default(); self.range_len()];
                self.apply_forward(x, &mut t);
                self.apply_adjoint(&t, z);
            }
            Some(toep) => self.coil_images.with(
                || vec![Complex32::default(); self.maps.len()],
                |t| {
                    toep.apply_sense(&self.maps, x, t, z)
                        .expect("lengths checked by the caller")
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linop::testing::{assert_adjoint, assert_normal, on_threads, random_vec};
    use crate::mri::nufft::{Upsampling, nudft2_type2};
    use crate::mri::traj::{RadialOrdering, radial};
    use num_complex::Complex64;

    fn setup(coils: usize, ny: usize, nx: usize) -> (Vec<Complex32>, Vec<f32>) {
        let maps: Vec<Complex32> = random_vec(coils * ny * nx, 7);
        let traj = radial(13, 2 * nx.max(ny), RadialOrdering::GoldenAngle).unwrap();
        (maps, traj)
    }

    #[test]
    fn nufft_sense_is_adjoint_and_matches_per_coil_nudft() {
        let (coils, ny, nx) = (3, 12, 9);
        let (maps, traj) = setup(coils, ny, nx);
        let eps = 1e-6;
        let op = NufftSenseOperator::new(
            maps.clone(),
            coils,
            ny,
            nx,
            &traj,
            NufftOptions {
                eps,
                upsampling: Upsampling::Two,
            },
        )
        .unwrap();
        assert_adjoint(&op, 1e-5);
        let x: Vec<Complex32> = random_vec(ny * nx, 8);
        let y = op.forward_vec(&x).unwrap();
        let m = op.plan().n_points();
        for c in 0..coils {
            let sx: Vec<Complex32> = (0..ny * nx).map(|k| maps[c * ny * nx + k] * x[k]).collect();
            let reference = nudft2_type2(&sx, ny, nx, &traj).unwrap();
            let (mut num, mut den) = (0.0, 0.0);
            for k in 0..m {
                let v = y[c * m + k];
                num += (Complex64::new(v.re as f64, v.im as f64) - reference[k]).norm_sqr();
                den += reference[k].norm_sqr();
            }
            let e = (num / den).sqrt();
            assert!(e <= eps, "coil {c}: relative error {e:.2e}");
        }
    }

    /// A SENSE operator with the Toeplitz normal on random maps, checked against `Aᴴ(A x)`.
    fn toeplitz_operator(coils: usize, ny: usize, nx: usize) -> NufftSenseOperator {
        let (maps, traj) = setup(coils, ny, nx);
        let op = NufftSenseOperator::new(maps, coils, ny, nx, &traj, NufftOptions::default())
            .unwrap()
            .with_toeplitz()
            .unwrap();
        assert_normal(&op, 1e-5);
        op
    }

    #[test]
    fn toeplitz_normal_matches_adjoint_of_forward() {
        let (coils, ny, nx) = (2, 10, 13);
        let op = toeplitz_operator(coils, ny, nx);
        let plain =
            NufftSenseOperator::from_plan(op.plan().clone(), op.maps().to_vec(), coils).unwrap();
        let x: Vec<Complex32> = random_vec(ny * nx, 9);
        let mut a = vec![Complex32::default(); ny * nx];
        let mut b = vec![Complex32::default(); ny * nx];
        op.normal(&x, &mut a).unwrap();
        plain.normal(&x, &mut b).unwrap();
        assert!(a != b, "the Toeplitz path must actually be taken");
    }

    #[test]
    fn toeplitz_coils_in_parallel_give_the_bits_of_one_image_at_a_time() {
        // 3 coils on 1 thread take the coil-parallel path, on 8 threads the row-parallel one;
        // sizes not multiples of the transpose block
        let (coils, ny, nx) = (3, 37, 21);
        let op = toeplitz_operator(coils, ny, nx);
        let x: Vec<Complex32> = random_vec(ny * nx, 10);
        let run = |threads: usize| {
            on_threads(threads, || {
                let mut z = vec![Complex32::default(); ny * nx];
                op.normal(&x, &mut z).unwrap();
                // a second application reuses the pooled buffers and must not see old values
                let mut again = vec![Complex32::default(); ny * nx];
                op.normal(&x, &mut again).unwrap();
                assert_eq!(z, again);
                z
            })
        };
        assert_eq!(run(1), run(8));
        // wrong lengths are errors naming the argument, not panics
        let toep = op.plan().toeplitz_normal(None).unwrap();
        let mut t = vec![Complex32::default(); coils * ny * nx];
        let mut z = vec![Complex32::default(); ny * nx];
        let e = toep
            .apply_sense(&op.maps()[1..], &x, &mut t, &mut z)
            .unwrap_err();
        assert!(e.to_string().contains("maps"), "{e}");
        let e = toep
            .apply_sense(op.maps(), &x, &mut t[1..], &mut z)
            .unwrap_err();
        assert!(e.to_string().contains("t (coils, ny, nx)"), "{e}");
    }
}
