//! The operator contract: every physics model in fedrecon is a [`LinearOperator`].
//!
//! An operator `A : X → Y` maps a buffer shaped [`domain_shape`](LinearOperator::domain_shape)
//! to one shaped [`range_shape`](LinearOperator::range_shape). Buffers are flat, row-major
//! (C order) slices owned by the caller; the operator writes (never accumulates into) its output.
//! Batches are stacked along a leading axis: `x` of length `b · |X|` maps to `y` of length
//! `b · |Y|` ([`forward_batch`](LinearOperator::forward_batch)).
//!
//! The adjoint is the exact Hermitian transpose with respect to the plain (unweighted) inner
//! product `⟨u, v⟩ = Σ u_i conj(v_i)` on both spaces, so `⟨A x, y⟩ = ⟨x, Aᴴ y⟩`. This is checked for
//! every operator by [`testing::assert_adjoint`].
//!
//! Composition follows BART's `linop_chain`: [`Chain::new(a, b)`](Chain) is `C = B A` (apply `a`
//! first) with `Cᴴ = Aᴴ Bᴴ`; [`Stack`] is `[A; B]` with `[A; B]ᴴ = [Aᴴ Bᴴ]`; [`Scaled`] is `αA` with
//! `(αA)ᴴ = ᾱ Aᴴ`; [`Sum`] is `A + B` with `(A + B)ᴴ = Aᴴ + Bᴴ`.

use crate::error::{PhysicsError, Result, check_len};
use crate::scalar::Scalar;
use std::marker::PhantomData;

/// A linear map between two shaped buffers, with its exact adjoint.
///
/// Implementors provide the unchecked `apply_*` methods; users call the checked
/// [`forward`](Self::forward), [`adjoint`](Self::adjoint), [`normal`](Self::normal) and their
/// `_batch` versions, which return a [`PhysicsError::ShapeMismatch`] instead of panicking.
///
/// # Example
/// Forward differences `(D x)_i = x_{i+1} − x_i` with their transpose, checked by the shared
/// dot-product test [`testing::assert_adjoint`] that every operator in the crate passes:
/// ```
/// use fedrecon_physics::linop::LinearOperator;
/// use fedrecon_physics::linop::testing::{adjoint_mismatch, assert_adjoint};
///
/// struct Diff {
///     dom: [usize; 1],
///     ran: [usize; 1],
///     /// Make the adjoint wrong on purpose.
///     broken: bool,
/// }
///
/// impl LinearOperator<f64> for Diff {
///     fn domain_shape(&self) -> &[usize] {
///         &self.dom
///     }
///     fn range_shape(&self) -> &[usize] {
///         &self.ran
///     }
///     fn apply_forward(&self, x: &[f64], y: &mut [f64]) {
///         for (i, v) in y.iter_mut().enumerate() {
///             *v = x[i + 1] - x[i];
///         }
///     }
///     fn apply_adjoint(&self, y: &[f64], x: &mut [f64]) {
///         // (Dᵀ y)_i = y_{i−1} − y_i, with y_{−1} = y_{n−1} = 0
///         let n = y.len();
///         for (i, v) in x.iter_mut().enumerate() {
///             let prev = if i > 0 { y[i - 1] } else { 0.0 };
///             let this = if i < n { y[i] } else { 0.0 };
///             *v = if self.broken { this - prev } else { prev - this };
///         }
///     }
/// }
///
/// let d = Diff { dom: [6], ran: [5], broken: false };
/// assert_eq!(d.forward_vec(&[0.0, 1.0, 4.0, 9.0, 16.0, 25.0])?, [1.0, 3.0, 5.0, 7.0, 9.0]);
/// assert_adjoint(&d, 1e-12); // ⟨D x, y⟩ = ⟨x, Dᵀ y⟩ for seeded random x, y
/// // a wrong adjoint does not pass, and wrong lengths are errors, not panics
/// assert!(adjoint_mismatch(&Diff { broken: true, ..d }, 1) > 0.1);
/// assert!(d.forward_vec(&[0.0; 5]).is_err());
/// # Ok::<(), fedrecon_physics::PhysicsError>(())
/// ```
pub trait LinearOperator<T: Scalar>: Send + Sync {
    /// Shape of the input space `X` (row-major).
    fn domain_shape(&self) -> &[usize];
    /// Shape of the output space `Y` (row-major).
    fn range_shape(&self) -> &[usize];
    /// `y = A x`. Lengths are guaranteed by the caller.
    fn apply_forward(&self, x: &[T], y: &mut [T]);
    /// `x = Aᴴ y`. Lengths are guaranteed by the caller.
    fn apply_adjoint(&self, y: &[T], x: &mut [T]);
    /// `z = Aᴴ A x`. Override when a cheaper normal operator exists (e.g. Toeplitz NUFFT).
    fn apply_normal(&self, x: &[T], z: &mut [T]) {
        let mut t = vec![T::default(); self.range_len()];
        self.apply_forward(x, &mut t);
        self.apply_adjoint(&t, z);
    }

