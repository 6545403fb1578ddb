//! The geometry figures (Figs 1/8, 3, 9, 10: loss landscapes; Fig 4: intruder dimensions) from
//! the analysis records (`runs/<suite>/<experiment>/analysis/`) and the figure file the run
//! used (`analysis/figures.json`, a copy of `experiments/<suite>/figures.toml`), each panel
//! with its cell's G(W) and test metric beside it.

use std::collections::BTreeMap;
use std::path::Path;

use ledger::CellResult;
use ledger::analysis::{FIGURES_USED, FigureFile, IntruderRecord, LandscapeRecord, PanelKind, analysis_dir, read_records};

use crate::cells::Loaded;
use crate::html::escape;
use crate::pages::paper_name;
use crate::plot;

/// One figure's page: a section per suite that has it.
pub struct FigurePage {
    pub file: String,
    pub title: String,
    pub description: String,
    pub body: String,
    /// Panels drawn and panels whose record is missing.
    pub drawn: usize,
    pub missing: usize,
}

/// The chain methods' non-chain counterparts (Fig 4's dashed lines share their colour).
const CHAIN_PAIRS: [(&str, &str); 3] = [("cola", "lora"), ("rac-lora", "asym-lora"), ("c3la", "cla")];

/// The record among `found` (those of one panel) whose cell has the lowest seed, with that cell.
fn lowest_seed<'a, R>(cells: &'a [CellResult], found: impl Iterator<Item = (&'a R, &'a str)>) -> Option<(&'a R, &'a CellResult)> {
    found.filter_map(|(r, hash)| cells.iter().find(|c| c.hash == hash).map(|c| (r, c))).min_by_key(|(_, c)| c.cell.seed)
}

/// "G(W) 0.123 · accuracy 85.1" for a panel's caption.
fn scores(c: Option<&CellResult>) -> String {
    let Some(c) = c else { return "no result".into() };
    let gap = c.generalization_gap().map(|g| format!("G(W) {g:.3}")).unwrap_or_else(|| "G(W) –".into());
    let metric = c.best.as_ref().map(|b| format!(" · {} {:.3}", c.metric, b.test_metric)).unwrap_or_default();
    format!("{gap}{metric}")
}

/// The page of figure `name`, started the first time a suite has it.
fn page_of<'a>(pages: &'a mut BTreeMap<String, FigurePage>, name: &str, paper: &str, caption: &str) -> &'a mut FigurePage {
    pages.entry(name.to_string()).or_insert_with(|| FigurePage { file: name.to_string(), title: paper.to_string(), description: caption.to_string(), body: String::new(), drawn: 0, missing: 0 })
}

