//! The paper's tables built from the ledger's cells: Table 2 (quality), Tables 3/16 (G(W)),
//! Table 17 (G(W)/G(LoRA)), Table 6 (trainable parameters) and Table 15 (cost), with the
//! paper's own numbers beside ours where given.

use ledger::{CellResult, Outcome};

use crate::paper::PaperTables;
use crate::plot::{self, Series};
use crate::table::{CellStats, Format, Note, Row, RunResult, Table, build_table};

/// The columns that get the "from best" percentage: the paper's sparsity-induced variants
/// (cLA, c3LA, r-cLA, r-c3LA) and their gathered forms, as the registry marks them.
pub fn drop_methods() -> Vec<&'static str> {
    methods::REGISTRY.iter().filter(|m| m.is_sparsity_induced()).map(|m| m.name).collect()
}

/// The paper's name of a method (`r-c3la` → `r-c3LA`); unknown names as they are.
pub fn paper_name(method: &str) -> String {
    methods::paper_name(method).to_string()
}

/// The methods found, in the paper's column order: Table 2's, then the rest of the registry,
/// then unknown names alphabetically.
pub fn method_order<'a>(found: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut found: Vec<&str> = found.into_iter().collect();
    found.sort();
    found.dedup();
    let rank = |m: &str| {
        methods::TABLE2_METHODS
            .iter()
            .position(|t| *t == m)
            .or_else(|| methods::REGISTRY.iter().position(|s| s.name == m).map(|i| 100 + i))
            .unwrap_or(1000)
    };
    found.sort_by_key(|m| (rank(m), m.to_string()));
    found.into_iter().map(String::from).collect()
}

/// Sorts runs into the paper's row order: models as the paper lists them, data sets in the
/// registry's order, unknown ones after, by name.
fn sort_rows(runs: &mut [RunResult]) {
    let models = PaperTables::default().model_order("2");
    let datasets: Vec<&str> = datasets::registry().iter().map(|d| d.name).collect();
    let key = |r: &RunResult| {
        (
            models.iter().position(|m| *m == r.model).unwrap_or(usize::MAX),
            r.model.clone(),
            datasets.iter().position(|d| *d == r.dataset).unwrap_or(usize::MAX),
            r.dataset.clone(),
        )
    };
    runs.sort_by_key(key);
}

fn run_of(c: &CellResult, value: Option<f64>, metric: &str, higher_is_better: bool) -> RunResult {
    RunResult {
        model: c.cell.model.clone(),
        dataset: c.cell.dataset.clone(),
        method: c.cell.method.clone(),
        seed: c.cell.seed,
        value,
        metric: metric.into(),
        higher_is_better,
        diverged_at_epoch: match c.outcome {
            Outcome::Diverged { epoch, .. } => Some(epoch),
            Outcome::Finished => None,
        },
    }
}

/// Builds a table over `cells` with `value` per cell, rows in the paper's order and the
/// paper's method names as headers.
pub(crate) fn table_of(
    title: &str,
    cells: &[CellResult],
    value: &dyn Fn(&CellResult) -> (Option<f64>, String, bool),
    sparse: &[&str],
    paper: &dyn Fn(&str, &str, &str) -> Option<f64>,
) -> Table {
    let mut runs: Vec<RunResult> = cells
        .iter()
        .map(|c| {
            let (v, metric, higher) = value(c);
            run_of(c, v, &metric, higher)
        })
        .collect();
    sort_rows(&mut runs);
    let methods = method_order(cells.iter().map(|c| c.cell.method.as_str()));
    let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
    build_table(title, &runs, &methods, sparse, paper).with_labels(paper_name)
}

/// A lookup of one paper table, or nothing for suites other than `paper`.
fn lookup<'a>(paper: Option<&'a PaperTables>, tables: &'a [&'a str]) -> impl Fn(&str, &str, &str) -> Option<f64> + 'a {
    move |m, d, meth| tables.iter().find_map(|t| paper?.get(t, m, d, meth))
}

/// Table 2 (and its extension, Table 18): the test metric at the selected epoch, mean ± std
/// over seeds, ranks, the sparse variants' drop from the best.
pub fn table2(cells: &[CellResult], paper: Option<&PaperTables>) -> Table {
    table_of(
        "Table 2 — test metric at the selected epoch",
        cells,
        &|c| (c.reported_value(), c.metric.clone(), c.higher_is_better),
        &drop_methods(),
        &lookup(paper, &["2"]),
    )
    .with_row_link("curves.html")
}

