//! Element types an operator can act on: `f32`, `f64`, `Complex32`, `Complex64`.

use num_complex::{Complex32, Complex64};
use rand::Rng;
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Mul, Sub};

/// A real or complex field element. Inner products are accumulated in `Complex64`, whatever the
/// storage type, so that adjoint tests measure the operator and not the summation.
pub trait Scalar:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + AddAssign
    + 'static
{
    /// The real type of the same precision (`f32` for `f32` and `Complex32`): solver step sizes
    /// and thresholds are in it, so a generic solver computes exactly what a hand-specialised one
    /// would.
    type Real: Copy + Send + Sync + Debug + PartialOrd + 'static;
    /// Whether the type is complex (adjoint tests then use complex random vectors).
    const IS_COMPLEX: bool;
    /// Multiply by a real number of the same precision.
    fn mul_real(self, r: Self::Real) -> Self;
    /// The modulus `|x|` in the same precision.
    fn modulus(self) -> Self::Real;
    /// A real number of the same precision from `f64`.
    fn real_from_f64(v: f64) -> Self::Real;
    /// Whether every component is finite.
    fn is_finite(self) -> bool {
        let c = self.to_c64();
        c.re.is_finite() && c.im.is_finite()
    }
    /// Complex conjugate (identity for reals).
    fn conj(self) -> Self;
    /// Widen to `Complex64`.
    fn to_c64(self) -> Complex64;
    /// Multiply by a real factor.
    fn scale(self, s: f64) -> Self;
    /// From a real number.
    fn from_f64(v: f64) -> Self;
    /// Standard normal sample (complex: independent real and imaginary parts).
    fn randn<R: Rng + ?Sized>(rng: &mut R) -> Self;
    /// Squared modulus.
    fn abs2(self) -> f64 {
        self.to_c64().norm_sqr()
    }
}

fn gauss<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // Box–Muller; deterministic for a seeded rng and free of extra dependencies.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl Scalar for f32 {
    type Real = f32;
    const IS_COMPLEX: bool = false;
    fn mul_real(self, r: f32) -> Self {
        self * r
    }
    fn modulus(self) -> f32 {
        self.abs()
    }
    fn real_from_f64(v: f64) -> f32 {
        v as f32
    }
    fn conj(self) -> Self {
        self
    }
    fn to_c64(self) -> Complex64 {
        Complex64::new(self as f64, 0.0)
    }
    fn scale(self, s: f64) -> Self {
        (self as f64 * s) as f32
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn randn<R: Rng + ?Sized>(rng: &mut R) -> Self {
        gauss(rng) as f32
    }
}

impl Scalar for f64 {
    type Real = f64;
    const IS_COMPLEX: bool = false;
    fn mul_real(self, r: f64) -> Self {
        self * r
    }
    fn modulus(self) -> f64 {
        self.abs()
    }
    fn real_from_f64(v: f64) -> f64 {
        v
    }
    fn conj(self) -> Self {
        self
    }
    fn to_c64(self) -> Complex64 {
        Complex64::new(self, 0.0)
    }
    fn scale(self, s: f64) -> Self {
        self * s
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn randn<R: Rng + ?Sized>(rng: &mut R) -> Self {
        gauss(rng)
    }
}

impl Scalar for Complex32 {
    type Real = f32;
    const IS_COMPLEX: bool = true;
    fn mul_real(self, r: f32) -> Self {
        self * r
    }
    fn modulus(self) -> f32 {
        self.norm()
    }
    fn real_from_f64(v: f64) -> f32 {
        v as f32
    }
    fn conj(self) -> Self {
        Complex32::conj(&self)
    }
    fn to_c64(self) -> Complex64 {
        Complex64::new(self.re as f64, self.im as f64)
    }
    fn scale(self, s: f64) -> Self {
        self * s as f32
    }
    fn from_f64(v: f64) -> Self {
        Complex32::new(v as f32, 0.0)
    }
    fn randn<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Complex32::new(gauss(rng) as f32, gauss(rng) as f32)
    }
}

impl Scalar for Complex64 {
    type Real = f64;
    const IS_COMPLEX: bool = true;
    fn mul_real(self, r: f64) -> Self {
        self * r
    }
    fn modulus(self) -> f64 {
        self.norm()
    }
    fn real_from_f64(v: f64) -> f64 {
        v
    }
    fn conj(self) -> Self {
        Complex64::conj(&self)
    }
    fn to_c64(self) -> Complex64 {
        self
    }
    fn scale(self, s: f64) -> Self {
        self * s
    }
    fn from_f64(v: f64) -> Self {
        Complex64::new(v, 0.0)
    }
    fn randn<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Complex64::new(gauss(rng), gauss(rng))
    }
}

/// `⟨a, b⟩ = Σ a_i · conj(b_i)`, accumulated in `Complex64`.
pub fn inner<T: Scalar>(a: &[T], b: &[T]) -> Complex64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.to_c64() * y.to_c64().conj())
        .sum()
}

/// Euclidean norm, accumulated in `f64`.
pub fn norm<T: Scalar>(a: &[T]) -> f64 {
    a.iter().map(|x| x.abs2()).sum::<f64>().sqrt()
}
