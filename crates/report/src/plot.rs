//! SVG plots (plotters, SVG backend only): grouped bars, a heat map and line charts. Text is
//! written as SVG `<text>` and laid out by the browser, so no font files or system libraries
//! are needed (plotters' built-in estimate sizes the label areas).

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Tableau's ten colours and two more, one per series (a table has up to 11 methods).
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
];

/// The palette as CSS colours (`#1f77b4` …), for pages that draw in the browser.
pub fn palette_css() -> Vec<String> {
    PALETTE.iter().map(|c| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)).collect()
}

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One named series of values, one per category (`None`: no bar / no point).
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Renders into an SVG string; plotting errors become an SVG that says what went wrong, so a
/// bad plot never stops a report.
fn render(size: (u32, u32), draw: impl FnOnce(&Area) -> Result<(), Box<dyn std::error::Error>>) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let r = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| draw(&root).map_err(|e| e.to_string()));
        r.and_then(|_| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => svg,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"40\"><text x=\"4\" y=\"20\">plot failed: {}</text></svg>",
            size.0,
            crate::html::escape(&e)
        ),
    }
}

/// Finite values' range, padded, always containing `include`.
fn value_range(values: impl Iterator<Item = f64>, include: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()).chain(include.iter().copied()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs().max(lo.abs()) * 0.02).max(1e-12);
    (if lo >= 0.0 { 0f64.max(lo - pad) } else { lo - pad }, hi + pad)
}

/// Category names under the x axis, centred on the pixel `at(i)` (plotters' own labels sit on
/// "nice" numbers, not on categories).
fn x_labels(root: &Area, labels: &[String], at: impl Fn(usize) -> (i32, i32)) -> Result<(), Box<dyn std::error::Error>> {
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = at(i);
        let style = ("sans-serif", 16).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(label.clone(), (px, py + 6), style))?;
    }
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart whose x axis holds `categories` at 0, 1, 2 … (within `x`) and whose y axis spans
/// `y`, with its mesh, axis descriptions and category names drawn.
fn categorical_chart<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    categories: &[String],
    x: Range<f64>,
    y: Range<f64>,
    x_desc: &str,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let lo = y.start;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(if x_desc.is_empty() { 36 } else { 44 })
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh().x_labels(0).set_tick_mark_size(LabelAreaPosition::Bottom, 0).y_desc(y_desc).label_style(("sans-serif", 16));
    if !x_desc.is_empty() {
        mesh.x_desc(x_desc);
    }
    mesh.draw()?;
    x_labels(root, categories, |i| chart.backend_coord(&(i as f64, lo)))?;
    Ok(chart)
}

/// The series' names and colours in a box at `position`.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

