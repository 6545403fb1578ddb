//! The whole site: `index.html` and one page per table (one section per suite that has
//! results), each with its CSV and JSON beside it and its plots inline (also under `plots/`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ledger::{CellResult, Outcome, StepRecord};
use serde::Serialize;

use crate::ablation::{self, ABLATION_CSV_HEADER, Ablation};
use crate::bench;
use crate::cells::{self, Loaded};
use crate::html::{escape, page, table_html, tables_csv};
use crate::pages;
use crate::pareto;
use crate::paper::PaperTables;
use crate::table::{CellStats, Table};

/// One of the pages built from the `main` experiment.
struct MainPage {
    /// The experiment whose cells the page shows, where a suite has it (a table's own grid);
    /// `main`'s otherwise.
    experiment: Option<&'static str>,
    /// Only the experiment's own cells: a suite without that grid has no section (Tables 4, 5
    /// and 14 are grids of their own, not views of `main`).
    own_grid_only: bool,
    file: &'static str,
    name: &'static str,
    description: &'static str,
    build: fn(&[CellResult], Option<&PaperTables>) -> (Vec<Table>, Vec<String>),
}

const MAIN_PAGES: &[MainPage] = &[
    MainPage {
        experiment: None,
        own_grid_only: false,
        file: "table2",
        name: "Table 2",
        description: "quality: the test metric at the selected epoch, mean ± std over seeds, best/second/third, the sparse variants' drop from the best (Tables 2 and 18), and a plot per row of each method's mean with its spread",
        build: |cells, paper| {
            let t = pages::table2(cells, paper);
            let svgs = pages::table2_plots(&t);
            (vec![t], svgs)
        },
    },
    MainPage {
        experiment: None,
        own_grid_only: false,
        file: "table1",
        name: "Table 1",
        description: "the generalization bounds: each method's bound term from the adapted layers' real shapes, the chains run and |N| (q = 32, σ = 1), and its rank agreement (Spearman ρ) with the measured G(W) per row",
        build: |cells, paper| {
            let b = pages::bounds(cells);
            let rho = pages::bound_agreement(&b, &pages::gap(cells, paper));
            (vec![b, rho], vec![])
        },
    },
    MainPage {
        experiment: None,
        own_grid_only: false,
        file: "table3",
        name: "Tables 3/16",
        description: "empirical generalization error G(W) = test loss − training loss at the selected epoch, both in evaluation mode (Definition 1)",
        build: |cells, paper| (vec![pages::gap(cells, paper)], vec![]),
    },
    MainPage {
        experiment: None,
        own_grid_only: false,
        file: "table17",
        name: "Table 17",
        description: "G(W) normalised to LoRA's, with a bar chart",
        build: |cells, paper| {
            let t = pages::gap_ratio(&pages::gap(cells, paper), paper);
            let svg = pages::bars(&t, "G(W) / G(LoRA)", "G(W) / G(LoRA)", &|c: &CellStats| Some(c.mean), Some(1.0));
            (vec![t], vec![svg])
        },
    },
    MainPage {
        experiment: None,
        own_grid_only: false,
        file: "table6",
        name: "Table 6",
        description: "trainable parameters (adapter or backbone + head) and their share of all parameters",
        build: |cells, paper| {
            let t = pages::params(cells, paper);
            let svg = pages::bars(&t[1], "Trainable parameters (% of all)", "% of all parameters", &|c: &CellStats| Some(c.mean), None);
            (t, vec![svg])
        },
    },
    MainPage {
        experiment: Some(ledger::TABLE15_EXPERIMENT),
        own_grid_only: false,
        file: "table15",
        name: "Table 15",
        description: "cost: training throughput, wall time and peak memory, each as a ratio to LoRA",
        build: |cells, paper| cost_page(cells, paper, "15"),
    },
    MainPage {
        experiment: Some("table4"),
        own_grid_only: true,
        file: "table4",
        name: "Table 4",
        description: "the LoRA and PaCA families with every attention and MLP linear adapted (all-linear; the paper's caption also names the embeddings, its Table 14 counts do not): the test metric with its ratio to LoRA",
        build: |cells, paper| (vec![pages::quality_vs_lora(cells, paper, "4", "every attention and MLP linear adapted")], vec![]),
    },
    MainPage {
        experiment: Some("table5"),
        own_grid_only: true,
        file: "table5",
        name: "Table 5",
        description: "the LoRA and PaCA families with query and value adapted: the test metric with its ratio to LoRA",
        build: |cells, paper| (vec![pages::quality_vs_lora(cells, paper, "5", "query and value adapted")], vec![]),
    },
    MainPage {
        experiment: Some("table14"),
        own_grid_only: true,
        file: "table14",
        name: "Table 14",
        description: "cost with every attention and MLP linear adapted: throughput, wall time, peak memory and trainable parameters, each as a ratio to LoRA",
        build: |cells, paper| cost_page(cells, paper, "14"),
    },
];