/// Tables 4 and 5 (B.1, `table` "4" or "5"): the test metric at the selected epoch with its
/// ratio to LoRA, the sparse variants' drop from the best.
pub fn quality_vs_lora(cells: &[CellResult], paper: Option<&PaperTables>, table: &'static str, targets: &str) -> Table {
    table_of(
        &format!("Table {table} — test metric at the selected epoch, {targets}; ratio to LoRA"),
        cells,
        &|c| (c.reported_value(), c.metric.clone(), c.higher_is_better),
        &drop_methods(),
        &lookup(paper, &[table]),
    )
    .with_ratios_to("lora")
}

/// Tables 3 and 16: G(W) = test loss − evaluation-mode training loss at the selected epoch
/// (lower is better).
pub fn gap(cells: &[CellResult], paper: Option<&PaperTables>) -> Table {
    table_of(
        "Tables 3/16 — G(W) = test loss − training loss (evaluation mode) at the selected epoch",
        cells,
        &|c| (c.generalization_gap(), String::new(), false),
        &[],
        &lookup(paper, &["16", "3"]),
    )
    .with_format(Format::Scientific(2), true)
}

/// Table 2 as plots: per (model, data set), each method's mean with its seed standard
/// deviation as a bar.
pub fn table2_plots(t: &Table) -> Vec<String> {
    t.rows
        .iter()
        .map(|r| {
            let dir = if r.higher_is_better { "↑" } else { "↓" };
            let points: Vec<Option<(f64, f64)>> = r.cells.iter().map(|c| c.as_ref().map(|c| (c.mean, c.std))).collect();
            plot::means_with_spread(&format!("{} / {}", r.model, r.dataset), &format!("{} {dir} (mean ± std over seeds)", r.metric), &t.labels, &points)
        })
        .collect()
}

/// The training curves of one (model, data set): per method, the mean over seeds of each
/// epoch's validation loss and of its training loss in evaluation mode, each method's
/// selected epoch (the one most of its seeds selected) in its legend. Two SVG line charts.
pub fn curves(cells: &[CellResult], model: &str, dataset: &str) -> Vec<String> {
    let mine: Vec<&CellResult> = cells.iter().filter(|c| c.cell.model == model && c.cell.dataset == dataset).collect();
    let epochs = mine.iter().flat_map(|c| c.epochs.iter().map(|r| r.epoch)).max().unwrap_or(0);
    let categories: Vec<String> = (1..=epochs).map(|e| e.to_string()).collect();
    let methods = method_order(mine.iter().map(|c| c.cell.method.as_str()));
    let series = |value: &dyn Fn(&ledger::EpochRecord) -> Option<f64>| -> Vec<Series> {
        methods
            .iter()
            .map(|m| {
                let runs: Vec<&&CellResult> = mine.iter().filter(|c| &c.cell.method == m).collect();
                let values = (1..=epochs)
                    .map(|e| {
                        let v: Vec<f64> = runs.iter().filter_map(|c| c.epochs.iter().find(|r| r.epoch == e).and_then(value)).filter(|v| v.is_finite()).collect();
                        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
                    })
                    .collect();
                let mut chosen: Vec<usize> = runs.iter().filter_map(|c| c.best.as_ref().map(|b| b.epoch)).collect();
                chosen.sort();
                let selected = chosen.iter().max_by_key(|e| chosen.iter().filter(|x| x == e).count()).copied();
                let name = match selected {
                    Some(e) => format!("{} (selected: epoch {e})", paper_name(m)),
                    None => paper_name(m),
                };
                Series { name, values }
            })
            .collect()
    };
    vec![
        plot::falling_curves(&format!("{model} / {dataset}: validation loss"), "epoch", "validation loss", &categories, &series(&|r| Some(r.val_loss))),
        plot::falling_curves(&format!("{model} / {dataset}: training loss (evaluation mode)"), "epoch", "training loss", &categories, &series(&|r| r.train_eval_loss)),
    ]
}

