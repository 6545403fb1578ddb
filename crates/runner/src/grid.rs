//! Running a grid of cells: which are still to run, recording a result so that the first one
//! stays, running them in this process or in `--jobs` child processes under a memory guard,
//! and the dry-run estimate from finished cells. xtask parses the arguments and shows
//! progress through [`GridProgress`]; everything a test needs is here.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::{Child, Output};
use std::time::Duration;

use ledger::{Cell, CellResult, FailedCell, Ledger, LedgerError};

use crate::RunError;
use crate::train::{RunOptions, discard_partial, move_partial_aside, run_cell};

/// The closest of `valid` to `name` (for "did you mean"), if any is close.
fn closest<'a>(name: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (strsim::levenshtein(name, v), v))
        .filter(|(d, v)| *d <= 3.max(v.len() / 3))
        .min()
        .map(|(_, v)| v)
}

fn unknown(what: &str, name: &str, valid: &[&str], hint: &str) -> String {
    let close = closest(name, valid.iter().copied()).map(|c| format!("did you mean `{c}`? ")).unwrap_or_default();
    format!("unknown {what} `{name}`: {close}{hint}")
}

/// Whether `name` can name a directory of the results on its own: letters, digits, `-`, `_`
/// (no `/`, no `..`, not empty).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The longest text a model's position embeddings cover, where its architecture is known
/// without loading it (paper presets, mini models) and bounded.
fn model_max_positions(model: &str) -> Option<usize> {
    let arch = models::presets::preset(model).map(|p| p.arch).or_else(|| crate::mini::arch(model).map(|(a, _)| a))?;
    arch.max_positions()
}

/// What is wrong with one cell's names and numbers, each as a sentence (empty: nothing). A
/// model is a paper preset, a mini model (pretrained before the grid runs) or a checkpoint
/// directory.
pub fn problems(cell: &Cell) -> Vec<String> {
    problems_with(cell, model_max_positions(&cell.model))
}

fn problems_with(cell: &Cell, max_positions: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    if !is_plain_name(&cell.suite) {
        out.push(format!("the suite `{}` is not a plain name (letters, digits, `-`, `_`): it names a directory", cell.suite));
    }
    let mini = crate::mini::names();
    let is_model = models::presets::preset(&cell.model).is_some()
        || mini.contains(&cell.model.as_str())
        || std::path::Path::new(&cell.model).join("config.json").is_file();
    if !is_model {
        let valid: Vec<&str> = models::presets::PAPER_PRESETS.iter().map(|p| p.name).chain(mini.iter().copied()).collect();
        out.push(unknown("model", &cell.model, &valid, "see `cargo xtask models` (or give a checkpoint directory)"));
    }
    let dataset = datasets::info(&cell.dataset).ok();
    if dataset.is_none() {
        let valid: Vec<&str> = datasets::registry().iter().map(|d| d.name).collect();
        out.push(unknown("data set", &cell.dataset, &valid, "see `cargo xtask datasets`"));
    }
    if methods::method(&cell.method).is_err() {
        let valid: Vec<&str> = methods::REGISTRY.iter().map(|m| m.name).collect();
        out.push(unknown("method", &cell.method, &valid, "see `cargo xtask methods`"));
    }
    let h = &cell.hyper;
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let at_least_zero = |v: f64| v.is_finite() && v >= 0.0;
    let mut check = |ok: bool, what: String| {
        if !ok {
            out.push(what);
        }
    };
    check(positive(h.lr), format!("the learning rate is {}: it must be a finite number > 0", h.lr));
    check(at_least_zero(h.warmup_init_lr), format!("warmup_init_lr is {}: it must be a finite number ≥ 0", h.warmup_init_lr));
    check(at_least_zero(h.warmup_ratio) && h.warmup_ratio <= 1.0, format!("warmup_ratio is {}: it must be within [0, 1]", h.warmup_ratio));
    check(at_least_zero(h.weight_decay), format!("weight_decay is {}: it must be a finite number ≥ 0", h.weight_decay));
    check(positive(h.alpha), format!("alpha is {}: it must be a finite number > 0", h.alpha));
    if let Some(r) = h.lr_ratio_b {
        check(positive(r), format!("lora_plus_ratio is {r}: it must be a finite number > 0"));
    }
    if let Some(c) = h.grad_clip_global_norm {
        check(positive(c), format!("grad_clip_global_norm is {c}: it must be a finite number > 0"));
    }
    if let Some(a) = h.a_init.as_deref() {
        let known = peft_core::AInit::from_name(a).is_some_and(|a| peft_core::AInit::FOR_TRAINED_A.contains(&a));
        check(known, format!("a_init is `{a}`: it is {}", peft_core::AInit::TRAINED_A_CHOICES));
    }
    if let Some(k) = h.chain_reset_every_epochs {
        check(k >= 1, format!("chain_reset_every_epochs is {k}: a chain resets every ≥ 1 epochs (leave it out for never)"));
    }
    if let Some(k) = h.chain_length {
        check(k >= 1, format!("chain_length is {k}: a run trains ≥ 1 chains (1: never reset)"));
        check(h.chain_reset_every_epochs.is_none(), "chain_length and chain_reset_every_epochs are both set: a cell resets by one of them".into());
    }
    let text = dataset.is_some_and(|d| !matches!(d.task, datasets::Task::ImageClassification { .. }));
    if text {
        let min = datasets::encode::MIN_MAX_LENGTH;
        check(h.max_length >= min, format!("max_length is {}: text needs at least {min} tokens", h.max_length));
        if let Some(max) = max_positions {
            check(h.max_length <= max, format!("max_length is {}: {}'s position embeddings cover {max} tokens", h.max_length, cell.model));
        }
    }
    out
}

