//! Raster line and bar plots written as RGB PNG (training and federation curves).
//!
//! A small self-contained plotter: an embedded 5×9 bitmap font (ASCII 32–126, drawn at an integer
//! scale), antialiased lines, markers, axes with "nice" ticks, an optional log-y axis, legends and
//! several panels on a grid. It exists so that `fedrecon train` and `fedrecon fed …` can write
//! readable `curves.png` / `compare.png` files without a plotting dependency.
//!
//! - **Ticks.** Linear axes use the 1-2-5 rule (Heckbert, "Nice numbers for graph labels",
//!   Graphics Gems, 1990): the step is the smallest of `{1, 2, 5}·10^k` that is at least
//!   `range / target` and the ticks are its multiples inside the range. An axis whose data are
//!   all integers (rounds, steps) never gets a step below 1. Log axes tick at the decades, or at
//!   `{1, 2, 5}·10^k` when the range spans less than two decades, or at `{1, …, 9}·10^k` when
//!   those give fewer than three ticks (and no more than the target + 1), else at linear nice
//!   ticks.
//! - **Ranges.** Line plots pad the data range by 5 % on each side (as matplotlib's default
//!   margins). Bar charts start at 0 unless every value is positive and the spread
//!   `max − min` is under half of `max`: then a zero baseline would hide the differences (PSNR
//!   of 28 vs 31 dB), so the axis starts at a nice value below `min` and the bars start at the
//!   bottom of the axis, whose tick labels show where it starts.
//! - **Colours.** Series are coloured by *name*, consistently over all panels of a figure, from
//!   [`PALETTE`] (Okabe & Ito's colour-blind-safe set, then two of Paul Tol's) in order of first
//!   appearance, unless [`Figure::colors`] or the series' own style fixes the colour; markers
//!   cycle through five shapes so that series stay distinguishable in grayscale.
//! - **Non-finite data.** NaN and infinite points (and non-positive ones on a log axis) are
//!   skipped; a panel left without any drawable point shows "no finite data" (a diverged run
//!   still gets its figure). Structural mistakes are errors ([`IoError::Plot`]): a zero-size or
//!   too small figure, no panels, a panel with no series / no points / no groups, a bar series
//!   whose length differs from the number of groups.

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

// ---------------------------------------------------------------------------------------------
// Font

/// Glyph cell in font pixels: 5 wide; 7 rows above the baseline and 2 for descenders.
const GLYPH_W: usize = 5;
const GLYPH_H: usize = 9;
const ADVANCE: usize = 6;
const LINE_H: usize = 12;

