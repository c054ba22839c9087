//! Line and bar charts written as RGB PNG (training and federation curves), drawn with
//! [`plotters`] on its bitmap backend.
//!
//! A [`Figure`] is a grid of panels — [`LinePlot`]s over a numeric x axis (optionally log y) and
//! grouped [`BarChart`]s — with an optional figure title and either one legend inside each panel
//! or one shared legend under all panels. Each panel has a title, axis labels, a frame with grid
//! lines, tick marks and tick labels; line series may be dashed, thicker, and carry markers.
//! Font: DejaVu Sans (`fonts/`, Bitstream Vera licence) embedded and registered with plotters'
//! `ab_glyph` support, so no system font is needed. The image is rendered into a memory buffer
//! and written through [`write_atomic`].
//!
//! - **Ticks.** Our own, not plotters' (whose log axis has no tick at all inside a decade, and
//!   whose linear axis ticks between integer rounds): linear axes use the 1-2-5 rule
//!   (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990): the step is the smallest
//!   of `{1, 2, 5}·10^k` that is at least `range / target` and the ticks are its multiples inside
//!   the range. An axis whose data are all integers (rounds, steps) never gets a step below 1.
//!   Log axes tick at the decades, or at `{1, 2, 5}·10^k` when the range spans less than two
//!   decades, or at `{1, …, 9}·10^k` when those give fewer than three ticks (and no more than the
//!   target + 1), else at linear nice ticks.
//! - **Ranges.** Line plots pad the data range by 5 % on each side (as matplotlib's default
//!   margins). Bar charts start at 0 unless every value is positive and the spread
//!   `max − min` is under half of `max`: then a zero baseline would hide the differences (PSNR
//!   of 28 vs 31 dB), so the axis starts at a nice value below `min` and the bars start at the
//!   bottom of the axis, whose tick labels show where it starts.
//! - **Colours.** Series are coloured by *name*, consistently over all panels of a figure, from
//!   [`PALETTE`] (Okabe & Ito's colour-blind-safe set, then two of Paul Tol's) in order of first
//!   appearance, unless [`Figure::colors`] or the series' own style fixes the colour; markers
//!   cycle through five shapes so that series stay distinguishable in grayscale.
//! - **Legends.** A panel's own legend (two or more series) goes into the corner of the plot
//!   area that covers the fewest data; a shared legend flows in rows under the panels.
//! - **Non-finite data.** NaN and infinite points (and non-positive ones on a log axis) are
//!   skipped; a panel left without any drawable point shows "no finite data" (a diverged run
//!   still gets its figure). Structural mistakes are errors ([`IoError::Plot`]), never panics: a
//!   zero-size or too small figure, no panels, a panel with no series / no points / no groups, a
//!   bar series whose length differs from the number of groups, data whose range overflows `f64`.

use crate::atomic::write_atomic;
use crate::error::{IoError, Result};
use std::path::Path;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// Okabe–Ito colours (without black and yellow), then Paul Tol's wine and teal.
pub const PALETTE: [Rgb; 8] = [
    [0x00, 0x72, 0xB2],
    [0xD5, 0x5E, 0x00],
    [0x00, 0x9E, 0x73],
    [0xCC, 0x79, 0xA7],
    [0xE6, 0x9F, 0x00],
    [0x56, 0xB4, 0xE9],
    [0x88, 0x22, 0x55],
    [0x44, 0xAA, 0x99],
];
/// Black, for a mean or an emphasised series.
pub const BLACK: Rgb = [0, 0, 0];
/// Gray, for reference values (e.g. a classical baseline).
pub const GRAY: Rgb = [0x80, 0x80, 0x80];
const WHITE: Rgb = [255, 255, 255];
const AXIS: Rgb = [0x33, 0x33, 0x33];
const GRID: Rgb = [0xE4, 0xE4, 0xE4];

mod render;
mod ticks;

pub use ticks::{format_tick, nice_ticks};

fn plot_err(what: &str, reason: impl Into<String>) -> IoError {
    IoError::Plot {
        what: what.to_string(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Plot description

/// How a line series is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStyle {
    /// Fixed colour (default: by name, see the module docs).
    pub color: Option<Rgb>,
    /// Width relative to the default (1.5 px per text-scale unit, rounded to whole pixels).
    pub width: f64,
    pub dashed: bool,
    /// Markers at the points (default: when a series has at most 40 points).
    pub markers: Option<bool>,
}

impl Default for LineStyle {
    fn default() -> Self {
        Self {
            color: None,
            width: 1.0,
            dashed: false,
            markers: None,
        }
    }
}

/// One named polyline.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: LineStyle,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            style: LineStyle::default(),
        }
    }
    pub fn color(mut self, c: Rgb) -> Self {
        self.style.color = Some(c);
        self
    }
    pub fn width(mut self, w: f64) -> Self {
        self.style.width = w;
        self
    }
    pub fn dashed(mut self) -> Self {
        self.style.dashed = true;
        self.style.markers.get_or_insert(false);
        self
    }
    pub fn markers(mut self, on: bool) -> Self {
        self.style.markers = Some(on);
        self
    }
}

/// Lines over a numeric x axis.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// Grouped bars: one group per category (`groups`), one bar per series inside each group;
/// `series[i].1[g]` is the value of series `i` in group `g`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    pub series: Vec<(String, Vec<f64>)>,
}

/// One panel of a figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    Line(LinePlot),
    Bar(BarChart),
}