/// Checks every cell before anything runs (for `--dry-run` and `--slurm` too) and drops
/// duplicates (the same hash twice; the first stays). An error lists every problem, one line
/// per cell.
pub fn validate(cells: Vec<Cell>) -> Result<Vec<Cell>, RunError> {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::with_capacity(cells.len());
    let mut errors = Vec::new();
    let mut positions: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for c in cells {
        let max = *positions.entry(c.model.clone()).or_insert_with(|| model_max_positions(&c.model));
        let p = problems_with(&c, max);
        if !p.is_empty() {
            errors.push(format!("{}: {}", c.label(), p.join("; ")));
        } else if seen.insert(c.hash()) {
            kept.push(c);
        }
    }
    if errors.is_empty() {
        Ok(kept)
    } else {
        Err(RunError::msg(format!("{} cells cannot run (nothing was started):\n  {}", errors.len(), errors.join("\n  "))))
    }
}

/// What is left of a grid.
#[derive(Clone, Debug, Default)]
pub struct ToRun {
    /// The cells still to run, in grid order.
    pub cells: Vec<Cell>,
    /// Results that did not parse, moved aside (their cells are in `cells`): (where, why).
    pub moved_aside: Vec<(std::path::PathBuf, String)>,
}

/// The cells of `cells` that still have to run: every one with `force`, else those without a
/// readable result. An unreadable result is moved aside ([`Ledger::quarantine`]) and its cell
/// runs again.
pub fn to_run(cells: &[Cell], ledger: &Ledger, force: bool) -> Result<ToRun, LedgerError> {
    let mut out = ToRun::default();
    for c in cells {
        let hash = c.hash();
        if force || !ledger.is_finished(&hash) {
            out.cells.push(c.clone());
            continue;
        }
        if let Err(e) = ledger.read::<CellResult>(&hash) {
            let aside = ledger.quarantine(&hash)?;
            out.moved_aside.push((aside, e.to_string()));
            out.cells.push(c.clone());
        }
    }
    Ok(out)
}

/// How a finished cell's result went into the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// This run's result is the cell's result.
    Recorded,
    /// Another run (a second `reproduce` on the same results, a Slurm task) finished the same
    /// cell meanwhile: its result stays and this one is dropped (both come from the same
    /// configuration).
    FinishedMeanwhile,
}

