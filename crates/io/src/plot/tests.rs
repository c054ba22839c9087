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
