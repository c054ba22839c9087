//! Rendering tests: figures are rendered (or written and decoded) and their pixels inspected.

use super::render::LEGEND_FRAME;
use super::ticks::{Axis, log_ticks};
use super::*;

/// Pixels of colour `c` in `[x0, x1) × [y0, y1)`.
fn count(img: &Canvas, c: Rgb, [x0, y0, x1, y1]: [usize; 4]) -> usize {
    (y0..y1.min(img.height))
        .flat_map(|y| (x0..x1.min(img.width)).map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y) == c)
        .count()
}

/// Dark (text or axis) pixels in `[x0, x1) × [y0, y1)`.
fn ink(img: &Canvas, [x0, y0, x1, y1]: [usize; 4]) -> usize {
    (y0..y1.min(img.height))
        .flat_map(|y| (x0..x1.min(img.width)).map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y).iter().all(|&v| v < 0x90))
        .count()
}

/// Bounding box `[x0, y0, x1, y1]` (exclusive ends) of the pixels of colour `c` in `area`.
fn bbox(img: &Canvas, c: Rgb, area: [usize; 4]) -> Option<[usize; 4]> {
    bbox_of(img, area, |p| p == c)
}

/// Bounding box of the pixels in `[x0, x1) × [y0, y1)` whose colour satisfies `f`.
fn bbox_of(
    img: &Canvas,
    [x0, y0, x1, y1]: [usize; 4],
    f: impl Fn(Rgb) -> bool,
) -> Option<[usize; 4]> {
    let mut b: Option<[usize; 4]> = None;
    for y in y0..y1.min(img.height) {
        for x in x0..x1.min(img.width) {
            if f(img.pixel(x, y)) {
                let r = b.get_or_insert([x, y, x + 1, y + 1]);
                *r = [r[0].min(x), r[1].min(y), r[2].max(x + 1), r[3].max(y + 1)];
            }
        }
    }
    b
}

/// Whether `(x, y)` starts a run of at least `len` pixels of colour `c` along `(dx, dy)`.
fn run(img: &Canvas, c: Rgb, (x, y): (usize, usize), (dx, dy): (usize, usize), len: usize) -> bool {
    (0..len).all(|k| {
        let (x, y) = (x + k * dx, y + k * dy);
        x < img.width && y < img.height && img.pixel(x, y) == c
    })
}

/// Rows holding a horizontal run of at least `len` pixels of colour `c`.
fn rows_with_run(img: &Canvas, c: Rgb, len: usize) -> Vec<usize> {
    (0..img.height)
        .filter(|&y| (0..img.width).any(|x| run(img, c, (x, y), (1, 0), len)))
        .collect()
}

/// The plot area `[x0, y0, x1, y1]` of a one-panel figure: inside the frame, whose edges are
/// the outermost long runs of the axis colour (text and tick marks make no long runs).
fn plot_area(img: &Canvas) -> [usize; 4] {
    let rows = rows_with_run(img, AXIS, img.width / 3);
    let cols: Vec<usize> = (0..img.width)
        .filter(|&x| (0..img.height).any(|y| run(img, AXIS, (x, y), (0, 1), img.height / 3)))
        .collect();
    let (top, bottom) = (rows[0], *rows.last().unwrap());
    let (left, right) = (cols[0], *cols.last().unwrap());
    assert!(
        left + 50 < right && top + 50 < bottom,
        "{left} {top} {right} {bottom}"
    );
    [left + 1, top + 1, right, bottom]
}

fn one(panel: impl Into<Panel>) -> Figure {
    Figure::new(vec![panel.into()])
}