/// Tables 14 and 15: the cost tables and a bar chart of each one's ratios to LoRA.
fn cost_page(cells: &[CellResult], paper: Option<&PaperTables>, table: &'static str) -> (Vec<Table>, Vec<String>) {
    let t = pages::cost(cells, paper, table);
    let names = ["Throughput / LoRA's", "Training time / LoRA's", "Peak memory / LoRA's", "Trainable parameters / LoRA's"];
    let ratio_tables = if table == "14" { 4 } else { 3 };
    let svgs = t.iter().take(ratio_tables).zip(names).map(|(t, n)| pages::bars(t, n, "ratio to LoRA", &|c: &CellStats| c.ratio, Some(1.0))).collect();
    (t, svgs)
}

const MINI_NOTE: &str = "The mini suite: small models pretrained here on generated data sets. It checks the harness end to end; \
    its numbers are not comparable with the paper's, and no paper number is shown beside them.";
const PAPER_NOTE: &str = "The paper suite: the paper's models and data sets; the paper's published number is printed under ours \
    where it gives one.";

fn suite_note(suite: &str) -> &'static str {
    match suite {
        "mini" => MINI_NOTE,
        "paper" => PAPER_NOTE,
        _ => "",
    }
}

/// "Table 2 — mini suite", "Table 2 — paper and mini suites".
fn page_title(name: &str, suites: &[String]) -> String {
    match suites {
        [] => format!("{name} — no results yet"),
        [one] => format!("{name} — {one} suite"),
        many => format!("{name} — {} suites", many.join(" and ")),
    }
}

/// "12 cells (1 diverged, 1 without a selected epoch)".
fn cells_summary(cells: &[CellResult]) -> String {
    let diverged = cells.iter().filter(|c| matches!(c.outcome, Outcome::Diverged { .. })).count();
    let no_best = cells.iter().filter(|c| c.best.is_none()).count();
    let mut s = format!("{} cell{}", cells.len(), if cells.len() == 1 { "" } else { "s" });
    if diverged + no_best > 0 {
        s.push_str(&format!(" ({diverged} diverged, {no_best} without a selected epoch)"));
    }
    // Provenance: a table that mixes code versions or devices says so.
    let codes: std::collections::BTreeSet<String> =
        cells.iter().map(|c| c.code.as_ref().map(ledger::CodeVersion::short).unwrap_or_else(|| "unknown".into())).collect();
    let devices: std::collections::BTreeSet<&str> = cells.iter().map(|c| c.cost.device.as_str()).collect();
    if codes.len() > 1 {
        s.push_str(&format!("; mixes {} code versions ({})", codes.len(), codes.into_iter().collect::<Vec<_>>().join(", ")));
    }
    if devices.len() > 1 {
        s.push_str(&format!("; mixes {} devices ({})", devices.len(), devices.into_iter().collect::<Vec<_>>().join(", ")));
    }
    s
}

