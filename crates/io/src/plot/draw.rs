//! Drawing a figure's panels: frames and axes, line plots, bar charts, legends.

use super::*;

pub(super) fn bold(c: &mut Canvas, t: &str, x: i64, y: i64, s: usize, col: Rgb) {
    c.text(t, x, y, s, col);
    if s >= 2 {
        c.text(t, x + 1, y, s, col);
    }
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) color: Rgb,
    pub(super) marker: Option<Marker>,
    pub(super) bar: bool,
    pub(super) dashed: bool,
    pub(super) width: f64,
}

pub(super) fn legend_entries(p: &Panel, styles: &[(String, Rgb, Marker)]) -> Vec<Entry> {
    let style = |n: &str| {
        styles
            .iter()
            .find(|x| x.0 == n)
            .map(|x| (x.1, x.2))
            .unwrap_or((BLACK, Marker::Circle))
    };
    match p {
        Panel::Line(l) => l
            .series
            .iter()
            .map(|s| {
                let (color, m) = style(&s.name);
                Entry {
                    name: s.name.clone(),
                    color,
                    marker: show_markers(s).then_some(m),
                    bar: false,
                    dashed: s.style.dashed,
                    width: s.style.width,
                }
            })
            .collect(),
        Panel::Bar(b) => b
            .series
            .iter()
            .map(|(n, _)| Entry {
                name: n.clone(),
                color: style(n).0,
                marker: None,
                bar: true,
                dashed: false,
                width: 1.0,
            })
            .collect(),
    }
}

pub(super) fn show_markers(s: &Series) -> bool {
    s.style
        .markers
        .unwrap_or(s.points.iter().filter(|p| p.0.is_finite()).count() <= 40)
}

pub(super) const SWATCH: usize = 4; // swatch length in characters

pub(super) fn entry_width(e: &Entry, s: usize) -> i64 {
    ((SWATCH + 3) * ADVANCE * s + text_width(&e.name, s)) as i64
}

pub(super) fn draw_entry(c: &mut Canvas, e: &Entry, x: i64, y: i64, s: usize) {
    let sw = (SWATCH * ADVANCE * s) as f64;
    let cy = y as f64 + 0.5 * text_height(s) as f64 - 0.5 * s as f64;
    let x = x as f64;
    if e.bar {
        let h = 0.8 * text_height(s) as f64;
        let x0 = x + 0.2 * sw;
        c.fill_rect(
            x0 as i64,
            (cy - 0.5 * h) as i64,
            (x0 + 0.6 * sw) as i64,
            (cy + 0.5 * h) as i64,
            e.color,
        );
    } else {
        polyline(
            c,
            &[(x, cy), (x + sw, cy)],
            1.5 * s as f64 * e.width,
            e.color,
            e.dashed.then_some(dash(s)),
        );
        if let Some(m) = e.marker {
            c.marker(m, (x + 0.5 * sw, cy), marker_r(s), e.color);
        }
    }
    c.text(
        &e.name,
        (x + sw) as i64 + (ADVANCE * s) as i64,
        y,
        s,
        [0x22; 3],
    );
}

/// Legend entries in rows no wider than `width`.
pub(super) fn flow_rows(entries: &[Entry], width: i64, s: usize) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![];
    let mut w = 0;
    for (i, e) in entries.iter().enumerate() {
        let ew = entry_width(e, s);
        match rows.last_mut() {
            Some(r) if w + ew <= width => r.push(i),
            _ => {
                rows.push(vec![i]);
                w = 0;
            }
        }
        w += ew;
    }
    rows
}

pub(super) fn dash(s: usize) -> (f64, f64) {
    (6.0 * s as f64, 4.0 * s as f64)
}

pub(super) fn marker_r(s: usize) -> f64 {
    2.0 * s as f64 + 0.5
}

/// A polyline, optionally dashed `(on, off)` with the pattern continuing across vertices.
pub(super) fn polyline(
    c: &mut Canvas,
    pts: &[(f64, f64)],
    width: f64,
    col: Rgb,
    dash: Option<(f64, f64)>,
) {
    if pts.len() == 1 {
        c.line(pts[0], pts[0], width, col);
    }
    let mut phase = 0.0;
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        let Some((on, off)) = dash else {
            c.line(a, b, width, col);
            continue;
        };
        let at = |t: f64| (a.0 + (b.0 - a.0) * t / len, a.1 + (b.1 - a.1) * t / len);
        let mut t = 0.0;
        while t < len {
            let p = phase % (on + off);
            let step = if p < on { on - p } else { on + off - p }.min(len - t);
            if p < on {
                c.line(at(t), at(t + step), width, col);
            }
            t += step;
            phase += step;
        }
    }
}