/// The σ of Table 1's bound terms: the loss is taken as 1-sub-Gaussian. σ scales every term
/// of a row alike, so the rank agreement with the measured G(W) does not depend on it.
pub const BOUND_SIGMA: f64 = 1.0;

/// The training bit-width q of Table 1 (fp32).
pub const BOUND_BITS: u32 = 32;

/// A cell's Table 1 term √(2σ²·q·p·ln 2 / |N|) from what it recorded of its adaptation (the
/// adapted layers' shapes, the chains it ran, |N|); `None` for results made before that was
/// recorded.
pub fn bound_term(c: &CellResult) -> Option<f64> {
    let a = c.adaptation.as_ref()?;
    let spec = methods::method(&c.cell.method).ok()?;
    let inputs = methods::BoundInputs {
        layers: a.layers.iter().map(|&(i, o)| methods::LayerShape::new(i, o)).collect(),
        rank: c.cell.hyper.rank,
        bits: BOUND_BITS,
        sigma: BOUND_SIGMA,
        dataset_size: a.train_examples,
        chains: a.chains,
    };
    Some(methods::generalization_bound(spec, &inputs))
}

/// Table 1: every method's bound term per row (q = 32, σ = 1, |N| the training split, the
/// chains each cell ran), computed with the real shapes of the adapted layers.
pub fn bounds(cells: &[CellResult]) -> Table {
    table_of(
        "Table 1 — bound term √(2σ²·q·p·ln 2 / |N|) (q = 32, σ = 1; p from the adapted layers' shapes and the chains run)",
        cells,
        &|c| (bound_term(c), String::new(), false),
        &[],
        &|_, _, _| None,
    )
    .with_format(Format::Scientific(2), false)
    .unranked()
}

/// Spearman's rank correlation (the data sets' metric, ties share their mean rank); `None`
/// below three pairs or when either sample is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    Some(datasets::metrics::spearman(x, y)).filter(|r| r.is_finite())
}

/// Per row: Spearman's ρ between the methods' bound terms and their measured mean G(W) — the
/// paper's claim that methods with the same bound generalise alike, as one number.
pub fn bound_agreement(bounds: &Table, gap: &Table) -> Table {
    let mut rows = Vec::new();
    for r in &bounds.rows {
        let Some(g) = gap.rows.iter().find(|g| g.model == r.model && g.dataset == r.dataset) else { continue };
        let pairs: Vec<(f64, f64)> = bounds.methods.iter().filter_map(|m| Some((bounds.mean_of(r, m)?, gap.mean_of(g, m)?))).collect();
        let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        // `seeds` is what a cell's tooltip counts: here the methods the ρ is over.
        let rho = spearman(&x, &y).map(|rho| CellStats { mean: rho, std: 0.0, seeds: pairs.len(), rank: None, from_best_pct: None, ratio: None, paper: None, paper_ratio: None });
        rows.push(Row { model: r.model.clone(), dataset: r.dataset.clone(), metric: String::new(), higher_is_better: true, cells: vec![rho], notes: vec![Note::default()] });
    }
    Table {
        title: "Table 1 — rank agreement of the bound terms with the measured G(W) (Spearman ρ over the row's methods)".into(),
        methods: vec!["spearman-rho".into()],
        labels: vec!["ρ(bound, G(W))".into()],
        rows,
        format: Format::Fixed(2),
        show_std: false,
        ranked: false,
        ratio_to: None,
        row_link: None,
    }
}

/// Table 17: G(W) of each method over G(W) of LoRA in the same row (ratio of the means over
/// seeds); no ratio where LoRA's G(W) is not positive.
pub fn gap_ratio(gap: &Table, paper: Option<&PaperTables>) -> Table {
    gap.ratio_table(
        "Table 17 — G(W) / G(LoRA)",
        &|t, row| t.mean_of(row, "lora").filter(|g| *g > 0.0),
        &lookup(paper, &["17"]),
    )
}

fn positive(v: f64) -> Option<f64> {
    (v > 0.0 && v.is_finite()).then_some(v)
}

/// A cell's wall time in seconds; none for a diverged cell (it stopped early).
pub fn wall_time(c: &CellResult) -> Option<f64> {
    match c.outcome {
        Outcome::Finished => positive(c.cost.wall_s),
        Outcome::Diverged { .. } => None,
    }
}