/// What a section of a page keeps for the JSON beside it.
#[derive(Serialize)]
struct SectionJson<'a> {
    suite: &'a str,
    cells: usize,
    tables: &'a [Table],
}

/// One line of the index.
struct IndexEntry {
    group: String,
    href: String,
    title: String,
    description: String,
    cells: String,
}

struct Writer {
    dir: PathBuf,
    written: Vec<PathBuf>,
}

impl Writer {
    fn write(&mut self, rel: &str, contents: &str) -> Result<()> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        self.written.push(path);
        Ok(())
    }

    /// The plot inline, and as `plots/<name>.svg`.
    fn figure(&mut self, name: &str, svg: &str) -> Result<String> {
        self.write(&format!("plots/{name}.svg"), svg)?;
        let name = escape(name);
        Ok(format!("<figure>{svg}<figcaption><a href=\"plots/{name}.svg\">{name}.svg</a></figcaption></figure>"))
    }
}

fn section(suite: &str, heading: &str, summary: &str, body: &str) -> String {
    format!(
        "<section id=\"{s}\" class=\"suite-{s}\"><h2>{h}</h2><p class=\"note\">{summary}. {note}</p>{body}</section>",
        s = escape(suite),
        h = escape(heading),
        summary = escape(summary),
        note = escape(suite_note(suite))
    )
}

fn main_page(w: &mut Writer, loaded: &Loaded, paper: &PaperTables, spec: &MainPage, index: &mut Vec<IndexEntry>) -> Result<()> {
    let cells_of = |suite: &str| match spec.experiment.map(|e| loaded.cells(suite, e)) {
        Some(own) if !own.is_empty() || spec.own_grid_only => own,
        _ => loaded.cells(suite, "main"),
    };
    let suites: Vec<String> = loaded.suites().into_iter().filter(|s| !cells_of(s).is_empty()).collect();
    let mut body = String::new();
    let mut all: Vec<(String, Table)> = Vec::new();
    let mut json = Vec::new();
    for suite in &suites {
        let cells = cells_of(suite);
        let (tables, svgs) = (spec.build)(cells, (suite == "paper").then_some(paper));
        let mut inner: String = tables.iter().map(table_html).collect();
        for (i, svg) in svgs.iter().enumerate() {
            inner.push_str(&w.figure(&format!("{}-{suite}-{}", spec.file, i + 1), svg)?);
        }
        let summary = cells_summary(cells);
        body.push_str(&section(suite, &format!("{} — {suite} suite", spec.name), &summary, &inner));
        index.push(IndexEntry {
            group: suite.clone(),
            href: format!("{}.html#{suite}", spec.file),
            title: format!("{} — {suite} suite", spec.name),
            description: spec.description.into(),
            cells: summary,
        });
        json.push((suite.clone(), cells.len(), tables.clone()));
        all.extend(tables.into_iter().map(|t| (suite.clone(), t)));
    }
    if suites.is_empty() {
        let run = if spec.own_grid_only { format!("{} --suite paper", spec.file) } else { format!("{} --suite mini", spec.file) };
        body.push_str(&format!("<p>No finished cells yet: run <code>cargo xtask reproduce {run}</code>, then <code>cargo xtask report</code>.</p>"));
    }
    let intro = format!("<p class=\"note\">{}. Columns use the paper's method names. <a href=\"index.html\">All tables</a> · <a href=\"{f}.csv\">CSV</a> · <a href=\"{f}.json\">JSON</a></p>", escape(spec.description), f = spec.file);
    w.write(&format!("{}.html", spec.file), &page(&page_title(spec.name, &suites), &(intro + &body)))?;
    let refs: Vec<(&str, &Table)> = all.iter().map(|(s, t)| (s.as_str(), t)).collect();
    w.write(&format!("{}.csv", spec.file), &tables_csv(&refs))?;
    let sections: Vec<SectionJson> = json.iter().map(|(s, n, t)| SectionJson { suite: s, cells: *n, tables: t }).collect();
    w.write(&format!("{}.json", spec.file), &serde_json::to_string_pretty(&sections)?)?;
    Ok(())
}

