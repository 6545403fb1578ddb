//! The ablations of Tables 8–13, from the `ablate-*` experiments: for each (model, data set,
//! method), the mean reported value over seeds on a grid of rank (rows) × the varied
//! hyper-parameter (columns: learning rate, α, chain-reset frequency; or rank itself), with the
//! paper's value beside ours where its table has the same model, data set, method, metric, rank
//! and swept value.

use serde::Serialize;

use ledger::{CellResult, Hyper};

use crate::html::{csv_field, escape};
use crate::pages::{method_order, paper_name};
use crate::paper::PaperTables;
use crate::plot::{self, Series};
use crate::table::mean_std;

/// What an ablation experiment varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Axis {
    LearningRate,
    Rank,
    Alpha,
    ChainReset,
}

impl Axis {
    /// From the experiment's name (`ablate-lr`, `ablate-rank`, `ablate-alpha`,
    /// `ablate-chain`); otherwise whichever of these varies across the cells.
    pub fn of(experiment: &str, cells: &[CellResult]) -> Axis {
        match experiment.trim_start_matches("ablate-") {
            "lr" => Axis::LearningRate,
            "rank" => Axis::Rank,
            "alpha" => Axis::Alpha,
            "chain" => Axis::ChainReset,
            _ => [Axis::LearningRate, Axis::Alpha, Axis::ChainReset, Axis::Rank]
                .into_iter()
                .find(|a| {
                    let mut v: Vec<String> = cells.iter().map(|c| a.label(&c.cell.hyper)).collect();
                    v.sort();
                    v.dedup();
                    v.len() > 1
                })
                .unwrap_or(Axis::LearningRate),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Axis::LearningRate => "learning rate",
            Axis::Rank => "rank",
            Axis::Alpha => "α (scaling factor)",
            Axis::ChainReset => "chain reset every (epochs)",
        }
    }

    /// The paper's tables for this axis.
    pub fn paper_tables(self) -> &'static str {
        match self {
            Axis::LearningRate => "Tables 8–9 (learning rate × rank)",
            Axis::Rank => "rank",
            Axis::Alpha => "Tables 10–11 (α × rank)",
            Axis::ChainReset => "Tables 12–13 (chain-reset frequency × rank)",
        }
    }

    /// Where a cell sits in the paper's tables for this axis: the tables (DeBERTa v3, ViT-Tiny)
    /// and the key columns, rank and the swept value (α as a multiple of the rank, as the paper
    /// gives it). The learning-rate and chain-reset tables use α = 2r (Table 7), so a cell with
    /// another α has no paper value there; the paper has no rank-only table, nor a "never" reset.
    fn paper_key(self, h: &Hyper) -> Option<(&'static [&'static str], [(&'static str, f64); 2])> {
        let r = h.rank as f64;
        let alpha_2r = h.alpha == 2.0 * r;
        match self {
            Axis::LearningRate if alpha_2r => Some((&["8", "9"][..], [("rank", r), ("lr", h.lr)])),
            Axis::Alpha => Some((&["10", "11"][..], [("rank", r), ("alpha_over_r", h.alpha / r)])),
            Axis::ChainReset if alpha_2r => {
                h.chain_reset_every_epochs.map(|k| (&["12", "13"][..], [("rank", r), ("reset_every_epochs", k as f64)]))
            }
            _ => None,
        }
    }

    /// The paper's value for a cell of this axis with metric `metric`.
    fn paper_value(self, paper: &PaperTables, c: &CellResult, metric: &str) -> Option<f64> {
        let (tables, at) = self.paper_key(&c.cell.hyper)?;
        tables.iter().find_map(|t| paper.get_at(t, &c.cell.model, &c.cell.dataset, metric, &c.cell.method, &at))
    }

    /// Sort key and label of a cell's value on this axis.
    fn key(self, h: &Hyper) -> f64 {
        match self {
            Axis::LearningRate => h.lr,
            Axis::Rank => h.rank as f64,
            Axis::Alpha => h.alpha,
            Axis::ChainReset => h.chain_reset_every_epochs.map(|e| e as f64).unwrap_or(f64::INFINITY),
        }
    }

    fn label(self, h: &Hyper) -> String {
        match self {
            Axis::LearningRate => format!("{:e}", h.lr),
            Axis::Rank => h.rank.to_string(),
            Axis::Alpha => format!("{}", h.alpha),
            Axis::ChainReset => h.chain_reset_every_epochs.map(|e| e.to_string()).unwrap_or_else(|| "never".into()),
        }
    }
}

