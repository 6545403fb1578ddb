//! `cargo xtask chaos`: kills a small mini grid at random moments and checks what the ledger
//! promises. The grid (`reproduce table2 --suite mini` over `experiments/mini/small.toml`,
//! checkpointing every epoch) runs in its own process group; after a random delay the whole
//! group gets SIGKILL (the parent, its `--jobs` children, whatever they were writing), and
//! the grid starts again. Once, a single child is killed instead and the grid must go on
//! without it. After every kill the ledger is audited ([`ledger::audit::Audit`]): no result
//! lost, none rewritten, none unreadable. At the end every cell must be finished, no failure
//! left, and every cell's numbers equal to an uninterrupted run's (`<dir>/reference`).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use ledger::audit::{Audit, metric_difference};
use ledger::{CellResult, FailedCell, Ledger};
use runner::experiment::{Experiment, Filter};

use crate::device::DeviceArg;

#[derive(Args, Clone, Debug)]
pub struct ChaosArgs {
    /// How many times the grid's process group is killed.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// The grid (a mini experiment file).
    #[arg(long, default_value = "experiments/mini/small.toml")]
    pub experiment_file: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "fft,lora,lora-plus,cola,cla,c3la")]
    pub methods: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    pub seeds: Vec<u64>,
    /// Cells at once (each in its own process).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// The longest wait before a kill (seconds); each wait is uniform in [0.1 s, this].
    #[arg(long, default_value_t = 2.0)]
    pub max_delay_s: f64,
    /// Seeds the kill moments.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the mini models, the uninterrupted reference run and each chaos run go.
    #[arg(long, default_value = "results/chaos")]
    pub dir: PathBuf,
}

/// What a chaos run found.
#[derive(Debug, Default)]
struct Findings {
    kills: usize,
    child_killed: Option<String>,
    starts: usize,
    /// Partial checkpoints on disk after the kills (summed): how often a cell resumed.
    partials_left: usize,
    identical: usize,
    worst_difference: f64,
    mismatched: Vec<String>,
}

pub fn chaos(args: ChaosArgs) -> Result<()> {
    let started = Instant::now();
    let exp = Experiment::load(&args.experiment_file, "mini")?;
    let filter = Filter { methods: args.methods.clone(), seeds: args.seeds.clone(), ..Filter::default() };
    let cells = runner::grid::validate(exp.cells(&filter)?)?;
    if cells.is_empty() {
        bail!("the filters match no cell of {}", args.experiment_file.display());
    }
    let mut models: Vec<String> = cells.iter().map(|c| c.model.clone()).collect();
    models.sort();
    models.dedup();
    crate::reproduce::pretrain_missing(&args.dir, DeviceArg::Cpu, false, &models)?;

    let reference = results_dir(&args.dir, "reference")?;
    println!("reference: the grid uninterrupted → {}", reference.display());
    let status = grid(&reference, &args)?.wait()?;
    if !status.success() {
        bail!("the uninterrupted reference run failed ({status}); see {}", reference.join("chaos.log").display());
    }

    let run = results_dir(&args.dir, &format!("run-{}", ledger::unix_now()))?;
    let ledger = Ledger::of_experiment(&run, "mini", "main");
    let mut audit = Audit::new(&ledger.dir);
    let mut rng = seeded::SplitMix64::for_stream(args.seed, "chaos/kill-moments");
    let mut found = Findings::default();
    let child_kill_at = args.kills.div_ceil(2).max(1);
    println!("chaos: {} cells, {} kills of the whole grid, one of a single child → {}", cells.len(), args.kills, run.display());
    while found.kills < args.kills {
        let mut child = grid(&run, &args)?;
        found.starts += 1;
        if found.kills + 1 == child_kill_at && found.child_killed.is_none() {
            // A child alone: its parent must record that cell as failed and go on.
            if let Some(pid) = wait_for_a_child(&mut child)? {
                kill(&pid.to_string())?;
                let reason = wait_for_a_sigkill_failure(&ledger, &mut child)?;
                println!("  killed the cell process {pid} alone; its grid recorded: {}", reason.as_deref().unwrap_or("NOTHING"));
                found.child_killed = Some(reason.unwrap_or_default());
            }
        }
        let delay = 0.1 + rng.unit_f64() * (args.max_delay_s - 0.1).max(0.0);
        let deadline = Instant::now() + Duration::from_secs_f64(delay);
        while Instant::now() < deadline && child.try_wait()?.is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait()?.is_some() {
            println!("  the grid finished before kill {} could land (after {} starts)", found.kills + 1, found.starts);
            break;
        }
        // The process group the grid leads: the parent and every cell process.
        kill(&format!("-{}", child.id()))?;
        child.wait()?;
        found.kills += 1;
        let results = audit.check()?;
        let partial = std::fs::read_dir(ledger.partial_dir()).map(|d| d.count()).unwrap_or(0);
        found.partials_left += partial;
        println!("  kill {} after {delay:.2} s: {results} of {} results, {partial} partial checkpoints to resume from", found.kills, cells.len());
    }
    let status = grid(&run, &args)?.wait()?;
    found.starts += 1;
    audit.check()?;
    if !status.success() {
        bail!("the last, uninterrupted run failed ({status}); see {}", run.join("chaos.log").display());
    }

    let reference_ledger = Ledger::of_experiment(&reference, "mini", "main");
    for c in &cells {
        let h = c.hash();
        let got: CellResult = ledger.read(&h).with_context(|| format!("{} is not finished", c.label()))?;
        let want: CellResult = reference_ledger.read(&h).with_context(|| format!("{}: no reference result", c.label()))?;
        match metric_difference(&got, &want) {
            Some(d) => {
                found.identical += usize::from(d == 0.0);
                found.worst_difference = found.worst_difference.max(d);
            }
            None => found.mismatched.push(c.label()),
        }
    }
    let failures: Vec<FailedCell> = ledger.failures();
    println!(
        "chaos: {} kills of the grid + {} of a child, {} starts, {} resumes from partial checkpoints, {:.0} s: {} lost, {} rewritten, {} unreadable; {}/{} cells finished, {} failures left; {} cells identical to the uninterrupted run, largest difference {:.2e}{}",
        found.kills,
        usize::from(found.child_killed.is_some()),
        found.starts,
        found.partials_left,
        started.elapsed().as_secs_f64(),
        audit.lost.len(),
        audit.rewritten.len(),
        audit.unreadable.len(),
        cells.iter().filter(|c| ledger.is_finished(&c.hash())).count(),
        cells.len(),
        failures.len(),
        found.identical,
        found.worst_difference,
        if found.mismatched.is_empty() { String::new() } else { format!("; different epochs or outcome: {}", found.mismatched.join(", ")) }
    );
    if !audit.is_clean() || !found.mismatched.is_empty() || !failures.is_empty() || found.worst_difference > 1e-6 {
        bail!("the ledger broke a promise (details above)");
    }
    if found.child_killed.as_deref() == Some("") {
        bail!("the killed child's cell was not recorded as failed with SIGKILL");
    }
    Ok(())
}