    /// Number of elements of the domain.
    fn domain_len(&self) -> usize {
        self.domain_shape().iter().product()
    }
    /// Number of elements of the range.
    fn range_len(&self) -> usize {
        self.range_shape().iter().product()
    }

    /// `y = A x`, checking both lengths.
    fn forward(&self, x: &[T], y: &mut [T]) -> Result<()> {
        check_len("x (operator domain)", self.domain_shape(), x.len())?;
        check_len("y (operator range)", self.range_shape(), y.len())?;
        self.apply_forward(x, y);
        Ok(())
    }
    /// `x = Aᴴ y`, checking both lengths.
    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()> {
        check_len("y (operator range)", self.range_shape(), y.len())?;
        check_len("x (operator domain)", self.domain_shape(), x.len())?;
        self.apply_adjoint(y, x);
        Ok(())
    }
    /// `z = Aᴴ A x`, checking both lengths.
    fn normal(&self, x: &[T], z: &mut [T]) -> Result<()> {
        check_len("x (operator domain)", self.domain_shape(), x.len())?;
        check_len("z (operator domain)", self.domain_shape(), z.len())?;
        self.apply_normal(x, z);
        Ok(())
    }
    /// Allocating `A x`.
    fn forward_vec(&self, x: &[T]) -> Result<Vec<T>> {
        let mut y = vec![T::default(); self.range_len()];
        self.forward(x, &mut y)?;
        Ok(y)
    }
    /// Allocating `Aᴴ y`.
    fn adjoint_vec(&self, y: &[T]) -> Result<Vec<T>> {
        let mut x = vec![T::default(); self.domain_len()];
        self.adjoint(y, &mut x)?;
        Ok(x)
    }
    /// Batched forward over a leading axis; returns the batch size.
    fn forward_batch(&self, x: &[T], y: &mut [T]) -> Result<usize> {
        let (n, m) = (self.domain_len(), self.range_len());
        let b = batch_size("x (batched domain)", self.domain_shape(), x.len())?;
        check_len(
            "y (batched range)",
            &batched(b, self.range_shape()),
            y.len(),
        )?;
        for (xi, yi) in x.chunks_exact(n).zip(y.chunks_exact_mut(m)) {
            self.apply_forward(xi, yi);
        }
        Ok(b)
    }
    /// Batched adjoint over a leading axis; returns the batch size.
    fn adjoint_batch(&self, y: &[T], x: &mut [T]) -> Result<usize> {
        let (n, m) = (self.domain_len(), self.range_len());
        let b = batch_size("y (batched range)", self.range_shape(), y.len())?;
        check_len(
            "x (batched domain)",
            &batched(b, self.domain_shape()),
            x.len(),
        )?;
        for (yi, xi) in y.chunks_exact(m).zip(x.chunks_exact_mut(n)) {
            self.apply_adjoint(yi, xi);
        }
        Ok(b)
    }
}

fn batched(b: usize, shape: &[usize]) -> Vec<usize> {
    std::iter::once(b).chain(shape.iter().copied()).collect()
}

fn batch_size(what: &'static str, shape: &[usize], len: usize) -> Result<usize> {
    let n: usize = shape.iter().product();
    if n == 0 || !len.is_multiple_of(n) || len == 0 {
        return Err(PhysicsError::ShapeMismatch {
            what,
            expected: n,
            shape: batched(1, shape),
            got: len,
        });
    }
    Ok(len / n)
}

impl<T: Scalar, O: LinearOperator<T> + ?Sized> LinearOperator<T> for Box<O> {
    fn domain_shape(&self) -> &[usize] {
        (**self).domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        (**self).range_shape()
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        (**self).apply_forward(x, y)
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        (**self).apply_adjoint(y, x)
    }
    fn apply_normal(&self, x: &[T], z: &mut [T]) {
        (**self).apply_normal(x, z)
    }
}

