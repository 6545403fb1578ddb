//! One results table: rows are (model, data set), columns are methods; each cell aggregates
//! the seeds of that (model, data set, method). The same table model serves every table of
//! the paper: quality (Table 2), G(W) (Tables 3/16), G(W)/G(LoRA) (Table 17), trainable
//! parameters (Table 6) and cost (Table 15) — only the value, its format and its direction
//! differ.

use serde::{Deserialize, Serialize};

/// One run of one cell, as a table needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub model: String,
    pub dataset: String,
    pub method: String,
    pub seed: u64,
    /// The value in the table's units (accuracy in %, MCC × 100, perplexity as is, G(W),
    /// samples/s …); `None` when the run has none (no epoch finished).
    pub value: Option<f64>,
    /// The data set's metric (`accuracy`, `perplexity`, …), shown per row.
    pub metric: String,
    pub higher_is_better: bool,
    /// The epoch at which training diverged, if it did.
    pub diverged_at_epoch: Option<usize>,
}

/// Mean and spread of one (model, data set, method) over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStats {
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single seed.
    pub std: f64,
    /// Seeds with a value (those without one are in the row's [`Note`]).
    pub seeds: usize,
    /// 1, 2, 3 for the best, second, third in the row; `None` otherwise (or in unranked tables).
    pub rank: Option<u8>,
    /// For sparse variants: how far from the row's best, in % of the best (a drop when higher
    /// is better, a rise when lower is better). `None` for the best itself.
    pub from_best_pct: Option<f64>,
    /// `mean` over the row's baseline (LoRA in Table 15), where the table asks for it.
    pub ratio: Option<f64>,
    /// The paper's published number for this cell, if any.
    pub paper: Option<f64>,
    /// The paper's number over the paper's baseline, where the table has ratios.
    pub paper_ratio: Option<f64>,
}

/// What a cell's mean leaves out: seeds that diverged (their best epoch before the divergence,
/// if any, is still averaged and the cell says so) and seeds with no value at all.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Note {
    /// (seed, epoch) of every diverged seed.
    pub diverged: Vec<(u64, usize)>,
    /// Seeds excluded from the mean because they have no finite value.
    pub without_value: Vec<u64>,
    /// Those of them whose value is NaN (a metric of nothing, e.g. a perplexity with every
    /// target cut away): shown as NaN, not as a missing value.
    pub not_a_number: Vec<u64>,
}

impl Note {
    pub fn is_empty(&self) -> bool {
        self.diverged.is_empty() && self.without_value.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub model: String,
    pub dataset: String,
    /// The row's metric (the first run's).
    pub metric: String,
    pub higher_is_better: bool,
    pub cells: Vec<Option<CellStats>>,
    /// One per column, empty when every seed has a value and none diverged.
    pub notes: Vec<Note>,
}

/// How a table prints its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `79.68`
    Fixed(usize),
    /// `4.85e-1`, as the paper prints G(W).
    Scientific(usize),
    /// `1.18M`, as parameter counts.
    Count,
}