/// `curves.html`: per suite and (model, data set) of the main grid, the methods' validation and
/// training loss per epoch (Table 2's rows link here).
fn curves_page(w: &mut Writer, loaded: &Loaded, index: &mut Vec<IndexEntry>) -> Result<()> {
    let mut body = String::new();
    let mut suites = Vec::new();
    for suite in loaded.suites() {
        let cells = loaded.cells(&suite, "main");
        if cells.is_empty() {
            continue;
        }
        suites.push(suite.clone());
        let mut rows: Vec<(String, String)> = Vec::new();
        for c in cells {
            let k = (c.cell.model.clone(), c.cell.dataset.clone());
            if !rows.contains(&k) {
                rows.push(k);
            }
        }
        let mut inner = String::new();
        for (model, dataset) in &rows {
            inner.push_str(&format!("<h3 id=\"{}\">{} / {}</h3>", escape(&curve_anchor(model, dataset)), escape(model), escape(dataset)));
            for (i, svg) in pages::curves(cells, model, dataset).iter().enumerate() {
                inner.push_str(&w.figure(&format!("curves-{suite}-{model}-{dataset}-{}", i + 1), svg)?);
            }
        }
        let summary = cells_summary(cells);
        body.push_str(&section(&suite, &format!("Training curves — {suite} suite"), &summary, &inner));
        index.push(IndexEntry {
            group: suite.clone(),
            href: format!("curves.html#{suite}"),
            title: format!("Training curves — {suite} suite"),
            description: "validation loss and training loss (evaluation mode) per epoch, mean over seeds, each method's selected epoch in the legend; per-step logs are under runs/<suite>/main/logs/".into(),
            cells: summary,
        });
    }
    let intro = "<p class=\"note\">Per (model, data set): each method's mean over seeds per epoch. <a href=\"index.html\">All tables</a></p>";
    w.write("curves.html", &page(&page_title("Training curves", &suites), &format!("{intro}{body}")))?;
    Ok(())
}

