//! The Pareto view, as HF PEFT's method-comparison app shows it: per (model, data set), each
//! method's test metric against a cost — peak memory, wall time or trainable parameters — with
//! the frontier (the methods no other method beats on both at once) drawn and the dominated
//! methods greyed.
//!
//! The points are the means over seeds that Tables 2, 6 and 15 print (the same aggregation:
//! [`crate::pages::table_of`]). The page draws them in the browser so that its filters (suite,
//! model, data set, cost, methods shown) recompute the frontier over what is shown; its script
//! is inline and the data are embedded, so it works from `file://` with no network. The
//! script's frontier is this module's [`frontier`] written again in JavaScript: the browser
//! test checks that both give the same methods.

use std::collections::BTreeMap;

use ledger::CellResult;
use serde::Serialize;

use crate::html::{csv_field, escape};
use crate::pages;
use crate::table::Table;

/// A cost a method's metric is plotted against (lower is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    Memory,
    Time,
    Params,
}

impl Axis {
    pub const ALL: [Axis; 3] = [Axis::Memory, Axis::Time, Axis::Params];

    pub fn key(self) -> &'static str {
        match self {
            Axis::Memory => "memory",
            Axis::Time => "time",
            Axis::Params => "params",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Axis::Memory => "peak memory",
            Axis::Time => "wall time",
            Axis::Params => "trainable parameters",
        }
    }

    /// The point's value on this axis, in bytes, seconds or parameters.
    pub fn of(self, p: &Point) -> Option<f64> {
        match self {
            Axis::Memory => p.memory_bytes,
            Axis::Time => p.wall_s,
            Axis::Params => p.trainable,
        }
    }
}

/// One method of one (model, data set): means over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub method: String,
    /// The paper's name of the method.
    pub label: String,
    /// The reported test metric (Table 2's units), mean over seeds.
    pub quality: f64,
    pub quality_std: f64,
    pub seeds: usize,
    pub memory_bytes: Option<f64>,
    pub wall_s: Option<f64>,
    pub trainable: Option<f64>,
}

/// The points of one (suite, model, data set) and, per axis, the frontier's methods by
/// increasing cost.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub suite: String,
    pub model: String,
    pub dataset: String,
    pub metric: String,
    pub higher_is_better: bool,
    pub points: Vec<Point>,
    pub frontier: BTreeMap<&'static str, Vec<String>>,
}

/// Which of `points` (cost, quality) are on the Pareto frontier: no other point has a cost as
/// low and a quality as good with one of them strictly better. Equal points are all on it;
/// points with a non-finite coordinate are never on it and dominate nothing.
pub fn frontier(points: &[(f64, f64)], higher_is_better: bool) -> Vec<bool> {
    let better_or_equal = |a: f64, b: f64| if higher_is_better { a >= b } else { a <= b };
    let finite = |&(c, q): &(f64, f64)| c.is_finite() && q.is_finite();
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            finite(p)
                && !points.iter().enumerate().any(|(j, q)| {
                    j != i && finite(q) && q.0 <= p.0 && better_or_equal(q.1, p.1) && (q.0 < p.0 || q.1 != p.1)
                })
        })
        .collect()
}

/// The frontier's methods on `axis`, by increasing cost (ties in the points' order).
fn frontier_methods(points: &[Point], axis: Axis, higher_is_better: bool) -> Vec<String> {
    let shown: Vec<&Point> = points.iter().filter(|p| axis.of(p).is_some()).collect();
    let coords: Vec<(f64, f64)> = shown.iter().map(|p| (axis.of(p).unwrap_or(f64::NAN), p.quality)).collect();
    let mut on: Vec<(f64, &Point)> = shown.iter().zip(frontier(&coords, higher_is_better)).filter(|(_, f)| *f).map(|(p, _)| (axis.of(p).unwrap_or(f64::NAN), *p)).collect();
    on.sort_by(|a, b| a.0.total_cmp(&b.0));
    on.into_iter().map(|(_, p)| p.method.clone()).collect()
}

/// The groups of one suite's cells: one per row of Table 2, a point per method with a metric.
pub fn groups(suite: &str, cells: &[CellResult]) -> Vec<Group> {
    let quality = pages::table2(cells, None);
    let cost = |value: fn(&CellResult) -> Option<f64>| pages::table_of("", cells, &|c| (value(c), String::new(), false), &[], &|_, _, _| None);
    let (memory, time, params) = (cost(pages::peak_memory), cost(pages::wall_time), cost(pages::trainable));
    let mean_in = |t: &Table, model: &str, dataset: &str, method: &str| {
        t.rows.iter().find(|r| r.model == model && r.dataset == dataset).and_then(|r| t.mean_of(r, method))
    };
    quality
        .rows
        .iter()
        .map(|row| {
            let points: Vec<Point> = quality
                .methods
                .iter()
                .zip(&quality.labels)
                .zip(&row.cells)
                .filter_map(|((method, label), stats)| {
                    let s = stats.as_ref()?;
                    Some(Point {
                        method: method.clone(),
                        label: label.clone(),
                        quality: s.mean,
                        quality_std: s.std,
                        seeds: s.seeds,
                        memory_bytes: mean_in(&memory, &row.model, &row.dataset, method),
                        wall_s: mean_in(&time, &row.model, &row.dataset, method),
                        trainable: mean_in(&params, &row.model, &row.dataset, method),
                    })
                })
                .collect();
            let frontier = Axis::ALL.iter().map(|&a| (a.key(), frontier_methods(&points, a, row.higher_is_better))).collect();
            Group {
                suite: suite.into(),
                model: row.model.clone(),
                dataset: row.dataset.clone(),
                metric: row.metric.clone(),
                higher_is_better: row.higher_is_better,
                points,
                frontier,
            }
        })
        .collect()
}

