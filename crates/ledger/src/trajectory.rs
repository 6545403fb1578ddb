//! A cell's trajectory: its trained tensors at the start, at every epoch end and (optionally)
//! every N steps, for the paper's geometry diagnostics (loss landscapes, intruder dimensions).
//!
//! Layout, beside the kept model (`weights/<hash>/`): `trajectory/trajectory.json` (this
//! [`TrajectoryIndex`]) and one safetensors file per point (`step-00000120.safetensors`), in
//! the checkpoint's key names and layout. A point holds, for every adapted matrix, its whole
//! update since adaptation as PEFT's factors — `<prefix>.lora_A` [R, in], `<prefix>.lora_B`
//! [out, R], with the scale in the file's metadata (`scale.<prefix>`) — so that
//! W = W₀ + scale·B·A (transposed for a `Conv1D`) is W itself at that step, chain resets
//! included (the factors of every merged chain are kept side by side); every other tensor
//! that trains (FFT's matrices, the head) densely under its checkpoint key. FFT's last point
//! holds every tensor of the model, so that the trajectory's end is the whole trained model;
//! its other points only the matrices the adapter methods adapt (and the head), which keeps a
//! large model's FFT trajectory bounded.

use serde::{Deserialize, Serialize};

/// The directory of a cell's trajectory inside its kept model's directory.
pub const TRAJECTORY_DIR: &str = "trajectory";
/// The index file inside it.
pub const TRAJECTORY_INDEX: &str = "trajectory.json";

/// What a trajectory holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryIndex {
    /// Checkpoint keys (`….weight`) of the matrices the cell's `target_modules` name: the
    /// matrices whose spectra intruder dimensions compare.
    pub matrices: Vec<String>,
    /// Checkpoint keys of the task head's tensors (trained by every method).
    pub head: Vec<String>,
    /// The matrices are GPT-2 `Conv1D`s, stored [in, out] (PEFT's `fan_in_fan_out`).
    pub fan_in_fan_out: bool,
    /// The points, in step order; the first is step 0 (before training).
    pub points: Vec<TrajectoryPoint>,
}

/// One recorded point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryPoint {
    /// Optimisation steps taken before it.
    pub step: usize,
    /// Epochs completed (an epoch-end point: its epoch).
    pub epoch: usize,
    /// Whether it ends an epoch (else an every-N-steps point).
    pub epoch_end: bool,
    /// Its file, relative to the trajectory directory.
    pub file: String,
    /// It holds every tensor of the model (FFT's last point).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

/// The name of the point file of `step`.
pub fn point_file(step: usize) -> String {
    format!("step-{step:08}.safetensors")
}

impl TrajectoryIndex {
    /// Reads `dir/trajectory.json`.
    pub fn read(dir: &std::path::Path) -> Result<Self, String> {
        let path = dir.join(TRAJECTORY_INDEX);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a trajectory index: {e}", path.display()))
    }

    /// Writes `dir/trajectory.json` as the ledger writes its own files ([`crate::write_durably`]).
    pub fn write(&self, dir: &std::path::Path) -> Result<(), String> {
        crate::write_durably(&dir.join(TRAJECTORY_INDEX), serde_json::to_string_pretty(self).expect("JSON").as_bytes()).map_err(|e| e.to_string())
    }

    /// The points up to and including the one at the end of `epoch` (`None`: all).
    pub fn until_epoch(&self, epoch: Option<usize>) -> &[TrajectoryPoint] {
        match epoch {
            None => &self.points,
            Some(e) => {
                let end = self.points.iter().position(|p| p.epoch_end && p.epoch == e).map(|i| i + 1).unwrap_or(self.points.len());
                &self.points[..end]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_until_an_epoch_end() {
        let p = |step, epoch, epoch_end| TrajectoryPoint { step, epoch, epoch_end, file: point_file(step), full: false };
        let index = TrajectoryIndex { points: vec![p(0, 0, true), p(5, 0, false), p(10, 1, true), p(20, 2, true)], ..Default::default() };
        assert_eq!(index.until_epoch(Some(1)).len(), 3);
        assert_eq!(index.until_epoch(None).len(), 4);
        assert_eq!(point_file(120), "step-00000120.safetensors");
        let dir = tempfile::tempdir().unwrap();
        index.write(dir.path()).unwrap();
        assert_eq!(TrajectoryIndex::read(dir.path()).unwrap(), index);
    }
}