/// The anchor of a (model, data set) on the curves page.
pub fn curve_anchor(model: &str, dataset: &str) -> String {
    format!("{model}--{dataset}").chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// `pareto.html`: per (model, data set) of the main grid, each method's metric against peak
/// memory, wall time or trainable parameters, the frontier drawn, with filters in the page.
fn pareto_page(w: &mut Writer, loaded: &Loaded, index: &mut Vec<IndexEntry>) -> Result<()> {
    let mut groups = Vec::new();
    let mut suites = Vec::new();
    for suite in loaded.suites() {
        let cells = loaded.cells(&suite, "main");
        if cells.is_empty() {
            continue;
        }
        groups.extend(pareto::groups(&suite, cells));
        index.push(IndexEntry {
            group: suite.clone(),
            href: format!("pareto.html#suite={suite}"),
            title: format!("Pareto view — {suite} suite"),
            description: "per (model, data set), each method's test metric against peak memory, wall time or trainable parameters; the frontier drawn, dominated methods greyed; filters for model, data set and methods".into(),
            cells: cells_summary(cells),
        });
        suites.push(suite);
    }
    let intro = "<p class=\"note\">Table 2's means over seeds against the cost of the same cells (Tables 6 and 15's means). \
        A method is on the frontier (dashed) when no other method shown has a cost as low and a metric as good, one of them \
        strictly better; the others are grey. Unticking a method recomputes the frontier; the view is kept in the address \
        (<code>#axis=time&amp;dataset=…&amp;hide=fft</code>). Wall time and memory are as measured in the grid, cells running \
        side by side (<code>--jobs</code>): read them as a rough guide; Table 15 measures cost under control. \
        <a href=\"index.html\">All tables</a> · <a href=\"pareto.csv\">CSV</a> · <a href=\"pareto.json\">JSON</a></p>";
    let body = if groups.is_empty() {
        "<p>No finished cells yet: run <code>cargo xtask reproduce table2 --suite mini</code>, then <code>cargo xtask report</code>.</p>".to_string()
    } else {
        pareto::body(&groups)
    };
    w.write("pareto.html", &page(&page_title("Pareto view: metric against cost", &suites), &format!("{intro}{body}")))?;
    w.write("pareto.csv", &pareto::csv(&groups))?;
    w.write("pareto.json", &serde_json::to_string_pretty(&groups)?)?;
    Ok(())
}

fn ablations_page(w: &mut Writer, loaded: &Loaded, paper: &PaperTables, index: &mut Vec<IndexEntry>) -> Result<()> {
    let mut body = String::new();
    let mut csv = String::from(ABLATION_CSV_HEADER);
    let mut all: Vec<Ablation> = Vec::new();
    let mut suites = Vec::new();
    for suite in loaded.suites() {
        let exps = loaded.ablations(&suite);
        if exps.is_empty() {
            continue;
        }
        suites.push(suite.clone());
        let mut inner = String::new();
        for e in exps {
            let a = ablation::build(&suite, &e.experiment, &e.cells, (suite == "paper").then_some(paper));
            let summary = cells_summary(&e.cells);
            inner.push_str(&format!(
                "<h3 id=\"{s}-{x}\">{x} — {t}</h3><p class=\"note\">{summary}; mean ± std of the reported metric over seeds.</p>{h}",
                s = escape(&suite),
                x = escape(&e.experiment),
                t = escape(a.axis.paper_tables()),
                summary = escape(&summary),
                h = a.html()
            ));
            csv.push_str(&a.csv_lines());
            index.push(IndexEntry {
                group: suite.clone(),
                href: format!("ablations.html#{suite}-{}", e.experiment),
                title: format!("Ablation {} — {suite} suite", e.experiment),
                description: a.axis.paper_tables().into(),
                cells: summary,
            });
            all.push(a);
        }
        body.push_str(&section(&suite, &format!("Ablations — {suite} suite"), "Tables 8–13", &inner));
    }
    if suites.is_empty() {
        body.push_str("<p>No ablation cells yet (<code>cargo xtask ablate …</code> writes them under <code>results/runs/&lt;suite&gt;/ablate-*</code>).</p>");
    }
    let intro = "<p class=\"note\">Learning rate × rank as heat maps (Tables 8–9), α and chain-reset frequency as lines per rank \
        (Tables 10–13). In the paper suite the paper's number is printed under ours where its table has the same model, data set, \
        method, rank and learning rate / α (as a multiple of r) / reset period; its ablation tables report accuracy (CoLA too), so \
        cells with another metric get none. <a href=\"index.html\">All tables</a> · <a href=\"ablations.csv\">CSV</a> · \
        <a href=\"ablations.json\">JSON</a></p>";
    w.write("ablations.html", &page(&page_title("Ablations (Tables 8–13)", &suites), &(intro.to_string() + &body)))?;
    w.write("ablations.csv", &csv)?;
    w.write("ablations.json", &serde_json::to_string_pretty(&all)?)?;
    Ok(())
}

fn bench_page(w: &mut Writer, results_dir: &Path, index: &mut Vec<IndexEntry>) -> Result<()> {
    let path = ledger::bench::step_records_path(results_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let records: Vec<StepRecord> = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            index.push(IndexEntry {
                group: "benchmarks".into(),
                href: "bench/step.json".into(),
                title: "Step benchmark".into(),
                description: format!("could not read results/bench/step.json: {e}"),
                cells: String::new(),
            });
            return Ok(());
        }
    };
    let (html, tables) = bench::body(&records);
    let intro = "<p class=\"note\"><a href=\"index.html\">All tables</a> · <a href=\"bench.csv\">CSV</a> · <a href=\"bench.json\">JSON</a></p>";
    w.write("bench.html", &page("Step benchmark — burn vs PyTorch + PEFT", &(intro.to_string() + &html)))?;
    let refs: Vec<(&str, &Table)> = tables.iter().map(|t| ("bench", t)).collect();
    w.write("bench.csv", &tables_csv(&refs))?;
    w.write("bench.json", &serde_json::to_string_pretty(&tables)?)?;
    index.push(IndexEntry {
        group: "benchmarks".into(),
        href: "bench.html".into(),
        title: "Step benchmark".into(),
        description: "seconds per step and peak memory per method, as ratios to our LoRA and to PyTorch + PEFT's".into(),
        cells: format!("{} measurements", records.len()),
    });
    Ok(())
}