/// ASCII 32..=126, rows top to bottom separated by spaces (`#` ink, `.` blank; missing rows
/// are blank).
const FONT_SRC: [&str; 95] = [
    /*   */ "",
    /* ! */ "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    /* " */ ".#.#. .#.#. .#.#.",
    /* # */ ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
    /* $ */ "..#.. .#### #.#.. .###. ..#.# ####. ..#..",
    /* % */ "##... ##..# ...#. ..#.. .#... #..## ...##",
    /* & */ ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
    /* ' */ "..#.. ..#.. .#...",
    /* ( */ "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    /* ) */ ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    /* * */ "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
    /* + */ "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    /* , */ "..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...",
    /* - */ "..... ..... ..... .###. ..... ..... .....",
    /* . */ "..... ..... ..... ..... ..... .##.. .##..",
    /* / */ "..... ....# ...#. ..#.. .#... #.... .....",
    /* 0 */ ".###. #...# #..## #.#.# ##..# #...# .###.",
    /* 1 */ "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    /* 2 */ ".###. #...# ....# ...#. ..#.. .#... #####",
    /* 3 */ "##### ...#. ..#.. ...#. ....# #...# .###.",
    /* 4 */ "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    /* 5 */ "##### #.... ####. ....# ....# #...# .###.",
    /* 6 */ "..##. .#... #.... ####. #...# #...# .###.",
    /* 7 */ "##### ....# ...#. ..#.. .#... .#... .#...",
    /* 8 */ ".###. #...# #...# .###. #...# #...# .###.",
    /* 9 */ ".###. #...# #...# .#### ....# ...#. .##..",
    /* : */ "..... .##.. .##.. ..... .##.. .##.. .....",
    /* ; */ "..... .##.. .##.. ..... .##.. .##.. ..#.. .#...",
    /* < */ "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    /* = */ "..... ..... ##### ..... ##### ..... .....",
    /* > */ ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    /* ? */ ".###. #...# ....# ...#. ..#.. ..... ..#..",
    /* @ */ ".###. #...# ....# .##.# #.#.# #.#.# .###.",
    /* A */ ".###. #...# #...# ##### #...# #...# #...#",
    /* B */ "####. #...# #...# ####. #...# #...# ####.",
    /* C */ ".###. #...# #.... #.... #.... #...# .###.",
    /* D */ "###.. #..#. #...# #...# #...# #..#. ###..",
    /* E */ "##### #.... #.... ####. #.... #.... #####",
    /* F */ "##### #.... #.... ####. #.... #.... #....",
    /* G */ ".###. #...# #.... #.### #...# #...# .####",
    /* H */ "#...# #...# #...# ##### #...# #...# #...#",
    /* I */ ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    /* J */ "..### ...#. ...#. ...#. ...#. #..#. .##..",
    /* K */ "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    /* L */ "#.... #.... #.... #.... #.... #.... #####",
    /* M */ "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    /* N */ "#...# #...# ##..# #.#.# #..## #...# #...#",
    /* O */ ".###. #...# #...# #...# #...# #...# .###.",
    /* P */ "####. #...# #...# ####. #.... #.... #....",
    /* Q */ ".###. #...# #...# #...# #.#.# #..#. .##.#",
    /* R */ "####. #...# #...# ####. #.#.. #..#. #...#",
    /* S */ ".#### #.... #.... .###. ....# ....# ####.",
    /* T */ "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    /* U */ "#...# #...# #...# #...# #...# #...# .###.",
    /* V */ "#...# #...# #...# #...# #...# .#.#. ..#..",
    /* W */ "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    /* X */ "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    /* Y */ "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    /* Z */ "##### ....# ...#. ..#.. .#... #.... #####",
    /* [ */ ".###. .#... .#... .#... .#... .#... .###.",
    /* \ */ "..... #.... .#... ..#.. ...#. ....# .....",
    /* ] */ ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    /* ^ */ "..#.. .#.#. #...#",
    /* _ */ "..... ..... ..... ..... ..... ..... ..... #####",
    /* ` */ ".#... ..#.. ...#.",
    /* a */ "..... ..... .###. ....# .#### #...# .####",
    /* b */ "#.... #.... #.##. ##..# #...# #...# ####.",
    /* c */ "..... ..... .###. #.... #.... #...# .###.",
    /* d */ "....# ....# .##.# #..## #...# #...# .####",
    /* e */ "..... ..... .###. #...# ##### #.... .###.",
    /* f */ "..##. .#..# .#... ###.. .#... .#... .#...",
    /* g */ "..... ..... .#### #...# #...# #...# .#### ....# .###.",
    /* h */ "#.... #.... #.##. ##..# #...# #...# #...#",
    /* i */ "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    /* j */ "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",
    /* k */ "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    /* l */ ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    /* m */ "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",
    /* n */ "..... ..... #.##. ##..# #...# #...# #...#",
    /* o */ "..... ..... .###. #...# #...# #...# .###.",
    /* p */ "..... ..... ####. #...# #...# #...# ####. #.... #....",
    /* q */ "..... ..... .#### #...# #...# #...# .#### ....# ....#",
    /* r */ "..... ..... #.##. ##..# #.... #.... #....",
    /* s */ "..... ..... .#### #.... .###. ....# ####.",
    /* t */ ".#... .#... ###.. .#... .#... .#..# ..##.",
    /* u */ "..... ..... #...# #...# #...# #..## .##.#",
    /* v */ "..... ..... #...# #...# #...# .#.#. ..#..",
    /* w */ "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    /* x */ "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    /* y */ "..... ..... #...# #...# #...# #...# .#### ....# .###.",
    /* z */ "..... ..... ##### ...#. ..#.. .#... #####",
    /* { */ "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.",
    /* | */ "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    /* } */ ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#...",
    /* ~ */ "..... ..... .#... #.#.# ...#. .....",
];

