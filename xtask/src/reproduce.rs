//! `cargo xtask pretrain`, `reproduce`, `ablate` and the per-cell worker `cell`: expand an
//! experiment grid, skip what the ledger already holds, run the rest (in this process, in
//! `--jobs` child processes, or as a Slurm array) and rebuild the report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ledger::{Cell, CellResult, Ledger};
use runner::experiment::{Experiment, Filter};
use runner::grid::{CellOutcome, Children, GridProgress, Recorded};
use runner::mini::{PretrainConfig, is_pretrained, pretrain};
use runner::train::RunOptions;

use crate::device::DeviceArg;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// The paper's models and data sets (Hugging Face downloads; most need a GPU).
    Paper,
    /// The embedded mini suite (offline, minutes on a laptop CPU).
    Mini,
}

impl Suite {
    pub fn name(self) -> &'static str {
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
    /// B.1: the LoRA and PaCA families with every attention and MLP linear adapted
    /// (`[grid.table4]` of the experiment file; the paper suite has it).
    Table4,
    /// B.1: the same with query and value adapted (`[grid.table5]`).
    Table5,
    /// E.3.2: cost with Table 4's targets (`[grid.table14]`).
    Table14,
    Table3,
    Table6,
    Table15,
    Table16,
    Table17,
    Table18,
    /// The geometry figures (Figs 1/8, 3, 4, 9, 10) of `experiments/<suite>/figures.toml`:
    /// loss landscapes and intruder dimensions of the main grid's cells.
    Figures,
    /// One figure of the figure file: Fig 1 is Fig 8's top row (the page `fig8.html`).
    Fig1,
    Fig3,
    Fig4,
    Fig8,
    Fig9,
    Fig10,
    /// Every table, then the figures.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Ablation {
    /// Tables 8 and 9: learning rate × rank.
    Lr,
    /// Rank alone (α = 2r; the mini suite only: the paper sweeps rank inside Tables 8–13).
    Rank,
    /// Tables 10 and 11: α / r × rank.
    Alpha,
    /// Tables 12 and 13: chain-reset frequency × rank.
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
    /// for the paper suite. Even at 1 each cell has its own process, so that an abort or a
    /// kill (the OOM killer) fails that cell alone.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Checkpoint a cell after an epoch only if the epoch took at least this long (seconds):
    /// shorter ones are cheaper to redo after a kill than to write.
    #[arg(long, default_value_t = 30.0)]
    pub checkpoint_min_epoch_s: f64,
    /// Steps each cell times alone before it trains (after 3 warm-up steps; no other cell of
    /// the results directory steps meanwhile): the cost figures of Tables 14 and 15. 0: none.
    #[arg(long, default_value_t = 20)]
    pub timing_steps: usize,
    /// Write a Slurm job-array script (one cell per task) instead of running.
    #[arg(long)]
    pub slurm: bool,
    #[command(flatten)]
    pub slurm_resources: SlurmArgs,
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

/// What the tasks of a `--slurm` array ask for; each default is sized from the grid (the
/// largest peak memory the model's finished cells measured, else its parameter count; twice
/// the longest finished cell, else 1 h for a mini model and 24 h otherwise; one core for a
/// mini model) and capped at the largest node `sinfo` reports.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Slurm (with --slurm)")]
pub struct SlurmArgs {
    /// The partition (default: the cluster's default partition).
    #[arg(long)]
    pub slurm_partition: Option<String>,
    /// CPUs per task.
    #[arg(long)]
    pub slurm_cpus: Option<usize>,
    /// Memory per task: MiB, or with M, G or T (`16G`).
    #[arg(long, value_parser = runner::slurm::parse_mem)]
    pub slurm_mem: Option<u64>,
    /// Time limit per task: minutes, H:MM:SS or D-HH:MM:SS.
    #[arg(long, value_parser = runner::slurm::parse_time)]
    pub slurm_time: Option<u64>,
    /// GPUs per task (default: 1 for --device wgpu/cuda, else 0).
    #[arg(long)]
    pub slurm_gpus: Option<usize>,
    /// At most this many tasks at once (`--array=…%N`).
    #[arg(long)]
    pub slurm_max_parallel: Option<usize>,
}

impl GridArgs {
    fn filter(&self) -> Filter {
        Filter { models: self.models.clone(), datasets: self.datasets.clone(), methods: self.methods.clone(), seeds: self.seeds.clone() }
    }