/// A cell's peak memory in bytes: the device allocator's on wgpu/CUDA, the process RSS on CPU
/// — of its timing phase where it had one (alone on the machine, before any epoch), else of
/// the whole cell.
pub fn peak_memory(c: &CellResult) -> Option<f64> {
    match &c.cost.timed {
        Some(t) => positive(t.peak_memory_bytes() as f64),
        None => positive(c.cost.peak_memory_bytes() as f64),
    }
}

/// Training samples per second: at the timing phase's median step where the cell had one,
/// else over its training steps (side by side with whatever else ran).
pub fn throughput(c: &CellResult) -> Option<f64> {
    match &c.cost.timed {
        Some(t) => positive(t.samples_per_s()),
        None => positive(c.cost.train_samples_per_s),
    }
}

/// The training time in seconds: the timing phase's median step × the cell's steps where it
/// had one, else its wall time (loading and evaluation included); none for a diverged cell.
pub fn training_time(c: &CellResult) -> Option<f64> {
    let steps = |t: &ledger::TimedCost| c.adaptation.as_ref().map(|a| a.train_examples.div_ceil(t.batch_size.max(1)) * c.epochs.len());
    match (&c.cost.timed, &c.outcome) {
        (_, Outcome::Diverged { .. }) => None,
        (Some(t), _) => steps(t).and_then(|n| positive(n as f64 * t.median_step_s)),
        (None, _) => wall_time(c),
    }
}

/// A cell's trainable parameters: the adapter (or backbone) plus the head; none where the
/// cell recorded no counts.
pub fn trainable(c: &CellResult) -> Option<f64> {
    (c.params.total > 0).then(|| (c.params.backbone_trainable + c.params.head) as f64)
}

/// Table 6: trainable parameters (adapter or backbone, plus the head) and their share of all
/// parameters.
pub fn params(cells: &[CellResult], paper: Option<&PaperTables>) -> Vec<Table> {
    // The paper prints trainable counts in Tables 14 (every linear adapted) and 15 (q, v).
    let t = if cells.iter().any(|c| c.cell.hyper.target_modules.len() > 2 || c.cell.hyper.target_modules == [methods::ALL_LINEAR]) { "14" } else { "15" };
    let counts = table_of(
        "Table 6 — trainable parameters (adapter or backbone + head); ratio to LoRA",
        cells,
        &|c| (trainable(c), String::new(), false),
        &[],
        &|m, d, meth| paper?.get_metric(t, m, d, "trainable_params", meth),
    )
    .with_format(Format::Count, false)
    .unranked()
    .with_ratios_to("lora");
    let share = table_of(
        "Table 6 — trainable parameters in % of all parameters",
        cells,
        &|c| (trainable(c).map(|n| 100.0 * n / c.params.total as f64), String::new(), false),
        &[],
        &|_, _, _| None,
    )
    .with_format(Format::Fixed(3), false)
    .unranked();
    vec![counts, share]
}