/// Glyph bitmaps: one byte per row, bit 4 the leftmost column. Parsed at compile time, so a
/// malformed glyph is a build error.
const FONT: [[u8; GLYPH_H]; 95] = parse_font();

const fn parse_font() -> [[u8; GLYPH_H]; 95] {
    let mut out = [[0u8; GLYPH_H]; 95];
    let mut g = 0;
    while g < 95 {
        let s = FONT_SRC[g].as_bytes();
        let (mut row, mut col, mut i) = (0, 0, 0);
        while i < s.len() {
            match s[i] {
                b'#' => {
                    assert!(col < GLYPH_W && row < GLYPH_H, "glyph too large");
                    out[g][row] |= 1 << (GLYPH_W - 1 - col);
                    col += 1;
                }
                b'.' => col += 1,
                b' ' => {
                    assert!(col == GLYPH_W, "glyph row is not 5 wide");
                    row += 1;
                    col = 0;
                }
                _ => panic!("glyph character other than '#', '.', ' '"),
            }
            i += 1;
        }
        assert!(s.is_empty() || col == GLYPH_W, "glyph row is not 5 wide");
        g += 1;
    }
    out
}

fn glyph(c: char) -> &'static [u8; GLYPH_H] {
    let i = c as u32;
    if (32..=126).contains(&i) {
        &FONT[(i - 32) as usize]
    } else {
        &FONT[(b'?' - 32) as usize]
    }
}

/// Width in pixels of `s` drawn at `scale` (no trailing gap).
pub fn text_width(s: &str, scale: usize) -> usize {
    let n = s.chars().count();
    if n == 0 { 0 } else { (n * ADVANCE - 1) * scale }
}

/// Height in pixels of a line of text at `scale` (ascent and descent).
pub fn text_height(scale: usize) -> usize {
    GLYPH_H * scale
}

// ---------------------------------------------------------------------------------------------
// Canvas

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

/// An RGB image, row-major, 3 bytes per pixel. Drawing is clipped to the image (and to
/// the clip rectangle, when set). Pixel `(x, y)` has its centre at the point `(x, y)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    clip: Option<[i64; 4]>,
}

