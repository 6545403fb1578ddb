//! `cargo xtask pretrain`, `reproduce`, `ablate` and the per-cell worker `cell`: expand an
//! experiment grid, skip what the ledger already holds, run the rest (in this process, in
//! `--jobs` child processes, or as a Slurm array) and rebuild the report.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ledger::{Cell, CellResult, Ledger};
use runner::experiment::{Experiment, Filter};
use runner::mini::{PretrainConfig, is_pretrained, pretrain};
use runner::train::{RunOptions, run_cell};

use crate::device::DeviceArg;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// The paper's models and data sets (Hugging Face downloads; most need a GPU).
    Paper,
    /// The embedded mini suite (offline, minutes on a laptop CPU).
    Mini,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Paper => "paper",
            Suite::Mini => "mini",
        }
    }

    fn experiment_file(self) -> PathBuf {
        match self {
            Suite::Paper => PathBuf::from("experiments/paper/table7.toml"),
            Suite::Mini => PathBuf::from("experiments/mini/table2.toml"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Table {
    Table2,
    Table3,
    Table6,
    Table15,
    Table16,
    Table17,
    Table18,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Ablation {
    /// Tables 8–11: learning rate × rank.
    Lr,
    /// Rank alone (α = 2r).
    Rank,
    /// α / r.
    Alpha,
    /// Table 12: chain-reset frequency.
    Chain,
}

/// What every grid command shares.
#[derive(Args, Clone, Debug)]
pub struct GridArgs {
    #[arg(long, value_enum, default_value_t = Suite::Paper)]
    pub suite: Suite,
    /// Only these models (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Cells run in parallel, each in its own process (threads are shared out among them);
    /// a new one starts only while the memory the finished ones needed still fits. Default:
    /// one per core for the mini suite (its models are too small to use many threads), one
    /// for the paper suite.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write a Slurm job-array script (one cell per task) instead of running.
    #[arg(long)]
    pub slurm: bool,
    /// Print the grid and an estimate of its cost; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Redo finished cells (their old results are kept as superseded files).
    #[arg(long)]
    pub force: bool,
    /// The results directory.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The experiment file (default: experiments/paper/table7.toml or experiments/mini/table2.toml).
    #[arg(long)]
    pub experiment_file: Option<PathBuf>,
}

impl GridArgs {
    fn filter(&self) -> Filter {
        Filter { models: self.models.clone(), datasets: self.datasets.clone(), methods: self.methods.clone(), seeds: self.seeds.clone() }
    }

    fn experiment(&self) -> Result<Experiment> {
        let path = self.experiment_file.clone().unwrap_or_else(|| self.suite.experiment_file());
        Ok(Experiment::load(&path, self.suite.name())?)
    }
}

/// The methods a table adds to the main grid's (Table 15 times the gathered variants too).
fn extra_methods(table: Table) -> &'static [&'static str] {
    match table {
        Table::Table15 | Table::All => methods::TABLE15_EXTRA_METHODS,
        _ => &[],
    }
}

pub fn reproduce(table: Table, args: GridArgs) -> Result<()> {
    let exp = args.experiment()?;
    let mut filter = args.filter();
    let mut cells = exp.cells(&filter)?;
    if filter.methods.is_empty() && !extra_methods(table).is_empty() {
        filter.methods = extra_methods(table).iter().map(|s| s.to_string()).collect();
        let mut extra = exp.clone();
        extra.set_methods(extra_methods(table));
        cells.extend(extra.cells(&filter)?);
    }
    run_grid(&format!("{table:?}").to_lowercase(), "main", cells, &args)
}

pub fn ablate(which: Ablation, args: GridArgs) -> Result<()> {
    let exp = args.experiment()?;
    let name = format!("{which:?}").to_lowercase();
    let cells = exp.ablation_cells(&name, &args.filter())?;
    run_grid(&format!("ablate-{name}"), &format!("ablate-{name}"), cells, &args)
}

fn run_grid(name: &str, experiment: &str, cells: Vec<Cell>, args: &GridArgs) -> Result<()> {
    if cells.is_empty() {
        bail!("the filters match no cell of {}", args.experiment_file.clone().unwrap_or_else(|| args.suite.experiment_file()).display());
    }
    let ledger = Ledger::of_experiment(&args.results, args.suite.name(), experiment);
    let todo: Vec<Cell> = cells.iter().filter(|c| args.force || !ledger.is_finished(&c.hash())).cloned().collect();
    println!(
        "{name}: {} cells ({} model/data-set rows of {} models, {} methods, {} seeds per row), {} finished, {} to run → {}",
        cells.len(),
        distinct(&cells, |c| format!("{}/{}", c.model, c.dataset)),
        distinct(&cells, |c| c.model.clone()),
        distinct(&cells, |c| c.method.clone()),
        // Rows have their own seeds (Table 7: 12/22/32 or 100/101/102).
        cells
            .iter()
            .fold(BTreeMap::new(), |mut m: BTreeMap<_, std::collections::BTreeSet<u64>>, c| {
                m.entry((&c.model, &c.dataset)).or_default().insert(c.seed);
                m
            })
            .values()
            .map(|s| s.len())
            .max()
            .unwrap_or(0),
        cells.len() - todo.len(),
        todo.len(),
        ledger.dir.display()
    );
    if args.dry_run {
        return dry_run(&cells, &todo, &ledger);
    }
    if args.slurm {
        let o = runner::slurm::SlurmOptions {
            partition: None,
            gpus_per_task: usize::from(args.device != DeviceArg::Cpu),
            cpus_per_task: 8,
            mem_gb: 64,
            time: "24:00:00".into(),
            device: format!("{:?}", args.device).to_lowercase(),
            max_parallel: None,
        };
        let script = runner::slurm::write_array(&args.results.join("slurm"), name, &todo, &args.results, experiment, &o)?;
        println!("wrote {}: submit it with `sbatch {}` from the repository root", script.display(), script.display());
        println!("then `cargo xtask report` builds the tables from whatever has finished");
        return Ok(());
    }
    if !todo.is_empty() && args.suite == Suite::Mini {
        pretrain_missing(&args.results, args.device, false)?;
    }
    let started = Instant::now();
    let jobs = args.jobs.unwrap_or(match args.suite {
        Suite::Mini => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        Suite::Paper => 1,
    });
    let failures = if jobs <= 1 { run_here(&todo, &ledger, args)? } else { run_children(&todo, &ledger, experiment, jobs, args)? };
    println!("{name}: {} cells run in {:.1} s", todo.len() - failures.len(), started.elapsed().as_secs_f64());
    report_site(&args.results)?;
    if !failures.is_empty() {
        for (label, e) in &failures {
            eprintln!("failed: {label}: {e}");
        }
        bail!("{} of {} cells failed (the others are recorded; re-run to retry the failed ones)", failures.len(), todo.len());
    }
    Ok(())
}

fn distinct(cells: &[Cell], key: impl Fn(&Cell) -> String) -> usize {
    cells.iter().map(key).collect::<std::collections::BTreeSet<_>>().len()
}

fn dry_run(cells: &[Cell], todo: &[Cell], ledger: &Ledger) -> Result<()> {
    // Cost estimate from finished cells of the same (model, data set, method); else unknown.
    let mut seen: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for h in ledger.finished() {
        if let Ok(r) = ledger.read::<CellResult>(&h) {
            seen.entry((r.cell.model.clone(), r.cell.dataset.clone(), r.cell.method.clone())).or_default().push(r.cost.wall_s);
        }
    }
    let mut known = 0.0;
    let mut unknown = 0;
    let to_run: std::collections::BTreeSet<String> = todo.iter().map(Cell::hash).collect();
    println!("{:<22} {:<22} {:<10} {:>5} {:>8} {:>6} {:>4}", "model", "dataset", "method", "seed", "lr", "epochs", "done");
    for c in cells {
        let done = !to_run.contains(&c.hash());
        println!(
            "{:<22} {:<22} {:<10} {:>5} {:>8.1e} {:>6} {:>4}",
            c.model,
            c.dataset,
            c.method,
            c.seed,
            c.hyper.lr,
            c.hyper.epochs,
            if done { "yes" } else { "" }
        );
        if !done {
            match seen.get(&(c.model.clone(), c.dataset.clone(), c.method.clone())) {
                Some(v) => known += v.iter().sum::<f64>() / v.len() as f64,
                None => unknown += 1,
            }
        }
    }
    println!(
        "estimated cost of the {} cells to run: {:.0} s from finished cells of the same model/data set/method{}",
        todo.len(),
        known,
        if unknown > 0 { format!(", plus {unknown} cells with no measurement yet") } else { String::new() }
    );
    Ok(())
}

/// Pretrains every mini model that is missing (or whose pretraining configuration changed).
/// The models pretrain side by side, one thread each: their small matrices keep burn-flex
/// on about one core per model, so on two cores this halves the wait (measured: 181 s one
/// after another).
pub fn pretrain_missing(results: &Path, device: DeviceArg, force: bool) -> Result<()> {
    let dev = device.device()?;
    let mut todo = Vec::new();
    for m in runner::mini::names() {
        let cfg = PretrainConfig::default_for(m).expect("a mini model has a pretraining configuration");
        if !force && is_pretrained(results, &cfg) {
            println!("{m}: pretrained already ({})", runner::mini::model_dir(results, m).display());
        } else {
            todo.push(cfg);
        }
    }
    let bars = MultiProgress::new();
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = todo
            .iter()
            .map(|cfg| {
                let bar = bars.add(ProgressBar::new(0).with_style(bar_style()));
                let dev = dev.clone();
                scope.spawn(move || {
                    let r = pretrain(results, cfg, &dev, Some(&bar));
                    bar.finish_and_clear();
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a pretraining thread panicked")).collect()
    });
    for (cfg, outcome) in todo.iter().zip(outcomes) {
        let m = &cfg.model;
        let r = outcome.with_context(|| format!("pretraining {m}"))?;
        println!(
            "{m}: pretrained in {:.1} s ({} parameters), loss {:.3} → {:.3}, held-out accuracy {:.1} % → {}",
            r.seconds,
            r.parameters,
            r.train_loss.first().unwrap_or(&f64::NAN),
            r.train_loss.last().unwrap_or(&f64::NAN),
            100.0 * r.held_out_accuracy,
            runner::mini::model_dir(results, m).display()
        );
    }
    Ok(())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} (eta {eta}) {msg}").expect("a valid template")
}

fn options(results: &Path, ledger: &Ledger, device: DeviceArg) -> Result<RunOptions> {
    Ok(RunOptions::new(results, ledger.partial_dir(), device.device()?, &format!("{device:?}").to_lowercase()))
}

/// Resets this process's peak-RSS mark (Linux ≥ 4.0), so each in-process cell reports its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn run_here(todo: &[Cell], ledger: &Ledger, args: &GridArgs) -> Result<Vec<(String, String)>> {
    let multi = MultiProgress::new();
    let cells_bar = multi.add(ProgressBar::new(todo.len() as u64).with_style(bar_style()));
    let batches = multi.add(ProgressBar::new(0).with_style(bar_style()));
    let mut opts = options(&args.results, ledger, args.device)?;
    opts.batch_bar = Some(batches.clone());
    let mut failures = Vec::new();
    for cell in todo {
        cells_bar.set_message(cell.label());
        reset_peak_rss();
        match run_cell(cell, &opts) {
            Ok(r) => {
                let line = if record_first(ledger, &r, args.force)? { summary(&r) } else { finished_meanwhile(cell) };
                multi.suspend(|| println!("{line}"));
            }
            Err(e) => failures.push((cell.label(), e.to_string())),
        }
        cells_bar.inc(1);
    }
    batches.finish_and_clear();
    cells_bar.finish_and_clear();
    Ok(failures)
}

/// One line per finished cell.
fn summary(r: &CellResult) -> String {
    let best = r.best.as_ref();
    format!(
        "{:<48} {} {:>7.2} (epoch {}) · G(W) {:+.3} · {:.0} samples/s · {:.1} s{}",
        r.cell.label(),
        r.metric,
        r.reported_value().unwrap_or(f64::NAN),
        best.map(|b| b.epoch).unwrap_or(0),
        r.generalization_gap().unwrap_or(f64::NAN),
        r.cost.train_samples_per_s,
        r.cost.wall_s,
        match &r.outcome {
            ledger::Outcome::Finished => String::new(),
            ledger::Outcome::Diverged { epoch, reason, .. } => format!(" · DIVERGED at epoch {epoch}: {reason}"),
        }
    )
}

fn run_children(todo: &[Cell], ledger: &Ledger, experiment: &str, jobs: usize, args: &GridArgs) -> Result<Vec<(String, String)>> {
    let exe = std::env::current_exe()?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = (cores / jobs).max(1);
    let bar = ProgressBar::new(todo.len() as u64).with_style(bar_style());
    let mut queue: VecDeque<&Cell> = todo.iter().collect();
    let mut running: Vec<(Child, &Cell)> = Vec::new();
    let mut failures = Vec::new();
    // The largest peak a finished cell of each model needed: a new child starts only while
    // (running + 1) × that fits into the memory available now.
    let mut peak_by_model: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        while running.len() < jobs
            && let Some(cell) = queue.front()
        {
            let need = peak_by_model.get(&cell.model).copied().unwrap_or(0);
            if !running.is_empty() && need > 0 && need * (running.len() as u64 + 1) > mem_available_bytes() {
                break;
            }
            let cell = queue.pop_front().expect("non-empty");
            let child = Command::new(&exe)
                .args(["cell", "--results", &args.results.display().to_string(), "--experiment", experiment])
                .args(["--device", &format!("{:?}", args.device).to_lowercase(), "--cell", &serde_json::to_string(cell)?])
                .args(if args.force { vec!["--force"] } else { vec![] })
                .env("RAYON_NUM_THREADS", threads.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("starting a cell process")?;
            running.push((child, cell));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            if running[i].0.try_wait()?.is_some() {
                let (child, cell) = running.swap_remove(i);
                let out = child.wait_with_output()?;
                if out.status.success() {
                    let r: CellResult = ledger.read(&cell.hash())?;
                    let e = peak_by_model.entry(cell.model.clone()).or_default();
                    *e = (*e).max(r.cost.peak_rss_bytes); // host memory: what the next child needs
                    let said = String::from_utf8_lossy(&out.stdout);
                    let line = if said.contains("finished meanwhile") { finished_meanwhile(cell) } else { summary(&r) };
                    bar.suspend(|| println!("{line}"));
                } else {
                    failures.push((cell.label(), child_error(&String::from_utf8_lossy(&out.stderr))));
                }
                bar.inc(1);
            } else {
                i += 1;
            }
        }
    }
    bar.finish_and_clear();
    Ok(failures)
}

fn mem_available_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX)
}

/// `cargo xtask cell`: runs one cell (given as JSON) and records it; used by `--jobs` and Slurm.
#[derive(Args, Clone, Debug)]
pub struct CellArgs {
    /// The cell, as the JSON of `ledger::Cell`.
    #[arg(long)]
    pub cell: String,
    #[arg(long, default_value = "main")]
    pub experiment: String,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    #[arg(long)]
    pub force: bool,
}

pub fn cell(args: CellArgs) -> Result<()> {
    let cell: Cell = serde_json::from_str(&args.cell).context("--cell is not the JSON of a cell")?;
    let ledger = Ledger::of_experiment(&args.results, &cell.suite, &args.experiment);
    if !args.force && ledger.is_finished(&cell.hash()) {
        println!("{}: finished already", cell.label());
        return Ok(());
    }
    let r = run_cell(&cell, &options(&args.results, &ledger, args.device)?)?;
    println!("{}", if record_first(&ledger, &r, args.force)? { summary(&r) } else { finished_meanwhile(&cell) });
    Ok(())
}

/// Records a finished cell unless another run (a second `reproduce` on the same results, a
/// Slurm task) finished the same cell meanwhile: then the first result stays and this one is
/// dropped (they come from the same configuration). Returns whether this one was recorded.
fn record_first(ledger: &Ledger, r: &CellResult, force: bool) -> Result<bool> {
    match ledger.record(&r.hash, r, force) {
        Ok(_) => Ok(true),
        Err(ledger::LedgerError::Finished { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn finished_meanwhile(cell: &Cell) -> String {
    format!("{}: finished meanwhile by another run; its result is kept, this run's is dropped", cell.label())
}

/// The error a failed `cell` child reported: anyhow's `Error: …` and its causes, without the
/// backtrace that follows when RUST_BACKTRACE is set.
fn child_error(stderr: &str) -> String {
    let from = stderr.find("Error:").map(|i| &stderr[i..]).unwrap_or(stderr);
    let until = from.find("Stack backtrace:").map(|i| &from[..i]).unwrap_or(from);
    let text = until.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() { "failed (no message)".to_string() } else { text }
}

/// Rebuilds every report page from the ledger (after a run, and `cargo xtask report`).
pub fn report_site(results: &Path) -> Result<()> {
    let pages = report::build_site(results, Path::new("experiments/paper-tables"))?;
    if let Some(index) = pages.iter().find(|p| p.ends_with("index.html")) {
        println!("report: {} pages, open {}", pages.len(), index.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_childs_error_is_its_message_not_its_backtrace() {
        let stderr = "Error: mini-sentiment: no such file\n\nCaused by:\n    gone\n\nStack backtrace:\n   0: std::rt\n  19: _start\n";
        assert_eq!(super::child_error(stderr), "Error: mini-sentiment: no such file Caused by: gone");
        assert_eq!(super::child_error(""), "failed (no message)");
    }
}