/// Records a finished cell unless another run recorded it meanwhile (see
/// [`Recorded::FinishedMeanwhile`]); with `force` the old result is kept as a superseded file.
pub fn record_first(ledger: &Ledger, r: &CellResult, force: bool) -> Result<Recorded, LedgerError> {
    match ledger.record(&r.hash, r, force) {
        Ok(_) => Ok(Recorded::Recorded),
        Err(LedgerError::Finished { .. }) => Ok(Recorded::FinishedMeanwhile),
        Err(e) => Err(e),
    }
}

/// What happened to one cell of a grid.
#[derive(Clone, Debug)]
pub enum CellOutcome {
    /// Trained and recorded (or found recorded by another run meanwhile).
    Finished { result: Box<CellResult>, recorded: Recorded },
    /// Another process holds the cell's lock (it is training it now); this run leaves it.
    RunningElsewhere,
    /// It could not run; the message says why. Nothing was recorded: a re-run retries it.
    Failed(String),
}

/// What the caller shows while a grid runs.
pub trait GridProgress {
    /// A cell starts (in this process, or as a child process).
    fn started(&mut self, _cell: &Cell) {}
    /// A cell ended.
    fn finished(&mut self, _cell: &Cell, _outcome: &CellOutcome) {}
}

/// No progress display.
pub struct Quiet;

impl GridProgress for Quiet {}

/// The cells that failed, as (label, reason), in the order they ended.
pub type Failures = Vec<(String, String)>;

/// Resets this process's peak-RSS mark (Linux ≥ 4.0), so that each in-process cell reports its
/// own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs `todo` one after another in this process, recording each result as it finishes.
/// A failed cell is reported and the others go on; an error of the ledger itself (the disk) ends
/// the grid.
pub fn run_in_process(todo: &[Cell], ledger: &Ledger, opts: &RunOptions, force: bool, progress: &mut dyn GridProgress) -> Result<Failures, RunError> {
    let mut failures = Vec::new();
    for cell in todo {
        progress.started(cell);
        reset_peak_rss();
        let outcome = run_locked(cell, ledger, opts, force)?;
        if let CellOutcome::Failed(why) = &outcome {
            failures.push((cell.label(), why.clone()));
        }
        progress.finished(cell, &outcome);
    }
    Ok(failures)
}

/// Runs and records one cell while holding its lock, so that no two processes (local runs,
/// `--jobs` children, Slurm tasks) train it at once. A cell that another run finished while
/// this one waited is not trained again (unless `force`, which also starts it afresh rather
/// than from a partial checkpoint). The partial checkpoint goes only once the result is
/// recorded.
pub fn run_locked(cell: &Cell, ledger: &Ledger, opts: &RunOptions, force: bool) -> Result<CellOutcome, RunError> {
    let hash = cell.hash();
    let Some(_lock) = ledger.lock(&hash)? else { return Ok(CellOutcome::RunningElsewhere) };
    if !force && let Ok(r) = ledger.read::<CellResult>(&hash) {
        return Ok(CellOutcome::Finished { result: Box::new(r), recorded: Recorded::FinishedMeanwhile });
    }
    if force {
        discard_partial(&opts.partial_dir, &hash)?;
    }
    // A panic in the cell (an assertion deep in a library) fails this cell, not the grid.
    let attempt = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_cell(cell, opts)));
    let mut ran = attempt();
    // A partial checkpoint that cannot be resumed from (cut off, from another version) is
    // moved aside with a warning and the cell starts afresh.
    if let Ok(Err(RunError::UnusablePartial { path, message })) = &ran {
        let aside = move_partial_aside(&opts.partial_dir, &hash)?;
        eprintln!("warning: {}: partial checkpoint {} cannot be resumed from ({message}); moved to {} and starting afresh", cell.label(), path.display(), aside.display());
        ran = attempt();
    }
    let outcome = match ran {
        Ok(Ok(r)) => {
            let recorded = record_first(ledger, &r, force)?;
            ledger.clear_failure(&hash)?;
            discard_partial(&opts.partial_dir, &hash)?;
            CellOutcome::Finished { result: Box::new(r), recorded }
        }
        Ok(Err(e)) => CellOutcome::Failed(e.to_string()),
        Err(payload) => CellOutcome::Failed(format!("panicked: {}", panic_message(payload.as_ref()))),
    };
    if let CellOutcome::Failed(reason) = &outcome {
        record_failure(ledger, cell, reason)?;
    }
    Ok(outcome)
}