/// One grid value: mean ± std over the seeds with a value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub seeds: usize,
    /// Seeds without a value (no finished epoch).
    pub without_value: usize,
    pub diverged: usize,
    /// The paper's value at this point (paper suite only).
    pub paper: Option<f64>,
}

/// One (model, data set, method) grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grid {
    pub model: String,
    pub dataset: String,
    pub method: String,
    pub metric: String,
    pub higher_is_better: bool,
    /// Row labels: ranks (a single "–" when rank is the axis).
    pub ranks: Vec<String>,
    /// Column labels, sorted by value.
    pub columns: Vec<String>,
    /// `points[rank][column]`.
    pub points: Vec<Vec<Option<Point>>>,
}

/// One ablation experiment of one suite.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ablation {
    pub suite: String,
    pub experiment: String,
    pub axis: Axis,
    pub grids: Vec<Grid>,
}

fn distinct_sorted(cells: &[&CellResult], key: impl Fn(&CellResult) -> (f64, String)) -> Vec<String> {
    let mut v: Vec<(f64, String)> = cells.iter().map(|c| key(c)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v.dedup_by(|a, b| a.1 == b.1);
    v.into_iter().map(|(_, l)| l).collect()
}

/// The grids of one ablation experiment; `paper` (the paper suite's) puts the paper's values
/// beside ours.
pub fn build(suite: &str, experiment: &str, cells: &[CellResult], paper: Option<&PaperTables>) -> Ablation {
    let axis = Axis::of(experiment, cells);
    let mut keys: Vec<(String, String)> = cells.iter().map(|c| (c.cell.model.clone(), c.cell.dataset.clone())).collect();
    keys.sort();
    keys.dedup();
    let mut grids = Vec::new();
    for (model, dataset) in keys {
        let row_cells: Vec<&CellResult> = cells.iter().filter(|c| c.cell.model == model && c.cell.dataset == dataset).collect();
        for method in method_order(row_cells.iter().map(|c| c.cell.method.as_str())) {
            let mine: Vec<&CellResult> = row_cells.iter().copied().filter(|c| c.cell.method == method).collect();
            let rank_of = |c: &CellResult| if axis == Axis::Rank { "–".to_string() } else { c.cell.hyper.rank.to_string() };
            let ranks = distinct_sorted(&mine, |c| (if axis == Axis::Rank { 0.0 } else { c.cell.hyper.rank as f64 }, rank_of(c)));
            let columns = distinct_sorted(&mine, |c| (axis.key(&c.cell.hyper), axis.label(&c.cell.hyper)));
            let points = ranks
                .iter()
                .map(|r| {
                    columns
                        .iter()
                        .map(|col| {
                            let at: Vec<&&CellResult> =
                                mine.iter().filter(|c| rank_of(c) == *r && axis.label(&c.cell.hyper) == *col).collect();
                            if at.is_empty() {
                                return None;
                            }
                            let values: Vec<f64> = at.iter().filter_map(|c| c.reported_value()).filter(|v| v.is_finite()).collect();
                            let ms = mean_std(&values);
                            Some(Point {
                                mean: ms.map(|m| m.0),
                                std: ms.map(|m| m.1),
                                seeds: values.len(),
                                without_value: at.len() - values.len(),
                                diverged: at.iter().filter(|c| matches!(c.outcome, ledger::Outcome::Diverged { .. })).count(),
                                paper: paper.and_then(|p| axis.paper_value(p, at[0], &at[0].metric)),
                            })
                        })
                        .collect()
                })
                .collect();
            grids.push(Grid {
                model: model.clone(),
                dataset: dataset.clone(),
                method,
                metric: mine[0].metric.clone(),
                higher_is_better: mine[0].higher_is_better,
                ranks,
                columns,
                points,
            });
        }
    }
    Ablation { suite: suite.into(), experiment: experiment.into(), axis, grids }
}

impl Grid {
    /// The best mean of the grid, in the metric's direction.
    pub fn best(&self) -> Option<f64> {
        let means = self.points.iter().flatten().flatten().filter_map(|p| p.mean);
        if self.higher_is_better { means.reduce(f64::max) } else { means.reduce(f64::min) }
    }

    fn means(&self) -> Vec<Vec<Option<f64>>> {
        self.points.iter().map(|r| r.iter().map(|p| p.as_ref().and_then(|p| p.mean)).collect()).collect()
    }
}

impl Ablation {
    /// HTML: per grid a table (rank × axis value, the best in bold, diverged seeds noted) and
    /// a plot (a heat map for learning rate × rank, lines otherwise).
    pub fn html(&self) -> String {
        let mut s = String::new();
        for g in &self.grids {
            let title = format!("{} / {} / {} — {} ({})", g.model, g.dataset, paper_name(&g.method), g.metric, self.axis.name());
            s.push_str(&format!("<div class=\"scroll\"><table class=\"results\"><caption>{}</caption><thead><tr><th>rank</th>", escape(&title)));
            for c in &g.columns {
                s.push_str(&format!("<th>{}</th>", escape(c)));
            }
            s.push_str("</tr></thead><tbody>");
            let best = g.best();
            for (r, row) in g.ranks.iter().zip(&g.points) {
                s.push_str(&format!("<tr><th>{}</th>", escape(r)));
                for p in row {
                    match p {
                        None => s.push_str("<td class=\"missing\">–</td>"),
                        Some(p) => {
                            let mut cell = match (p.mean, p.std) {
                                (Some(m), Some(sd)) => format!("{m:.2} ± {sd:.2}"),
                                _ => "no value".into(),
                            };
                            if let Some(v) = p.paper {
                                cell.push_str(&format!("<br><span class=\"paper\">paper {v:.2}</span>"));
                            }
                            if p.diverged > 0 || p.without_value > 0 {
                                cell.push_str(&format!(
                                    "<br><span class=\"diverged\">⚠ {} diverged, {} without a value</span>",
                                    p.diverged, p.without_value
                                ));
                            }
                            let class = if p.mean.is_some() && p.mean == best { " class=\"best\"" } else { "" };
                            s.push_str(&format!("<td{class} title=\"{} seed(s)\">{cell}</td>", p.seeds));
                        }
                    }
                }
                s.push_str("</tr>");
            }
            s.push_str("</tbody></table></div>");
            let svg = if self.axis == Axis::LearningRate {
                let short = format!("{}: {} by rank × learning rate", paper_name(&g.method), g.metric);
                plot::heat_map(&short, self.axis.name(), "rank", &g.columns, &g.ranks, &g.means(), 2)
            } else {
                let series: Vec<Series> =
                    g.ranks.iter().zip(g.means()).map(|(r, values)| Series { name: format!("rank {r}"), values }).collect();
                let short = format!("{}: {} by {}", paper_name(&g.method), g.metric, self.axis.name());
                plot::lines(&short, self.axis.name(), &g.metric, &g.columns, &series)
            };
            s.push_str(&format!("<figure>{svg}</figure>"));
        }
        s
    }

    /// CSV lines (no header) of every grid point: see [`ABLATION_CSV_HEADER`].
    pub fn csv_lines(&self) -> String {
        let mut s = String::new();
        for g in &self.grids {
            for (r, row) in g.ranks.iter().zip(&g.points) {
                for (c, p) in g.columns.iter().zip(row) {
                    let Some(p) = p else { continue };
                    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
                    let fields = [
                        csv_field(&self.suite),
                        csv_field(&self.experiment),
                        csv_field(&g.model),
                        csv_field(&g.dataset),
                        csv_field(&g.metric),
                        csv_field(&g.method),
                        csv_field(r),
                        csv_field(self.axis.name()),
                        csv_field(c),
                        opt(p.mean),
                        opt(p.std),
                        p.seeds.to_string(),
                        p.without_value.to_string(),
                        p.diverged.to_string(),
                        opt(p.paper),
                    ];
                    s.push_str(&fields.join(","));
                    s.push('\n');
                }
            }
        }
        s
    }
}

pub const ABLATION_CSV_HEADER: &str = "suite,experiment,model,dataset,metric,method,rank,axis,value,mean,std,seeds,without_value,diverged,paper\n";