fn line(series: Vec<Series>) -> LinePlot {
    LinePlot {
        title: "t".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        log_y: false,
        series,
    }
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
    // log axes: decades over a wide range, 1-2-5 over a narrow one (where plotters' own log
    // coordinate has no ticks at all)
    let labels = |t: Vec<(f64, String)>| t.into_iter().map(|t| t.1).collect::<Vec<_>>();
    assert_eq!(
        labels(log_ticks(-3.2, 0.1, 6, 0.0)),
        ["0.001", "0.01", "0.1", "1"]
    );
    assert_eq!(
        labels(log_ticks(-7.2, -4.9, 6, 0.0)),
        ["1e-7", "1e-6", "1e-5"]
    );
    let t: Vec<f64> = log_ticks(0.2f64.log10(), 3f64.log10(), 5, 0.0)
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(t, vec![0.2, 0.5, 1.0, 2.0]);
    let t = log_ticks(0.0028f64.log10(), 0.0095f64.log10(), 6, 0.055);
    assert_eq!(
        labels(t),
        ["0.003", "0.004", "0.005", "0.006", "0.007", "0.008"]
    );
    let t = log_ticks(0.0028f64.log10(), 0.0085f64.log10(), 3, 0.0);
    assert_eq!(labels(t), ["0.004", "0.006", "0.008"]);
    // integer axes never tick between rounds
    let a = Axis::padded(1.0, 3.0, false, "t").unwrap();
    assert_eq!(labels(a.ticks(10, true, 0.0)), ["1", "2", "3"]);
    // degenerate ranges get a width; overflowing ones are errors
    let a = Axis::padded(5.0, 5.0, false, "t").unwrap();
    assert!(a.lo < 5.0 && a.hi > 5.0);
    let a = Axis::padded(1e-3, 1e-3, true, "t").unwrap();
    assert!(a.lo < -3.0 && a.hi > -3.0);
    let e = Axis::padded(-1e308, 1e308, false, "t").unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
}

#[test]
fn figure_png_decodes_at_the_requested_size_with_series_colours_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fig.png");
    example().write_png(&p, 640, 300).unwrap();
    let img = read_png_rgb(&p).unwrap();
    assert_eq!((img.width, img.height), (640, 300));
    assert_eq!(img, example().render(640, 300).unwrap());
    // the line series (A, B) and the bar series (x, y) have their palette colours, exactly
    for c in &PALETTE[..4] {
        assert!(count(&img, *c, [0, 0, 640, 300]) > 20, "{c:?}");
    }
    assert!(count(&img, WHITE, [0, 0, 640, 300]) > 640 * 300 / 2);
    // the figure title is text centred in the top band
    let title = ink(&img, [220, 0, 420, 30]);
    assert!(title > 50, "{title}");
    assert_eq!(ink(&img, [0, 0, 200, 30]) + ink(&img, [440, 0, 640, 30]), 0);
    // the shared legend is under the panels: its swatches carry the series colours
    for c in &PALETTE[..4] {
        assert!(count(&img, *c, [0, 260, 640, 300]) > 20, "{c:?}");
    }
}

/// `series` on one panel with the legend under it (so that the plot area holds only data).
fn lines(series: Vec<Series>, log_y: bool) -> Figure {
    let mut p = line(series);
    p.log_y = log_y;
    let mut f = one(p);
    f.shared_legend = true;
    f
}