/// Grouped bars: one group per category (x), one bar per series; an optional dashed reference
/// line (e.g. 1.0 for "ratio to LoRA").
pub fn grouped_bars(title: &str, y_desc: &str, categories: &[String], series: &[Series], reference: Option<f64>) -> String {
    let n = categories.len().max(1);
    let width = (160 + n as u32 * (24 + 14 * series.len().min(12) as u32)).clamp(520, 1400);
    render((width, 380 + 18 * series.len().div_ceil(4) as u32), |root| {
        let values = series.iter().flat_map(|s| s.values.iter().flatten().copied());
        let include: Vec<f64> = [0.0].into_iter().chain(reference).collect();
        let (lo, hi) = value_range(values, &include);
        // Headroom for the legend box in the upper right.
        let hi = hi + (hi - lo) * (0.1 + 0.06 * series.len().min(10) as f64);
        let mut chart = categorical_chart(root, title, categories, -0.5..n as f64 - 0.5, lo..hi, "", y_desc)?;
        let k = series.len().max(1) as f64;
        let bar = 0.8 / k;
        for (si, s) in series.iter().enumerate() {
            let c = colour(si);
            let bars = s.values.iter().enumerate().filter_map(|(i, v)| {
                let v = (*v)?;
                let x0 = i as f64 - 0.4 + si as f64 * bar;
                Some(Rectangle::new([(x0, 0f64.max(lo)), (x0 + bar * 0.92, v)], c.filled()))
            });
            chart
                .draw_series(bars)?
                .label(s.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        if let Some(r) = reference {
            chart.draw_series(std::iter::once(PathElement::new(vec![(-0.5, r), (n as f64 - 0.5, r)], BLACK.stroke_width(1))))?;
        }
        if series.len() > 1 || series.first().is_some_and(|s| !s.name.is_empty()) {
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    })
}

/// A heat map: `values[row][col]`, rows bottom-up as `y_labels`, each cell coloured on a
/// white → blue scale (higher is darker unless `lower_is_better`) and printed.
pub fn heat_map(title: &str, x_desc: &str, y_desc: &str, x_labels_: &[String], y_labels: &[String], values: &[Vec<Option<f64>>], decimals: usize) -> String {
    let (nx, ny) = (x_labels_.len().max(1), y_labels.len().max(1));
    let width = (160 + 100 * nx as u32).clamp(520, 1200);
    let height = (120 + 46 * ny as u32).clamp(260, 900);
    render((width, height), |root| {
        let (lo, hi) = {
            let v: Vec<f64> = values.iter().flatten().flatten().copied().filter(|v| v.is_finite()).collect();
            (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 19))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..nx as f64 - 0.5, -0.5f64..ny as f64 - 0.5)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .set_tick_mark_size(LabelAreaPosition::Bottom, 0)
            .set_tick_mark_size(LabelAreaPosition::Left, 0)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", 16))
            .draw()?;
        x_labels(root, x_labels_, |i| chart.backend_coord(&(i as f64, -0.5)))?;
        for (j, label) in y_labels.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(-0.5, j as f64));
            let style = ("sans-serif", 16).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(label.clone(), (px - 6, py), style))?;
        }
        let shade = |v: f64| {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
            RGBColor(mix(240.0, 8.0), mix(244.0, 69.0), mix(250.0, 148.0))
        };
        for (j, row) in values.iter().enumerate() {
            for (i, v) in row.iter().enumerate() {
                let (x, y) = (i as f64, j as f64);
                let fill = v.filter(|v| v.is_finite()).map(shade).unwrap_or(RGBColor(230, 230, 230));
                chart.draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], fill.filled())))?;
                let dark = v.is_some_and(|v| hi > lo && (v - lo) / (hi - lo) > 0.55);
                let text = v.map(|v| format!("{v:.decimals$}")).unwrap_or_else(|| "–".into());
                let style = ("sans-serif", 16).into_font().color(if dark { &WHITE } else { &BLACK }).pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(text, (x, y), style)))?;
            }
        }
        Ok(())
    })
}

/// Line charts over categorical x positions (evenly spaced, e.g. α values or reset
/// frequencies), one line per series; missing points break nothing (they are skipped).
pub fn lines(title: &str, x_desc: &str, y_desc: &str, categories: &[String], series: &[Series]) -> String {
    lines_with_legend(title, x_desc, y_desc, categories, series, SeriesLabelPosition::LowerRight, 480)
}

/// Falling curves (losses per epoch): the legend in the upper right, where they have left,
/// on a chart wide enough for a dozen series.
pub fn falling_curves(title: &str, x_desc: &str, y_desc: &str, categories: &[String], series: &[Series]) -> String {
    lines_with_legend(title, x_desc, y_desc, categories, series, SeriesLabelPosition::UpperRight, 760)
}

fn lines_with_legend(title: &str, x_desc: &str, y_desc: &str, categories: &[String], series: &[Series], position: SeriesLabelPosition, min_width: u32) -> String {
    let n = categories.len().max(1);
    render(((140 + 80 * n as u32).clamp(min_width, 1100), 360), |root| {
        let (lo, hi) = value_range(series.iter().flat_map(|s| s.values.iter().flatten().copied()), &[]);
        let mut chart = categorical_chart(root, title, categories, -0.3..n as f64 - 0.7, lo..hi, x_desc, y_desc)?;
        for (si, s) in series.iter().enumerate() {
            let c = colour(si);
            let points: Vec<(f64, f64)> =
                s.values.iter().enumerate().filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i as f64, v))).collect();
            chart
                .draw_series(std::iter::once(PathElement::new(points.clone(), c.stroke_width(2))))?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
        }
        legend(&mut chart, position)?;
        Ok(())
    })
}