/// A numeric axis: value range `[lo, hi]` (log10 of the values on a log axis).
#[derive(Debug, Clone, Copy)]
pub(super) struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// Map `v` onto `[p0, p1]` (pixels).
    pub(super) fn px(&self, v: f64, p0: f64, p1: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        p0 + (v - self.lo) / (self.hi - self.lo) * (p1 - p0)
    }

    /// Data range padded by 5 % (a degenerate range gets a width).
    pub(super) fn padded(lo: f64, hi: f64, log: bool) -> Self {
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
        Self {
            lo: lo - m,
            hi: hi + m,
            log,
        }
    }

    /// About `target` ticks; on a log axis none closer than `min_gap` decades.
    pub(super) fn ticks(&self, target: usize, integer: bool, min_gap: f64) -> Vec<(f64, String)> {
        if self.log {
            return log_ticks(self.lo, self.hi, target, min_gap);
        }
        let (mut t, mut step) = nice_ticks(self.lo, self.hi, target);
        if integer && step < 1.0 {
            step = 1.0;
            t = multiples(self.lo, self.hi, 1.0);
        }
        t.into_iter().map(|v| (v, format_tick(v, step))).collect()
    }
}

/// Panel furniture: title, axes labels, frame, grid, ticks. Returns the plot area
/// `[x0, y0, x1, y1]`.
pub(super) struct Frame<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Rows of x tick labels (2 when staggered).
    x_rows: i64,
}

pub(super) fn margins(f: &Frame, rect: [i64; 4], s: usize, y_tick_w: i64) -> [i64; 4] {
    let lh = (LINE_H * s) as i64;
    let pad = (4 * s) as i64;
    let tick = (3 * s) as i64;
    let [x, y, w, h] = rect;
    let top = y + 2 * pad + if f.title.is_empty() { 0 } else { lh + pad };
    let left = x + 2 * pad + y_tick_w + tick + pad + if f.y_label.is_empty() { 0 } else { lh };
    let labels = f.x_rows * lh + if f.x_label.is_empty() { 0 } else { lh + pad };
    let bottom = y + h - pad - tick - labels;
    let right = x + w - 3 * pad - (2 * ADVANCE * s) as i64;
    [left, top, right, bottom]
}

pub(super) fn draw_frame(
    c: &mut Canvas,
    f: &Frame,
    area: [i64; 4],
    rect: [i64; 4],
    s: usize,
    yt: &[(f64, String)],
    xt: &[(f64, String)],
) {
    let [x0, y0, x1, y1] = area;
    let lh = (LINE_H * s) as i64;
    let pad = (4 * s) as i64;
    let tick = (3 * s) as i64;
    let th = text_height(s) as i64;
    for &(p, _) in yt {
        c.fill_rect(x0, p as i64, x1, p as i64 + 1, GRID);
    }
    for &(p, _) in xt {
        c.fill_rect(p as i64, y0, p as i64 + 1, y1, GRID);
    }
    c.stroke_rect(x0, y0, x1 + 1, y1 + 1, AXIS);
    for (p, l) in yt {
        let p = *p as i64;
        c.fill_rect(x0 - tick, p, x0, p + 1, AXIS);
        let w = text_width(l, s) as i64;
        c.text(l, x0 - tick - pad - w, p - th / 2 + s as i64, s, AXIS);
    }
    for (p, l) in xt {
        let p = *p as i64;
        c.fill_rect(p, y1, p + 1, y1 + tick + 1, AXIS);
        let w = text_width(l, s) as i64;
        c.text(l, p - w / 2, y1 + tick + pad, s, AXIS);
    }
    if !f.title.is_empty() {
        let w = text_width(f.title, s) as i64;
        bold(c, f.title, (x0 + x1 - w) / 2, rect[1] + 2 * pad, s, [0; 3]);
    }
    if !f.x_label.is_empty() {
        let w = text_width(f.x_label, s) as i64;
        c.text(f.x_label, (x0 + x1 - w) / 2, y1 + tick + pad + lh, s, AXIS);
    }
    if !f.y_label.is_empty() {
        let w = text_width(f.y_label, s) as i64;
        c.text_up(f.y_label, rect[0] + pad, (y0 + y1 - w) / 2, s, AXIS);
    }
}

