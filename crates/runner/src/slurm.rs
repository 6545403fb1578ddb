//! `--slurm`: an sbatch job-array script, one cell per array task, over the same results
//! directory (on a shared filesystem). Each task runs `xtask cell` on one line of a cell list;
//! the ledger's per-cell lock and "first result stays" make a re-submitted or requeued array
//! safe. No scheduler of our own: Slurm schedules, `cargo xtask report` builds the tables from
//! whatever finished.
//!
//! - **Resources** default to what the grid needs ([`size_for`]): the largest peak memory the
//!   finished cells of a model measured (else an estimate from its parameter count), twice the
//!   longest measured cell (else a bound by model size), one core for the mini models, and
//!   are capped at the largest node `sinfo` reports.
//! - **The cell list is named by its content** (`<table>-<sha>.cells.jsonl`): submitting again
//!   writes a new list beside it and never changes what already queued tasks run.
//! - **Time limits and preemption**: `--signal=B:USR1@<grace>` warns the task before its time
//!   limit; the script passes a SIGTERM on to the cell, which stops at the next batch with its
//!   last finished epoch checkpointed (checkpoints after every epoch under Slurm) and exits
//!   with [`INTERRUPTED_EXIT`]; after the warning the task requeues itself (`--requeue`), and
//!   a preempted task is requeued by Slurm. The requeued task resumes from the checkpoint.

use std::path::{Path, PathBuf};

use ledger::{Cell, CellResult, Ledger};
use sha2::{Digest, Sha256};

use crate::RunError;

/// The exit status of a `cell` process stopped by SIGTERM after checkpointing: the Slurm
/// script requeues the task on it when the time limit is near.
pub const INTERRUPTED_EXIT: i32 = 3;

/// The environment variable that replaces the script's `cargo run … --` with another command
/// for xtask (a built binary, as the tests do).
pub const XTASK_ENV: &str = "BEYOND_LORA_XTASK";

/// Seconds of warning before the time limit: enough to finish a batch and write a checkpoint.
const WARNING_S: u64 = 120;

/// Slurm resources of every task of the array.
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    pub cpus_per_task: usize,
    pub mem_mib: u64,
    pub time_minutes: u64,
    pub gpus_per_task: usize,
}

/// The array's resources and where they came from (printed beside the script).
#[derive(Clone, Debug)]
pub struct Sizing {
    pub resources: Resources,
    pub reasons: Vec<String>,
}

/// The largest node of the cluster, as `sinfo` reports it (caps the defaults).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub cpus: usize,
    pub mem_mib: u64,
}

/// How the script is written besides the resources.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    pub resources: Resources,
    pub partition: Option<String>,
    /// `cpu`, `wgpu` or `cuda`: `cuda` builds xtask with `--features cuda`.
    pub device: String,
    /// At most this many tasks at once (`%N` of `--array`).
    pub max_parallel: Option<usize>,
    /// The repository root the tasks run from.
    pub repo_root: PathBuf,
}

/// Parameters below which a model counts as small (the mini suite's are ~10⁵): one core each,
/// an hour at most.
const SMALL_MODEL_PARAMS: usize = 10_000_000;

/// A model's parameter count where it is known without downloading it: the mini models and
/// the paper's presets.
fn params_of(model: &str) -> Option<usize> {
    let (arch, task) = crate::mini::arch(model).or_else(|| models::presets::preset(model).map(|p| (p.arch, p.task)))?;
    let (backbone, head) = arch.param_counts(2, task);
    Some(backbone + head)
}

/// Rounds MiB up to a multiple of 256.
fn round_mib(mib: u64) -> u64 {
    mib.div_ceil(256) * 256
}

