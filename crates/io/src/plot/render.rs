//! Drawing a [`Figure`] with plotters into an RGB buffer: the layout of title, panels and shared
//! legend; line plots and bar charts (one plotters chart each, on [`Axis`] coordinates); legends.
//!
//! Plotters' charts draw the axes, grid lines, tick marks, tick labels and axis labels; the
//! series, markers, bars, panel titles and legends are plotters elements placed in pixels.

use super::ticks::Axis;
use super::*;
use plotters::backend::BitMapBackend;
use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{PathElement, Polygon, Rectangle, Text};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontDesc, FontFamily, FontStyle, RGBColor, TextStyle, register_font};
use std::sync::OnceLock;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Axis, Axis>>;
/// Series styles by name: colour and marker.
type Styles = [(String, Rgb, Marker)];

// ---------------------------------------------------------------------------------------------
// Font and text

/// The family name the embedded font is registered under.
const FAMILY: &str = "fedrecon-dejavu-sans";
/// DejaVu Sans (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

fn register_the_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok {
        Ok(())
    } else {
        Err(plot_err("figure", "the embedded font does not parse"))
    }
}

fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), px, FontStyle::Normal)
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

fn text_style(px: f64, c: Rgb, h: HPos, v: VPos) -> TextStyle<'static> {
    font(px).color(&rgb(c)).pos(Pos::new(h, v))
}

/// Width in pixels of `t` at `px`.
fn text_w(t: &str, px: f64) -> i32 {
    font(px).box_size(t).map_or(0, |b| b.0 as i32)
}

fn draw_err(e: impl std::fmt::Display) -> IoError {
    plot_err("figure", format!("plotters: {e}"))
}

/// Sizes in pixels for text scale `s`.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    s: i32,
    /// Tick labels, axis labels, legends.
    fs: f64,
    /// Panel titles.
    title_fs: f64,
    /// The figure title.
    fig_fs: f64,
    /// Line height of `fs` text.
    lh: i32,
    pad: i32,
    tick: i32,
}

impl Metrics {
    fn new(s: usize) -> Self {
        let s = s.min(1 << 12) as i32;
        Self {
            s,
            fs: 8.0 * s as f64,
            title_fs: 9.0 * s as f64,
            fig_fs: 10.0 * s as f64,
            lh: 12 * s,
            pad: 4 * s,
            tick: 3 * s,
        }
    }

    /// Downward shift that centres text vertically on its anchor: plotters' `ab_glyph` text puts
    /// the baseline only `0.1 × size` under a centre anchor, so glyphs sit `0.2 × size` high.
    fn centre(&self, px: f64) -> i32 {
        (0.2 * px).round() as i32
    }

    /// Height of a title line of `px` text with its padding.
    fn title_h(&self, px: f64) -> i32 {
        (1.25 * px).round() as i32 + self.pad
    }

    /// Line width of a series with relative width `w`.
    fn stroke(&self, w: f64) -> u32 {
        let w = if w.is_finite() && w > 0.0 { w } else { 1.0 };
        (1.5 * self.s as f64 * w).round().clamp(1.0, 1000.0) as u32
    }

    fn marker_r(&self) -> f64 {
        2.0 * self.s as f64 + 0.5
    }

    /// Dash length and gap.
    fn dash(&self) -> (u32, u32) {
        (6 * self.s as u32, 4 * self.s as u32)
    }

    /// Length of a legend swatch.
    fn swatch(&self) -> i32 {
        3 * self.fs as i32
    }
}