/// Means with their spread: one point per category (a method) at its mean, a vertical bar from
/// mean − spread to mean + spread (one seed standard deviation), for one row of a table.
pub fn means_with_spread(title: &str, y_desc: &str, categories: &[String], points: &[Option<(f64, f64)>]) -> String {
    let n = categories.len().max(1);
    render(((140 + 70 * n as u32).clamp(480, 1100), 340), |root| {
        let ends = points.iter().flatten().flat_map(|&(m, s)| [m - s, m + s]);
        let (lo, hi) = value_range(ends, &[]);
        let mut chart = categorical_chart(root, title, categories, -0.5..n as f64 - 0.5, lo..hi, "", y_desc)?;
        for (i, p) in points.iter().enumerate() {
            let Some((mean, spread)) = *p else { continue };
            let c = colour(i);
            let x = i as f64;
            chart.draw_series(std::iter::once(PathElement::new(vec![(x, mean - spread), (x, mean + spread)], c.stroke_width(2))))?;
            for y in [mean - spread, mean + spread] {
                chart.draw_series(std::iter::once(PathElement::new(vec![(x - 0.15, y), (x + 0.15, y)], c.stroke_width(2))))?;
            }
            chart.draw_series(std::iter::once(Circle::new((x, mean), 5, c.filled())))?;
        }
        Ok(())
    })
}

/// A perceptual ramp (viridis' ends and middle) at `t` ∈ [0, 1], for loss surfaces.
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 1.0 };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The loss grid's finite range up to its 90th percentile (a far grid point can be orders of
/// magnitude above the valley and would flatten the rest; the clipped tenth is drawn flat at
/// the top).
fn loss_range(values: &[Option<f64>]) -> (f64, f64) {
    let mut finite: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return (0.0, 1.0);
    }
    finite.sort_by(f64::total_cmp);
    let lo = finite[0];
    let hi = finite[(finite.len() - 1) * 9 / 10];
    (lo, hi.max(lo + 1e-9))
}

/// A 3D loss surface f(α, β) over the square grid `axis` × `axis` (`values[i · n + j]` at
/// (axis[i], axis[j]); `None` or non-finite points drawn at the top of the range), coloured by
/// height.
pub fn surface(title: &str, axis: &[f64], values: &[Option<f64>]) -> String {
    let n = axis.len();
    render((340, 300), |root| {
        let (lo, hi) = loss_range(values);
        let (a0, a1) = (axis[0], axis[n - 1]);
        let mut chart = ChartBuilder::on(root).caption(title, ("sans-serif", 15)).margin(4).build_cartesian_3d(a0..a1, lo..hi, a0..a1)?;
        chart.with_projection(|mut p| {
            p.yaw = 0.6;
            p.pitch = 0.45;
            p.scale = 0.85;
            p.into_matrix()
        });
        chart.configure_axes().light_grid_style(BLACK.mix(0.1)).max_light_lines(3).label_style(("sans-serif", 11)).draw()?;
        let at = |x: f64| (((x - a0) / (a1 - a0)) * (n - 1) as f64).round() as usize;
        let height = |x: f64, z: f64| values[at(x).min(n - 1) * n + at(z).min(n - 1)].filter(|v| v.is_finite()).unwrap_or(hi).clamp(lo, hi);
        let style = |y: &f64| ramp((y - lo) / (hi - lo)).mix(0.9).filled();
        chart.draw_series(SurfaceSeries::xoz(axis.iter().copied(), axis.iter().copied(), height).style_func(&style))?;
        Ok(())
    })
}