#[test]
fn lines_go_where_their_data_are() {
    let f = lines(
        vec![
            Series::new("up", vec![(0.0, 0.0), (10.0, 10.0)]).markers(false),
            Series::new("flat", vec![(0.0, 8.0), (10.0, 8.0)]).markers(false),
        ],
        false,
    );
    let img = f.render(500, 400).unwrap();
    let area = plot_area(&img);
    let [x0, y0, x1, y1] = area;
    let (w, h) = (x1 - x0, y1 - y0);
    // "up" runs from the lower left to the upper right of the plot area (5 % padding)
    let b = bbox(&img, PALETTE[0], area).unwrap();
    let near = |a: usize, b: usize| a.abs_diff(b) <= 4;
    assert!(
        near(b[0], x0 + w / 22) && near(b[2], x1 - w / 22),
        "{b:?} {area:?}"
    );
    assert!(
        near(b[1], y0 + h / 22) && near(b[3], y1 - h / 22),
        "{b:?} {area:?}"
    );
    assert_eq!(count(&img, PALETTE[0], [x0, y0, x0 + w / 3, y0 + h / 3]), 0);
    assert_eq!(count(&img, PALETTE[0], [x1 - w / 3, y1 - h / 3, x1, y1]), 0);
    // "flat" is a horizontal band at 8 of -0.5..10.5, from the left to the right end
    let b = bbox(&img, PALETTE[1], area).unwrap();
    let row = y1 as f64 - 8.5 / 11.0 * h as f64;
    assert!(
        b[3] - b[1] <= 5 && (b[1] as f64 - row).abs() < 5.0,
        "{b:?} {row}"
    );
    assert!(b[2] - b[0] > 8 * w / 10);
    // y tick labels left of the plot area, x tick labels below it, the axis labels outside
    assert!(ink(&img, [x0 - 40, y0, x0 - 4, y1]) > 50);
    assert!(ink(&img, [x0, y1 + 4, x1, y1 + 30]) > 50);
    assert!(ink(&img, [0, y0, 30, y1]) > 10);
    assert!(ink(&img, [x0, y1 + 30, x1, y1 + 60]) > 10);
    // both series are in the legend under the plot
    for c in &PALETTE[..2] {
        assert!(count(&img, *c, [0, y1 + 60, 500, 400]) > 20, "{c:?}");
    }
}

#[test]
fn log_axes_map_decades_evenly() {
    // 1e-3, 1e-1, 10: a straight line on a log axis, bent on a linear one
    let pts = vec![(0.0, 1e-3), (1.0, 1e-1), (2.0, 10.0)];
    let bend = |log_y| {
        let img = lines(vec![Series::new("s", pts.clone()).markers(false)], log_y)
            .render(500, 400)
            .unwrap();
        let [x0, y0, x1, y1] = plot_area(&img);
        let mid_row = |x: usize| {
            let b = bbox(&img, PALETTE[0], [x, y0, x + 1, y1]).unwrap();
            (b[1] + b[3]) as f64 / 2.0
        };
        let w = x1 - x0;
        let (a, b, c) = (
            mid_row(x0 + w / 4),
            mid_row(x0 + w / 2),
            mid_row(x0 + 3 * w / 4),
        );
        (b - (a + c) / 2.0).abs()
    };
    let (log, linear) = (bend(true), bend(false));
    assert!(log < 2.0 && linear > 30.0, "{log} {linear}");
}

#[test]
fn markers_dashes_and_lone_points_are_drawn() {
    let f = lines(
        vec![
            Series::new("solid", vec![(0.0, 1.0), (10.0, 1.0)]).markers(false),
            Series::new("dashed", vec![(0.0, 0.0), (10.0, 0.0)]).dashed(),
            Series::new("lone", vec![(5.0, 0.5)]).markers(false),
            Series::new("marked", vec![(2.0, 0.25), (8.0, 0.25)]).markers(true),
        ],
        false,
    );
    let img = f.render(500, 400).unwrap();
    let area = plot_area(&img);
    let [x0, _, x1, _] = area;
    // the number of separate pieces along the middle row of a series
    let pieces = |c: Rgb| {
        let b = bbox(&img, c, area).unwrap();
        let y = (b[1] + b[3]) / 2;
        (x0..x1)
            .filter(|&x| img.pixel(x, y) == c && img.pixel(x - 1, y) != c)
            .count()
    };
    assert_eq!(pieces(PALETTE[0]), 1);
    let dashes = pieces(PALETTE[1]);
    assert!(dashes > 10, "{dashes}");
    // a lone point without markers is still a dot, in the middle
    let b = bbox(&img, PALETTE[2], area).unwrap();
    assert!(((b[0] + b[2]) / 2).abs_diff((x0 + x1) / 2) < 3, "{b:?}");
    assert!(b[2] - b[0] <= 6, "{b:?}");
    // markers stand out of the line they sit on
    let b = bbox(&img, PALETTE[3], area).unwrap();
    assert!(b[3] - b[1] >= 8, "{b:?}");
}