/// `t` centred on `x` with its top at `y`, bold (struck twice) from text scale 2.
fn title(root: &Area, t: &str, x: i32, y: i32, px: f64, c: Rgb, m: &Metrics) -> Result<()> {
    let style = text_style(px, c, HPos::Center, VPos::Top);
    // `VPos::Top` lets capitals poke `0.13 × size` above the anchor
    let y = y + (0.15 * px).round() as i32;
    root.draw(&Text::new(t.to_string(), (x, y), style.clone()))
        .map_err(draw_err)?;
    if m.s >= 2 {
        root.draw(&Text::new(t.to_string(), (x + 1, y), style))
            .map_err(draw_err)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Figure

/// Render `fig` (validated) as `width × height` RGB bytes.
pub(super) fn figure(fig: &Figure, width: usize, height: usize) -> Result<Vec<u8>> {
    register_the_font()?;
    let m = Metrics::new(fig.text_scale.max(1));
    let styles = fig.styles();
    let n = fig.panels.len();
    let cols = if fig.columns == 0 {
        n
    } else {
        fig.columns.min(n)
    };
    let rows = n.div_ceil(cols);
    let (w, h) = (width as i32, height as i32);
    let top = if fig.title.is_some() {
        m.title_h(m.fig_fs) + m.pad
    } else {
        0
    };
    let mut legend: Vec<Entry> = vec![];
    if fig.shared_legend {
        for p in &fig.panels {
            for mut e in legend_entries(p, &styles) {
                if !legend.iter().any(|x| x.name == e.name) {
                    e.width = entry_w(&e, &m) + 3 * m.pad;
                    legend.push(e);
                }
            }
        }
    }
    let legend_rows = flow_rows(&legend, w - 2 * m.pad);
    let legend_h = if legend.is_empty() {
        0
    } else {
        legend_rows.len() as i32 * m.lh + 2 * m.pad
    };
    let cw = w / cols as i32;
    let ch = (h - top - legend_h) / rows as i32;
    if cw < 60 * m.s || ch < 50 * m.s {
        return Err(too_small(width, height, n, fig.text_scale.max(1)));
    }
    let mut buf = vec![255u8; 3 * width * height];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        if let Some(t) = &fig.title {
            title(&root, t, w / 2, m.pad, m.fig_fs, AXIS, &m)?;
        }
        for (k, p) in fig.panels.iter().enumerate() {
            let (x, y) = ((k % cols) as i32 * cw, top + (k / cols) as i32 * ch);
            let cell = root.clone().shrink((x, y), (cw as u32, ch as u32));
            let panel = PanelCtx {
                root: &root,
                cell: &cell,
                size: (cw, ch),
                m: &m,
                styles: &styles,
                legend: !fig.shared_legend,
            };
            let drawn = match p {
                Panel::Line(l) => panel.line_plot(l),
                Panel::Bar(b) => panel.bar_chart(b),
            };
            drawn.map_err(|e| match e {
                IoError::Plot { reason, .. } if reason == TOO_SMALL => {
                    too_small(width, height, n, fig.text_scale.max(1))
                }
                e => e,
            })?;
        }
        let mut y = h - legend_h + m.pad;
        for row in legend_rows {
            let rw: i32 = row.iter().map(|&i| legend[i].width).sum::<i32>() - 3 * m.pad;
            let mut x = (w - rw) / 2;
            for i in row {
                draw_entry(&root, &legend[i], x, y, &m)?;
                x += legend[i].width;
            }
            y += m.lh;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(buf)
}

const TOO_SMALL: &str = "plot area too small";

fn too_small(width: usize, height: usize, panels: usize, s: usize) -> IoError {
    plot_err(
        "figure",
        format!("size {width}×{height} is too small for {panels} panels at text scale {s}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Legends

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    color: Rgb,
    marker: Option<Marker>,
    bar: bool,
    dashed: bool,
    /// Relative line width.
    line: f64,
    /// Width in pixels in a shared legend (swatch, name, spacing).
    width: i32,
}

fn style_of(styles: &Styles, name: &str) -> (Rgb, Marker) {
    styles
        .iter()
        .find(|x| x.0 == name)
        .map_or((BLACK, Marker::Circle), |x| (x.1, x.2))
}

fn show_markers(s: &Series) -> bool {
    s.style
        .markers
        .unwrap_or(s.points.iter().filter(|p| p.0.is_finite()).count() <= 40)
}

fn legend_entries(p: &Panel, styles: &Styles) -> Vec<Entry> {
    let entry = |name: &str, marker: bool, bar, dashed, line| {
        let (color, m) = style_of(styles, name);
        Entry {
            name: name.to_string(),
            color,
            marker: marker.then_some(m),
            bar,
            dashed,
            line,
            width: 0,
        }
    };
    match p {
        Panel::Line(l) => l
            .series
            .iter()
            .map(|s| {
                entry(
                    &s.name,
                    show_markers(s),
                    false,
                    s.style.dashed,
                    s.style.width,
                )
            })
            .collect(),
        Panel::Bar(b) => b
            .series
            .iter()
            .map(|(n, _)| entry(n, false, true, false, 1.0))
            .collect(),
    }
}

/// Width of an entry's swatch and name.
fn entry_w(e: &Entry, m: &Metrics) -> i32 {
    m.swatch() + m.pad + text_w(&e.name, m.fs)
}

/// Legend entries in rows no wider than `width`.
fn flow_rows(entries: &[Entry], width: i32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![];
    let mut w = 0;
    for (i, e) in entries.iter().enumerate() {
        let ew = e.width;
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

/// One legend entry in the line `y..y + lh` from `x`: swatch (line with marker, or bar), name.
fn draw_entry(root: &Area, e: &Entry, x: i32, y: i32, m: &Metrics) -> Result<()> {
    let sw = m.swatch();
    let cy = y + m.lh / 2;
    if e.bar {
        let hh = (0.4 * m.fs) as i32;
        let x0 = x + sw / 5;
        let bar = Rectangle::new(
            [(x0, cy - hh), (x0 + 3 * sw / 5, cy + hh)],
            rgb(e.color).filled(),
        );
        root.draw(&bar).map_err(draw_err)?;
    } else {
        let style = rgb(e.color).stroke_width(m.stroke(e.line));
        let pts = [(x, cy), (x + sw, cy)];
        if e.dashed {
            let (on, off) = m.dash();
            for el in DashedLineSeries::new(pts, on, off, style) {
                root.draw(&el).map_err(draw_err)?;
            }
        } else {
            root.draw(&PathElement::new(pts, style)).map_err(draw_err)?;
        }
        if let Some(mk) = e.marker {
            marker(root, mk, (x + sw / 2, cy), m.marker_r(), e.color)?;
        }
    }
    let label = Text::new(
        e.name.clone(),
        (x + sw + m.pad, cy + m.centre(m.fs)),
        text_style(m.fs, [0x22; 3], HPos::Left, VPos::Center),
    );
    root.draw(&label).map_err(draw_err)
}

/// A filled marker of radius `r` centred at `c` (pixels).
fn marker(root: &Area, mk: Marker, c: (i32, i32), r: f64, color: Rgb) -> Result<()> {
    // a regular polygon: vertex count, angle of the first vertex from "up", circumradius / r
    let (n, start, f) = match mk {
        Marker::Circle => (12, 0.0, 1.0),
        Marker::Square => (4, 45.0, 1.2),
        Marker::Diamond => (4, 0.0, 1.3),
        Marker::TriangleUp => (3, 0.0, 1.3),
        Marker::TriangleDown => (3, 60.0, 1.3),
    };
    let pts: Vec<(i32, i32)> = (0..n)
        .map(|k| {
            let a = (start + 360.0 * k as f64 / n as f64).to_radians();
            (
                c.0 + (f * r * a.sin()).round() as i32,
                c.1 - (f * r * a.cos()).round() as i32,
            )
        })
        .collect();
    root.draw(&Polygon::new(pts, rgb(color).filled()))
        .map_err(draw_err)
}

/// A legend inside the plot area `[x0, y0, x1, y1]`, in the corner covering the fewest data
/// (`drawn`: polylines in pixels, sampled every 2 pixels; bars are passed as their centre
/// lines); ties go to upper right, upper left, lower left, lower right in that order.
fn inner_legend(
    root: &Area,
    entries: &[Entry],
    area: [i32; 4],
    m: &Metrics,
    drawn: &[Vec<(f64, f64)>],
) -> Result<()> {
    let pad = m.tick;
    let w = entries.iter().map(|e| entry_w(e, m)).max().unwrap_or(0) + 2 * pad;
    let h = entries.len() as i32 * m.lh + 2 * pad;
    let [x0, y0, x1, y1] = area;
    let g = m.tick;
    let corners = [
        (x1 - g - w, y0 + g),
        (x0 + g, y0 + g),
        (x0 + g, y1 - g - h),
        (x1 - g - w, y1 - g - h),
    ];
    let cover = |(cx, cy): (i32, i32)| {
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
    let (bx, by) = corners
        .iter()
        .copied()
        .min_by_key(|&k| cover(k))
        .unwrap_or(corners[0]);
    let background = Rectangle::new([(bx, by), (bx + w, by + h)], rgb(WHITE).mix(0.85).filled());
    root.draw(&background).map_err(draw_err)?;
    let frame = Rectangle::new([(bx, by), (bx + w, by + h)], rgb(LEGEND_FRAME));
    root.draw(&frame).map_err(draw_err)?;
    for (i, e) in entries.iter().enumerate() {
        draw_entry(root, e, bx + pad, by + pad + i as i32 * m.lh, m)?;
    }
    Ok(())
}

/// The frame of an inner legend.
pub(super) const LEGEND_FRAME: Rgb = [0xCC; 3];

// ---------------------------------------------------------------------------------------------
// Panels

/// Where and how a panel is drawn.
struct PanelCtx<'r, 'a> {
    root: &'r Area<'a>,
    cell: &'r Area<'a>,
    /// Cell size in pixels.
    size: (i32, i32),
    m: &'r Metrics,
    styles: &'r Styles,
    /// A legend inside the panel (not a shared one).
    legend: bool,
}

/// The space around a panel's plot area (pixels).
#[derive(Debug, Clone, Copy)]
struct Margins {
    top: i32,
    left: i32,
    right: i32,
    bottom: i32,
    /// Height of the x tick label / axis label area.
    x_area: i32,
    /// Width of the y tick label / axis label area.
    y_area: i32,
}

impl<'r, 'a> PanelCtx<'r, 'a> {
    /// Margins for `x_rows` rows of x tick labels, an x / y axis label if any, y tick labels
    /// `y_tick_w` wide.
    fn margins(
        &self,
        title: &str,
        x_rows: i32,
        x_label: &str,
        y_label: &str,
        y_tick_w: i32,
    ) -> Margins {
        let m = self.m;
        let desc = m.fs.round() as i32 + m.pad;
        Margins {
            top: m.pad
                + if title.is_empty() {
                    m.pad
                } else {
                    m.title_h(m.title_fs) + m.pad
                },
            left: m.pad,
            right: 2 * m.pad + m.fs as i32,
            bottom: m.pad,
            x_area: 2 * m.tick + x_rows * m.lh + if x_label.is_empty() { 0 } else { desc },
            y_area: 2 * m.tick + y_tick_w + m.pad + if y_label.is_empty() { 0 } else { desc },
        }
    }

    /// Plot area size for `g`; an error when it is too small to draw in.
    fn plot_size(&self, g: &Margins) -> Result<(i32, i32)> {
        let w = self.size.0 - g.left - g.right - g.y_area;
        let h = self.size.1 - g.top - g.bottom - g.x_area;
        if w < 4 * self.m.fs as i32 || h < 3 * self.m.fs as i32 {
            return Err(plot_err("figure", TOO_SMALL));
        }
        Ok((w, h))
    }

    /// About one y tick per 2.2 lines of text (3 to 8), none closer than 1.5 lines.
    fn y_ticks(&self, axis: &Axis, plot_h: i32) -> Vec<(f64, String)> {
        let lh = self.m.lh as f64;
        let h = plot_h.max(1) as f64;
        let target = (h / (2.2 * lh)).clamp(3.0, 8.0);
        axis.ticks(target as usize, false, 1.5 * lh / h * (axis.hi - axis.lo))
    }

    /// A chart on `x` × `y` with the margins `g`, its grid, ticks and axis labels drawn, the
    /// frame of its plot area and the title. Returns the chart and its plot area
    /// `[x0, y0, x1, y1]` (absolute pixels, exclusive ends).
    fn chart(
        &self,
        g: &Margins,
        x: Axis,
        y: Axis,
        (title_text, x_label, y_label): (&str, &str, &str),
    ) -> Result<(Chart<'r, 'a>, [i32; 4])> {
        let m = self.m;
        let mut chart = ChartBuilder::on(self.cell)
            .margin_top(g.top)
            .margin_left(g.left)
            .margin_right(g.right)
            .margin_bottom(g.bottom)
            .x_label_area_size(g.x_area)
            .y_label_area_size(g.y_area)
            .build_cartesian_2d(x, y)
            .map_err(draw_err)?;
        let label = |h, v| text_style(m.fs, AXIS, h, v);
        let mut mesh = chart.configure_mesh();
        mesh.bold_line_style(rgb(GRID))
            .axis_style(rgb(AXIS))
            .label_style(label(HPos::Center, VPos::Center))
            .axis_desc_style(label(HPos::Center, VPos::Center))
            .set_all_tick_mark_size(m.tick)
            .y_label_offset(m.centre(m.fs));
        if !x_label.is_empty() {
            mesh.x_desc(x_label);
        }
        if !y_label.is_empty() {
            mesh.y_desc(y_label);
        }
        mesh.draw().map_err(draw_err)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let area = [xr.start, yr.start, xr.end, yr.end];
        // the axes are drawn just outside the plot area (left and below): frame it there
        let frame = Rectangle::new([(area[0] - 1, area[1] - 1), (area[2], area[3])], rgb(AXIS));
        self.root.draw(&frame).map_err(draw_err)?;
        if !title_text.is_empty() {
            let y = self.cell.get_base_pixel().1 + 2 * m.pad;
            title(
                self.root,
                title_text,
                (area[0] + area[2]) / 2,
                y,
                m.title_fs,
                [0; 3],
                m,
            )?;
        }
        Ok((chart, area))
    }

    fn no_data(&self, area: [i32; 4]) -> Result<()> {
        let c = (
            (area[0] + area[2]) / 2,
            (area[1] + area[3]) / 2 + self.m.centre(self.m.fs),
        );
        let t = Text::new(
            "no finite data",
            c,
            text_style(self.m.fs, GRAY, HPos::Center, VPos::Center),
        );
        self.root.draw(&t).map_err(draw_err)
    }

    fn line_plot(&self, l: &LinePlot) -> Result<()> {
        let m = self.m;
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
        let xaxis = Axis::padded(xa, xb, false, &l.title)?;
        let yaxis = Axis::padded(ya, yb, l.log_y, &l.title)?;
        let labels = (l.title.as_str(), l.x_label.as_str(), l.y_label.as_str());
        let g0 = self.margins(&l.title, 1, &l.x_label, &l.y_label, 0);
        let yt = self.y_ticks(&yaxis, self.plot_size(&g0)?.1);
        let ytw = yt.iter().map(|t| text_w(&t.1, m.fs)).max().unwrap_or(0);
        let g = self.margins(&l.title, 1, &l.x_label, &l.y_label, ytw);
        let (plot_w, _) = self.plot_size(&g)?;
        // x ticks: as many as fit with a gap of two digits between labels
        let mut target = 10;
        let xt = loop {
            let t = xaxis.ticks(target, integer_x, 0.0);
            let widest = t.iter().map(|t| text_w(&t.1, m.fs)).max().unwrap_or(0);
            let room = plot_w as f64 / t.len().max(1) as f64;
            if target <= 2 || (widest as f64 + 1.2 * m.fs) <= room {
                break t;
            }
            target -= 1;
        };
        let (mut chart, area) =
            self.chart(&g, xaxis.with_ticks(xt), yaxis.with_ticks(yt), labels)?;
        if empty {
            return self.no_data(area);
        }
        let mut drawn: Vec<Vec<(f64, f64)>> = vec![];
        for (series, p) in l.series.iter().zip(&pts) {
            let (color, mk) = style_of(self.styles, &series.name);
            let style = rgb(color).stroke_width(m.stroke(series.style.width));
            if series.style.dashed {
                let (on, off) = m.dash();
                chart
                    .draw_series(DashedLineSeries::new(p.iter().copied(), on, off, style))
                    .map_err(draw_err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), style))
                    .map_err(draw_err)?;
            }
            let px: Vec<(i32, i32)> = p.iter().map(|q| chart.backend_coord(q)).collect();
            if show_markers(series) {
                for &q in &px {
                    marker(self.root, mk, q, m.marker_r(), color)?;
                }
            } else if let [q] = px[..] {
                // a lone point without a marker would be invisible
                let r = 0.5 * m.stroke(series.style.width) as f64 + 0.5;
                marker(self.root, Marker::Circle, q, r, color)?;
            }
            drawn.push(px.iter().map(|q| (q.0 as f64, q.1 as f64)).collect());
        }
        if self.legend && l.series.len() >= 2 {
            let entries = legend_entries(&Panel::Line(l.clone()), self.styles);
            inner_legend(self.root, &entries, area, m, &drawn)?;
        }
        Ok(())
    }

    fn bar_chart(&self, b: &BarChart) -> Result<()> {
        let m = self.m;
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
        // group labels: staggered on two rows when too wide for a group, shortened with "…"
        // when too wide even for two groups
        let ng = b.groups.len();
        let g0 = self.margins(&b.title, 1, "", &b.y_label, 5 * m.fs as i32);
        let gw0 = self.plot_size(&g0)?.0 as f64 / ng as f64;
        let widest = b.groups.iter().map(|g| text_w(g, m.fs)).max().unwrap_or(0) as f64;
        let stagger = ng > 1 && widest + 0.5 * m.fs > gw0;
        let x_rows = 1 + stagger as i32;
        let spread = (hi - lo).max(0.02 * hi.abs()).max(1e-12);
        let (alo, ahi) = if zoom {
            (lo - 0.4 * spread, hi + 0.08 * spread)
        } else {
            (
                lo.min(0.0),
                hi.max(0.0) + 0.08 * (hi.max(0.0) - lo.min(0.0)),
            )
        };
        let mut yaxis = Axis::new(alo, ahi, false, &b.title)?;
        let g1 = self.margins(&b.title, x_rows, "", &b.y_label, 0);
        let plot_h = self.plot_size(&g1)?.1;
        // start a zoomed axis at a tick, so that the first label tells where the bars begin (a
        // longer axis may get a longer step: snap again)
        let mut yt = self.y_ticks(&yaxis, plot_h);
        for _ in 0..4 {
            if !zoom || yt.len() < 2 {
                break;
            }
            let step = yt[1].0 - yt[0].0;
            if yt[0].0 <= yaxis.lo + 1e-6 * step {
                break;
            }
            yaxis = Axis::new((yaxis.lo / step).floor() * step, ahi, false, &b.title)?;
            yt = self.y_ticks(&yaxis, plot_h);
        }
        let ytw = yt.iter().map(|t| text_w(&t.1, m.fs)).max().unwrap_or(0);
        let g = self.margins(&b.title, x_rows, "", &b.y_label, ytw);
        self.plot_size(&g)?;
        let xaxis = Axis::new(0.0, ng as f64, false, &b.title)?;
        let labels = (b.title.as_str(), "", b.y_label.as_str());
        let (chart, area) = self.chart(&g, xaxis, yaxis.with_ticks(yt), labels)?;
        let [x0, _, x1, y1] = area;
        let gw = (x1 - x0) as f64 / ng as f64;
        let span = if stagger { 2.0 * gw } else { gw } - 0.5 * m.fs;
        for (k, name) in b.groups.iter().enumerate() {
            let label = shorten(name, span, m.fs);
            let cx = x0 + ((k as f64 + 0.5) * gw).round() as i32;
            let row = if stagger { (k % 2) as i32 } else { 0 };
            let ty = y1 + 2 * m.tick + row * m.lh;
            let tick = PathElement::new([(cx, y1), (cx, ty - m.s)], rgb(AXIS));
            self.root.draw(&tick).map_err(draw_err)?;
            let style = text_style(m.fs, AXIS, HPos::Center, VPos::Top);
            let y = ty + (0.15 * m.fs).round() as i32;
            self.root
                .draw(&Text::new(label, (cx, y), style))
                .map_err(draw_err)?;
        }
        if empty {
            return self.no_data(area);
        }
        let base = if zoom {
            y1 - 1
        } else {
            chart.backend_coord(&(0.0, 0.0)).1
        };
        let ns = b.series.len() as f64;
        let bw = 0.8 * gw / ns;
        let gap = if bw >= 6.0 { 1 } else { 0 };
        let mut drawn = vec![];
        for (i, (name, v)) in b.series.iter().enumerate() {
            let color = style_of(self.styles, name).0;
            for (k, &v) in v.iter().enumerate() {
                if !v.is_finite() {
                    continue;
                }
                let left = x0 as f64 + k as f64 * gw + 0.1 * gw + i as f64 * bw;
                let top = chart.backend_coord(&(0.0, v)).1;
                let (ya, yb) = (top.min(base), top.max(base));
                let (l, r) = (left.round() as i32, (left + bw).round() as i32 - gap);
                drawn.push(vec![
                    (left + 0.5 * bw, ya as f64),
                    (left + 0.5 * bw, yb as f64),
                ]);
                let bar = Rectangle::new([(l, ya), (r.max(l + 1) - 1, yb)], rgb(color).filled());
                self.root.draw(&bar).map_err(draw_err)?;
            }
        }
        if self.legend && b.series.len() >= 2 {
            let entries = legend_entries(&Panel::Bar(b.clone()), self.styles);
            inner_legend(self.root, &entries, area, m, &drawn)?;
        }
        Ok(())
    }
}

/// `name`, or its head and "…", no wider than `room` pixels (at least three characters).
fn shorten(name: &str, room: f64, px: f64) -> String {
    if text_w(name, px) as f64 <= room {
        return name.to_string();
    }
    let chars: Vec<char> = name.chars().collect();
    let mut n = chars.len();
    while n > 1 {
        n -= 1;
        let t: String = chars[..n].iter().collect::<String>() + "…";
        if n <= 1 || text_w(&t, px) as f64 <= room {
            return t;
        }
    }
    name.to_string()
}