/// The message of a panic's payload (a `&str` or `String`, as `panic!` makes them).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "(no message)".into())
}

/// Keeps why `cell` could not run beside the ledger (the report lists it; a re-run retries it).
fn record_failure(ledger: &Ledger, cell: &Cell, reason: &str) -> Result<(), LedgerError> {
    ledger.record_failure(&cell.hash(), &FailedCell { cell: cell.clone(), hash: cell.hash(), reason: reason.to_string(), failed_at: ledger::unix_now() })
}

/// Why a child process ended without success: the signal that killed it (the OOM killer's
/// SIGKILL, a SIGTERM…), else the failure it recorded itself, else what its stderr said.
fn child_failure(out: &Output, recorded: Option<String>, error_of: &dyn Fn(&Output) -> String) -> String {
    use std::os::unix::process::ExitStatusExt;
    match out.status.signal() {
        Some(sig) => {
            let name = match sig {
                1 => "SIGHUP",
                2 => "SIGINT",
                6 => "SIGABRT",
                9 => "SIGKILL (the OOM killer, or kill -9)",
                11 => "SIGSEGV",
                15 => "SIGTERM",
                _ => "",
            };
            format!("the cell's process was killed by signal {sig} {name}").trim_end().to_string()
        }
        None => recorded.unwrap_or_else(|| error_of(out)),
    }
}

/// A flag SIGTERM raises from now on in this process (for [`RunOptions::stop`]): the cell
/// under way stops after its batch instead of dying with its epoch half done.
pub fn stop_on_sigterm() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, RunError> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, flag.clone()).map_err(|e| RunError::msg(format!("installing the SIGTERM handler: {e}")))?;
    Ok(flag)
}

/// What a `cell` child prints when another process holds the cell's lock.
pub const RUNNING_ELSEWHERE: &str = "running elsewhere";

/// What a `cell` child prints when another run had recorded the cell already.
pub const FINISHED_MEANWHILE: &str = "finished meanwhile";

/// Whether a new child may start beside `running` others when a cell of its model needed
/// `need` bytes at its peak (0: not measured yet) and `available` bytes are free: the first
/// always may; later ones only while (running + 1) × need fits.
pub fn memory_allows(running: usize, need: u64, available: u64) -> bool {
    running == 0 || need == 0 || need.saturating_mul(running as u64 + 1) <= available
}

/// Memory the kernel could give new processes now (`MemAvailable`), in bytes.
pub fn mem_available_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX)
}

/// How `--jobs` children are started and what they report.
pub struct Children<'a> {
    /// At most this many at once.
    pub jobs: usize,
    /// Starts the process that runs and records one cell (`cargo xtask cell …`).
    pub spawn: &'a mut dyn FnMut(&Cell) -> std::io::Result<Child>,
    /// The error a failed child reported, from its stderr (used when the child recorded no
    /// failure of its own: it failed before it could).
    pub error_of: &'a dyn Fn(&Output) -> String,
    /// Memory available now (the guard's input; [`mem_available_bytes`] outside tests).
    pub available: &'a dyn Fn() -> u64,
}