/// The resources each task of `todo` needs, from what finished cells of the same models
/// measured in `ledger` (memory: their largest peak × 1.5 + 512 MiB; time: twice the longest
/// cell of the same model/data set/method + 10 minutes) or, for a model with no finished cell,
/// from its size (memory: 32 bytes per parameter — weights, gradients, Adam's two moments,
/// twice for activations and copies — + 1 GiB; time: 1 h for a small model, 24 h otherwise).
/// Capped at `node` where known.
pub fn size_for(todo: &[Cell], ledger: &Ledger, device: &str, node: Option<NodeLimits>) -> Sizing {
    let finished: Vec<CellResult> = ledger.finished().iter().filter_map(|h| ledger.read::<CellResult>(h).ok()).collect();
    let mut reasons = Vec::new();
    let mut mem_mib = 0u64;
    let mut time_minutes = 0u64;
    // Each model's size once (a mini model's builds the mini tokenizer).
    let models: std::collections::BTreeSet<&str> = todo.iter().map(|c| c.model.as_str()).collect();
    let params: std::collections::BTreeMap<&str, Option<usize>> = models.into_iter().map(|m| (m, params_of(m))).collect();
    let small = |model: &str| params.get(model).copied().flatten().is_some_and(|p| p < SMALL_MODEL_PARAMS);
    let all_small = params.keys().all(|m| small(m));
    for (&model, &params) in &params {
        let peak = finished.iter().filter(|r| r.cell.model == model).map(|r| r.cost.peak_rss_bytes).max();
        let need = match (peak, params) {
            (Some(peak), _) => {
                reasons.push(format!("{model}: memory from the largest peak of its finished cells ({} MiB)", peak >> 20));
                (peak >> 20) * 3 / 2 + 512
            }
            (None, Some(p)) => {
                reasons.push(format!("{model}: memory estimated from its {p} parameters (no finished cell yet)"));
                ((32 * p as u64) >> 20) + 1024
            }
            (None, None) => {
                reasons.push(format!("{model}: size unknown and no finished cell: 16 GiB assumed"));
                16 * 1024
            }
        };
        mem_mib = mem_mib.max(round_mib(need));
    }
    for cell in todo {
        let longest = finished
            .iter()
            .filter(|r| r.cell.model == cell.model && r.cell.dataset == cell.dataset && r.cell.method == cell.method)
            .map(|r| r.cost.wall_s)
            .reduce(f64::max);
        let minutes = match longest {
            Some(s) => (2.0 * s / 60.0).ceil() as u64 + 10,
            None if small(&cell.model) => 60,
            None => 24 * 60,
        };
        time_minutes = time_minutes.max(minutes);
    }
    reasons.push(format!("time: twice the longest finished cell of the same model/data set/method + 10 min, else 1 h for small models and 24 h otherwise → {}", format_time(time_minutes)));
    let gpus_per_task = usize::from(device != "cpu");
    // The mini models keep about one core busy (burn-flex's kernels on 64-wide matrices);
    // larger models use what they get.
    let mut cpus_per_task = if all_small { 1 } else if gpus_per_task > 0 { 4 } else { 8 };
    if let Some(n) = node {
        if cpus_per_task > n.cpus {
            reasons.push(format!("CPUs capped at the largest node's {}", n.cpus));
            cpus_per_task = n.cpus;
        }
        if mem_mib > n.mem_mib {
            reasons.push(format!("memory capped at the largest node's {} MiB (the estimate was {mem_mib} MiB)", n.mem_mib));
            mem_mib = n.mem_mib;
        }
    }
    Sizing { resources: Resources { cpus_per_task, mem_mib, time_minutes, gpus_per_task }, reasons }
}

/// The largest node `sinfo` reports (CPUs, memory), if `sinfo` runs here.
pub fn node_limits() -> Option<NodeLimits> {
    let out = std::process::Command::new("sinfo").args(["--noheader", "--format=%c %m"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut best: Option<NodeLimits> = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = line.split_whitespace();
        let (Some(c), Some(m)) = (it.next(), it.next()) else { continue };
        let (Ok(cpus), Ok(mem_mib)) = (c.trim_end_matches('+').parse(), m.trim_end_matches('+').parse()) else { continue };
        let b = best.get_or_insert(NodeLimits { cpus, mem_mib });
        b.cpus = b.cpus.max(cpus);
        b.mem_mib = b.mem_mib.max(mem_mib);
    }
    best
}

/// Slurm's `[D-]HH:MM:SS`.
pub fn format_time(minutes: u64) -> String {
    let (d, h, m) = (minutes / (24 * 60), minutes / 60 % 24, minutes % 60);
    if d > 0 { format!("{d}-{h:02}:{m:02}:00") } else { format!("{h:02}:{m:02}:00") }
}

/// Reads a time limit as Slurm writes them: minutes, `H:MM:SS`, `MM:SS` or `D-HH:MM:SS`.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a time limit (minutes, H:MM:SS or D-HH:MM:SS)");
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().map_err(|_| bad())?, r),
        None => (0, text),
    };
    let parts: Vec<u64> = rest.split(':').map(|p| p.parse::<u64>().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let minutes = match (days, parts.as_slice()) {
        (0, [m]) => *m,
        (_, [h]) => h * 60,
        (0, [m, s]) => m + s.div_ceil(60),
        (_, [h, m, s]) => h * 60 + m + s.div_ceil(60),
        _ => return Err(bad()),
    };
    let total = days * 24 * 60 + minutes;
    if total == 0 { Err(bad()) } else { Ok(total) }
}