/// `crosscheck.html`, from `results/crosscheck.json` (`cargo xtask crosscheck`): per method the
/// worst per-step loss difference from PyTorch + HF PEFT and the final accuracies, a plot of the
/// per-step differences, and the methods PEFT has no counterpart for.
/// The geometry figures' pages (`fig1.html` …), from the analysis records.
fn figure_pages(w: &mut Writer, results_dir: &Path, loaded: &Loaded, index: &mut Vec<IndexEntry>) -> Result<()> {
    const STYLE: &str = "<style>.panels{display:flex;flex-wrap:wrap;gap:10px}.panel{margin:0;border:1px solid #ddd;padding:4px}.panel figcaption{font-size:12px;max-width:340px}.panel.wide figcaption{max-width:560px}.panel.missing{width:200px;color:#888}</style>";
    for p in crate::figures::pages(results_dir, loaded) {
        let body = format!("{STYLE}{}", p.body);
        w.write(&format!("{}.html", p.file), &page(&p.title, &body))?;
        let missing = if p.missing > 0 { format!(", {} not computed yet", p.missing) } else { String::new() };
        index.push(IndexEntry { group: "geometry figures".into(), href: format!("{}.html", p.file), title: p.title, description: p.description, cells: format!("{} panels{missing}", p.drawn) });
    }
    Ok(())
}