/// Table 15 (`table` "15"; Table 14, "14": the same with every linear adapted): training
/// throughput, wall time and peak memory, each with its ratio to LoRA (Table 14 adds the
/// trainable parameters). Diverged cells stopped early, so their wall time is left out (and
/// noted).
pub fn cost(cells: &[CellResult], paper: Option<&PaperTables>, table: &'static str) -> Vec<Table> {
    let t = table;
    let (wall, memory) = (training_time, peak_memory);
    // Units for the magnitude of this suite's cells (the paper's numbers are converted).
    let (time_unit, seconds_per_unit) = time_unit(cells.iter().filter_map(wall).fold(0.0, f64::max));
    let (memory_unit, bytes_per_unit) = memory_unit(cells.iter().filter_map(memory).fold(0.0, f64::max));
    let make = |title: &str, value: &dyn Fn(&CellResult) -> Option<f64>, metric: &'static str, paper_scale: f64, format: Format| {
        table_of(title, cells, &|c| (value(c), String::new(), false), &[], &|m, d, meth| paper?.get_metric(t, m, d, metric, meth).map(|v| v * paper_scale))
            .with_format(format, true)
            .unranked()
            .with_ratios_to("lora")
    };
    let mut tables = vec![
        make(
            &format!("Table {t} — training throughput (samples/s; timed cells: at the median step of the timing phase); ratio to LoRA"),
            &throughput,
            "throughput_samples_per_s",
            1.0,
            Format::Fixed(1),
        ),
        make(
            &format!("Table {t} — training time ({time_unit}; timed cells: the median step alone × their steps, else the cell's wall time); ratio to LoRA"),
            &|c| wall(c).map(|s| s / seconds_per_unit),
            "runtime_minutes",
            60.0 / seconds_per_unit,
            Format::Fixed(1),
        ),
        make(
            &format!("Table {t} — peak memory ({memory_unit}; ours: the device allocator's on wgpu/CUDA, process RSS on CPU; paper: GPU memory); ratio to LoRA"),
            &|c| memory(c).map(|b| b / bytes_per_unit),
            "peak_gpu_memory_gb",
            (1u64 << 30) as f64 / bytes_per_unit,
            Format::Fixed(if bytes_per_unit < (1u64 << 30) as f64 { 0 } else { 2 }),
        ),
    ];
    if t == "14" {
        tables.push(make(&format!("Table {t} — trainable parameters (adapter or backbone + head); ratio to LoRA"), &trainable, "trainable_params", 1.0, Format::Scientific(2)));
    }
    // The timing phases' own spread: how much one cell's timed steps vary.
    if cells.iter().any(|c| c.cost.timed.is_some()) {
        let spread = |c: &CellResult| c.cost.timed.as_ref().and_then(|t| positive(t.p90_step_s / t.p10_step_s));
        tables.push(
            table_of(&format!("Table {t} — the timing phase's spread: 90th / 10th percentile step (timed cells)"), cells, &|c| (spread(c), String::new(), false), &[], &|_, _, _| None)
                .with_format(Format::Fixed(2), true)
                .unranked(),
        );
    }
    tables
}

/// The unit a table of durations up to `max_s` seconds reads best in, and its seconds.
pub fn time_unit(max_s: f64) -> (&'static str, f64) {
    if max_s < 120.0 {
        ("s", 1.0)
    } else if max_s < 2.0 * 3600.0 {
        ("minutes", 60.0)
    } else {
        ("hours", 3600.0)
    }
}

/// The unit a table of sizes up to `max_bytes` reads best in, and its bytes.
pub fn memory_unit(max_bytes: f64) -> (&'static str, f64) {
    if max_bytes < (1u64 << 30) as f64 { ("MiB", (1u64 << 20) as f64) } else { ("GiB", (1u64 << 30) as f64) }
}

/// A grouped bar chart of a table: one group per method, one bar per row (model / data set);
/// `value` picks what a cell shows (its mean, its ratio …).
pub fn bars(t: &Table, title: &str, y_desc: &str, value: &dyn Fn(&crate::table::CellStats) -> Option<f64>, reference: Option<f64>) -> String {
    let keep: Vec<usize> = (0..t.methods.len()).filter(|&i| t.rows.iter().any(|r| r.cells[i].as_ref().and_then(value).is_some())).collect();
    let categories: Vec<String> = keep.iter().map(|&i| t.labels[i].clone()).collect();
    let series: Vec<Series> = t
        .rows
        .iter()
        .map(|r| Series {
            name: format!("{} / {}", r.model, r.dataset),
            values: keep.iter().map(|&i| r.cells[i].as_ref().and_then(value)).collect(),
        })
        .collect();
    plot::grouped_bars(title, y_desc, &categories, &series, reference)
}

#[cfg(test)]
mod tests {
    use super::spearman;

    #[test]
    fn units_follow_the_magnitude() {
        assert_eq!(super::time_unit(45.0), ("s", 1.0));
        assert_eq!(super::time_unit(600.0), ("minutes", 60.0));
        assert_eq!(super::time_unit(5.0 * 3600.0), ("hours", 3600.0));
        assert_eq!(super::memory_unit(300.0 * 1048576.0).0, "MiB");
        assert_eq!(super::memory_unit(3.0 * 1073741824.0).0, "GiB");
    }

    #[test]
    fn spearman_on_known_samples() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // Ties share a rank: ranks (1.5, 1.5, 3) against (1, 2, 3) give ρ = √0.75.
        let rho = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((rho - 0.75f64.sqrt()).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }
}