/// Runs `todo` in child processes, at most `children.jobs` at once, starting a new one only
/// while the memory the finished cells of its model needed fits ([`memory_allows`]). Each
/// child records its own result; the parent reads it back from the ledger.
pub fn run_in_children(todo: &[Cell], ledger: &Ledger, children: Children<'_>, progress: &mut dyn GridProgress) -> Result<Failures, RunError> {
    let mut queue: VecDeque<&Cell> = todo.iter().collect();
    let mut running: Vec<(Child, &Cell, u64)> = Vec::new();
    let mut failures = Vec::new();
    // The largest peak a finished cell of each model needed (host memory).
    let mut peak_by_model: BTreeMap<String, u64> = BTreeMap::new();
    let io = |e: std::io::Error| RunError::msg(format!("a cell process: {e}"));
    loop {
        while running.len() < children.jobs.max(1)
            && let Some(cell) = queue.front()
        {
            let need = peak_by_model.get(&cell.model).copied().unwrap_or(0);
            if !memory_allows(running.len(), need, (children.available)()) {
                break;
            }
            let cell = queue.pop_front().expect("non-empty");
            progress.started(cell);
            running.push(((children.spawn)(cell).map_err(io)?, cell, ledger::unix_now()));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            if running[i].0.try_wait().map_err(io)?.is_none() {
                i += 1;
                continue;
            }
            let (child, cell, spawned_at) = running.swap_remove(i);
            let out = child.wait_with_output().map_err(io)?;
            let said = String::from_utf8_lossy(&out.stdout).to_string();
            let outcome = if out.status.success() && said.contains(RUNNING_ELSEWHERE) {
                CellOutcome::RunningElsewhere
            } else if out.status.success() {
                match ledger.read::<CellResult>(&cell.hash()) {
                    Ok(r) => {
                        let peak = peak_by_model.entry(cell.model.clone()).or_default();
                        *peak = (*peak).max(r.cost.peak_rss_bytes);
                        let recorded = if said.contains(FINISHED_MEANWHILE) {
                            Recorded::FinishedMeanwhile
                        } else {
                            Recorded::Recorded
                        };
                        CellOutcome::Finished { result: Box::new(r), recorded }
                    }
                    Err(e) => CellOutcome::Failed(format!("the cell's process ended well but its result is not readable: {e}")),
                }
            } else {
                let recorded = ledger.failure::<FailedCell>(&cell.hash()).filter(|f| f.failed_at >= spawned_at).map(|f| f.reason);
                CellOutcome::Failed(child_failure(&out, recorded, children.error_of))
            };
            if let CellOutcome::Failed(why) = &outcome {
                record_failure(ledger, cell, why)?;
                failures.push((cell.label(), why.clone()));
            }
            progress.finished(cell, &outcome);
        }
    }
    Ok(failures)
}

/// One line of a dry run.
#[derive(Clone, Debug)]
pub struct PlannedCell {
    pub cell: Cell,
    /// Finished already (and not forced).
    pub done: bool,
    /// Mean wall seconds of the finished cells of the same (model, data set, method), if any.
    pub estimate_s: Option<f64>,
}

/// The dry run: every cell with whether it is done and what it should cost, from the finished
/// cells of the same (model, data set, method) in the ledger.
pub fn plan(cells: &[Cell], todo: &[Cell], ledger: &Ledger) -> Vec<PlannedCell> {
    let mut seen: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for h in ledger.finished() {
        if let Ok(r) = ledger.read::<CellResult>(&h) {
            seen.entry((r.cell.model.clone(), r.cell.dataset.clone(), r.cell.method.clone())).or_default().push(r.cost.wall_s);
        }
    }
    let to_run: BTreeSet<String> = todo.iter().map(Cell::hash).collect();
    cells
        .iter()
        .map(|c| PlannedCell {
            cell: c.clone(),
            done: !to_run.contains(&c.hash()),
            estimate_s: seen.get(&(c.model.clone(), c.dataset.clone(), c.method.clone())).map(|v| v.iter().sum::<f64>() / v.len() as f64),
        })
        .collect()
}