/// A fresh results directory under `dir` whose `models/` is the shared one.
fn results_dir(dir: &Path, name: &str) -> Result<PathBuf> {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let models = d.join("models");
    if !models.exists() {
        std::os::unix::fs::symlink(std::fs::canonicalize(dir.join("models"))?, &models).with_context(|| format!("linking {}", models.display()))?;
    }
    Ok(d)
}

/// Starts the grid on `results` in a process group of its own, its output appended to
/// `<results>/chaos.log`.
fn grid(results: &Path, args: &ChaosArgs) -> Result<Child> {
    let log = File::options().create(true).append(true).open(results.join("chaos.log"))?;
    let join = |v: Vec<String>| v.join(",");
    Ok(Command::new(std::env::current_exe()?)
        .args(["reproduce", "table2", "--suite", "mini", "--checkpoint-min-epoch-s", "0"])
        .arg("--experiment-file")
        .arg(&args.experiment_file)
        .args(["--methods", &join(args.methods.clone()), "--seeds", &join(args.seeds.iter().map(u64::to_string).collect())])
        .args(["--jobs", &args.jobs.to_string()])
        .arg("--results")
        .arg(results)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?)
}

/// Waits (up to a minute) until the grid has a cell process, and returns its pid; `None` when
/// the grid ended first.
fn wait_for_a_child(grid: &mut Child) -> Result<Option<u32>> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if grid.try_wait()?.is_some() {
            return Ok(None);
        }
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", grid.id())).unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next().and_then(|p| p.parse().ok()) {
            // Let it get into training.
            std::thread::sleep(Duration::from_millis(300));
            return Ok(Some(pid));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

/// Waits (up to 30 s, while the grid runs) for the grid to record a cell killed by SIGKILL;
/// returns the cell and the reason.
fn wait_for_a_sigkill_failure(ledger: &Ledger, grid: &mut Child) -> Result<Option<String>> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let failed: Vec<FailedCell> = ledger.failures();
        if let Some(f) = failed.iter().find(|f| f.reason.contains("SIGKILL")) {
            return Ok(Some(format!("{}: {}", f.cell.label(), f.reason)));
        }
        if grid.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

/// SIGKILL to a pid, or to a process group as `-<pgid>` (one that ended meanwhile is no error).
fn kill(target: &str) -> Result<()> {
    Command::new("kill").args(["-KILL", "--", target]).stderr(Stdio::null()).status()?;
    Ok(())
}