impl Canvas {
    /// A `width × height` canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        Self {
            width,
            height,
            rgb: background.repeat(width * height),
            clip: None,
        }
    }

    /// The colour of pixel `(x, y)` (which must be inside).
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        let k = 3 * (y * self.width + x);
        [self.rgb[k], self.rgb[k + 1], self.rgb[k + 2]]
    }

    /// Mix `c` into pixel `(x, y)` with opacity `alpha ∈ [0, 1]`.
    pub fn blend(&mut self, x: i64, y: i64, c: Rgb, alpha: f64) {
        let [x0, y0, x1, y1] = self
            .clip
            .unwrap_or([0, 0, self.width as i64, self.height as i64]);
        if x < x0.max(0) || y < y0.max(0) || x >= x1.min(self.width as i64) {
            return;
        }
        if y >= y1.min(self.height as i64) || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let k = 3 * (y as usize * self.width + x as usize);
        for (p, &c) in self.rgb[k..k + 3].iter_mut().zip(&c) {
            *p = (*p as f64 * (1.0 - a) + c as f64 * a).round() as u8;
        }
    }

    /// Fill the pixels `x0 ≤ x < x1`, `y0 ≤ y < y1`.
    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        for y in y0..y1 {
            for x in x0..x1 {
                self.blend(x, y, c, 1.0);
            }
        }
    }

    /// The outline (1 pixel) of `x0 ≤ x < x1`, `y0 ≤ y < y1`.
    pub fn stroke_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        self.fill_rect(x0, y0, x1, y0 + 1, c);
        self.fill_rect(x0, y1 - 1, x1, y1, c);
        self.fill_rect(x0, y0, x0 + 1, y1, c);
        self.fill_rect(x1 - 1, y0, x1, y1, c);
    }

    /// An antialiased segment of `width` pixels with round caps: each pixel gets the coverage
    /// `clamp(width/2 + 1/2 − d, 0, 1)`, `d` the distance of its centre to the segment.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), width: f64, c: Rgb) {
        let r = 0.5 * width;
        let xa = (a.0.min(b.0) - r - 1.0).floor().max(-1.0) as i64;
        let xb = (a.0.max(b.0) + r + 1.0).ceil().min(self.width as f64) as i64;
        let ya = (a.1.min(b.1) - r - 1.0).floor().max(-1.0) as i64;
        let yb = (a.1.max(b.1) + r + 1.0).ceil().min(self.height as f64) as i64;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for y in ya..=yb {
            for x in xa..=xb {
                let (px, py) = (x as f64 - a.0, y as f64 - a.1);
                let t = if len2 > 0.0 {
                    ((px * dx + py * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let d = (px - t * dx).hypot(py - t * dy);
                self.blend(x, y, c, r + 0.5 - d);
            }
        }
    }

    /// A filled, antialiased marker of radius `r` centred at `p`.
    pub fn marker(&mut self, m: Marker, p: (f64, f64), r: f64, c: Rgb) {
        let k = (r + 2.0).ceil() as i64;
        let (cx, cy) = (p.0.round() as i64, p.1.round() as i64);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        for y in cy - k..=cy + k {
            for x in cx - k..=cx + k {
                let (u, v) = (x as f64 - p.0, y as f64 - p.1);
                // signed distance to the shape (negative inside)
                let d = match m {
                    Marker::Circle => u.hypot(v) - r,
                    Marker::Square => u.abs().max(v.abs()) - 0.85 * r,
                    Marker::Diamond => (u.abs() + v.abs()) * s - 0.9 * r,
                    Marker::TriangleUp | Marker::TriangleDown => {
                        let v = if m == Marker::TriangleUp { v } else { -v };
                        // equilateral, centroid at p, circumradius 1.3 r
                        let rr = 1.3 * r;
                        let bottom = v - 0.5 * rr;
                        let side = (u.abs() * 0.866 - v * 0.5) - 0.5 * rr;
                        bottom.max(side)
                    }
                };
                self.blend(x, y, c, 0.5 - d);
            }
        }
    }

    /// Draw `s` with its top-left corner at `(x, y)`, each font pixel a `scale × scale` block.
    pub fn text(&mut self, s: &str, x: i64, y: i64, scale: usize, c: Rgb) {
        self.glyphs(s, scale, |cv, gx, gy| {
            cv.fill_rect(
                x + gx,
                y + gy,
                x + gx + scale as i64,
                y + gy + scale as i64,
                c,
            )
        });
    }

    /// Draw `s` rotated a quarter turn counter-clockwise (reading upwards); `(x, y)` is the
    /// top-left corner of its bounding box (`text_height` wide, `text_width` high).
    pub fn text_up(&mut self, s: &str, x: i64, y: i64, scale: usize, c: Rgb) {
        let w = text_width(s, scale) as i64;
        let sc = scale as i64;
        self.glyphs(s, scale, |cv, gx, gy| {
            cv.fill_rect(x + gy, y + w - gx - sc, x + gy + sc, y + w - gx, c)
        });
    }

    fn glyphs(&mut self, s: &str, scale: usize, mut put: impl FnMut(&mut Self, i64, i64)) {
        for (i, ch) in s.chars().enumerate() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (1 << (GLYPH_W - 1 - col)) != 0 {
                        let gx = ((i * ADVANCE + col) * scale) as i64;
                        put(self, gx, (row * scale) as i64);
                    }
                }
            }
        }
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