#[test]
fn non_finite_data_leave_a_note_not_an_error() {
    let mut f = example();
    f.panels.truncate(1);
    if let Panel::Line(l) = &mut f.panels[0] {
        for s in &mut l.series {
            s.points.iter_mut().for_each(|p| p.1 = f64::NAN);
        }
    }
    let img = f.render(400, 300).unwrap();
    let area = plot_area(&img);
    // "no finite data" in gray in the middle, no series
    assert!(PALETTE.iter().all(|&c| count(&img, c, area) == 0));
    // gray text, antialiased: neutral pixels from `GRAY` to lighter (the grid is lighter still)
    let gray = |p: Rgb| p[0] == p[1] && p[1] == p[2] && (GRAY[0]..0xD0).contains(&p[0]);
    let note = bbox_of(&img, area, gray).unwrap();
    assert!(note[2] - note[0] > 60, "{note:?}");
    let mid = |a: usize, b: usize| (a + b) / 2;
    assert!(
        mid(note[0], note[2]).abs_diff(mid(area[0], area[2])) < 4,
        "{note:?} {area:?}"
    );
    // the same for a bar chart without a finite value
    let mut f = example();
    f.panels.remove(0);
    if let Panel::Bar(b) = &mut f.panels[0] {
        b.series.iter_mut().for_each(|s| s.1.fill(f64::NAN));
    }
    let img = f.render(400, 300).unwrap();
    let area = plot_area(&img);
    assert!(bbox_of(&img, area, gray).is_some());
    assert!(PALETTE.iter().all(|&c| count(&img, c, area) == 0));
    // log axes skip non-positive values: only the positive point is drawn
    let f = lines(
        vec![Series::new("s", vec![(1.0, 0.0), (2.0, -1.0), (3.0, 1e-3)])],
        true,
    );
    let img = f.render(400, 300).unwrap();
    let area = plot_area(&img);
    let b = bbox(&img, PALETTE[0], area).unwrap();
    assert!(b[2] - b[0] < 15 && b[3] - b[1] < 15, "{b:?}");
}

