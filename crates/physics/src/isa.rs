//! The instruction set the hot loops run with, chosen once at run time: the Joseph projector
//! (`ct/joseph`), the NUFFT's spreading and interpolation (`mri/nufft/spread.rs`) and the
//! column-mask SENSE normal operator's row convolution (`mri/sense/row_normal.rs`).
//!
//! Each of those loops is written once in portable Rust (or, for AVX-512, by hand) and compiled
//! a second and third time inside a `#[target_feature]` function; every variant performs the same
//! `f32` operations in the same order, so all give the same bits (each module tests this against
//! [`Isa::Baseline`] over [`Isa::available`]). Hand-written rather than a crate such as
//! `multiversion` because the AVX-512 forms are separate, hand-written functions, not the
//! portable body recompiled, and the dispatch is one `match` per call site.

/// An instruction set the hot loops are compiled for. The wider variants are only ever
/// constructed by [`Isa::detect`] (or [`Isa::available`], which calls it) on a CPU that reported
/// every feature they enable, which is what the dispatching `unsafe` calls rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512F/VL/DQ/BW, and AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// The widest variant this CPU supports.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return Self::Avx512;
            }
            return Self::Avx2;
        }
        Self::Baseline
    }

    /// Every variant this CPU runs, the baseline first (for the bitwise-equality tests).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Self> {
        let mut v = vec![Self::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            let best = Self::detect();
            if best != Self::Baseline {
                v.push(Self::Avx2);
            }
            if best == Self::Avx512 {
                v.push(Self::Avx512);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::Isa;

    #[test]
    fn available_starts_at_the_baseline_and_ends_at_the_detected_variant() {
        let v = Isa::available();
        assert_eq!(v[0], Isa::Baseline);
        assert_eq!(*v.last().unwrap(), Isa::detect());
        // No variant twice.
        for (i, a) in v.iter().enumerate() {
            assert!(!v[i + 1..].contains(a), "{a:?} listed twice in {v:?}");
        }
    }
}
