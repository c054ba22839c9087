//! Angular weights: each view's span, and Parker's short-scan weights.
//!
//! Each view is weighted by its angular span `w_k` (half the gaps to its neighbours, angles taken
//! modulo the data's period: `π` parallel, `2π` fan), so irregular lists work. If one gap is much
//! larger than all others (more than 1.5× the second largest) the scan is *partial*: it starts
//! after that gap, and each end view gets its inner gap as span.
//! - Parallel: `Σ w_k = π` for complete data; a partial (limited-angle) scan is back-projected
//!   as is (the missing wedge is not compensated).
//! - Fan, full circle: every line is measured twice, so `w_k` = span/2 (K&S's factor ½).
//! - Fan, partial (short scan): Parker (1982) weights, "Optimal short scan convolution
//!   reconstruction for fan beam CT", Med. Phys. 9(2), for a scan of range `π + 2δ`, `δ` at least
//!   the half fan angle `γ_m` that covers the image; with `β` the angle from the scan start and
//!   `γ` in Parker's orientation (ours is the opposite, `γ_P = −γ`, because our conjugate ray of
//!   `(β, γ)` is `(β + π − 2γ, −γ)`):
//!   `sin²(π/4 · β/(δ − γ_P))` for `β < 2δ − 2γ_P`, `1` up to `π − 2γ_P`,
//!   `sin²(π/4 · (π + 2δ − β)/(δ + γ_P))` up to `π + 2δ`. They sum to one over conjugate rays and
//!   multiply the data before filtering; fewer than `π + 2γ_m` radians is an error.

use std::f64::consts::PI;

/// Angular span of each view and whether the scan covers the full period (see the
/// [module docs](super)).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSpans {
    /// Span of each view, in the input order.
    pub spans: Vec<f64>,
    /// `None` for a complete circle; otherwise `(start, range)`: the scan starts at `start`
    /// (reduced modulo the period) and covers `range = Σ spans` radians.
    pub partial: Option<(f64, f64)>,
}

/// Spans of `angles` for data of period `period` (`π` parallel, `2π` fan).
pub fn view_spans(angles: &[f64], period: f64) -> ViewSpans {
    let n = angles.len();
    if n == 1 {
        return ViewSpans {
            spans: vec![period],
            partial: None,
        };
    }
    let reduced: Vec<f64> = angles.iter().map(|a| a.rem_euclid(period)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| reduced[a].total_cmp(&reduced[b]));
    // gap[i] = from sorted view i to sorted view i+1 (cyclic)
    let gap = |i: usize| {
        let (a, b) = (reduced[order[i]], reduced[order[(i + 1) % n]]);
        if i + 1 == n { b + period - a } else { b - a }
    };
    let gaps: Vec<f64> = (0..n).map(gap).collect();
    let (big, &g_max) = gaps
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("n ≥ 2");
    let second = gaps
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != big)
        .map(|(_, g)| *g)
        .fold(0.0, f64::max);
    let mut spans = vec![0.0; n];
    if g_max <= 1.5 * second {
        for i in 0..n {
            spans[order[i]] = 0.5 * (gaps[(i + n - 1) % n] + gaps[i]);
        }
        return ViewSpans {
            spans,
            partial: None,
        };
    }
    // partial: walk from the view after the big gap
    let seq: Vec<usize> = (0..n).map(|k| (big + 1 + k) % n).collect(); // sorted positions
    let inner = |k: usize| gaps[seq[k]]; // gap from seq[k] to seq[k+1], k < n−1
    for k in 0..n {
        let left = if k == 0 { inner(0) } else { inner(k - 1) };
        let right = if k == n - 1 { inner(n - 2) } else { inner(k) };
        spans[order[seq[k]]] = 0.5 * (left + right);
    }
    let start = reduced[order[seq[0]]] - 0.5 * inner(0);
    let range = spans.iter().sum();
    ViewSpans {
        spans,
        partial: Some((start, range)),
    }
}

/// Parker's short-scan weight for a ray at scan angle `beta ∈ [0, π + 2δ]` (from the scan start)
/// and fan angle `gamma` **in this crate's orientation** (Parker's is `−gamma`; see the
/// [module docs](super)).
pub fn parker_weight(beta: f64, gamma: f64, delta: f64) -> f64 {
    let g = -gamma;
    let q = PI / 4.0;
    if beta < 2.0 * (delta - g) {
        (q * beta / (delta - g)).sin().powi(2)
    } else if beta <= PI - 2.0 * g {
        1.0
    } else if beta <= PI + 2.0 * delta {
        (q * (PI + 2.0 * delta - beta) / (delta + g)).sin().powi(2)
    } else {
        0.0
    }
}
