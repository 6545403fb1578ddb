//! Recording a cell's trajectory while it trains ([`ledger::trajectory`] for the layout): a
//! point before the first step, at every epoch end and every `trajectory_every` steps, into
//! `weights/<hash>.trajectory/` — moved beside the kept model (`weights/<hash>/trajectory/`)
//! when the cell finishes.
//!
//! A resumed cell continues its trajectory: points after the epoch it resumes from are
//! dropped from the index and recorded again (training is deterministic, so they come out the
//! same).

use std::path::{Path, PathBuf};

use ledger::trajectory::{TrajectoryIndex, TrajectoryPoint, point_file};
use models::FineTune;
use peft_core::TargetModules;

use crate::RunError;

/// A trajectory being recorded.
pub struct Recorder {
    dir: PathBuf,
    index: TrajectoryIndex,
    targets: TargetModules,
    /// FFT: the last point holds every tensor.
    full_last: bool,
}

/// Where a running cell's trajectory is recorded.
pub fn recording_dir(weights_dir: &Path, hash: &str) -> PathBuf {
    weights_dir.join(format!("{hash}.trajectory"))
}

fn io(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::msg(format!("{}: {e}", path.display()))
}

impl Recorder {
    /// Opens the trajectory of `hash` for recording from step `from_step` on (0: afresh).
    pub fn open(weights_dir: &Path, hash: &str, targets: TargetModules, full_last: bool, from_step: usize) -> Result<Self, RunError> {
        let dir = recording_dir(weights_dir, hash);
        let mut index = if from_step > 0 { TrajectoryIndex::read(&dir).unwrap_or_default() } else { TrajectoryIndex::default() };
        if from_step == 0 && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        index.points.retain(|p| p.step <= from_step && !p.full);
        Ok(Self { dir, index, targets, full_last })
    }

    /// Records `model` after `step` steps (`epoch` epochs completed; `last`: the run's end),
    /// in place of an earlier point of the same step.
    /// A family that cannot be exported keeps no trajectory (said once, on stderr).
    pub fn record<M: FineTune>(&mut self, model: &M, step: usize, epoch: usize, epoch_end: bool, last: bool) -> Result<(), RunError> {
        let full = last && self.full_last;
        let point = match models::trajectory::point_tensors(model, &self.targets, full) {
            Ok(p) => p,
            Err(models::ModelError::Unsupported(why)) => {
                if self.index.points.is_empty() {
                    eprintln!("no trajectory kept: {why}");
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let file = point_file(step);
        point.write(&self.dir.join(&file))?;
        self.index.matrices = point.matrices;
        self.index.head = point.head;
        self.index.fan_in_fan_out = point.fan_in_fan_out;
        self.index.points.retain(|p| p.step != step);
        self.index.points.push(TrajectoryPoint { step, epoch, epoch_end, file, full });
        self.index.write(&self.dir).map_err(RunError::msg)
    }
}

/// Moves a finished cell's trajectory into its kept model's directory `kept`; returns how many
/// points it has (0: none was recorded).
pub fn keep(weights_dir: &Path, hash: &str, kept: &Path) -> Result<usize, RunError> {
    let dir = recording_dir(weights_dir, hash);
    let Ok(index) = TrajectoryIndex::read(&dir) else { return Ok(0) };
    let to = kept.join(ledger::trajectory::TRAJECTORY_DIR);
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(|e| io(&to, e))?;
    }
    std::fs::rename(&dir, &to).map_err(|e| io(&to, e))?;
    Ok(index.points.len())
}