pub(super) fn no_data(c: &mut Canvas, area: [i64; 4], s: usize) {
    let t = "no finite data";
    let w = text_width(t, s) as i64;
    c.text(
        t,
        (area[0] + area[2] - w) / 2,
        (area[1] + area[3]) / 2,
        s,
        GRAY,
    );
}

pub(super) fn draw_panel(
    c: &mut Canvas,
    p: &Panel,
    rect: [i64; 4],
    s: usize,
    styles: &[(String, Rgb, Marker)],
    legend: bool,
) {
    match p {
        Panel::Line(l) => draw_line_plot(c, l, rect, s, styles, legend),
        Panel::Bar(b) => draw_bar_chart(c, b, rect, s, styles, legend),
    }
}

pub(super) fn y_ticks_for(axis: &Axis, rect: [i64; 4], f: &Frame, s: usize) -> Vec<(f64, String)> {
    let [_, top, _, bottom] = margins(f, rect, s, 0);
    let lh = (LINE_H * s) as f64;
    let h = (bottom - top).max(1) as f64;
    let target = (h / (2.2 * lh)).clamp(3.0, 8.0);
    axis.ticks(target as usize, false, 1.5 * lh / h * (axis.hi - axis.lo))
}

pub(super) fn draw_line_plot(
    c: &mut Canvas,
    l: &LinePlot,
    rect: [i64; 4],
    s: usize,
    styles: &[(String, Rgb, Marker)],
    legend: bool,
) {
    let keep = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!l.log_y || p.1 > 0.0);
    let pts: Vec<Vec<(f64, f64)>> = l
        .series
        .iter()
        .map(|s| s.points.iter().copied().filter(keep).collect())
        .collect();
    let all = pts.iter().flatten();
    let (mut xa, mut xb, mut ya, mut yb) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all.clone() {
        (xa, xb, ya, yb) = (xa.min(x), xb.max(x), ya.min(y), yb.max(y));
    }
    let empty = xa > xb;
    if empty {
        (xa, xb, ya, yb) = (0.0, 1.0, 1.0, 10.0);
    }
    let integer_x = all.clone().all(|p| p.0.fract() == 0.0);
    let xaxis = Axis::padded(xa, xb, false);
    let yaxis = Axis::padded(ya, yb, l.log_y);
    let f = Frame {
        title: &l.title,
        x_label: &l.x_label,
        y_label: &l.y_label,
        x_rows: 1,
    };
    let yt = y_ticks_for(&yaxis, rect, &f, s);
    let ytw = yt.iter().map(|t| text_width(&t.1, s)).max().unwrap_or(0) as i64;
    let area = margins(&f, rect, s, ytw);
    let [x0, y0, x1, y1] = area;
    let (fx0, fy0, fx1, fy1) = (x0 as f64, y0 as f64, x1 as f64, y1 as f64);
    // x ticks: as many as fit with two characters between labels
    let mut target = 10;
    let xt = loop {
        let t = xaxis.ticks(target, integer_x, 0.0);
        let widest = t.iter().map(|t| text_width(&t.1, s)).max().unwrap_or(0);
        let room = (fx1 - fx0) / t.len().max(1) as f64;
        if target <= 2 || (widest + 2 * ADVANCE * s) as f64 <= room {
            break t;
        }
        target -= 1;
    };
    let map = |p: (f64, f64)| (xaxis.px(p.0, fx0, fx1), yaxis.px(p.1, fy1, fy0));
    let yt_px: Vec<(f64, String)> = yt
        .into_iter()
        .map(|(v, t)| (yaxis.px(v, fy1, fy0).round(), t))
        .collect();
    let xt_px: Vec<(f64, String)> = xt
        .into_iter()
        .map(|(v, t)| (xaxis.px(v, fx0, fx1).round(), t))
        .collect();
    draw_frame(c, &f, area, rect, s, &yt_px, &xt_px);
    if empty {
        no_data(c, area, s);
        return;
    }
    c.clip = Some([x0 + 1, y0 + 1, x1, y1]);
    let mut drawn: Vec<Vec<(f64, f64)>> = vec![];
    for (series, p) in l.series.iter().zip(&pts) {
        let (color, m) = styles
            .iter()
            .find(|x| x.0 == series.name)
            .map(|x| (x.1, x.2))
            .unwrap_or((BLACK, Marker::Circle));
        let px: Vec<(f64, f64)> = p.iter().map(|&q| map(q)).collect();
        let w = 1.5 * s as f64 * series.style.width;
        polyline(c, &px, w, color, series.style.dashed.then_some(dash(s)));
        if show_markers(series) {
            for &q in &px {
                c.marker(m, q, marker_r(s), color);
            }
        }
        drawn.push(px);
    }
    c.clip = None;
    if legend && l.series.len() >= 2 {
        let entries = legend_entries(&Panel::Line(l.clone()), styles);
        inner_legend(c, &entries, area, s, &drawn);
    }
}