/// A 2D filled contour of f(α, β) (twelve colour levels of the loss) with the trajectory's
/// projected points joined by arrows in step order and the centre marked with a cross.
pub fn contour(title: &str, axis: &[f64], values: &[Option<f64>], trajectory: &[[f64; 2]]) -> String {
    let n = axis.len();
    render((340, 320), |root| {
        let (lo, hi) = loss_range(values);
        let (a0, a1) = (axis[0], axis[n - 1]);
        let half = (a1 - a0) / (n - 1).max(1) as f64 / 2.0;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 15))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(44)
            .build_cartesian_2d(a0 - half..a1 + half, a0 - half..a1 + half)?;
        chart.configure_mesh().disable_mesh().x_desc("dirX").y_desc("dirY").label_style(("sans-serif", 11)).draw()?;
        const LEVELS: f64 = 12.0;
        chart.draw_series((0..n * n).map(|k| {
            let (i, j) = (k / n, k % n);
            let v = values[k].filter(|v| v.is_finite()).unwrap_or(hi).clamp(lo, hi);
            let level = (((v - lo) / (hi - lo)) * LEVELS).floor().min(LEVELS - 1.0) / (LEVELS - 1.0);
            let (x, y) = (axis[i], axis[j]);
            Rectangle::new([(x - half, y - half), (x + half, y + half)], ramp(level).filled())
        }))?;
        let path: Vec<(f64, f64)> = trajectory.iter().map(|p| (p[0], p[1])).collect();
        for w in path.windows(2) {
            let (from, to) = (w[0], w[1]);
            chart.draw_series(std::iter::once(PathElement::new(vec![from, to], RGBColor(30, 90, 255).stroke_width(2))))?;
            // The arrow's head: two short strokes back from `to`, in pixels.
            let (p, q) = (chart.backend_coord(&from), chart.backend_coord(&to));
            let (dx, dy) = ((q.0 - p.0) as f64, (q.1 - p.1) as f64);
            let len = (dx * dx + dy * dy).sqrt();
            if len > 4.0 {
                let (ux, uy) = (dx / len, dy / len);
                for s in [1.0, -1.0] {
                    let (hx, hy) = (-ux * 7.0 + s * -uy * 4.0, -uy * 7.0 + s * ux * 4.0);
                    root.draw(&PathElement::new(vec![q, (q.0 + hx.round() as i32, q.1 + hy.round() as i32)], RGBColor(30, 90, 255).stroke_width(2)))?;
                }
            }
        }
        chart.draw_series(std::iter::once(Cross::new((0.0, 0.0), 6, WHITE.stroke_width(2))))?;
        Ok(())
    })
}

/// One line of [`dashed_lines`]: its values, its palette colour, and whether it is dashed.
pub struct StyledSeries {
    pub name: String,
    pub values: Vec<f64>,
    pub colour: usize,
    pub dashed: bool,
}

/// Lines over a numeric x axis, each in a given palette colour, solid or dashed (Fig 4: a
/// chain method dashed in its non-chain counterpart's colour).
pub fn dashed_lines(title: &str, x_desc: &str, y_desc: &str, x: &[f64], series: &[StyledSeries]) -> String {
    render((560, 380), |root| {
        let (lo, hi) = value_range(series.iter().flat_map(|s| s.values.iter().copied()), &[0.0]);
        let (x0, x1) = (x.first().copied().unwrap_or(0.0).min(0.0), x.last().copied().unwrap_or(1.0));
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, lo..hi)?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style(("sans-serif", 13)).draw()?;
        for s in series {
            let c = colour(s.colour);
            let pts: Vec<(f64, f64)> = x.iter().copied().zip(s.values.iter().copied()).filter(|p| p.1.is_finite()).collect();
            let style = c.stroke_width(2);
            let drawn = if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(pts, style))?
            };
            let dashed = s.dashed;
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                let end = if dashed { x + 6 } else { x + 16 };
                PathElement::new(vec![(x, y), (end, y)], c.stroke_width(2))
            });
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 12)).draw()?;
        Ok(())
    })
}