impl<T: Scalar, O: LinearOperator<T> + ?Sized> LinearOperator<T> for &O {
    fn domain_shape(&self) -> &[usize] {
        (**self).domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        (**self).range_shape()
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        (**self).apply_forward(x, y)
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        (**self).apply_adjoint(y, x)
    }
    fn apply_normal(&self, x: &[T], z: &mut [T]) {
        (**self).apply_normal(x, z)
    }
}

/// The identity on a shape.
#[derive(Debug, Clone)]
pub struct Identity {
    shape: Vec<usize>,
}

impl Identity {
    /// Identity on buffers of `shape`.
    pub fn new(shape: &[usize]) -> Self {
        Self {
            shape: shape.to_vec(),
        }
    }
}

impl<T: Scalar> LinearOperator<T> for Identity {
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        y.copy_from_slice(x)
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        x.copy_from_slice(y)
    }
}

/// `C = B A`: apply `a`, then `b`. Its adjoint is `Cᴴ = Aᴴ Bᴴ`.
pub struct Chain<T, A, B> {
    a: A,
    b: B,
    _t: PhantomData<fn(T) -> T>,
}

impl<T: Scalar, A: LinearOperator<T>, B: LinearOperator<T>> Chain<T, A, B> {
    /// `C = B A`; errors unless `a`'s range has as many elements as `b`'s domain.
    pub fn new(a: A, b: B) -> Result<Self> {
        if a.range_len() != b.domain_len() {
            return Err(PhysicsError::Incompatible(format!(
                "chain: range of the first operator {:?} does not match the domain of the second {:?}",
                a.range_shape(),
                b.domain_shape()
            )));
        }
        Ok(Self {
            a,
            b,
            _t: PhantomData,
        })
    }
}

impl<T: Scalar, A: LinearOperator<T>, B: LinearOperator<T>> LinearOperator<T> for Chain<T, A, B> {
    fn domain_shape(&self) -> &[usize] {
        self.a.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.b.range_shape()
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        let mut t = vec![T::default(); self.a.range_len()];
        self.a.apply_forward(x, &mut t);
        self.b.apply_forward(&t, y);
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        let mut t = vec![T::default(); self.a.range_len()];
        self.b.apply_adjoint(y, &mut t);
        self.a.apply_adjoint(&t, x);
    }
}

/// `[A; B]`: both applied to the same input, outputs concatenated into a flat range of
/// `|Y_A| + |Y_B|` elements. Its adjoint is `[Aᴴ Bᴴ]`, i.e. `Aᴴ y_A + Bᴴ y_B`.
pub struct Stack<T, A, B> {
    a: A,
    b: B,
    range: Vec<usize>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T: Scalar, A: LinearOperator<T>, B: LinearOperator<T>> Stack<T, A, B> {
    /// `[A; B]`; errors unless both share the domain size.
    pub fn new(a: A, b: B) -> Result<Self> {
        if a.domain_len() != b.domain_len() {
            return Err(PhysicsError::Incompatible(format!(
                "stack: domains differ: {:?} vs {:?}",
                a.domain_shape(),
                b.domain_shape()
            )));
        }
        let range = vec![a.range_len() + b.range_len()];
        Ok(Self {
            a,
            b,
            range,
            _t: PhantomData,
        })
    }
}

impl<T: Scalar, A: LinearOperator<T>, B: LinearOperator<T>> LinearOperator<T> for Stack<T, A, B> {
    fn domain_shape(&self) -> &[usize] {
        self.a.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        let (ya, yb) = y.split_at_mut(self.a.range_len());
        self.a.apply_forward(x, ya);
        self.b.apply_forward(x, yb);
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        let (ya, yb) = y.split_at(self.a.range_len());
        self.a.apply_adjoint(ya, x);
        let mut t = vec![T::default(); x.len()];
        self.b.apply_adjoint(yb, &mut t);
        for (xi, ti) in x.iter_mut().zip(t) {
            *xi += ti;
        }
    }
}

/// `α A`. Its adjoint is `ᾱ Aᴴ`.
pub struct Scaled<T, A> {
    alpha: T,
    a: A,
}

impl<T: Scalar, A: LinearOperator<T>> Scaled<T, A> {
    /// `α A`.
    pub fn new(alpha: T, a: A) -> Self {
        Self { alpha, a }
    }
}

impl<T: Scalar, A: LinearOperator<T>> LinearOperator<T> for Scaled<T, A> {
    fn domain_shape(&self) -> &[usize] {
        self.a.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.a.range_shape()
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        self.a.apply_forward(x, y);
        y.iter_mut().for_each(|v| *v = *v * self.alpha);
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        self.a.apply_adjoint(y, x);
        let c = self.alpha.conj();
        x.iter_mut().for_each(|v| *v = *v * c);
    }
}

/// `A + B` on equal shapes. Its adjoint is `Aᴴ + Bᴴ`.
pub struct Sum<T, A, B> {
    a: A,
    b: B,
    _t: PhantomData<fn(T) -> T>,
}

impl<T: Scalar, A: LinearOperator<T>, B: LinearOperator<T>> Sum<T, A, B> {
    /// `A + B`; errors unless domains and ranges have equal sizes.
    pub fn new(a: A, b: B) -> Result<Self> {
        if a.domain_len() != b.domain_len() || a.range_len() != b.range_len() {
            return Err(PhysicsError::Incompatible(format!(
                "sum: shapes differ: {:?}→{:?} vs {:?}→{:?}",
                a.domain_shape(),
                a.range_shape(),
                b.domain_shape(),
                b.range_shape()
            )));
        }
        Ok(Self {
            a,
            b,
            _t: PhantomData,
        })
    }
}

impl<T: Scalar, A: LinearOperator<T>, B: LinearOperator<T>> LinearOperator<T> for Sum<T, A, B> {
    fn domain_shape(&self) -> &[usize] {
        self.a.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.a.range_shape()
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        self.a.apply_forward(x, y);
        let mut t = vec![T::default(); y.len()];
        self.b.apply_forward(x, &mut t);
        y.iter_mut().zip(t).for_each(|(a, b)| *a += b);
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        self.a.apply_adjoint(y, x);
        let mut t = vec![T::default(); x.len()];
        self.b.apply_adjoint(y, &mut t);
        x.iter_mut().zip(t).for_each(|(a, b)| *a += b);
    }
}

/// The shared operator checks, used by every operator's tests (BART's `linop_test_adjoint`).
pub mod testing {
    use super::LinearOperator;
    use crate::scalar::{Scalar, inner, norm};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Run `f` on a rayon pool of `threads` threads (thread-count independence tests).
    pub fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool of a few threads")
            .install(f)
    }