/// A legend inside the plot area, in the corner covering the fewest data (`drawn`: polylines in
/// pixels, sampled every 2 pixels; bars are passed as their centre lines); ties go to upper
/// right, upper left, lower left, lower right in that order.
pub(super) fn inner_legend(
    c: &mut Canvas,
    entries: &[Entry],
    area: [i64; 4],
    s: usize,
    drawn: &[Vec<(f64, f64)>],
) {
    let lh = (LINE_H * s) as i64;
    let pad = (3 * s) as i64;
    let w = entries.iter().map(|e| entry_width(e, s)).max().unwrap_or(0) + pad;
    let h = entries.len() as i64 * lh + pad;
    let [x0, y0, x1, y1] = area;
    let m = (3 * s) as i64;
    let corners = [
        (x1 - m - w, y0 + m),
        (x0 + m, y0 + m),
        (x0 + m, y1 - m - h),
        (x1 - m - w, y1 - m - h),
    ];
    let cover = |(cx, cy): (i64, i64)| {
        let inside = |p: (f64, f64)| {
            p.0 >= cx as f64 && p.0 <= (cx + w) as f64 && p.1 >= cy as f64 && p.1 <= (cy + h) as f64
        };
        let mut n = 0;
        for line in drawn {
            for seg in line.windows(2) {
                let k = ((seg[1].0 - seg[0].0).hypot(seg[1].1 - seg[0].1) / 2.0).ceil() as usize;
                for i in 0..=k.max(1) {
                    let t = i as f64 / k.max(1) as f64;
                    let p = (
                        seg[0].0 + t * (seg[1].0 - seg[0].0),
                        seg[0].1 + t * (seg[1].1 - seg[0].1),
                    );
                    n += inside(p) as usize;
                }
            }
            n += line.iter().filter(|&&p| inside(p)).count() * 4;
        }
        n
    };
    let best = corners
        .iter()
        .copied()
        .min_by_key(|&k| cover(k))
        .unwrap_or(corners[0]);
    let (bx, by) = best;
    for y in by..by + h {
        for x in bx..bx + w {
            c.blend(x, y, WHITE, 0.85);
        }
    }
    c.stroke_rect(bx, by, bx + w, by + h, [0xCC; 3]);
    for (i, e) in entries.iter().enumerate() {
        draw_entry(c, e, bx + pad, by + pad + i as i64 * lh, s);
    }
}

