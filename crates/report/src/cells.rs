//! Reads the ledger the runner writes: `results/runs/<suite>/<experiment>/<hash>.json`, one
//! [`CellResult`] per finished cell (superseded and temporary files are not cells, as
//! [`Ledger::finished`] decides). Files directly under `runs/<suite>/` are read as experiment
//! `main`.

use std::path::{Path, PathBuf};

use ledger::{CellResult, FailedCell, Ledger};

/// The finished cells of one (suite, experiment).
#[derive(Clone, Debug)]
pub struct ExperimentCells {
    /// `paper`, `mini`, …
    pub suite: String,
    /// `main` (Tables 2, 3, 6, 15–18) or `ablate-lr`, `ablate-rank`, `ablate-alpha`,
    /// `ablate-chain` (Tables 8–13).
    pub experiment: String,
    pub cells: Vec<CellResult>,
}

/// Everything found under `results/runs`.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Suites in the order paper, mini, then the others by name; experiments `main` first.
    pub experiments: Vec<ExperimentCells>,
    /// Files that look like cells but could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Finished cells left out because a newer one answers the same question (see
    /// [`newest_only`]), as `suite/experiment: label`; their files are kept.
    pub outdated: Vec<String>,
    /// Cells that could not run and have no result yet, as (`suite/experiment`, failure): a
    /// re-run retries them.
    pub failed: Vec<(String, FailedCell)>,
}

impl Loaded {
    /// The suites that have cells, in display order.
    pub fn suites(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.experiments {
            if !out.contains(&e.suite) {
                out.push(e.suite.clone());
            }
        }
        out
    }

    /// The cells of (suite, experiment), empty if none.
    pub fn cells(&self, suite: &str, experiment: &str) -> &[CellResult] {
        self.experiments.iter().find(|e| e.suite == suite && e.experiment == experiment).map(|e| e.cells.as_slice()).unwrap_or(&[])
    }

    /// The ablation experiments of a suite (`ablate-*`).
    pub fn ablations(&self, suite: &str) -> Vec<&ExperimentCells> {
        self.experiments.iter().filter(|e| e.suite == suite && e.experiment.starts_with("ablate-")).collect()
    }
}

fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    out.sort();
    out
}

fn read_dir_cells(dir: &Path, unreadable: &mut Vec<(PathBuf, String)>) -> Vec<CellResult> {
    let ledger = Ledger::new(dir);
    let mut cells = Vec::new();
    for hash in ledger.finished() {
        match ledger.read::<CellResult>(&hash) {
            Ok(c) => cells.push(c),
            Err(e) => unreadable.push((ledger.path_of(&hash), e.to_string())),
        }
    }
    cells
}

/// Keeps, of the cells that answer the same question, the one finished last. The question is
/// (model, data set, method, seed) in `main`, where an edited experiment file (a new rate,
/// more epochs) or regenerated mini data makes a new cell under a new hash and the old one
/// must not count as another seed; in an ablation it also includes the hyper-parameters, which
/// are what the ablation varies. Returns (kept, left out).
pub fn newest_only(cells: Vec<CellResult>, experiment: &str) -> (Vec<CellResult>, Vec<CellResult>) {
    let question = |c: &CellResult| {
        let hyper = if experiment == "main" { String::new() } else { serde_json::to_string(&c.cell.hyper).unwrap_or_default() };
        (c.cell.model.clone(), c.cell.dataset.clone(), c.cell.method.clone(), c.cell.seed, hyper)
    };
    let mut newest: std::collections::BTreeMap<_, CellResult> = std::collections::BTreeMap::new();
    let mut dropped = Vec::new();
    for c in cells {
        let q = question(&c);
        match newest.get(&q) {
            Some(kept) if kept.finished_at >= c.finished_at => dropped.push(c),
            _ => {
                if let Some(old) = newest.insert(q, c) {
                    dropped.push(old);
                }
            }
        }
    }
    (newest.into_values().collect(), dropped)
}

/// Reads every cell under `results_dir/runs`. A missing directory is an empty ledger.
pub fn load(results_dir: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    for (suite, suite_dir) in subdirs(&ledger::runs_dir(results_dir)) {
        let mut exps: Vec<ExperimentCells> = Vec::new();
        let top = read_dir_cells(&suite_dir, &mut loaded.unreadable);
        if !top.is_empty() {
            exps.push(ExperimentCells { suite: suite.clone(), experiment: "main".into(), cells: top });
        }
        for (experiment, dir) in subdirs(&suite_dir) {
            let ledger = Ledger::new(&dir);
            let finished = ledger.finished();
            for f in ledger.failures::<FailedCell>() {
                if finished.binary_search(&f.hash).is_err() {
                    loaded.failed.push((format!("{suite}/{experiment}"), f));
                }
            }
            let cells = read_dir_cells(&dir, &mut loaded.unreadable);
            if cells.is_empty() {
                continue;
            }
            match exps.iter_mut().find(|e| e.experiment == experiment) {
                Some(e) => e.cells.extend(cells),
                None => exps.push(ExperimentCells { suite: suite.clone(), experiment, cells }),
            }
        }
        for e in &mut exps {
            let (kept, dropped) = newest_only(std::mem::take(&mut e.cells), &e.experiment);
            e.cells = kept;
            loaded.outdated.extend(dropped.iter().map(|c| format!("{suite}/{}: {} (finished {})", e.experiment, c.cell.label(), c.finished_at)));
        }
        // The paper's order: main, then Tables 8–9 (lr), rank, 10–11 (α), 12 (chain), others.
        let rank = |x: &str| ["main", "ablate-lr", "ablate-rank", "ablate-alpha", "ablate-chain"].iter().position(|e| *e == x).unwrap_or(9);
        exps.sort_by_key(|e| (rank(&e.experiment), e.experiment.clone()));
        loaded.experiments.extend(exps);
    }
    let order = |s: &str| match s {
        "paper" => 0,
        "mini" => 1,
        _ => 2,
    };
    loaded.experiments.sort_by(|a, b| (order(&a.suite), &a.suite).cmp(&(order(&b.suite), &b.suite)));
    loaded
}