/// What a grid holds, for its first line: cells, (model, data set) rows, models, methods, the
/// most seeds of a row (rows have their own seeds: Table 7's 12/22/32 or 100/101/102).
pub fn shape(cells: &[Cell]) -> (usize, usize, usize, usize, usize) {
    let distinct = |key: &dyn Fn(&Cell) -> String| cells.iter().map(key).collect::<BTreeSet<_>>().len();
    let mut seeds: BTreeMap<(&str, &str), BTreeSet<u64>> = BTreeMap::new();
    for c in cells {
        seeds.entry((&c.model, &c.dataset)).or_default().insert(c.seed);
    }
    (
        cells.len(),
        distinct(&|c| format!("{}/{}", c.model, c.dataset)),
        distinct(&|c| c.model.clone()),
        distinct(&|c| c.method.clone()),
        seeds.values().map(BTreeSet::len).max().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{Cost, EpochRecord, Hyper, Outcome, ParamCounts, ScheduleKind, Selection};

    fn cell(model: &str, method: &str, seed: u64) -> Cell {
        let hyper = Hyper {
            lr: 1e-3,
            lr_ratio_b: None,
            lr_bridge_to_cla: false,
            scheduler: ScheduleKind::Constant,
            warmup_init_lr: 1e-3,
            warmup_ratio: 0.0,
            weight_decay: 0.0,
            batch_size: 8,
            epochs: 1,
            max_length: 16,
            rank: 2,
            alpha: 4.0,
            target_modules: vec!["query".into()],
            a_init: None,
            chain_reset_every_epochs: None,
            chain_length: None,
            grad_clip_global_norm: None,
            best_epoch: Selection::LowestValLoss,
            adam_betas: None,
            adam_eps: None,
            image_size: None,
            trajectory_every: None,
        };
        Cell { suite: "mini".into(), model: model.into(), dataset: "mini-sentiment".into(), method: method.into(), seed, hyper, fingerprint: None }
    }

    fn result(c: &Cell, wall_s: f64, metric: f64) -> CellResult {
        let e = EpochRecord { epoch: 1, train_loss: 0.5, train_eval_loss: Some(0.45), val_loss: 0.4, val_metric: metric, test_loss: 0.45, test_metric: metric };
        CellResult {
            cell: c.clone(),
            hash: c.hash(),
            outcome: Outcome::Finished,
            metric: "accuracy".into(),
            higher_is_better: true,
            epochs: vec![e.clone()],
            best: Some(e),
            params: ParamCounts::default(),
            adaptation: None,
            cost: Cost { wall_s, peak_rss_bytes: 100 << 20, device: "cpu".into(), ..Cost::default() },
            finished_at: 1,
            harness_version: "test".into(),
            code: None,
            weights: None,
        }
    }

    #[test]
    fn finished_cells_are_skipped_and_the_first_result_stays() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        let cells = vec![cell("mini-encoder", "lora", 0), cell("mini-encoder", "lora", 1), cell("mini-encoder", "cla", 0)];
        assert_eq!(to_run(&cells, &ledger, false).unwrap().cells.len(), 3);
        assert_eq!(record_first(&ledger, &result(&cells[0], 10.0, 0.8), false).unwrap(), Recorded::Recorded);
        // A second run of the same cell: its result is dropped, the first stays.
        assert_eq!(record_first(&ledger, &result(&cells[0], 12.0, 0.1), false).unwrap(), Recorded::FinishedMeanwhile);
        assert_eq!(ledger.read::<CellResult>(&cells[0].hash()).unwrap().best.unwrap().test_metric, 0.8);
        let todo = to_run(&cells, &ledger, false).unwrap().cells;
        assert_eq!(todo, cells[1..].to_vec());
        assert_eq!(to_run(&cells, &ledger, true).unwrap().cells.len(), 3, "--force runs every cell");

        // The dry run marks the finished cell and estimates the unfinished seed from it.
        let planned = plan(&cells, &todo, &ledger);
        assert!(planned[0].done && !planned[1].done && !planned[2].done);
        assert_eq!(planned[1].estimate_s, Some(10.0), "same model, data set and method");
        assert_eq!(planned[2].estimate_s, None, "no finished cla cell");
        assert_eq!(shape(&cells), (3, 1, 1, 2, 2));

        // A result cut off by a full disk is moved aside and its cell runs again.
        std::fs::write(ledger.path_of(&cells[0].hash()), "{\"cell\": ").unwrap();
        let left = to_run(&cells, &ledger, false).unwrap();
        assert_eq!(left.cells, cells);
        assert_eq!(left.moved_aside.len(), 1);
        assert!(left.moved_aside[0].0.exists(), "kept for inspection");
    }

    /// A cell whose lock another process holds is left to it, and nothing is recorded.
    #[test]
    fn a_locked_cell_is_left_to_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        let c = cell("mini-encoder", "lora", 0);
        let held = ledger.lock(&c.hash()).unwrap().unwrap();
        let opts = RunOptions::new(dir.path(), ledger.partial_dir(), burn::tensor::Device::flex(), "cpu");
        let failures = run_in_process(std::slice::from_ref(&c), &ledger, &opts, false, &mut Quiet).unwrap();
        assert!(failures.is_empty());
        assert!(!ledger.is_finished(&c.hash()));
        drop(held);
        // Free again: the cell runs (and fails here: there is no mini model in this directory).
        let failures = run_in_process(std::slice::from_ref(&c), &ledger, &opts, false, &mut Quiet).unwrap();
        assert_eq!(failures.len(), 1);
        assert!(failures[0].1.contains("pretrain mini"), "{failures:?}");
        let kept: Vec<FailedCell> = ledger.failures();
        assert_eq!(kept.len(), 1, "the failure is kept for the report");
        assert_eq!((kept[0].hash.as_str(), kept[0].reason.as_str()), (c.hash().as_str(), failures[0].1.as_str()));
    }

    /// The message of a panic, as `panic!` makes its payload.
    #[test]
    fn panic_messages_are_read_from_either_payload() {
        let payload: Box<dyn std::any::Any + Send> = Box::new("max_length 2 is too small".to_string());
        assert_eq!(panic_message(payload.as_ref()), "max_length 2 is too small");
        let payload: Box<dyn std::any::Any + Send> = Box::new("static message");
        assert_eq!(panic_message(payload.as_ref()), "static message");
        let payload: Box<dyn std::any::Any + Send> = Box::new(3);
        assert_eq!(panic_message(payload.as_ref()), "(no message)");
    }

    /// Bad names and numbers are refused before anything runs, with the closest valid name.
    #[test]
    fn bad_cells_are_refused_with_what_to_do() {
        let good = cell("mini-encoder", "lora", 0);
        assert!(problems(&good).is_empty(), "{:?}", problems(&good));
        let twice = validate(vec![good.clone(), good.clone(), cell("mini-encoder", "cla", 0)]).unwrap();
        assert_eq!(twice.len(), 2, "a duplicate cell is dropped");

        let mut bad = cell("mini-encodr", "lorra", 0);
        bad.dataset = "nosuch".into();
        bad.hyper.lr = f64::NAN;
        bad.hyper.chain_reset_every_epochs = Some(0);
        bad.hyper.max_length = 2;
        let p = problems(&bad).join("\n");
        assert!(p.contains("unknown model `mini-encodr`: did you mean `mini-encoder`?"), "{p}");
        assert!(p.contains("unknown method `lorra`: did you mean `lora`?"), "{p}");
        assert!(p.contains("unknown data set `nosuch`"), "{p}");
        assert!(p.contains("learning rate is NaN"), "{p}");
        assert!(p.contains("chain_reset_every_epochs is 0"), "{p}");
        assert!(!p.contains("max_length"), "an unknown data set's task is unknown: {p}");
        let mut escape = good.clone();
        escape.suite = "../../etc".into();
        assert!(problems(&escape).join(" ").contains("not a plain name"));
        assert!(is_plain_name("ablate-lr") && !is_plain_name("a/b") && !is_plain_name(""));
        let mut short = good.clone();
        short.hyper.max_length = 2;
        assert!(problems(&short).join(" ").contains("max_length is 2"));
        let mut long = good.clone();
        long.hyper.max_length = 65;
        assert!(problems(&long).join(" ").contains("max_length is 65: mini-encoder's position embeddings cover 64 tokens"), "{:?}", problems(&long));
        long.hyper.max_length = 64;
        assert!(problems(&long).is_empty());
        let err = validate(vec![good, short]).unwrap_err().to_string();
        assert!(err.contains("1 cells cannot run") && err.contains("mini-sentiment/lora/seed 0"), "{err}");
    }

    #[test]
    fn the_memory_guard_starts_a_child_only_while_its_peak_fits() {
        assert!(memory_allows(0, u64::MAX, 0), "the first child always starts");
        assert!(memory_allows(3, 0, 0), "a model not measured yet starts");
        assert!(memory_allows(1, 4 << 30, 8 << 30), "2 × 4 GiB fit into 8 GiB");
        assert!(!memory_allows(2, 4 << 30, 8 << 30), "3 × 4 GiB do not");
        assert!(!memory_allows(1, u64::MAX, u64::MAX - 1), "no overflow");
    }

    /// Children that record their cell are read back; one that fails is reported with its
    /// message and the others still run; never more than `jobs` at once.
    #[test]
    fn children_run_at_most_jobs_at_once_and_failures_are_isolated() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        let cells: Vec<Cell> = (0..5).map(|s| cell("mini-encoder", if s == 2 { "broken" } else { "lora" }, s)).collect();
        for c in cells.iter().filter(|c| c.method != "broken" && c.seed != 4) {
            // What a child would record: here written beforehand, the child only sleeps.
            ledger.record(&c.hash(), &result(c, 1.0, 0.5), false).unwrap();
        }
        let live = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut most = 0;
        struct Count<'a>(&'a std::sync::atomic::AtomicUsize, &'a mut usize);
        impl GridProgress for Count<'_> {
            fn started(&mut self, _: &Cell) {
                let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                *self.1 = (*self.1).max(n);
            }
            fn finished(&mut self, _: &Cell, _: &CellOutcome) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let mut spawn = |c: &Cell| {
            let script = match (c.method.as_str(), c.seed) {
                ("broken", _) => "sleep 0.1; echo 'Error: no such method' >&2; exit 1",
                (_, 4) => "kill -9 $$",
                _ => "sleep 0.2",
            };
            std::process::Command::new("sh").args(["-c", script]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn()
        };
        let error_of = |o: &Output| String::from_utf8_lossy(&o.stderr).trim().to_string();
        let children = Children { jobs: 2, spawn: &mut spawn, error_of: &error_of, available: &|| u64::MAX };
        let failures = run_in_children(&cells, &ledger, children, &mut Count(&live, &mut most)).unwrap();
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures.contains(&(cells[2].label(), "Error: no such method".to_string())), "{failures:?}");
        assert!(failures.contains(&(cells[4].label(), "the cell's process was killed by signal 9 SIGKILL (the OOM killer, or kill -9)".to_string())), "{failures:?}");
        assert_eq!(ledger.failures::<FailedCell>().len(), 2, "both failures are kept");
        assert_eq!(most, 2, "never more than --jobs children");
        assert_eq!(live.load(std::sync::atomic::Ordering::SeqCst), 0, "every started cell ended");
    }

    /// At `--jobs 1` too a cell runs in its own process: an abort fails that cell alone, and a
    /// child that recorded why it failed is taken at its word (its stderr is the terminal's).
    #[test]
    fn one_child_at_a_time_isolates_aborts_and_keeps_the_recorded_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        let cells: Vec<Cell> = (0..3).map(|s| cell("mini-encoder", "lora", s)).collect();
        ledger.record(&cells[2].hash(), &result(&cells[2], 1.0, 0.5), false).unwrap();
        let mut spawn = |c: &Cell| {
            if c.seed == 1 {
                // As the child records it: after its spawn (a record from before the spawn is an
                // earlier run's, which the parent ignores), so stamped a second ahead — a stamp
                // taken here could fall in the second before the parent's.
                let said = FailedCell { cell: c.clone(), hash: c.hash(), reason: "mini-sentiment: no such file".into(), failed_at: ledger::unix_now() + 1 };
                ledger.record_failure(&c.hash(), &said).unwrap();
            }
            let script = match c.seed {
                0 => "kill -ABRT $$",
                1 => "exit 1",
                _ => "true",
            };
            std::process::Command::new("sh").args(["-c", script]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::inherit()).spawn()
        };
        let error_of = |_: &Output| "nothing on stderr".to_string();
        let children = Children { jobs: 1, spawn: &mut spawn, error_of: &error_of, available: &|| u64::MAX };
        let failures = run_in_children(&cells, &ledger, children, &mut Quiet).unwrap();
        assert_eq!(
            failures,
            vec![
                (cells[0].label(), "the cell's process was killed by signal 6 SIGABRT".to_string()),
                (cells[1].label(), "mini-sentiment: no such file".to_string()),
            ]
        );
        assert!(ledger.is_finished(&cells[2].hash()), "the grid went on after the abort");
    }
}