/// What the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    axes: Vec<AxisData>,
    /// Every method shown anywhere, in the tables' column order, with its label and colour.
    methods: Vec<MethodData>,
    groups: &'a [Group],
}

#[derive(Serialize)]
struct AxisData {
    key: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct MethodData {
    method: String,
    label: String,
    colour: String,
}

const SCRIPT: &str = include_str!("pareto.js");

/// The page's body: the filters, the charts (drawn by the inline script) and a plain table of
/// every point with its frontier marks (readable without the script).
pub fn body(groups: &[Group]) -> String {
    let methods = pages::method_order(groups.iter().flat_map(|g| g.points.iter().map(|p| p.method.as_str())));
    let palette = crate::plot::palette_css();
    let data = PageData {
        axes: Axis::ALL.iter().map(|a| AxisData { key: a.key(), label: a.label() }).collect(),
        methods: methods
            .iter()
            .enumerate()
            .map(|(i, m)| MethodData { method: m.clone(), label: pages::paper_name(m), colour: palette[i % palette.len()].clone() })
            .collect(),
        groups,
    };
    // `</` cannot end the script element early inside JSON written this way.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace("</", "<\\/");
    let mut s = String::from(
        "<div id=\"pareto\"><form id=\"pareto-filters\" class=\"filters\"></form><div id=\"pareto-charts\"></div></div>\
         <noscript><p class=\"note\">The charts need JavaScript; the table below has every point.</p></noscript>",
    );
    s.push_str(&points_table(groups));
    s.push_str(&format!("<script type=\"application/json\" id=\"pareto-data\">{json}</script><script>{SCRIPT}</script>"));
    s
}

fn points_table(groups: &[Group]) -> String {
    let mut s = String::from(
        "<div class=\"scroll\"><table class=\"results\"><caption>Every point (means over seeds); ★ = on the frontier of that cost</caption>\
         <thead><tr><th>Suite</th><th>Model</th><th>Data set</th><th>Method</th><th>Metric</th><th>Peak memory</th><th>Wall time</th><th>Trainable</th></tr></thead><tbody>",
    );
    for g in groups {
        for p in &g.points {
            let mark = |a: Axis, shown: String| {
                let star = if g.frontier[a.key()].contains(&p.method) { " ★" } else { "" };
                format!("<td data-axis=\"{}\">{}{star}</td>", a.key(), escape(&shown))
            };
            let or_dash = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
            s.push_str(&format!(
                "<tr data-group=\"{}\" data-method=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} ± {:.2} {}</td>{}{}{}</tr>",
                escape(&group_key(g)),
                escape(&p.method),
                escape(&g.suite),
                escape(&g.model),
                escape(&g.dataset),
                escape(&p.label),
                p.quality,
                p.quality_std,
                escape(&g.metric),
                mark(Axis::Memory, or_dash(p.memory_bytes, show_bytes)),
                mark(Axis::Time, or_dash(p.wall_s, show_seconds)),
                mark(Axis::Params, or_dash(p.trainable, |v| format!("{v:.0}"))),
            ));
        }
    }
    s.push_str("</tbody></table></div>");
    s
}

/// `suite/model/dataset`, as the page's charts are keyed.
pub fn group_key(g: &Group) -> String {
    format!("{}/{}/{}", g.suite, g.model, g.dataset)
}

fn show_bytes(b: f64) -> String {
    let (unit, per) = pages::memory_unit(b);
    format!("{:.1} {unit}", b / per)
}

fn show_seconds(s: f64) -> String {
    let (unit, per) = pages::time_unit(s);
    format!("{:.1} {unit}", s / per)
}

/// `pareto.csv`: one line per point, its frontier membership per cost.
pub fn csv(groups: &[Group]) -> String {
    let mut s = String::from("suite,model,dataset,method,metric,higher_is_better,mean,std,seeds,peak_memory_bytes,wall_s,trainable_params,frontier_memory,frontier_time,frontier_params\n");
    let opt = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    for g in groups {
        for p in &g.points {
            let on = |a: Axis| g.frontier[a.key()].contains(&p.method);
            let fields = [
                g.suite.clone(),
                g.model.clone(),
                g.dataset.clone(),
                p.method.clone(),
                g.metric.clone(),
                g.higher_is_better.to_string(),
                p.quality.to_string(),
                p.quality_std.to_string(),
                p.seeds.to_string(),
                opt(p.memory_bytes),
                opt(p.wall_s),
                opt(p.trainable),
                on(Axis::Memory).to_string(),
                on(Axis::Time).to_string(),
                on(Axis::Params).to_string(),
            ];
            s.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::frontier;

    #[test]
    fn frontier_keeps_what_nothing_beats_on_both() {
        // (cost, accuracy): a is cheapest, c most accurate, b between them on both; d costs
        // more than b for less; e equals b.
        let pts = [(1.0, 70.0), (2.0, 80.0), (3.0, 90.0), (2.5, 75.0), (2.0, 80.0)];
        assert_eq!(frontier(&pts, true), [true, true, true, false, true]);
        // Lower is better (a loss): now a dominates everything that costs more and loses more.
        assert_eq!(frontier(&pts, false), [true, false, false, false, false]);
        // Same cost, better metric wins; same metric, lower cost wins.
        assert_eq!(frontier(&[(1.0, 5.0), (1.0, 6.0), (0.5, 6.0)], true), [false, false, true]);
    }

    #[test]
    fn non_finite_points_are_off_the_frontier_and_dominate_nothing() {
        let pts = [(f64::NAN, 99.0), (1.0, f64::INFINITY), (2.0, 50.0)];
        assert_eq!(frontier(&pts, true), [false, false, true]);
        assert!(frontier(&[], true).is_empty());
    }
}
