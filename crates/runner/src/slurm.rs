//! `--slurm`: an sbatch job-array script, one cell per array task, over the same results
//! directory (on a shared filesystem). Each task runs `cargo xtask cell` on one line of a cell
//! list; the ledger skips finished cells, so re-submitting the array is safe. No scheduler of
//! our own: Slurm schedules, `cargo xtask report` builds the tables from whatever finished.

use std::path::{Path, PathBuf};

use ledger::Cell;

use crate::RunError;

/// Slurm resources per task.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub gpus_per_task: usize,
    pub cpus_per_task: usize,
    pub mem_gb: usize,
    pub time: String,
    /// `cpu`, `wgpu` or `cuda`.
    pub device: String,
    /// At most this many tasks at once (`%N` of `--array`).
    pub max_parallel: Option<usize>,
}

/// Writes `<dir>/cells.jsonl` (one cell per line) and `<dir>/<name>.sbatch`; returns the script.
pub fn write_array(dir: &Path, name: &str, cells: &[Cell], results_dir: &Path, experiment: &str, o: &SlurmOptions) -> Result<PathBuf, RunError> {
    if cells.is_empty() {
        return Err(RunError::msg("no cells to submit (all finished, or the filters match nothing)"));
    }
    let io = |p: &Path, e: std::io::Error| RunError::msg(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| io(dir, e))?;
    let list = dir.join(format!("{name}.cells.jsonl"));
    let lines: Vec<String> = cells.iter().map(|c| serde_json::to_string(c).expect("JSON")).collect();
    std::fs::write(&list, lines.join("\n") + "\n").map_err(|e| io(&list, e))?;
    let mut s = String::from("#!/usr/bin/env bash\n");
    s += &format!("#SBATCH --job-name=beyond-lora-{name}\n");
    s += &format!("#SBATCH --array=0-{}{}\n", cells.len() - 1, o.max_parallel.map(|m| format!("%{m}")).unwrap_or_default());
    s += &format!("#SBATCH --cpus-per-task={}\n#SBATCH --mem={}G\n#SBATCH --time={}\n", o.cpus_per_task, o.mem_gb, o.time);
    if o.gpus_per_task > 0 {
        s += &format!("#SBATCH --gpus-per-task={}\n", o.gpus_per_task);
    }
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    s += &format!("#SBATCH --output={}/logs/%A_%a.out\n", dir.display());
    s += "set -euo pipefail\n";
    s += "# Run from the repository root on a shared filesystem; build once before submitting\n";
    s += "# (`cargo build --release -p xtask` is not needed: `cargo xtask` builds on first use).\n";
    s += &format!("CELL=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})\n", list.display());
    s += &format!(
        "cargo xtask cell --results {} --experiment {experiment} --device {} --cell \"$CELL\"\n",
        results_dir.display(),
        o.device
    );
    let script = dir.join(format!("{name}.sbatch"));
    std::fs::write(&script, s).map_err(|e| io(&script, e))?;
    Ok(script)
}