fn crosscheck_page(w: &mut Writer, results_dir: &Path, index: &mut Vec<IndexEntry>) -> Result<()> {
    let path = ledger::bench::crosscheck_path(results_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let records: Vec<ledger::CrosscheckRecord> = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            index.push(IndexEntry { group: "benchmarks".into(), href: "crosscheck.json".into(), title: "Cross-check".into(), description: format!("could not read results/crosscheck.json: {e}"), cells: String::new() });
            return Ok(());
        }
    };
    let mut body = String::from("<div class=\"scroll\"><table class=\"results\"><caption>Per-step training loss and final test accuracy, here and in PyTorch + HF PEFT</caption><thead><tr><th>Method</th><th>Cell</th><th>Steps</th><th>Steps within the tolerance</th><th>Worst |Δloss| / loss (step)</th><th>Test accuracy here / PyTorch</th><th>Test loss here / PyTorch</th><th>Verdict</th></tr></thead><tbody>");
    for r in &records {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} (≥ {} needed)</td><td>{:.2e} ({})</td><td>{:.4} / {:.4}</td><td>{:.6} / {:.6}</td><td class=\"{}\">{}</td></tr>",
            escape(&pages::paper_name(&r.method)),
            escape(&r.cell),
            r.ours.len(),
            r.steps_within,
            r.min_steps,
            r.worst_relative,
            r.worst_step,
            r.our_test_accuracy,
            r.torch_test_accuracy,
            r.our_test_loss,
            r.torch_test_loss,
            if r.passed { "best" } else { "second" },
            if r.passed { format!("equal within {:.0e}", r.tolerance) } else { "differs".to_string() }
        ));
    }
    body.push_str("</tbody></table></div>");
    let steps = records.iter().map(|r| r.ours.len()).max().unwrap_or(0);
    // Every 25th step labelled; the differences on a log scale (they span 1e-8 … 1e-2; many
    // steps are bit-equal).
    let categories: Vec<String> = (1..=steps).map(|s| if s % 25 == 0 || s == 1 { s.to_string() } else { String::new() }).collect();
    let series: Vec<crate::plot::Series> = records
        .iter()
        .map(|r| crate::plot::Series {
            name: pages::paper_name(&r.method),
            // A step with bit-equal losses has no point (log of 0).
            values: r.ours.iter().zip(&r.torch).map(|(a, b)| (a != b).then(|| ((a - b).abs() / b.abs().max(1e-12)).log10())).collect(),
        })
        .collect();
    let svg = crate::plot::lines("Per-step |loss here − loss in PyTorch| / loss", "step", "log10 of the relative difference", &categories, &series);
    body.push_str(&w.figure("crosscheck-1", &svg)?);
    body.push_str("<h2>Methods without an HF PEFT counterpart</h2><ul>");
    for m in methods::REGISTRY {
        if let Err(why) = m.peft_counterpart() {
            body.push_str(&format!("<li>{}: {}</li>", escape(m.paper_name), escape(why)));
        }
    }
    body.push_str("</ul>");
    let first = records.first();
    let machine = first.map(|r| format!("{}; torch {}, transformers {}, peft {}", r.cpu, r.versions.get("torch").cloned().unwrap_or_default(), r.versions.get("transformers").cloned().unwrap_or_default(), r.versions.get("peft").cloned().unwrap_or_default())).unwrap_or_default();
    let intro = format!(
        "<p class=\"note\">The same mini cell trained here and in PyTorch + HF PEFT (<code>bench/crosscheck.py</code>) from the same \
         initial weights (exported as PEFT loads them), on the same batches in the same order, with the same AdamW, schedule and \
         clipping, dropout off (<code>cargo xtask crosscheck</code>). Ran on {}. <a href=\"index.html\">All tables</a> · <a href=\"crosscheck.json\">JSON</a></p>",
        escape(&machine)
    );
    w.write("crosscheck.html", &page("Cross-check against PyTorch + HF PEFT", &(intro + &body)))?;
    let passed = records.iter().filter(|r| r.passed).count();
    index.push(IndexEntry {
        group: "benchmarks".into(),
        href: "crosscheck.html".into(),
        title: "Cross-check against PyTorch + HF PEFT".into(),
        description: "per-step training loss and final accuracy of the same cell here and in PyTorch + PEFT".into(),
        cells: format!("{passed} of {} methods equal", records.len()),
    });
    Ok(())
}