    pub fn experiment(&self) -> Result<Experiment> {
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
    let figure = match table {
        Table::Figures => Some(None),
        Table::Fig1 | Table::Fig8 => Some(Some("fig8")),
        Table::Fig3 => Some(Some("fig3")),
        Table::Fig4 => Some(Some("fig4")),
        Table::Fig9 => Some(Some("fig9")),
        Table::Fig10 => Some(Some("fig10")),
        _ => None,
    };
    if let Some(only) = figure {
        return crate::figures::reproduce_figures(&args, only);
    }
    if let Some(own) = own_grid(table) {
        return reproduce_own_grid(own, &args);
    }
    let exp = args.experiment()?;
    // Table 15 has its own grid in the paper's experiment file (E.3.2's settings, ledger
    // experiment `table15`); without one (the mini suite) it times the main grid's cells with
    // the gathered variants added.
    let own15 = exp.grid_cells(ledger::TABLE15_EXPERIMENT, &args.filter())?;
    if table == Table::Table15
        && let Some(cells) = own15
    {
        return run_grid("table15", ledger::TABLE15_EXPERIMENT, cells, &args);
    }
    let extras = if own15.is_some() { &[][..] } else { extra_methods(table) };
    let mut filter = args.filter();
    let mut cells = exp.cells(&filter)?;
    if filter.methods.is_empty() && !extras.is_empty() {
        filter.methods = extras.iter().map(|s| s.to_string()).collect();
        let mut extra = exp.clone();
        extra.set_methods(extras);
        cells.extend(extra.cells(&filter)?);
    }
    run_grid(&format!("{table:?}").to_lowercase(), "main", cells, &args)?;
    if table == Table::All
        && let Some(cells) = own15
    {
        run_grid("table15", ledger::TABLE15_EXPERIMENT, cells, &args)?;
    }
    if table == Table::All {
        for name in ["table4", "table5", "table14"] {
            if let Some(cells) = exp.grid_cells(name, &args.filter())? {
                run_grid(name, name, cells, &args)?;
            }
        }
    }
    if table == Table::All {
        crate::figures::reproduce_figures(&args, None)?;
    }
    Ok(())
}

/// The tables that are a grid of their own (`[grid.<name>]`, ledger experiment `<name>`) and
/// nothing else.
fn own_grid(table: Table) -> Option<&'static str> {
    match table {
        Table::Table4 => Some("table4"),
        Table::Table5 => Some("table5"),
        Table::Table14 => Some("table14"),
        _ => None,
    }
}

fn reproduce_own_grid(name: &str, args: &GridArgs) -> Result<()> {
    let exp = args.experiment()?;
    let Some(cells) = exp.grid_cells(name, &args.filter())? else {
        bail!("{} has no [grid.{name}]: {name} is a grid of its own (the paper suite's experiment file has it)", exp.path.display());
    };
    run_grid(name, name, cells, args)
}

/// Runs the main-grid cells a figure file draws that are not finished yet.
pub fn run_cells_for_figures(figures: &ledger::analysis::FigureFile, args: &GridArgs) -> Result<()> {
    let cells = args.experiment()?.figure_cells(figures)?;
    let ledger = Ledger::of_experiment(&args.results, args.suite.name(), &figures.experiment);
    if runner::grid::to_run(&cells, &ledger, args.force)?.cells.is_empty() {
        return Ok(());
    }
    run_grid("figures", &figures.experiment, cells, args)
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
    let cells = runner::grid::validate(cells)?;
    let ledger = Ledger::of_experiment(&args.results, args.suite.name(), experiment);
    let left = runner::grid::to_run(&cells, &ledger, args.force)?;
    for (aside, why) in &left.moved_aside {
        eprintln!("warning: an unreadable result was moved aside to {} ({why}); its cell runs again", aside.display());
    }
    let todo = left.cells;
    let (n, rows, models, methods, seeds) = runner::grid::shape(&cells);
    println!(
        "{name}: {n} cells ({rows} model/data-set rows of {models} models, {methods} methods, {seeds} seeds per row), {} finished, {} to run → {}",
        cells.len() - todo.len(),
        todo.len(),
        ledger.dir.display()
    );
    if args.dry_run {
        return dry_run(&cells, &todo, &ledger);
    }
    let mini_models = mini_models_of(&todo);
    if !mini_models.is_empty() {
        // Before a Slurm array is written too: its tasks find the models in place.
        pretrain_missing(&args.results, args.device, false, &mini_models)?;
    }
    if args.slurm {
        return write_slurm_array(name, experiment, &todo, &ledger, args);
    }
    let started = Instant::now();
    let jobs = args.jobs.unwrap_or(match args.suite {
        Suite::Mini => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        Suite::Paper => 1,
    });
    let failures = run_children(&todo, &ledger, experiment, jobs.max(1), args)?;
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

fn write_slurm_array(name: &str, experiment: &str, todo: &[Cell], ledger: &Ledger, args: &GridArgs) -> Result<()> {
    let device = format!("{:?}", args.device).to_lowercase();
    let sizing = runner::slurm::size_for(todo, ledger, &device, runner::slurm::node_limits());
    let a = &args.slurm_resources;
    let d = sizing.resources;
    let resources = runner::slurm::Resources {
        cpus_per_task: a.slurm_cpus.unwrap_or(d.cpus_per_task),
        mem_mib: a.slurm_mem.unwrap_or(d.mem_mib),
        time_minutes: a.slurm_time.unwrap_or(d.time_minutes),
        gpus_per_task: a.slurm_gpus.unwrap_or(d.gpus_per_task),
    };
    let o = runner::slurm::SlurmOptions {
        resources: resources.clone(),
        partition: a.slurm_partition.clone(),
        device,
        max_parallel: a.slurm_max_parallel,
        repo_root: std::env::current_dir()?,
    };
    let script = runner::slurm::write_array(&args.results.join("slurm"), name, todo, &args.results, experiment, &o)?;
    println!(
        "each task: {} CPUs, {} MiB, {}, {} GPUs",
        resources.cpus_per_task,
        resources.mem_mib,
        runner::slurm::format_time(resources.time_minutes),
        resources.gpus_per_task
    );
    for why in &sizing.reasons {
        println!("  {why}");
    }
    println!("wrote {}: submit it with `sbatch {}`", script.display(), script.display());
    println!("then `cargo xtask report` builds the tables from whatever has finished");
    Ok(())
}

fn dry_run(cells: &[Cell], todo: &[Cell], ledger: &Ledger) -> Result<()> {
    let planned = runner::grid::plan(cells, todo, ledger);
    // The keys an ablation sweeps are columns too: rank, α, the chain-reset period.
    println!("{:<22} {:<22} {:<10} {:>5} {:>8} {:>4} {:>6} {:>5} {:>6} {:>4}", "model", "dataset", "method", "seed", "lr", "r", "alpha", "reset", "epochs", "done");
    for p in &planned {
        let c = &p.cell;
        let reset = c.hyper.chain_reset_every_epochs.filter(|_| peft_core::method(&c.method).is_ok_and(|m| m.chained)).map(|k| k.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:<22} {:<22} {:<10} {:>5} {:>8.1e} {:>4} {:>6} {:>5} {:>6} {:>4}",
            c.model,
            c.dataset,
            c.method,
            c.seed,
            c.hyper.lr,
            c.hyper.rank,
            c.hyper.alpha,
            reset,
            c.hyper.epochs,
            if p.done { "yes" } else { "" }
        );
    }
    let pending: Vec<_> = planned.iter().filter(|p| !p.done).collect();
    let known = pending.iter().filter_map(|p| p.estimate_s).fold(0.0, |a, b| a + b);
    let unknown = pending.iter().filter(|p| p.estimate_s.is_none()).count();
    println!(
        "estimated cost of the {} cells to run: {:.0} s from finished cells of the same model/data set/method{}",
        todo.len(),
        known,
        if unknown > 0 { format!(", plus {unknown} cells with no measurement yet") } else { String::new() }
    );
    Ok(())
}

/// The distinct mini models of `cells`.
fn mini_models_of(cells: &[Cell]) -> Vec<String> {
    let mut models: Vec<String> = cells.iter().filter(|c| runner::mini::names().contains(&c.model.as_str())).map(|c| c.model.clone()).collect();
    models.sort();
    models.dedup();
    models
}

/// Pretrains the mini models among `only` (all of them when empty) that are missing, or whose
/// pretraining configuration changed. The models pretrain side by side, one thread each: their small matrices keep
/// burn-flex on about one core per model, so on two cores this halves the wait (measured:
/// 181 s one after another).
pub fn pretrain_missing(results: &Path, device: DeviceArg, force: bool, only: &[String]) -> Result<()> {
    let dev = device.device()?;
    if let Some(bad) = only.iter().find(|m| !runner::mini::names().contains(&m.as_str())) {
        bail!("`{bad}` is not a mini model (they are: {})", runner::mini::names().join(", "));
    }
    let mut todo = Vec::new();
    for m in runner::mini::names().into_iter().filter(|m| only.is_empty() || only.iter().any(|o| o == m)) {
        let cfg = PretrainConfig::default_for(m).expect("a mini model has a pretraining configuration");
        if !force && is_pretrained(results, &cfg) {
            println!("{m}: pretrained already ({})", runner::mini::model_dir(results, m).display());
        } else if !force && runner::mini::install_committed(results, &cfg)? {
            println!("{m}: the committed checkpoint ({}/models/{m}) → {}", runner::mini::COMMITTED_ROOT, runner::mini::model_dir(results, m).display());
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
        match runner::mini::compare(results, m)? {
            Some(c) => println!(
                "{m}: against the committed checkpoint: held-out accuracy {:.1} % there, {:.1} % here; largest weight difference {:.2e}{}",
                100.0 * c.committed_held_out_accuracy,
                100.0 * c.held_out_accuracy,
                c.max_abs_weight_difference,
                if c.max_abs_weight_difference == 0.0 { " (identical)" } else { " (this CPU's arithmetic differs; fine-tuning from these gives other numbers than the README's)" }
            ),
            None => println!("{m}: no committed checkpoint of this configuration to compare with (copy {} to {}/models/ to commit it)", runner::mini::model_dir(results, m).display(), runner::mini::COMMITTED_ROOT),
        }
    }
    Ok(())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} (eta {eta}) {msg}").expect("a valid template")
}

fn options(results: &Path, ledger: &Ledger, device: DeviceArg, timing_steps: usize) -> Result<RunOptions> {
    let mut o = RunOptions::new(results, ledger.partial_dir(), device.device()?, &format!("{device:?}").to_lowercase());
    o.log_dir = Some(ledger.log_dir());
    o.weights_dir = Some(ledger.weights_dir());
    if timing_steps > 0 {
        o.timing = Some(runner::timing::TimingOptions { steps: timing_steps, ..runner::timing::TimingOptions::new(results) });
    }
    Ok(o)
}

/// Progress over a grid: a bar of cells done and one summary line per finished cell. At
/// `--jobs 1` the cell's own process draws the bar of its batches instead, and this prints
/// a line as each cell starts.
struct Bars {
    cells: ProgressBar,
    /// `[k/n] cell` lines instead of the cells bar.
    lines: bool,
    started: usize,
}

impl GridProgress for Bars {
    fn started(&mut self, cell: &Cell) {
        self.started += 1;
        if self.lines {
            println!("[{}/{}] {}", self.started, self.cells.length().unwrap_or(0), cell.label());
        } else {
            self.cells.set_message(cell.label());
        }
    }

