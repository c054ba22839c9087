//! Axis ticks: 1-2-5 linear steps, log-axis decades and their labels.

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
            .filter(|d| (d - d0) as usize % every == 0)
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