    /// Seeded random vector.
    pub fn random_vec<T: Scalar>(n: usize, seed: u64) -> Vec<T> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| T::randn(&mut rng)).collect()
    }

    /// Relative adjoint mismatch `|⟨A x, y⟩ − ⟨x, Aᴴ y⟩| / |⟨A x, y⟩|` for seeded random `x` and
    /// `y = A x + r` (r random): the correlated part makes `⟨A x, y⟩ ≈ ‖A x‖²`, so a near-zero
    /// denominator cannot hide a wrong adjoint.
    pub fn adjoint_mismatch<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, seed: u64) -> f64 {
        let x: Vec<T> = random_vec(op.domain_len(), seed);
        let mut ax = vec![T::default(); op.range_len()];
        op.apply_forward(&x, &mut ax);
        let r: Vec<T> = random_vec(op.range_len(), seed ^ 0x9e37_79b9_7f4a_7c15);
        let s = norm(&ax) / norm(&r).max(1e-300);
        let y: Vec<T> = ax.iter().zip(&r).map(|(a, b)| *a + b.scale(s)).collect();
        let mut aty = vec![T::default(); op.domain_len()];
        op.apply_adjoint(&y, &mut aty);
        let lhs = inner(&ax, &y);
        let rhs = inner(&x, &aty);
        (lhs - rhs).norm() / lhs.norm().max(1e-300)
    }

    /// Panics unless `⟨A x, y⟩ = ⟨x, Aᴴ y⟩` to relative `tol` for three seeds.
    pub fn assert_adjoint<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, tol: f64) {
        for seed in [1u64, 2, 3] {
            let e = adjoint_mismatch(op, seed);
            assert!(
                e <= tol,
                "adjoint test failed: relative mismatch {e:.3e} > {tol:.1e} (seed {seed}, domain {:?}, range {:?})",
                op.domain_shape(),
                op.range_shape()
            );
        }
    }

    /// Panics unless `normal(x)` equals `adjoint(forward(x))` to relative `tol` (L2).
    pub fn assert_normal<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, tol: f64) {
        let x: Vec<T> = random_vec(op.domain_len(), 7);
        let mut ax = vec![T::default(); op.range_len()];
        op.apply_forward(&x, &mut ax);
        let mut ref_ = vec![T::default(); op.domain_len()];
        op.apply_adjoint(&ax, &mut ref_);
        let mut z = vec![T::default(); op.domain_len()];
        op.apply_normal(&x, &mut z);
        let diff: Vec<T> = z.iter().zip(&ref_).map(|(a, b)| *a - *b).collect();
        let e = norm(&diff) / norm(&ref_).max(1e-300);
        assert!(
            e <= tol,
            "normal test failed: relative L2 {e:.3e} > {tol:.1e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_adjoint, assert_normal, random_vec};
    use super::*;
    use num_complex::Complex64;

    /// A dense matrix operator: the obviously-correct reference for the combinators.
    struct Dense {
        m: Vec<Complex64>,
        dom: Vec<usize>,
        ran: Vec<usize>,
    }
    impl Dense {
        fn new(rows: usize, cols: usize, seed: u64) -> Self {
            Self {
                m: random_vec(rows * cols, seed),
                dom: vec![cols],
                ran: vec![rows],
            }
        }
    }
    impl LinearOperator<Complex64> for Dense {
        fn domain_shape(&self) -> &[usize] {
            &self.dom
        }
        fn range_shape(&self) -> &[usize] {
            &self.ran
        }
        fn apply_forward(&self, x: &[Complex64], y: &mut [Complex64]) {
            let n = self.dom[0];
            for (i, yi) in y.iter_mut().enumerate() {
                *yi = (0..n).map(|j| self.m[i * n + j] * x[j]).sum();
            }
        }
        fn apply_adjoint(&self, y: &[Complex64], x: &mut [Complex64]) {
            let n = self.dom[0];
            for (j, xj) in x.iter_mut().enumerate() {
                *xj = (0..y.len()).map(|i| self.m[i * n + j].conj() * y[i]).sum();
            }
        }
    }

    #[test]
    fn combinators_are_adjoint() {
        let chain = Chain::new(Dense::new(5, 3, 1), Dense::new(4, 5, 2)).unwrap();
        assert_adjoint(&chain, 1e-12);
        assert_normal(&chain, 1e-12);
        let stack = Stack::new(Dense::new(5, 3, 3), Dense::new(2, 3, 4)).unwrap();
        assert_adjoint(&stack, 1e-12);
        let scaled = Scaled::new(Complex64::new(0.5, -2.0), Dense::new(4, 6, 5));
        assert_adjoint(&scaled, 1e-12);
        let sum = Sum::new(Dense::new(4, 6, 6), Dense::new(4, 6, 7)).unwrap();
        assert_adjoint(&sum, 1e-12);
        assert_adjoint::<Complex64, _>(&Identity::new(&[3, 2]), 1e-15);
    }

    #[test]
    fn chain_matches_matrix_product() {
        let a = Dense::new(5, 3, 11);
        let b = Dense::new(4, 5, 12);
        let x: Vec<Complex64> = random_vec(3, 13);
        let t = a.forward_vec(&x).unwrap();
        let expected = b.forward_vec(&t).unwrap();
        let c = Chain::new(a, b).unwrap();
        let got = c.forward_vec(&x).unwrap();
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).norm() < 1e-12);
        }
    }

    #[test]
    fn a_wrong_adjoint_is_caught() {
        struct Wrong(Dense);
        impl LinearOperator<Complex64> for Wrong {
            fn domain_shape(&self) -> &[usize] {
                self.0.domain_shape()
            }
            fn range_shape(&self) -> &[usize] {
                self.0.range_shape()
            }
            fn apply_forward(&self, x: &[Complex64], y: &mut [Complex64]) {
                self.0.apply_forward(x, y)
            }
            fn apply_adjoint(&self, y: &[Complex64], x: &mut [Complex64]) {
                // transpose without conjugation: wrong for complex matrices
                let n = self.0.dom[0];
                for (j, xj) in x.iter_mut().enumerate() {
                    *xj = (0..y.len()).map(|i| self.0.m[i * n + j] * y[i]).sum();
                }
            }
        }
        assert!(testing::adjoint_mismatch(&Wrong(Dense::new(4, 4, 9)), 1) > 1e-3);
    }

    #[test]
    fn shape_errors_are_reported() {
        let a = Dense::new(4, 3, 1);
        let mut y = vec![Complex64::default(); 4];
        let err = a.forward(&[Complex64::default(); 2], &mut y).unwrap_err();
        assert!(err.to_string().contains("expected 3 elements"), "{err}");
        assert!(Chain::new(Dense::new(4, 3, 1), Dense::new(2, 5, 1)).is_err());
        let mut yb = vec![Complex64::default(); 8];
        assert_eq!(
            a.forward_batch(&[Complex64::default(); 6], &mut yb)
                .unwrap(),
            2
        );
        assert!(
            a.forward_batch(&[Complex64::default(); 7], &mut yb)
                .is_err()
        );
    }
}