/// Heights in pixels of the two bars of a one-series chart.
fn bar_heights(values: [f64; 2]) -> [usize; 2] {
    let f = one(BarChart {
        title: "t".into(),
        y_label: "v".into(),
        groups: vec!["a".into(), "b".into()],
        series: vec![("s".into(), values.to_vec())],
    });
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
fn a_panel_legend_avoids_the_data_and_a_shared_one_replaces_it() {
    // both lines run along the top: the legend goes to a lower corner
    let high = |y: f64| (0..10).map(|x| (x as f64, y + 0.01 * x as f64)).collect();
    let mut f = one(LinePlot {
        title: "t".into(),
        series: vec![
            Series::new("one", high(10.0)),
            Series::new("two", high(9.0)),
            Series::new("three", vec![(0.0, 0.0), (0.5, 0.2)]),
        ],
        ..Default::default()
    });
    let c = f.render(500, 400).unwrap();
    let frame = rows_with_run(&c, LEGEND_FRAME, 40);
    assert_eq!(frame.len(), 2, "{frame:?}");
    assert!(frame[0] > 200, "{frame:?}");
    // three entries, one line each
    assert!(frame[1] - frame[0] > 3 * 20);
    f.shared_legend = true;
    let c = f.render(500, 400).unwrap();
    assert!(rows_with_run(&c, LEGEND_FRAME, 40).is_empty());
    // the shared legend sits under the panel and has all three colours
    for col in &PALETTE[..3] {
        assert!(count(&c, *col, [0, 360, 500, 400]) > 10, "{col:?}");
    }
}

#[test]
fn structural_mistakes_are_errors() {
    let msg = |f: &Figure, w, h| f.render(w, h).unwrap_err().to_string();
    assert!(msg(&example(), 0, 300).contains("0×300"));
    assert!(msg(&example(), 20_000, 300).contains("20000×300"));
    assert!(msg(&example(), 100, 80).contains("too small"));
    assert!(msg(&Figure::new(vec![]), 100, 100).contains("no panels"));
    let mut f = example();
    if let Panel::Line(l) = &mut f.panels[0] {
        l.series.iter_mut().for_each(|s| s.points.clear());
    }
    assert!(msg(&f, 640, 300).contains("`PSNR`: no data points"));
    let mut f = example();
    if let Panel::Line(l) = &mut f.panels[0] {
        l.series.clear();
    }
    assert!(msg(&f, 640, 300).contains("`PSNR`: no data points"));
    let mut f = example();
    if let Panel::Bar(b) = &mut f.panels[1] {
        b.series[1].1.pop();
    }
    assert!(msg(&f, 640, 300).contains("series `y` has 1 values for 2 groups"));
    let mut f = example();
    if let Panel::Bar(b) = &mut f.panels[1] {
        b.groups.clear();
    }
    assert!(msg(&f, 640, 300).contains("needs groups and series"));
    // data whose padded range overflows f64
    let f = one(line(vec![Series::new(
        "s",
        vec![(0.0, -1e308), (1.0, 1e308)],
    )]));
    assert!(msg(&f, 400, 300).contains("`t`: the data range is too large"));
    let mut f = example();
    f.text_scale = 40;
    assert!(msg(&f, 640, 300).contains("too small"));
}

#[test]
fn degenerate_input_renders_without_panicking() {
    let pts = |v: Vec<(f64, f64)>| one(line(vec![Series::new("s", v)]));
    let figures = [
        pts(vec![(1.0, 1.0)]),
        pts(vec![(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]),
        pts(vec![(3.0, 1.0), (3.0, 2.0)]),
        pts(vec![(0.0, 1e300), (1.0, -1e300)]),
        pts(vec![(0.0, 1e-300), (1.0, 2e-300)]),
        pts(vec![(1e16, 1.0), (1e16 + 2.0, 2.0)]),
        pts(vec![(0.0, f64::NEG_INFINITY), (1.0, 2.0)]),
        one(LinePlot {
            title: "ünïcödé — long title ".repeat(20),
            x_label: String::new(),
            y_label: "μ [1/mm]".into(),
            log_y: true,
            series: (0..20)
                .map(|i| Series::new(format!("s{i}"), vec![(0.0, 1.0 + i as f64)]))
                .collect(),
        }),
        one(BarChart {
            title: String::new(),
            y_label: String::new(),
            groups: (0..30)
                .map(|i| format!("a very long group name {i}"))
                .collect(),
            series: vec![(String::new(), (0..30).map(|i| i as f64 - 10.0).collect())],
        }),
        one(line(vec![
            Series::new("nan", vec![(0.0, 1.0), (1.0, 2.0)]).width(f64::NAN),
            Series::new("negative", vec![(0.0, 2.0), (1.0, 1.0)]).width(-1.0),
            Series::new("huge", vec![(0.0, 1.5)]).width(1e12).dashed(),
        ])),
        one(BarChart {
            title: "zero".into(),
            y_label: "v".into(),
            groups: vec!["a".into()],
            series: vec![("s".into(), vec![0.0]), ("t".into(), vec![1e-300])],
        }),
    ];
    for (k, f) in figures.iter().enumerate() {
        for (w, h) in [(400, 300), (120, 100), (16384, 120)] {
            let mut f = f.clone();
            f.text_scale = 1;
            match f.render(w, h) {
                Ok(img) => assert_eq!((img.width, img.height), (w, h)),
                Err(e) => assert!(e.to_string().contains("too small"), "{k} {w}×{h}: {e}"),
            }
        }
        f.render(400, 300)
            .unwrap_or_else(|e| panic!("figure {k}: {e}"));
    }
    let mut f = example();
    f.text_scale = usize::MAX;
    assert!(f.render(640, 300).is_err());
    f.text_scale = 0;
    assert!(f.render(640, 300).is_ok());
}