/// Every figure page of every suite with a figure file in its analysis directory.
pub fn pages(results_dir: &Path, loaded: &Loaded) -> Vec<FigurePage> {
    let mut by_name: BTreeMap<String, FigurePage> = BTreeMap::new();
    for exp in &loaded.experiments {
        let dir = analysis_dir(&ledger::experiment_dir(results_dir, &exp.suite, &exp.experiment));
        let Ok(file) = FigureFile::read_json(&dir.join(FIGURES_USED)) else { continue };
        let landscapes: Vec<LandscapeRecord> = read_records(&dir, "landscape-").unwrap_or_default();
        let intruders: Vec<IntruderRecord> = read_records(&dir, "intruders-").unwrap_or_default();
        for fig in &file.landscape {
            let page = page_of(&mut by_name, &fig.name, &fig.paper, &fig.caption);
            page.body.push_str(&format!("<h2>{} suite</h2><p>{}</p>", escape(&exp.suite), escape(&fig.caption)));
            for row in &fig.rows {
                let kind = match fig.kind {
                    PanelKind::Surface => "3D surface",
                    PanelKind::Contour => "2D contour",
                };
                page.body.push_str(&format!(
                    "<h3>{} / {} — {} directions, {kind}, {}×{} grid</h3><div class=\"panels\">",
                    escape(&row.model),
                    escape(&row.dataset),
                    row.directions.as_str(),
                    fig.grid,
                    fig.grid
                ));
                for method in &fig.methods {
                    let found = landscapes.iter().filter(|r| {
                        r.model == row.model
                            && r.dataset == row.dataset
                            && r.method == *method
                            && r.spec.directions == row.directions
                            && r.spec.grid == fig.grid
                            && r.spec.seed == fig.direction_seed
                            && r.spec.epoch.is_none()
                            && (fig.kind == PanelKind::Contour || r.spec.range == fig.range)
                            && r.is_complete()
                    });
                    let picked = lowest_seed(&exp.cells, found.map(|r| (r, r.spec.cell.as_str())));
                    let cell = picked.map(|(_, c)| c);
                    let name = paper_name(method);
                    let Some((r, _)) = picked else {
                        page.missing += 1;
                        page.body.push_str(&format!("<figure class=\"panel missing\"><figcaption>{} — not computed yet</figcaption></figure>", escape(&name)));
                        continue;
                    };
                    let values: Vec<Option<f64>> = r.values.iter().map(|v| v.map(|l| l.0)).collect();
                    let g = r.axis.len();
                    let centre = values.get((g / 2) * g + g / 2).copied().flatten();
                    let svg = match fig.kind {
                        PanelKind::Surface => plot::surface(&name, &r.axis, &values),
                        PanelKind::Contour => plot::contour(&name, &r.axis, &values, &r.trajectory),
                    };
                    let explained = r.explained.map(|e| format!(" · PCA explains {:.0} % + {:.0} %", 100.0 * e[0], 100.0 * e[1])).unwrap_or_default();
                    let centre_text = centre.map(|c| format!(" · L(W) {c:.3}")).unwrap_or_default();
                    page.body.push_str(&format!(
                        "<figure class=\"panel\" data-method=\"{}\">{svg}<figcaption>{}{centre_text}{explained}<br>{}</figcaption></figure>",
                        escape(method),
                        escape(&scores(cell)),
                        format!("range ±{:.3}, {} parameters", r.spec.range, r.parameters)
                    ));
                    page.drawn += 1;
                }
                page.body.push_str("</div>");
            }
        }
        for fig in &file.intruders {
            let page = page_of(&mut by_name, &fig.name, &fig.paper, &fig.caption);
            page.body.push_str(&format!("<h2>{} suite</h2><p>{}</p><div class=\"panels\">", escape(&exp.suite), escape(&fig.caption)));
            for (model, dataset) in &fig.rows {
                let mut series = Vec::new();
                let mut gaps = String::new();
                let mut eps = Vec::new();
                for (i, method) in fig.methods.iter().enumerate() {
                    let found = intruders.iter().filter(|r| r.model == *model && r.dataset == *dataset && r.method == *method && r.top_k == fig.top_k && r.last_point);
                    let picked = lowest_seed(&exp.cells, found.map(|r| (r, r.cell.as_str())));
                    let cell = picked.map(|(_, c)| c);
                    let Some((r, _)) = picked else {
                        page.missing += 1;
                        continue;
                    };
                    eps = r.epsilons.clone();
                    // A chain method takes its counterpart's colour, dashed.
                    let counterpart = CHAIN_PAIRS.iter().find(|(chain, _)| chain == method).map(|(_, base)| *base);
                    let colour = counterpart.and_then(|b| fig.methods.iter().position(|m| m == b)).unwrap_or(i);
                    series.push(plot::StyledSeries { name: paper_name(method), values: r.mean_counts.clone(), colour, dashed: counterpart.is_some() });
                    gaps.push_str(&format!("<tr><td>{}</td><td>{}</td><td>{:.2}</td></tr>", escape(&paper_name(method)), escape(&scores(cell)), r.epsilons.iter().position(|e| (e - 0.5).abs() < 1e-9).and_then(|i| r.mean_counts.get(i).copied()).unwrap_or(f64::NAN)));
                    page.drawn += 1;
                }
                if series.is_empty() {
                    page.body.push_str(&format!("<p>{} / {}: not computed yet</p>", escape(model), escape(dataset)));
                    continue;
                }
                let svg = plot::dashed_lines(&format!("{model} / {dataset}"), "ε", "mean intruder dimensions", &eps, &series);
                page.body.push_str(&format!(
                    "<figure class=\"panel wide\">{svg}<figcaption><table class=\"results\"><thead><tr><th>Method</th><th>Its cell</th><th>Intruders at ε = 0.5</th></tr></thead><tbody>{gaps}</tbody></table></figcaption></figure>"
                ));
            }
            page.body.push_str("</div>");
        }
    }
    by_name.into_values().collect()
}
