//! The raster canvas: an embedded 5×9 bitmap font, antialiased lines, markers, PNG encode/decode.

use super::*;

/// Glyph cell in font pixels: 5 wide; 7 rows above the baseline and 2 for descenders.
pub(super) const GLYPH_W: usize = 5;
pub(super) const GLYPH_H: usize = 9;
pub(super) const ADVANCE: usize = 6;
pub(super) const LINE_H: usize = 12;

/// ASCII 32..=126, rows top to bottom separated by spaces (`#` ink, `.` blank; missing rows
/// are blank).
pub(super) const FONT_SRC: [&str; 95] = [
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
pub(super) const FONT: [[u8; GLYPH_H]; 95] = parse_font();

pub(super) const fn parse_font() -> [[u8; GLYPH_H]; 95] {
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

pub(super) fn glyph(c: char) -> &'static [u8; GLYPH_H] {
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

pub(super) const MARKERS: [Marker; 5] = [
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
    pub(super) clip: Option<[i64; 4]>,
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

    pub(super) fn glyphs(
        &mut self,
        s: &str,
        scale: usize,
        mut put: impl FnMut(&mut Self, i64, i64),
    ) {
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
