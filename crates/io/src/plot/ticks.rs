//! Axis ticks (1-2-5 linear steps, log-axis decades and their labels) and [`Axis`], the plotters
//! coordinate that maps a linear or log axis and uses these ticks as its key points.

use super::{Result, plot_err};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use std::ops::Range;

/// The 1-2-5 step for about `target` intervals over `[lo, hi]` and its multiples inside.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let raw = (hi - lo).abs().max(f64::MIN_POSITIVE) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    (multiples(lo, hi, step), step)
}

pub(super) fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let (a, b) = ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor());
    let mut out = Vec::new();
    let mut k = a;
    while k <= b && out.len() < 1000 {
        // snap to the decimal value (k·step rounded to 12 significant digits)
        let v: f64 = format!("{:.12e}", k * step).parse().unwrap_or(k * step);
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        k += 1.0;
    }
    out
}

/// A tick label: decimals from the step, or `m e k` notation for very large or small values.
pub fn format_tick(v: f64, step: f64) -> String {
    let a = v.abs();
    if a < step.abs() * 1e-9 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        let e = (a.log10() + 1e-9).floor();
        let digits = (-(step / 10f64.powf(e)).log10() - 1e-9).ceil().max(0.0) as usize;
        return format!("{:.*}e{}", digits, v / 10f64.powf(e), e as i64);
    }
    let digits = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
    format!("{v:.digits$}")
}

/// Ticks `(value, label)` of a log axis over `[10^lo, 10^hi]` (exponents); `{1, …, 9}·10^k`
/// ticks closer than `min_gap` (in decades) to the previous one are dropped.
pub(super) fn log_ticks(lo: f64, hi: f64, target: usize, min_gap: f64) -> Vec<(f64, String)> {
    let (d0, d1) = ((lo - 1e-9).ceil() as i32, (hi + 1e-9).floor() as i32);
    let decades = (d1 - d0 + 1).max(0) as usize;
    let label = |v: f64| format_tick(v, v);
    if decades >= 2 {
        let every = decades.div_ceil(target.max(2)).max(1);
        return (d0..=d1)
            .filter(|d| ((d - d0) as usize).is_multiple_of(every))
            .map(|d| (10f64.powi(d), label(10f64.powi(d))))
            .collect();
    }
    let within = |mantissas: &[f64]| -> Vec<(f64, String)> {
        ((lo.floor() as i32)..=(hi.ceil() as i32))
            .flat_map(|d| mantissas.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| (lo - 1e-9..=hi + 1e-9).contains(&v.log10()))
            .map(|v| (v, label(v)))
            .collect()
    };
    let mut out = within(&[1.0, 2.0, 5.0]);
    if out.len() < 3 {
        out = vec![];
        for t in within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]) {
            if out
                .last()
                .is_none_or(|p: &(f64, String)| (t.0 / p.0).log10() >= min_gap)
            {
                out.push(t);
            }
        }
        if out.len() > target + 1 {
            out.clear();
        }
    }
    if out.len() < 3 {
        let (t, step) = nice_ticks(10f64.powf(lo), 10f64.powf(hi), target);
        out = t
            .into_iter()
            .filter(|&v| v > 0.0)
            .map(|v| (v, format_tick(v, step)))
            .collect();
    }
    out
}

/// A numeric axis: value range `[lo, hi]` (log10 of the values on a log axis) and its ticks
/// `(value, label)`, which plotters draws as the grid lines, tick marks and labels (no minor
/// lines).
#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) log: bool,
    pub(super) ticks: Vec<(f64, String)>,
}

impl Axis {
    /// `[lo, hi]` (in log10 units on a log axis) without ticks; an error unless it is a finite,
    /// non-empty interval (data near `±f64::MAX` overflow the padded range).
    pub(super) fn new(lo: f64, hi: f64, log: bool, what: &str) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && (hi - lo).is_finite() && hi > lo) {
            return Err(plot_err(what, "the data range is too large to draw"));
        }
        Ok(Self {
            lo,
            hi,
            log,
            ticks: vec![],
        })
    }

    /// Data range padded by 5 % (a degenerate range gets a width).
    pub(super) fn padded(lo: f64, hi: f64, log: bool, what: &str) -> Result<Self> {
        let (lo, hi) = if log {
            (lo.log10(), hi.log10())
        } else {
            (lo, hi)
        };
        let span = if hi > lo {
            hi - lo
        } else if log {
            0.2
        } else {
            (lo.abs() * 0.1).max(1.0)
        };
        let m = if hi > lo { 0.05 * span } else { 0.5 * span };
        Self::new(lo - m, hi + m, log, what)
    }

    /// Where `v` lies on the axis: 0 at `lo`, 1 at `hi`.
    pub(super) fn frac(&self, v: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        (v - self.lo) / (self.hi - self.lo)
    }

    /// About `target` ticks; on a log axis none closer than `min_gap` decades.
    pub(super) fn ticks(&self, target: usize, integer: bool, min_gap: f64) -> Vec<(f64, String)> {
        let mut t = if self.log {
            log_ticks(self.lo, self.hi, target, min_gap)
        } else {
            let (mut t, mut step) = nice_ticks(self.lo, self.hi, target);
            if integer && step < 1.0 {
                step = 1.0;
                t = multiples(self.lo, self.hi, 1.0);
            }
            t.into_iter().map(|v| (v, format_tick(v, step))).collect()
        };
        // a range at the limit of f64 precision repeats values
        t.dedup_by(|a, b| a.0 == b.0);
        t
    }

    /// This axis with `ticks`.
    pub(super) fn with_ticks(mut self, ticks: Vec<(f64, String)>) -> Self {
        self.ticks = ticks;
        self
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let p = limit.0 as f64 + self.frac(*v) * (limit.1 - limit.0) as f64;
        // only values on the axis are drawn; anything else must not overflow pixel arithmetic
        // (a NaN casts to 0)
        p.clamp(-1e6, 1e6).round() as i32
    }

    /// The ticks for plotters' major ("bold") grid lines; no minor ("light") lines.
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return vec![];
        }
        self.ticks.iter().map(|t| t.0).collect()
    }

    fn range(&self) -> Range<f64> {
        if self.log {
            10f64.powf(self.lo)..10f64.powf(self.hi)
        } else {
            self.lo..self.hi
        }
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, v: &f64) -> String {
        self.ticks
            .iter()
            .find(|t| t.0 == *v)
            .map_or_else(|| format_tick(*v, *v), |t| t.1.clone())
    }
}