impl From<LinePlot> for Panel {
    fn from(p: LinePlot) -> Self {
        Panel::Line(p)
    }
}
impl From<BarChart> for Panel {
    fn from(p: BarChart) -> Self {
        Panel::Bar(p)
    }
}

/// Panels on a grid, optionally with a title and one legend for all panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub title: Option<String>,
    pub panels: Vec<Panel>,
    /// Panels per row (0: all in one row).
    pub columns: usize,
    /// One legend under the panels instead of one inside each panel.
    pub shared_legend: bool,
    /// Colours fixed by series name.
    pub colors: Vec<(String, Rgb)>,
    /// Text scale: tick labels, axis labels and legends are set at `8 × text_scale` pixels,
    /// panel titles at 9× and the figure title at 10× (default 2).
    pub text_scale: usize,
}

impl Figure {
    /// `panels` in one row, per-panel legends, text scale 2.
    pub fn new(panels: Vec<Panel>) -> Self {
        Self {
            title: None,
            panels,
            columns: 0,
            shared_legend: false,
            colors: vec![],
            text_scale: 2,
        }
    }

    /// Render, encode and write the figure as a `width × height` RGB PNG, atomically.
    pub fn write_png(&self, path: impl AsRef<Path>, width: usize, height: usize) -> Result<()> {
        let bytes = self.render(width, height)?.encode_png()?;
        write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
    }

    /// Render into a `width × height` RGB image.
    pub fn render(&self, width: usize, height: usize) -> Result<Canvas> {
        if width == 0 || height == 0 || width > 1 << 14 || height > 1 << 14 {
            return Err(plot_err(
                "figure",
                format!("size {width}×{height}: need 1..=16384 pixels each way"),
            ));
        }
        if self.panels.is_empty() {
            return Err(plot_err("figure", "no panels"));
        }
        for p in &self.panels {
            validate(p)?;
        }
        let rgb = render::figure(self, width, height)?;
        Ok(Canvas { width, height, rgb })
    }

    /// Colour and marker of every series name.
    fn styles(&self) -> Vec<(String, Rgb, Marker)> {
        let mut out: Vec<(String, Rgb, Marker)> = vec![];
        let mut next = 0;
        let mut add = |name: &str, fixed: Option<Rgb>| {
            if out.iter().any(|(n, _, _)| n == name) {
                return;
            }
            let fixed =
                fixed.or_else(|| self.colors.iter().find(|(n, _)| n == name).map(|(_, c)| *c));
            let c = fixed.unwrap_or(PALETTE[next % PALETTE.len()]);
            out.push((name.to_string(), c, MARKERS[next % MARKERS.len()]));
            next += 1;
        };
        for p in &self.panels {
            match p {
                Panel::Line(l) => l.series.iter().for_each(|s| add(&s.name, s.style.color)),
                Panel::Bar(b) => b.series.iter().for_each(|s| add(&s.0, None)),
            }
        }
        out
    }
}

fn validate(p: &Panel) -> Result<()> {
    match p {
        Panel::Line(l) => {
            if l.series.iter().all(|s| s.points.is_empty()) {
                return Err(plot_err(&l.title, "no data points"));
            }
        }
        Panel::Bar(b) => {
            if b.groups.is_empty() || b.series.is_empty() {
                return Err(plot_err(&b.title, "a bar chart needs groups and series"));
            }
            if let Some((n, v)) = b.series.iter().find(|s| s.1.len() != b.groups.len()) {
                return Err(plot_err(
                    &b.title,
                    format!(
                        "series `{n}` has {} values for {} groups",
                        v.len(),
                        b.groups.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Images

/// Marker shapes (filled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Diamond,
    TriangleUp,
    TriangleDown,
}

const MARKERS: [Marker; 5] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
];

/// An RGB image, row-major, 3 bytes per pixel: a rendered figure or a decoded PNG.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Canvas {
    /// A `width × height` image filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        Self {
            width,
            height,
            rgb: background.repeat(width * height),
        }
    }

    /// The colour of pixel `(x, y)` (which must be inside).
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        let k = 3 * (y * self.width + x);
        [self.rgb[k], self.rgb[k + 1], self.rgb[k + 2]]
    }

    /// Encode as an 8-bit RGB PNG.
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut encode = || -> std::result::Result<(), png::EncodingError> {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header()?;
            w.write_image_data(&self.rgb)?;
            w.finish()
        };
        encode().map_err(|e| plot_err("figure", format!("PNG encoder: {e}")))?;
        Ok(out)
    }
}

/// Read an 8-bit RGB, RGBA, gray or gray-alpha PNG into a [`Canvas`] (alpha is dropped).
pub fn read_png_rgb(path: impl AsRef<Path>) -> Result<Canvas> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| IoError::io("open", path, e))?;
    let bad = |e: &dyn std::fmt::Display| IoError::format(path, "PNG stream", e.to_string());
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .map_err(|e| bad(&e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad(&"image too large"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(&e))?;
    if info.bit_depth != png::BitDepth::Eight {
        return Err(IoError::unsupported(
            path,
            "bit depth",
            format!("{:?} (only 8-bit is read)", info.bit_depth),
        ));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let mut c = Canvas::new(w, h, WHITE);
    for (k, px) in buf[..w * h * channels].chunks_exact(channels).enumerate() {
        let rgb = if channels >= 3 {
            [px[0], px[1], px[2]]
        } else {
            [px[0]; 3]
        };
        c.rgb[3 * k..3 * k + 3].copy_from_slice(&rgb);
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