fn index_page(w: &mut Writer, loaded: &Loaded, index: &[IndexEntry]) -> Result<()> {
    let mut body = String::from(
        "<p class=\"note\">Built by <code>cargo xtask report</code> from the ledger (<code>results/runs/&lt;suite&gt;/&lt;experiment&gt;/*.json</code>) \
         and the paper's tables (<code>experiments/paper-tables</code>); the report never trains. Each page has its CSV and JSON beside it.</p>",
    );
    let mut groups: Vec<&str> = Vec::new();
    for e in index {
        if !groups.contains(&e.group.as_str()) {
            groups.push(&e.group);
        }
    }
    if index.iter().all(|e| e.group == "benchmarks") {
        body.push_str("<p>No finished cells yet: the table pages are empty (<a href=\"table2.html\">Table 2</a>). Run <code>cargo xtask reproduce table2 --suite mini</code>.</p>");
    }
    for g in groups {
        let heading = match g {
            "benchmarks" => "Benchmarks".to_string(),
            s => format!("{s} suite"),
        };
        body.push_str(&format!("<section class=\"suite-{g}\"><h2>{}</h2>", escape(&heading), g = escape(g)));
        if !suite_note(g).is_empty() {
            body.push_str(&format!("<p class=\"note\">{}</p>", escape(suite_note(g))));
        }
        body.push_str("<ul>");
        for e in index.iter().filter(|e| e.group == g) {
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a>: {}{}</li>",
                escape(&e.href),
                escape(&e.title),
                escape(&e.description),
                if e.cells.is_empty() { String::new() } else { format!(" — {}", escape(&e.cells)) }
            ));
        }
        body.push_str("</ul></section>");
    }
    if !loaded.unreadable.is_empty() {
        body.push_str("<h2>Unreadable ledger files</h2><ul>");
        for (p, e) in &loaded.unreadable {
            body.push_str(&format!("<li><code>{}</code>: {}</li>", escape(&p.display().to_string()), escape(e)));
        }
        body.push_str("</ul>");
    }
    if !loaded.failed.is_empty() {
        body.push_str(&format!(
            "<h2>Failed cells</h2><p>{} cells could not run and have no result; the same command runs them again.</p><ul>",
            loaded.failed.len()
        ));
        for (at, f) in &loaded.failed {
            body.push_str(&format!("<li>{}: {} — {}</li>", escape(at), escape(&f.cell.label()), escape(&f.reason)));
        }
        body.push_str("</ul>");
    }
    if !loaded.outdated.is_empty() {
        body.push_str(&format!(
            "<h2>Outdated results left out</h2><p>{} finished cells were left out for a newer run of the same \
             (model, data set, method, seed{}) — an edited experiment file or regenerated mini data. Their ledger \
             files are kept.</p><details><summary>list</summary><ul>",
            loaded.outdated.len(),
            if loaded.outdated.iter().all(|o| o.contains("/main:")) { "" } else { ", hyper-parameters in ablations" }
        ));
        for o in &loaded.outdated {
            body.push_str(&format!("<li>{}</li>", escape(o)));
        }
        body.push_str("</ul></details>");
    }
    w.write("index.html", &page("beyond-lora — results", &body))
}

/// Reads every ledger file under `results_dir/runs/*/*/` and the paper's tables, and writes
/// the site into `results_dir`: `index.html`, `table2.html`, `table3.html`, `table17.html`,
/// `table6.html`, `table15.html`, `pareto.html`, `ablations.html` (each with `.csv` and `.json`), `bench.html`
/// when `results_dir/bench/step.json` exists, and the plots under `plots/`. Returns every
/// file written, the index first. Unreadable ledger files are listed on the index, not fatal.
pub fn build_site(results_dir: &Path, paper_tables_dir: &Path) -> Result<Vec<PathBuf>> {
    let loaded = cells::load(results_dir);
    let paper = PaperTables::load(paper_tables_dir)?;
    let mut w = Writer { dir: results_dir.to_path_buf(), written: Vec::new() };
    let mut index = Vec::new();
    for spec in MAIN_PAGES {
        main_page(&mut w, &loaded, &paper, spec, &mut index)?;
    }
    curves_page(&mut w, &loaded, &mut index)?;
    pareto_page(&mut w, &loaded, &mut index)?;
    ablations_page(&mut w, &loaded, &paper, &mut index)?;
    bench_page(&mut w, results_dir, &mut index)?;
    crosscheck_page(&mut w, results_dir, &mut index)?;
    figure_pages(&mut w, results_dir, &loaded, &mut index)?;
    // Group the index by suite in the ledger's order, benchmarks last.
    let order: Vec<String> = loaded.suites();
    index.sort_by_key(|e| order.iter().position(|s| *s == e.group).unwrap_or(usize::MAX));
    index_page(&mut w, &loaded, &index)?;
    let mut written = w.written;
    let i = written.len() - 1;
    written[..=i].rotate_right(1);
    Ok(written)
}