fn plot_err(what: &str, reason: impl Into<String>) -> IoError {
    IoError::Plot {
        what: what.to_string(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Ticks

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

fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
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
fn log_ticks(lo: f64, hi: f64, target: usize, min_gap: f64) -> Vec<(f64, String)> {
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

// ---------------------------------------------------------------------------------------------
// Plot description

/// How a line series is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStyle {
    /// Fixed colour (default: by name, see the module docs).
    pub color: Option<Rgb>,
    /// Width relative to the default (1.5 px per text-scale unit).
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
    /// Text scale: each font pixel is `text_scale × text_scale` image pixels (default 2).
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

    /// Render onto a `width × height` canvas.
    pub fn render(&self, width: usize, height: usize) -> Result<Canvas> {
        let s = self.text_scale.max(1);
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
        let styles = self.styles();
        let cols = if self.columns == 0 {
            self.panels.len()
        } else {
            self.columns.min(self.panels.len())
        };
        let rows = self.panels.len().div_ceil(cols);
        let lh = (LINE_H * s) as i64;
        let pad = (4 * s) as i64;
        let mut c = Canvas::new(width, height, WHITE);
        let mut top = 0;
        if let Some(t) = &self.title {
            let x = (width as i64 - text_width(t, s) as i64) / 2;
            bold(&mut c, t, x, pad + s as i64, s, AXIS);
            top = lh + 2 * pad;
        }
        let legend = if self.shared_legend {
            let mut entries = vec![];
            for p in &self.panels {
                for e in legend_entries(p, &styles) {
                    if !entries.iter().any(|x: &Entry| x.name == e.name) {
                        entries.push(e);
                    }
                }
            }
            entries
        } else {
            vec![]
        };
        let legend_rows = flow_rows(&legend, width as i64 - 2 * pad, s);
        let legend_h = if legend.is_empty() {
            0
        } else {
            legend_rows.len() as i64 * lh + 2 * pad
        };
        let cw = width as i64 / cols as i64;
        let ch = (height as i64 - top - legend_h) / rows as i64;
        if cw < 60 * s as i64 || ch < 50 * s as i64 {
            return Err(plot_err(
                "figure",
                format!(
                    "size {width}×{height} is too small for {} panels at text scale {s}",
                    self.panels.len()
                ),
            ));
        }
        for (k, p) in self.panels.iter().enumerate() {
            let rect = [(k % cols) as i64 * cw, top + (k / cols) as i64 * ch, cw, ch];
            draw_panel(&mut c, p, rect, s, &styles, !self.shared_legend);
        }
        let mut y = height as i64 - legend_h + pad;
        for row in legend_rows {
            let w: i64 = row.iter().map(|&i| entry_width(&legend[i], s)).sum();
            let mut x = (width as i64 - w) / 2;
            for i in row {
                draw_entry(&mut c, &legend[i], x, y, s);
                x += entry_width(&legend[i], s);
            }
            y += lh;
        }
        Ok(c)
    }

    /// Colour, marker of every series name.
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
// Drawing

fn bold(c: &mut Canvas, t: &str, x: i64, y: i64, s: usize, col: Rgb) {
    c.text(t, x, y, s, col);
    if s >= 2 {
        c.text(t, x + 1, y, s, col);
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    color: Rgb,
    marker: Option<Marker>,
    bar: bool,
    dashed: bool,
    width: f64,
}

fn legend_entries(p: &Panel, styles: &[(String, Rgb, Marker)]) -> Vec<Entry> {
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

fn show_markers(s: &Series) -> bool {
    s.style
        .markers
        .unwrap_or(s.points.iter().filter(|p| p.0.is_finite()).count() <= 40)
}

const SWATCH: usize = 4; // swatch length in characters

fn entry_width(e: &Entry, s: usize) -> i64 {
    ((SWATCH + 3) * ADVANCE * s + text_width(&e.name, s)) as i64
}

fn draw_entry(c: &mut Canvas, e: &Entry, x: i64, y: i64, s: usize) {
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
fn flow_rows(entries: &[Entry], width: i64, s: usize) -> Vec<Vec<usize>> {
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

fn dash(s: usize) -> (f64, f64) {
    (6.0 * s as f64, 4.0 * s as f64)
}

fn marker_r(s: usize) -> f64 {
    2.0 * s as f64 + 0.5
}

/// A polyline, optionally dashed `(on, off)` with the pattern continuing across vertices.
fn polyline(c: &mut Canvas, pts: &[(f64, f64)], width: f64, col: Rgb, dash: Option<(f64, f64)>) {
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
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// Map `v` onto `[p0, p1]` (pixels).
    fn px(&self, v: f64, p0: f64, p1: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        p0 + (v - self.lo) / (self.hi - self.lo) * (p1 - p0)
    }

    /// Data range padded by 5 % (a degenerate range gets a width).
    fn padded(lo: f64, hi: f64, log: bool) -> Self {
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
    fn ticks(&self, target: usize, integer: bool, min_gap: f64) -> Vec<(f64, String)> {
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
struct Frame<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Rows of x tick labels (2 when staggered).
    x_rows: i64,
}

fn margins(f: &Frame, rect: [i64; 4], s: usize, y_tick_w: i64) -> [i64; 4] {
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

fn draw_frame(
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

fn no_data(c: &mut Canvas, area: [i64; 4], s: usize) {
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

fn draw_panel(
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

fn y_ticks_for(axis: &Axis, rect: [i64; 4], f: &Frame, s: usize) -> Vec<(f64, String)> {
    let [_, top, _, bottom] = margins(f, rect, s, 0);
    let lh = (LINE_H * s) as f64;
    let h = (bottom - top).max(1) as f64;
    let target = (h / (2.2 * lh)).clamp(3.0, 8.0);
    axis.ticks(target as usize, false, 1.5 * lh / h * (axis.hi - axis.lo))
}

fn draw_line_plot(
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
fn inner_legend(
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

fn draw_bar_chart(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ink(c: &Canvas, x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
        let mut n = 0;
        for y in y0..y1.min(c.height) {
            for x in x0..x1.min(c.width) {
                n += (c.pixel(x, y) != WHITE) as usize;
            }
        }
        n
    }

    #[test]
    fn text_ink_stays_in_its_box_and_glyphs_differ() {
        let mut c = Canvas::new(100, 40, WHITE);
        c.text("Ag0.-e", 10, 5, 2, BLACK);
        let (w, h) = (text_width("Ag0.-e", 2), text_height(2));
        assert_eq!((w, h), ((6 * 6 - 1) * 2, 18));
        let inside = ink(&c, 10, 5, 10 + w, 5 + h);
        assert!(inside > 100, "{inside}");
        assert_eq!(ink(&c, 0, 0, 100, 40), inside, "ink outside the text box");
        // the descender of 'g' reaches below the baseline (rows 7-8), 'A' does not
        assert!(ink(&c, 10 + 12, 5 + 14, 10 + 22, 5 + 18) > 0);
        assert_eq!(ink(&c, 10, 5 + 14, 10 + 10, 5 + 18), 0);
        // every printable glyph but the space has ink, and no two glyphs are equal
        for (i, g) in FONT.iter().enumerate().skip(1) {
            assert!(
                g.iter().any(|&r| r != 0),
                "glyph {}",
                (i as u8 + 32) as char
            );
            for (j, h) in FONT.iter().enumerate().skip(i + 1) {
                assert_ne!(
                    g,
                    h,
                    "{} == {}",
                    (i as u8 + 32) as char,
                    (j as u8 + 32) as char
                );
            }
        }
        // rotated text occupies the transposed box
        let mut r = Canvas::new(40, 100, WHITE);
        r.text_up("Ag0.-e", 5, 10, 2, BLACK);
        assert_eq!(ink(&r, 5, 10, 5 + h, 10 + w), inside);
        assert_eq!(ink(&r, 0, 0, 40, 100), inside);
    }

    #[test]
    fn nice_ticks_follow_the_1_2_5_rule() {
        let (t, step) = nice_ticks(0.0, 1.0, 5);
        assert_eq!(step, 0.2);
        assert_eq!(t, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let (t, step) = nice_ticks(27.3, 33.9, 5);
        assert_eq!((t, step), (vec![28.0, 30.0, 32.0], 2.0));
        let (t, step) = nice_ticks(-0.013, 0.0021, 4);
        assert_eq!(step, 0.005);
        assert_eq!(t, vec![-0.01, -0.005, 0.0]);
        let labels: Vec<String> = [0.0, 0.2, 1.0].map(|v| format_tick(v, 0.2)).into();
        assert_eq!(labels, ["0", "0.2", "1.0"]);
        assert_eq!(format_tick(-0.005, 0.005), "-0.005");
        assert_eq!(format_tick(4e-4, 2e-4), "4e-4");
        assert_eq!(format_tick(250000.0, 50000.0), "2.5e5");
        assert_eq!(format_tick(30.0, 2.0), "30");
        // log axes: decades over a wide range, 1-2-5 over a narrow one
        let t: Vec<String> = log_ticks(-3.2, 0.1, 6, 0.0)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["0.001", "0.01", "0.1", "1"]);
        let t: Vec<String> = log_ticks(-7.2, -4.9, 6, 0.0)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["1e-7", "1e-6", "1e-5"]);
        let t: Vec<f64> = log_ticks(0.2f64.log10(), 3f64.log10(), 5, 0.0)
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(t, vec![0.2, 0.5, 1.0, 2.0]);
        let t: Vec<String> = log_ticks(0.0028f64.log10(), 0.0095f64.log10(), 6, 0.055)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["0.003", "0.004", "0.005", "0.006", "0.007", "0.008"]);
        let t: Vec<String> = log_ticks(0.0028f64.log10(), 0.0085f64.log10(), 3, 0.0)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["0.004", "0.006", "0.008"]);
        // integer axes never tick between rounds
        let a = Axis::padded(1.0, 3.0, false);
        let t: Vec<String> = a.ticks(10, true, 0.0).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["1", "2", "3"]);
    }

    #[test]
    fn line_sets_the_pixels_on_the_segment_only() {
        let mut c = Canvas::new(30, 20, WHITE);
        c.line((5.0, 10.0), (20.0, 10.0), 1.0, BLACK);
        for x in 0..30 {
            for y in 0..20 {
                let want = if y == 10 && (5..=20).contains(&x) {
                    BLACK
                } else {
                    WHITE
                };
                assert_eq!(c.pixel(x, y), want, "({x}, {y})");
            }
        }
        // a diagonal hits its end points and the centre, and nothing far from it
        let mut d = Canvas::new(30, 30, WHITE);
        d.line((2.0, 2.0), (22.0, 22.0), 1.0, [200, 0, 0]);
        for k in [2, 12, 22] {
            assert_eq!(d.pixel(k, k), [200, 0, 0]);
        }
        assert_eq!(d.pixel(22, 2), WHITE);
        assert_eq!(d.pixel(12, 14), WHITE);
    }

    fn example() -> Figure {
        let mut f = Figure::new(vec![
            LinePlot {
                title: "PSNR".into(),
                x_label: "round".into(),
                y_label: "dB".into(),
                log_y: false,
                series: vec![
                    Series::new("A", vec![(1.0, 20.0), (2.0, 25.0), (3.0, f64::NAN)]),
                    Series::new("B", vec![(1.0, 22.0), (2.0, f64::INFINITY), (3.0, 27.0)]),
                ],
            }
            .into(),
            BarChart {
                title: "final".into(),
                y_label: "dB".into(),
                groups: vec!["A".into(), "B".into()],
                series: vec![
                    ("x".into(), vec![28.0, 30.0]),
                    ("y".into(), vec![29.0, f64::NAN]),
                ],
            }
            .into(),
        ]);
        f.title = Some("example".into());
        f.shared_legend = true;
        f
    }

    #[test]
    fn figure_png_decodes_at_the_requested_size_and_skips_non_finite_points() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fig.png");
        example().write_png(&p, 640, 300).unwrap();
        let img = read_png_rgb(&p).unwrap();
        assert_eq!((img.width, img.height), (640, 300));
        // the palette colours of both series are drawn
        let has = |c: Rgb| img.rgb.chunks_exact(3).any(|p| p == c);
        assert!(has(PALETTE[0]) && has(PALETTE[1]) && has(PALETTE[2]));
        assert!(img.rgb.chunks_exact(3).filter(|p| *p == WHITE).count() > 640 * 300 / 2);
        // all points non-finite: the panel still renders (with a note)
        let mut f = example();
        f.panels.truncate(1);
        if let Panel::Line(l) = &mut f.panels[0] {
            for s in &mut l.series {
                s.points.iter_mut().for_each(|p| p.1 = f64::NAN);
            }
        }
        assert!(f.render(400, 300).is_ok());
        // log axes skip non-positive values
        if let Panel::Line(l) = &mut f.panels[0] {
            l.log_y = true;
            l.series[0].points = vec![(1.0, 0.0), (2.0, 1e-3), (3.0, 1e-1)];
        }
        assert!(f.render(400, 300).is_ok());
    }

    /// Heights in pixels of the two bars of a one-series chart.
    fn bar_heights(values: [f64; 2]) -> [usize; 2] {
        let f = Figure::new(vec![
            BarChart {
                title: "t".into(),
                y_label: "v".into(),
                groups: vec!["a".into(), "b".into()],
                series: vec![("s".into(), values.to_vec())],
            }
            .into(),
        ]);
        let c = f.render(400, 300).unwrap();
        let mut h = [0; 2];
        for x in 0..c.width {
            let n = (0..c.height)
                .filter(|&y| c.pixel(x, y) == PALETTE[0])
                .count();
            let k = if x < c.width / 2 { 0 } else { 1 };
            h[k] = h[k].max(n);
        }
        h
    }

    #[test]
    fn bars_start_at_zero_unless_that_hides_the_differences() {
        let [a, b] = bar_heights([10.0, 30.0]);
        assert!((b as f64 / a as f64 - 3.0).abs() < 0.1, "{a} {b}");
        let [a, b] = bar_heights([28.0, 30.0]);
        assert!(b as f64 > 1.5 * a as f64 && a > 5, "{a} {b}");
        let [a, b] = bar_heights([-1.0, 2.0]);
        assert!((b as f64 / a as f64 - 2.0).abs() < 0.15, "{a} {b}");
    }

    #[test]
    fn inner_legend_avoids_the_data() {
        // both lines run along the top: the legend goes to a lower corner
        let high = |y: f64| (0..10).map(|x| (x as f64, y + 0.01 * x as f64)).collect();
        let mut f = Figure::new(vec![
            LinePlot {
                title: "t".into(),
                series: vec![
                    Series::new("one", high(10.0)),
                    Series::new("two", high(9.0)),
                    Series::new("three", vec![(0.0, 0.0), (0.5, 0.2)]),
                ],
                ..Default::default()
            }
            .into(),
        ]);
        let frame = [0xCC; 3];
        let rows = |c: &Canvas, y0: usize, y1: usize| {
            (y0..y1)
                .flat_map(|y| (0..c.width).map(move |x| (x, y)))
                .filter(|&(x, y)| c.pixel(x, y) == frame)
                .count()
        };
        let c = f.render(500, 400).unwrap();
        assert_eq!(rows(&c, 0, 200), 0);
        assert!(rows(&c, 200, 400) > 100);
        // a shared legend replaces it
        f.shared_legend = true;
        let c = f.render(500, 400).unwrap();
        assert_eq!(rows(&c, 0, 400), 0);
    }

    #[test]
    fn structural_mistakes_are_errors() {
        let msg = |f: &Figure, w, h| f.render(w, h).unwrap_err().to_string();
        assert!(msg(&example(), 0, 300).contains("0×300"));
        assert!(msg(&example(), 100, 80).contains("too small"));
        assert!(msg(&Figure::new(vec![]), 100, 100).contains("no panels"));
        let mut f = example();
        if let Panel::Line(l) = &mut f.panels[0] {
            l.series.iter_mut().for_each(|s| s.points.clear());
        }
        assert!(msg(&f, 640, 300).contains("`PSNR`: no data points"));
        let mut f = example();
        if let Panel::Bar(b) = &mut f.panels[1] {
            b.series[1].1.pop();
        }
        assert!(msg(&f, 640, 300).contains("series `y` has 1 values for 2 groups"));
    }
}
