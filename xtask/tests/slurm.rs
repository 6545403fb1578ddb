//! `cargo xtask reproduce --slurm` on a real Slurm (Debian's slurm-wlm as a one-node cluster:
//! `.ci/slurm-one-node` sets it up, CI runs it first). A small mini grid goes through sbatch:
//! every cell is recorded once; submitting the same script again runs nothing; a task warned
//! of its time limit (USR1) checkpoints, requeues itself and finishes; a task cancelled while
//! it trains is finished by the next submission with no duplicate.
//!
//! Without Slurm on the machine the test says so and passes, except under CI (`CI` set),
//! where a missing Slurm is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ledger_files, results_with_mini_models, run};
use ledger::{Cell, CellResult, FailedCell, Ledger};

fn slurm_is_up() -> bool {
    let up = Command::new("sinfo").arg("--noheader").output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up && std::env::var_os("CI").is_some() {
        panic!("no Slurm here: run .ci/slurm-one-node first (CI does)");
    }
    if !up {
        eprintln!("skipped: no Slurm on this machine (`sudo .ci/slurm-one-node` sets up a one-node cluster)");
    }
    up
}

/// Writes the array of the small grid's `seeds` (lora, cla, fft) and returns its script.
fn write_array(results: &Path, seeds: &str) -> PathBuf {
    let out = run(&[
        "reproduce", "table2", "--suite", "mini", "--experiment-file", "experiments/mini/small.toml",
        "--methods", "lora,cla,fft", "--seeds", seeds, "--results", results.to_str().unwrap(), "--slurm",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("wrote ")).unwrap_or_else(|| panic!("no script in: {stdout}"));
    PathBuf::from(line.split(".sbatch").next().unwrap().to_string() + ".sbatch")
}

/// Submits `script` with the tasks running the xtask binary of this build.
fn sbatch(script: &Path) -> String {
    let out = Command::new("sbatch").arg("--parsable").arg(script).env(runner::slurm::XTASK_ENV, common::xtask()).output().unwrap();
    assert!(out.status.success(), "sbatch: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap().to_string()
}

fn squeue(job: &str) -> String {
    let out = Command::new("squeue").args(["--noheader", "--array", "--format=%i %t %r", "--jobs", job]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until no task of `job` is queued or running.
fn wait_for(job: &str) {
    let start = Instant::now();
    while !squeue(job).trim().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(300), "job {job} still queued after 5 minutes:\n{}", squeue(job));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The cells of a script's list, in task order.
fn cells_of(script: &Path) -> Vec<Cell> {
    let list = script.with_extension("cells.jsonl");
    std::fs::read_to_string(&list).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Waits until task `cell` has finished an epoch (its partial checkpoint exists): it is
/// training, with its SIGTERM handler in place.
fn wait_until_training(ledger: &Ledger, cell: &Cell) {
    let start = Instant::now();
    while !ledger.partial_dir().join(cell.hash()).join("progress.json").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "{} never checkpointed an epoch", cell.label());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_mini_array_on_a_real_slurm_records_every_cell_once() {
    if !slurm_is_up() {
        return;
    }
    // A space in the path: every path in the script must be quoted.
    let results = results_with_mini_models("slurm test results");
    let ledger = Ledger::of_experiment(&results, "mini", "main");

    // Six cells, one task each.
    let script = write_array(&results, "0,1");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-5\n") && text.contains("#SBATCH --cpus-per-task=1\n") && text.contains("#SBATCH --requeue\n"), "{text}");
    let job = sbatch(&script);
    wait_for(&job);
    let first = ledger_files(&results, "main");
    assert_eq!(first.len(), 6, "every cell recorded once: {:?}", first.keys());
    for c in cells_of(&script) {
        let r: CellResult = ledger.read(&c.hash()).unwrap_or_else(|e| panic!("{}: {e}", c.label()));
        assert_eq!(r.cell, c);
        assert_eq!(r.epochs.len(), 3);
    }

    // The same script again: every task finds its cell finished and records nothing.
    wait_for(&sbatch(&script));
    assert_eq!(ledger_files(&results, "main"), first, "a re-submission changed the ledger");
    let again = Command::new(common::xtask())
        .args(["reproduce", "table2", "--suite", "mini", "--experiment-file", "experiments/mini/small.toml", "--methods", "lora,cla,fft", "--seeds", "0,1", "--results", results.to_str().unwrap(), "--slurm"])
        .current_dir(common::repo_root())
        .output()
        .unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("no cells to submit"), "{again:?}");

    // Three more: task 0 is warned of its time limit, task 1 is cancelled, both mid-training.
    let script = write_array(&results, "2");
    let cells = cells_of(&script);
    let job = sbatch(&script);
    wait_until_training(&ledger, &cells[0]);
    let warn = Command::new("scancel").args(["--batch", "--signal=USR1", &format!("{job}_0")]).status().unwrap();
    assert!(warn.success());
    wait_until_training(&ledger, &cells[1]);
    assert!(Command::new("scancel").arg(format!("{job}_1")).status().unwrap().success());
    // Task 0 requeues itself; Slurm holds a requeued task back for a while: release it now.
    let start = Instant::now();
    let requeued = loop {
        let q = squeue(&format!("{job}_0"));
        if q.contains(" PD ") {
            break true;
        }
        if q.trim().is_empty() || start.elapsed() > Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let shown = Command::new("scontrol").args(["show", "job", &format!("{job}_0")]).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(requeued && shown.contains("Restarts=1"), "task 0 did not requeue itself after USR1:\n{shown}");
    let release = Command::new("scontrol").args(["update", &format!("JobId={job}_0"), "StartTime=now"]).status().unwrap();
    assert!(release.success());
    // The cancelled cell is unfinished, with its failure recorded; submitting again runs it
    // (and task 0's cell, if it has not finished yet: the lock lets one of them train it).
    assert!(!ledger.is_finished(&cells[1].hash()));
    let resubmitted = write_array(&results, "2");
    let job2 = sbatch(&resubmitted);
    wait_for(&job);
    wait_for(&job2);

    let all = ledger_files(&results, "main");
    assert_eq!(all.len(), 9, "nine cells, each recorded once and nothing else: {:?}", all.keys());
    for (name, bytes) in &first {
        assert_eq!(all.get(name), Some(bytes), "{name} was rewritten");
    }
    for c in &cells {
        let r: CellResult = ledger.read(&c.hash()).unwrap_or_else(|e| panic!("{}: {e}", c.label()));
        assert_eq!(r.epochs.len(), 3, "{}", c.label());
        assert!(!ledger.partial_dir().join(c.hash()).exists(), "{}: its partial checkpoint is gone once recorded", c.label());
    }
    assert!(ledger.failures::<FailedCell>().is_empty(), "the cancelled cell's failure is cleared once it finished");
}