pub(super) fn draw_bar_chart(
    c: &mut Canvas,
    b: &BarChart,
    rect: [i64; 4],
    s: usize,
    styles: &[(String, Rgb, Marker)],
    legend: bool,
) {
    let vals: Vec<f64> = b
        .series
        .iter()
        .flat_map(|x| x.1.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let empty = vals.is_empty();
    let (mut lo, mut hi) = vals
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if empty {
        (lo, hi) = (0.0, 1.0);
    }
    let zoom = lo > 0.0 && hi - lo < 0.5 * hi;
    // group labels: staggered on two rows when too wide for a group, shortened with ".." when
    // too wide even for two groups
    let area0 = margins(
        &Frame {
            title: &b.title,
            x_label: "",
            y_label: &b.y_label,
            x_rows: 1,
        },
        rect,
        s,
        (8 * ADVANCE * s) as i64,
    );
    let gw0 = (area0[2] - area0[0]) as f64 / b.groups.len() as f64;
    let widest = b.groups.iter().map(|g| text_width(g, s)).max().unwrap_or(0) as f64;
    let stagger = b.groups.len() > 1 && widest + (ADVANCE * s) as f64 > gw0;
    let f = Frame {
        title: &b.title,
        x_label: "",
        y_label: &b.y_label,
        x_rows: 1 + stagger as i64,
    };
    let spread = (hi - lo).max(0.02 * hi.abs()).max(1e-12);
    let (alo, ahi) = if zoom {
        (lo - 0.4 * spread, hi + 0.08 * spread)
    } else {
        (
            lo.min(0.0),
            hi.max(0.0) + 0.08 * (hi.max(0.0) - lo.min(0.0)),
        )
    };
    let mut yaxis = Axis {
        lo: alo,
        hi: ahi,
        log: false,
    };
    // start a zoomed axis at a tick, so the first label tells where the bars begin
    let probe = y_ticks_for(&yaxis, rect, &f, s);
    if zoom && probe.len() >= 2 {
        let step = probe[1].0 - probe[0].0;
        yaxis.lo = (alo / step).floor() * step;
    }
    let yt = y_ticks_for(&yaxis, rect, &f, s);
    let ytw = yt.iter().map(|t| text_width(&t.1, s)).max().unwrap_or(0) as i64;
    let area = margins(&f, rect, s, ytw);
    let [x0, y0, x1, y1] = area;
    let (fx0, fy0, fx1, fy1) = (x0 as f64, y0 as f64, x1 as f64, y1 as f64);
    let yt_px: Vec<(f64, String)> = yt
        .into_iter()
        .map(|(v, t)| (yaxis.px(v, fy1, fy0).round(), t))
        .collect();
    draw_frame(c, &f, area, rect, s, &yt_px, &[]);
    let ng = b.groups.len() as f64;
    let gw = (fx1 - fx0) / ng;
    let span = if stagger { 2.0 * gw } else { gw };
    let room = (span / (ADVANCE * s) as f64).floor().max(3.0) as usize - 1;
    let tick = (3 * s) as i64;
    for (g, name) in b.groups.iter().enumerate() {
        let label = if name.chars().count() > room {
            let head: String = name.chars().take(room.saturating_sub(2)).collect();
            format!("{head}..")
        } else {
            name.clone()
        };
        let cx = fx0 + (g as f64 + 0.5) * gw;
        let w = text_width(&label, s) as f64;
        let row = if stagger { (g % 2) as i64 } else { 0 };
        let ty = y1 + tick + 4 * s as i64 + row * (LINE_H * s) as i64;
        c.fill_rect(cx as i64, y1, cx as i64 + 1, ty - 2 * s as i64, AXIS);
        c.text(&label, (cx - 0.5 * w) as i64, ty, s, AXIS);
    }
    if empty {
        no_data(c, area, s);
        return;
    }
    let base = if zoom { fy1 } else { yaxis.px(0.0, fy1, fy0) };
    let ns = b.series.len() as f64;
    let bw = 0.8 * gw / ns;
    let mut drawn = vec![];
    c.clip = Some([x0 + 1, y0 + 1, x1, y1]);
    for (i, (name, v)) in b.series.iter().enumerate() {
        let color = styles
            .iter()
            .find(|x| &x.0 == name)
            .map(|x| x.1)
            .unwrap_or(BLACK);
        for (g, &v) in v.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let left = fx0 + g as f64 * gw + 0.1 * gw + i as f64 * bw;
            let top = yaxis.px(v, fy1, fy0);
            let (ya, yb) = (top.min(base), top.max(base));
            let gap = if bw >= 6.0 { 1.0 } else { 0.0 };
            drawn.push(vec![(left + 0.5 * bw, ya), (left + 0.5 * bw, yb)]);
            c.fill_rect(
                left.round() as i64,
                ya.round() as i64,
                (left + bw - gap).round() as i64,
                yb.round() as i64 + 1,
                color,
            );
        }
    }
    c.clip = None;
    if legend && b.series.len() >= 2 {
        let entries = legend_entries(&Panel::Bar(b.clone()), styles);
        inner_legend(c, &entries, area, s, &drawn);
    }
}