/// Reads a memory size: MiB, or a number with `M`/`G`/`T`.
pub fn parse_mem(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a memory size (MiB, or a number with M, G or T)");
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mib = match unit.to_ascii_uppercase().as_str() {
        "" | "M" | "MB" | "MIB" => n,
        "G" | "GB" | "GIB" => n * 1024,
        "T" | "TB" | "TIB" => n * 1024 * 1024,
        _ => return Err(bad()),
    };
    if mib == 0 { Err(bad()) } else { Ok(mib) }
}

/// A word for the script's bash, quoted.
fn sh(word: &str) -> Result<String, RunError> {
    shlex::try_quote(word).map(|q| q.into_owned()).map_err(|e| RunError::msg(format!("`{word}` cannot be passed to bash: {e}")))
}

/// A value of an `#SBATCH` line: sbatch reads these lines itself (not through bash) and
/// takes a double-quoted value with `\"` and `\\` escapes.
fn sbatch_value(value: &str) -> Result<String, RunError> {
    if value.contains(['\n', '\r']) {
        return Err(RunError::msg(format!("`{value}` cannot be an #SBATCH value: it holds a line break")));
    }
    Ok(format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// Writes the cell list `<dir>/<name>-<sha>.cells.jsonl` (one cell per line, named by its
/// content) and the script `<dir>/<name>-<sha>.sbatch`; returns the script.
pub fn write_array(dir: &Path, name: &str, cells: &[Cell], results_dir: &Path, experiment: &str, o: &SlurmOptions) -> Result<PathBuf, RunError> {
    if cells.is_empty() {
        return Err(RunError::msg("no cells to submit (all finished, or the filters match nothing)"));
    }
    if !crate::grid::is_plain_name(name) || !crate::grid::is_plain_name(experiment) {
        return Err(RunError::msg(format!("`{name}`/`{experiment}` are not plain names (letters, digits, `-`, `_`)")));
    }
    let io = |p: &Path, e: std::io::Error| RunError::msg(format!("{}: {e}", p.display()));
    let absolute = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { o.repo_root.join(p) };
    let dir = absolute(dir);
    let results_dir = absolute(results_dir);
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| io(&dir, e))?;
    let lines: String = cells.iter().map(|c| serde_json::to_string(c).expect("a cell serialises") + "\n").collect();
    let digest = format!("{:x}", Sha256::digest(lines.as_bytes()));
    let stem = format!("{name}-{}", &digest[..12]);
    let list = dir.join(format!("{stem}.cells.jsonl"));
    // Same name, same content: an existing list is already right (and may be in use).
    if !list.exists() {
        ledger::write_durably(&list, lines.as_bytes())?;
    }
    let r = &o.resources;
    let path_str = |p: &Path| p.to_str().map(str::to_string).ok_or_else(|| RunError::msg(format!("{} is not UTF-8", p.display())));
    let features = if o.device == "cuda" { " --features cuda" } else { "" };
    let mut s = String::from("#!/usr/bin/env bash\n");
    s += &format!("# Written by `cargo xtask reproduce --slurm`: {} cells of {experiment}, one per task.\n", cells.len());
    s += &format!("#SBATCH --job-name={}\n", sbatch_value(&format!("beyond-lora-{name}"))?);
    s += &format!("#SBATCH --array=0-{}{}\n", cells.len() - 1, o.max_parallel.map(|m| format!("%{m}")).unwrap_or_default());
    s += &format!("#SBATCH --cpus-per-task={}\n#SBATCH --mem={}M\n#SBATCH --time={}\n", r.cpus_per_task, r.mem_mib, format_time(r.time_minutes));
    if r.gpus_per_task > 0 {
        s += &format!("#SBATCH --gpus-per-task={}\n", r.gpus_per_task);
    }
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH --partition={}\n", sbatch_value(p)?);
    }
    s += &format!("#SBATCH --output={}\n", sbatch_value(&format!("{}/logs/%A_%a.out", path_str(&dir)?))?);
    s += "#SBATCH --requeue\n";
    s += &format!("#SBATCH --signal=B:USR1@{WARNING_S}\n");
    s += "set -uo pipefail\n";
    s += &format!("cd {}\n", sh(&path_str(&o.repo_root)?)?);
    s += "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n";
    s += &format!("CELLS={}\n", sh(&path_str(&list)?)?);
    s += "CELL=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$CELLS\")\n";
    s += &format!("read -r -a XTASK <<< \"${{{XTASK_ENV}:-cargo run --quiet --package xtask{features} --}}\"\n");
    // The cell checkpoints after every epoch here: a SIGTERM loses at most the epoch under way.
    s += &format!(
        "\"${{XTASK[@]}}\" cell --results {} --experiment {} --device {} --checkpoint-min-epoch-s 0 --cell \"$CELL\" &\n",
        sh(&path_str(&results_dir)?)?,
        sh(experiment)?,
        sh(&o.device)?
    );
    s += "child=$!\n";
    s += "requeue=0\n";
    s += "# USR1: the time limit is near; TERM: scancel or preemption. Either way the cell\n";
    s += "# checkpoints and stops; only the first requeues the task itself.\n";
    s += "trap 'requeue=1; kill -TERM \"$child\" 2>/dev/null' USR1\n";
    s += "trap 'kill -TERM \"$child\" 2>/dev/null' TERM\n";
    s += "while :; do\n    wait \"$child\"; status=$?\n    kill -0 \"$child\" 2>/dev/null || break\ndone\n";
    s += &format!("if [ \"$status\" = {INTERRUPTED_EXIT} ] && [ \"$requeue\" = 1 ]; then\n");
    s += "    scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\nfi\n";
    s += "exit \"$status\"\n";
    let script = dir.join(format!("{stem}.sbatch"));
    ledger::write_durably(&script, s.as_bytes())?;
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes_read_as_slurm_writes_them() {
        assert_eq!(parse_time("90"), Ok(90));
        assert_eq!(parse_time("1:30:00"), Ok(90));
        assert_eq!(parse_time("2-00:00:00"), Ok(2 * 24 * 60));
        assert_eq!(parse_time("10:30"), Ok(11), "MM:SS rounds the seconds up");
        assert!(parse_time("soon").is_err() && parse_time("0").is_err() && parse_time("1:2:3:4").is_err());
        assert_eq!(format_time(90), "01:30:00");
        assert_eq!(format_time(24 * 60 + 5), "1-00:05:00");
        assert_eq!(parse_time(&format_time(3000)), Ok(3000));
        assert_eq!(parse_mem("4096"), Ok(4096));
        assert_eq!(parse_mem("4G"), Ok(4096));
        assert_eq!(parse_mem("1t"), Ok(1 << 20));
        assert!(parse_mem("4X").is_err() && parse_mem("").is_err() && parse_mem("0G").is_err());
    }

    #[test]
    fn sbatch_values_and_bash_words_are_quoted() {
        assert_eq!(sbatch_value(r#"/a b/"c"\d"#).unwrap(), r#""/a b/\"c\"\\d""#);
        assert!(sbatch_value("a\nb").is_err());
        // What bash reads back is the word itself.
        let word = "/a b/$x'y\"z";
        let out = std::process::Command::new("bash").arg("-c").arg(format!("printf %s {}", sh(word).unwrap())).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
    }
}