    fn finished(&mut self, cell: &Cell, outcome: &CellOutcome) {
        if let Some(line) = outcome_line(cell, outcome) {
            self.cells.suspend(|| println!("{line}"));
        }
        self.cells.inc(1);
    }
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

fn run_children(todo: &[Cell], ledger: &Ledger, experiment: &str, jobs: usize, args: &GridArgs) -> Result<runner::grid::Failures> {
    let exe = std::env::current_exe()?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = (cores / jobs).max(1);
    // One at a time, the child has the terminal: its bar of batches and its errors show as
    // they happen.
    let alone = jobs == 1;
    let bar = if alone { ProgressBar::hidden() } else { ProgressBar::new(todo.len() as u64).with_style(bar_style()) };
    bar.set_length(todo.len() as u64);
    let mut spawn = |cell: &Cell| {
        Command::new(&exe)
            .args(["cell", "--results", &args.results.display().to_string(), "--experiment", experiment])
            .args(["--device", &format!("{:?}", args.device).to_lowercase(), "--cell", &serde_json::to_string(cell).expect("a cell serialises")])
            .args(["--checkpoint-min-epoch-s", &args.checkpoint_min_epoch_s.to_string()])
            .args(["--timing-steps", &args.timing_steps.to_string()])
            .args(if args.force { vec!["--force"] } else { vec![] })
            .args(if alone { vec!["--progress"] } else { vec![] })
            .env("RAYON_NUM_THREADS", threads.to_string())
            .stdout(Stdio::piped())
            .stderr(if alone { Stdio::inherit() } else { Stdio::piped() })
            .spawn()
    };
    let error_of = |out: &Output| {
        if alone {
            format!("the cell's process exited with {} (its error is printed above)", out.status)
        } else {
            child_error(&String::from_utf8_lossy(&out.stderr))
        }
    };
    let children = Children { jobs, spawn: &mut spawn, error_of: &error_of, available: &runner::grid::mem_available_bytes };
    let failures = runner::grid::run_in_children(todo, ledger, children, &mut Bars { cells: bar.clone(), lines: alone, started: 0 })?;
    bar.finish_and_clear();
    Ok(failures)
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
    /// Checkpoint after an epoch only if it took at least this long (seconds); the Slurm
    /// script passes 0 so that a SIGTERM loses at most the epoch under way.
    #[arg(long, default_value_t = 30.0)]
    pub checkpoint_min_epoch_s: f64,
    /// Draw a bar of the batches of each epoch (on stderr).
    #[arg(long)]
    pub progress: bool,
    /// Steps timed alone before training (0: no timing phase).
    #[arg(long, default_value_t = 20)]
    pub timing_steps: usize,
}

pub fn cell(args: CellArgs) -> Result<()> {
    let cell: Cell = serde_json::from_str(&args.cell).context("--cell is not the JSON of a cell")?;
    if !runner::grid::is_plain_name(&args.experiment) {
        bail!("--experiment `{}` is not a plain name (letters, digits, `-`, `_`)", args.experiment);
    }
    let cell = runner::grid::validate(vec![cell])?.remove(0);
    let ledger = Ledger::of_experiment(&args.results, &cell.suite, &args.experiment);
    let mut opts = options(&args.results, &ledger, args.device, args.timing_steps)?;
    opts.checkpoint_min_epoch_s = args.checkpoint_min_epoch_s;
    if args.progress {
        opts.batch_bar = Some(ProgressBar::new(0).with_style(bar_style()));
    }
    let stop = runner::grid::stop_on_sigterm()?;
    opts.stop = Some(stop.clone());
    // A finished cell is found by `run_locked` (under the lock) and reported as such.
    let outcome = runner::grid::run_locked(&cell, &ledger, &opts, args.force)?;
    if let Some(b) = &opts.batch_bar {
        b.finish_and_clear();
    }
    if let CellOutcome::Failed(why) = &outcome {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("Error: {why}");
            std::process::exit(runner::slurm::INTERRUPTED_EXIT);
        }
        bail!("{why}");
    }
    if let Some(line) = outcome_line(&cell, &outcome) {
        println!("{line}");
    }
    Ok(())
}

/// The line a cell's end prints (failures are listed at the end of the grid instead). The
/// parent of a `cell` child reads the recorded/meanwhile/elsewhere state back from it.
fn outcome_line(cell: &Cell, outcome: &CellOutcome) -> Option<String> {
    match outcome {
        CellOutcome::Finished { result, recorded: Recorded::Recorded } => Some(summary(result)),
        CellOutcome::Finished { recorded: Recorded::FinishedMeanwhile, .. } => Some(format!(
            "{}: {} by another run; its result is kept, this run's is dropped",
            cell.label(),
            runner::grid::FINISHED_MEANWHILE
        )),
        CellOutcome::RunningElsewhere => Some(format!("{}: {}: another process holds its lock", cell.label(), runner::grid::RUNNING_ELSEWHERE)),
        CellOutcome::Failed(_) => None,
    }
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
