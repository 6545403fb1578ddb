//! One results table: rows are (model, data set), columns are methods; each cell aggregates
//! the seeds of that (model, data set, method).

use serde::{Deserialize, Serialize};

/// One finished run, as the ledger holds it (only what a table needs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub model: String,
    pub dataset: String,
    pub method: String,
    pub seed: u64,
    /// The reported metric (test metric at the selected epoch), in the table's units
    /// (accuracy in %, MCC × 100, perplexity as is).
    pub value: f64,
}

/// Mean and spread of one (model, data set, method) over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStats {
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single seed.
    pub std: f64,
    pub seeds: usize,
    /// 1, 2, 3 for the best, second, third in the row; `None` otherwise.
    pub rank: Option<u8>,
    /// For sparse variants: how far from the row's best, in % of the best (a drop when higher
    /// is better, a rise when lower is better). `None` for the best itself.
    pub from_best_pct: Option<f64>,
    /// The paper's published number for this cell, if any.
    pub paper: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub model: String,
    pub dataset: String,
    pub cells: Vec<Option<CellStats>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub methods: Vec<String>,
    pub higher_is_better: bool,
    pub rows: Vec<Row>,
}

/// Builds a table. `methods` fixes the column order; `sparse` names the columns that get the
/// "from best" percentage (the paper's cLA, c3LA, r-cLA, r-c3LA); `paper` gives published
/// numbers by (model, data set, method). Rows keep the order in which (model, data set) first
/// appear in `runs`.
pub fn build_table(
    title: &str,
    runs: &[RunResult],
    methods: &[&str],
    sparse: &[&str],
    higher_is_better: bool,
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
            let mut cells: Vec<Option<CellStats>> = methods
                .iter()
                .map(|m| {
                    let values: Vec<f64> = runs
                        .iter()
                        .filter(|r| r.model == model && r.dataset == dataset && r.method == *m && r.value.is_finite())
                        .map(|r| r.value)
                        .collect();
                    if values.is_empty() {
                        return None;
                    }
                    let n = values.len() as f64;
                    let mean = values.iter().sum::<f64>() / n;
                    let std = if values.len() > 1 {
                        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                    } else {
                        0.0
                    };
                    Some(CellStats { mean, std, seeds: values.len(), rank: None, from_best_pct: None, paper: paper(&model, &dataset, m) })
                })
                .collect();
            rank_row(&mut cells, methods, sparse, higher_is_better);
            Row { model, dataset, cells }
        })
        .collect();
    Table { title: title.into(), methods: methods.iter().map(|s| s.to_string()).collect(), higher_is_better, rows }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(model: &str, dataset: &str, method: &str, seed: u64, value: f64) -> RunResult {
        RunResult { model: model.into(), dataset: dataset.into(), method: method.into(), seed, value }
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
        // A second row with one seed and a missing method.
        runs.push(run("gpt2", "e2e", "fft", 0, 2.98));
        runs.push(run("gpt2", "e2e", "lora", 0, 3.18));
        runs.push(run("gpt2", "e2e", "cla", 0, 3.34));
        let paper = |m: &str, d: &str, meth: &str| (m == "vit-tiny" && d == "office-home" && meth == "lora").then_some(80.13);
        let t = build_table("t", &runs, &["fft", "lora", "cla", "r-cla"], &["cla", "r-cla"], true, &paper);
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
        // Perplexity-like rows rank lower-is-better when the table says so.
        let t = build_table("ppl", &runs[12..], &["fft", "lora", "cla", "r-cla"], &["cla", "r-cla"], false, &|_, _, _| None);
        let row = &t.rows[0];
        assert_eq!(row.cells[0].as_ref().unwrap().rank, Some(1));
        assert_eq!(row.cells[2].as_ref().unwrap().rank, Some(3));
        assert!((row.cells[2].as_ref().unwrap().from_best_pct.unwrap() - (3.34 - 2.98) / 2.98 * 100.0).abs() < 1e-9);
        assert!(row.cells[3].is_none());
    }
}