impl Format {
    pub fn show(self, v: f64) -> String {
        match self {
            Format::Fixed(d) => format!("{v:.d$}"),
            Format::Scientific(d) => format!("{v:.d$e}"),
            Format::Count => {
                let a = v.abs();
                if a >= 1e9 {
                    format!("{:.2}B", v / 1e9)
                } else if a >= 1e6 {
                    format!("{:.2}M", v / 1e6)
                } else if a >= 1e3 {
                    format!("{:.1}K", v / 1e3)
                } else {
                    format!("{v:.0}")
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    /// Registry names, fixing the column order.
    pub methods: Vec<String>,
    /// Column headers (the paper's names); the registry names unless set.
    pub labels: Vec<String>,
    pub rows: Vec<Row>,
    pub format: Format,
    /// Print "± std" beside the mean.
    pub show_std: bool,
    /// Whether ranks 1–3 are marked (the cost tables are not ranked).
    pub ranked: bool,
    /// The method that `ratio` is relative to, if any.
    pub ratio_to: Option<String>,
    /// A page each row's model / data set links to, at the row's anchor (Table 2 → the
    /// training curves).
    #[serde(skip)]
    pub row_link: Option<&'static str>,
}

/// Builds a table. `methods` fixes the column order; `sparse` names the columns that get the
/// "from best" percentage (the paper's cLA, c3LA, r-cLA, r-c3LA); `paper` gives published
/// numbers by (model, data set, method). Rows keep the order in which (model, data set) first
/// appear in `runs`; each row ranks in its own direction (perplexity rows lower-is-better).
pub fn build_table(
    title: &str,
    runs: &[RunResult],
    methods: &[&str],
    sparse: &[&str],
    paper: &dyn Fn(&str, &str, &str) -> Option<f64>,
) -> Table {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in runs {
        let k = (r.model.clone(), r.dataset.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let rows = keys
        .into_iter()
        .map(|(model, dataset)| {
            let in_row: Vec<&RunResult> = runs.iter().filter(|r| r.model == model && r.dataset == dataset).collect();
            let (metric, higher_is_better) = (in_row[0].metric.clone(), in_row[0].higher_is_better);
            let mut notes = Vec::new();
            let mut cells: Vec<Option<CellStats>> = methods
                .iter()
                .map(|m| {
                    let mine: Vec<&&RunResult> = in_row.iter().filter(|r| r.method == *m).collect();
                    let mut note = Note::default();
                    for r in &mine {
                        if let Some(e) = r.diverged_at_epoch {
                            note.diverged.push((r.seed, e));
                        }
                        if !r.value.is_some_and(f64::is_finite) {
                            note.without_value.push(r.seed);
                        }
                        if r.value.is_some_and(f64::is_nan) {
                            note.not_a_number.push(r.seed);
                        }
                    }
                    note.diverged.sort();
                    note.without_value.sort();
                    note.not_a_number.sort();
                    notes.push(note);
                    let values: Vec<f64> = mine.iter().filter_map(|r| r.value).filter(|v| v.is_finite()).collect();
                    let (mean, std) = mean_std(&values)?;
                    Some(CellStats {
                        mean,
                        std,
                        seeds: values.len(),
                        rank: None,
                        from_best_pct: None,
                        ratio: None,
                        paper: paper(&model, &dataset, m),
                        paper_ratio: None,
                    })
                })
                .collect();
            rank_row(&mut cells, methods, sparse, higher_is_better);
            Row { model, dataset, metric, higher_is_better, cells, notes }
        })
        .collect();
    Table {
        title: title.into(),
        methods: methods.iter().map(|s| s.to_string()).collect(),
        labels: methods.iter().map(|s| s.to_string()).collect(),
        rows,
        format: Format::Fixed(2),
        show_std: true,
        ranked: true,
        ratio_to: None,
        row_link: None,
    }
}

/// Mean and sample standard deviation (0 for one value); `None` for no values.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    Some((mean, std))
}

/// Marks ranks 1–3 by mean (ties share the better rank) and the sparse columns' distance from
/// the best.
fn rank_row(cells: &mut [Option<CellStats>], methods: &[&str], sparse: &[&str], higher: bool) {
    let better = |a: f64, b: f64| if higher { a > b } else { a < b };
    let means: Vec<f64> = cells.iter().flatten().map(|c| c.mean).collect();
    let Some(best) = means.iter().copied().reduce(|a, b| if better(b, a) { b } else { a }) else { return };
    for (i, cell) in cells.iter_mut().enumerate() {
        let Some(c) = cell else { continue };
        let strictly_better = means.iter().filter(|&&m| better(m, c.mean)).count();
        if strictly_better < 3 {
            c.rank = Some(strictly_better as u8 + 1);
        }
        if sparse.contains(&methods[i]) && c.mean != best && best != 0.0 {
            c.from_best_pct = Some(((c.mean - best) / best).abs() * 100.0);
        }
    }
}

impl Table {
    /// The column headers, e.g. the paper's method names.
    pub fn with_labels(mut self, label: impl Fn(&str) -> String) -> Self {
        self.labels = self.methods.iter().map(|m| label(m)).collect();
        self
    }

    pub fn with_row_link(mut self, page: &'static str) -> Self {
        self.row_link = Some(page);
        self
    }

    pub fn with_format(mut self, format: Format, show_std: bool) -> Self {
        self.format = format;
        self.show_std = show_std;
        self
    }

    /// No ranks and no distances from the best (cost and size tables).
    pub fn unranked(mut self) -> Self {
        self.ranked = false;
        for c in self.rows.iter_mut().flat_map(|r| r.cells.iter_mut()).flatten() {
            c.rank = None;
            c.from_best_pct = None;
        }
        self
    }

    /// The mean of `method` in `row`, if it has one.
    pub fn mean_of(&self, row: &Row, method: &str) -> Option<f64> {
        let i = self.methods.iter().position(|m| m == method)?;
        row.cells[i].as_ref().map(|c| c.mean)
    }

    /// Annotates every cell with its mean over the same row's `baseline` mean (and the paper's
    /// number over the paper's baseline), as Table 15 prints "(1.004)".
    pub fn with_ratios_to(mut self, baseline: &str) -> Self {
        let Some(b) = self.methods.iter().position(|m| m == baseline) else { return self };
        for row in &mut self.rows {
            let base = row.cells[b].as_ref().map(|c| (c.mean, c.paper));
            for c in row.cells.iter_mut().flatten() {
                c.ratio = base.and_then(|(m, _)| ratio(c.mean, m));
                c.paper_ratio = match (c.paper, base.and_then(|(_, p)| p)) {
                    (Some(p), Some(bp)) => ratio(p, bp),
                    _ => None,
                };
            }
        }
        self.ratio_to = Some(baseline.into());
        self
    }

    /// A new table whose cells are this table's means over `baseline(row)` (Table 17's
    /// G(method)/G(LoRA): a ratio of the means over seeds, as the paper divides Table 16's
    /// means). No std; ranked in each row's direction if this table is; `paper` gives the
    /// published ratios.
    pub fn ratio_table(
        &self,
        title: &str,
        baseline: &dyn Fn(&Table, &Row) -> Option<f64>,
        paper: &dyn Fn(&str, &str, &str) -> Option<f64>,
    ) -> Table {
        let methods: Vec<&str> = self.methods.iter().map(String::as_str).collect();
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let base = baseline(self, row);
                let mut cells: Vec<Option<CellStats>> = row
                    .cells
                    .iter()
                    .zip(&methods)
                    .map(|(c, m)| {
                        let c = c.as_ref()?;
                        Some(CellStats {
                            mean: ratio(c.mean, base?)?,
                            std: 0.0,
                            seeds: c.seeds,
                            rank: None,
                            from_best_pct: None,
                            ratio: None,
                            paper: paper(&row.model, &row.dataset, m),
                            paper_ratio: None,
                        })
                    })
                    .collect();
                if self.ranked {
                    rank_row(&mut cells, &methods, &[], row.higher_is_better);
                }
                Row { cells, ..row.clone() }
            })
            .collect();
        Table {
            title: title.into(),
            methods: self.methods.clone(),
            labels: self.labels.clone(),
            rows,
            format: Format::Fixed(2),
            show_std: false,
            ranked: self.ranked,
            ratio_to: None,
            row_link: None,
        }
    }
}

/// a / b, or `None` when b is zero or either is not finite.
fn ratio(a: f64, b: f64) -> Option<f64> {
    let r = a / b;
    (b != 0.0 && r.is_finite()).then_some(r)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn run(model: &str, dataset: &str, method: &str, seed: u64, value: f64) -> RunResult {
        RunResult {
            model: model.into(),
            dataset: dataset.into(),
            method: method.into(),
            seed,
            value: Some(value),
            metric: "accuracy".into(),
            higher_is_better: true,
            diverged_at_epoch: None,
        }
    }

    #[test]
    fn mean_std_ranks_and_drop_on_a_hand_made_ledger() {
        let mut runs = Vec::new();
        for (seed, (f, l, c, r)) in [(80.0, 81.0, 78.0, 79.0), (82.0, 79.0, 78.5, 79.0), (81.0, 80.0, 77.5, 79.0)].into_iter().enumerate() {
            runs.push(run("vit-tiny", "office-home", "fft", seed as u64, f));
            runs.push(run("vit-tiny", "office-home", "lora", seed as u64, l));
            runs.push(run("vit-tiny", "office-home", "cla", seed as u64, c));
            runs.push(run("vit-tiny", "office-home", "r-cla", seed as u64, r));
        }
        // A second row, perplexity (lower is better), one seed and a missing method.
        for (m, v) in [("fft", 2.98), ("lora", 3.18), ("cla", 3.34)] {
            runs.push(RunResult { metric: "perplexity".into(), higher_is_better: false, ..run("gpt2", "e2e", m, 0, v) });
        }
        let paper = |m: &str, d: &str, meth: &str| (m == "vit-tiny" && d == "office-home" && meth == "lora").then_some(80.13);
        let t = build_table("t", &runs, &["fft", "lora", "cla", "r-cla"], &["cla", "r-cla"], &paper);
        assert_eq!(t.rows.len(), 2);
        let row = &t.rows[0];
        let fft = row.cells[0].as_ref().unwrap();
        assert_eq!(fft.mean, 81.0);
        assert_eq!(fft.std, 1.0); // sample std of 80, 82, 81
        assert_eq!(fft.rank, Some(1));
        let lora = row.cells[1].as_ref().unwrap();
        assert_eq!((lora.mean, lora.rank, lora.paper), (80.0, Some(2), Some(80.13)));
        let cla = row.cells[2].as_ref().unwrap();
        assert_eq!(cla.rank, None); // fourth
        assert!((cla.from_best_pct.unwrap() - 3.0 / 81.0 * 100.0).abs() < 1e-12);
        let rcla = row.cells[3].as_ref().unwrap();
        assert_eq!((rcla.rank, rcla.std), (Some(3), 0.0));
        assert!(lora.from_best_pct.is_none(), "only sparse columns get a drop");
        // The perplexity row ranks lower-is-better.
        let row = &t.rows[1];
        assert_eq!((row.metric.as_str(), row.higher_is_better), ("perplexity", false));
        assert_eq!(row.cells[0].as_ref().unwrap().rank, Some(1));
        assert_eq!(row.cells[2].as_ref().unwrap().rank, Some(3));
        assert!((row.cells[2].as_ref().unwrap().from_best_pct.unwrap() - (3.34 - 2.98) / 2.98 * 100.0).abs() < 1e-9);
        assert!(row.cells[3].is_none());
    }

    #[test]
    fn diverged_and_valueless_seeds_are_noted_not_silently_averaged() {
        let mut runs = vec![run("m", "d", "lora", 0, 80.0), run("m", "d", "lora", 1, 82.0)];
        // Seed 2 diverged at epoch 3 after a best epoch: averaged, and noted.
        runs.push(RunResult { diverged_at_epoch: Some(3), ..run("m", "d", "lora", 2, 84.0) });
        // cla seed 0 diverged at epoch 1 with no finished epoch: no value, noted, not averaged.
        runs.push(RunResult { diverged_at_epoch: Some(1), value: None, ..run("m", "d", "cla", 0, 0.0) });
        runs.push(run("m", "d", "cla", 1, 70.0));
        let t = build_table("t", &runs, &["lora", "cla"], &[], &|_, _, _| None);
        let row = &t.rows[0];
        let lora = row.cells[0].as_ref().unwrap();
        assert_eq!((lora.mean, lora.std, lora.seeds), (82.0, 2.0, 3));
        assert_eq!(row.notes[0], Note { diverged: vec![(2, 3)], without_value: vec![], not_a_number: vec![] });
        let cla = row.cells[1].as_ref().unwrap();
        assert_eq!((cla.mean, cla.seeds), (70.0, 1));
        assert_eq!(row.notes[1], Note { diverged: vec![(0, 1)], without_value: vec![0], not_a_number: vec![] });
    }

    #[test]
    fn ratios_to_a_baseline_and_ratio_tables() {
        let mut runs = Vec::new();
        for s in 0..2 {
            runs.push(run("m", "d", "fft", s, 300.0 + s as f64 * 100.0)); // mean 350
            runs.push(run("m", "d", "lora", s, 100.0 + s as f64 * 100.0)); // mean 150
        }
        let paper = |_: &str, _: &str, m: &str| Some(if m == "lora" { 10.0 } else { 25.0 });
        let t = build_table("t", &runs, &["fft", "lora"], &[], &paper).unranked().with_ratios_to("lora");
        let fft = t.rows[0].cells[0].as_ref().unwrap();
        assert!((fft.ratio.unwrap() - 350.0 / 150.0).abs() < 1e-12);
        assert_eq!((fft.paper_ratio, fft.rank), (Some(2.5), None));
        assert_eq!(t.rows[0].cells[1].as_ref().unwrap().ratio, Some(1.0));
        let r = t.ratio_table("r", &|t, row| t.mean_of(row, "lora"), &|_, _, _| Some(9.0));
        let fft = r.rows[0].cells[0].as_ref().unwrap();
        assert!((fft.mean - 350.0 / 150.0).abs() < 1e-12);
        assert_eq!((fft.paper, r.show_std), (Some(9.0), false));
        assert_eq!(Format::Scientific(2).show(0.0485), "4.85e-2");
        assert_eq!(Format::Count.show(1_181_954.0), "1.18M");
        assert_eq!(Format::Count.show(340_000.0), "340.0K");
    }
}
