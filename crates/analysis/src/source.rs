//! A finished cell as the diagnostics read it: its ledger entry, its base checkpoint, its kept
//! trajectory (points read back densely, adapters merged into W₀), and its model at any point
//! of weight space (loaded through the family's own `load` with the point's tensors in place of
//! the checkpoint's) with the loss the harness evaluates.

use std::path::PathBuf;

use burn::tensor::Device;
use datasets::{DatasetInfo, Split};
use ledger::trajectory::{TRAJECTORY_DIR, TrajectoryIndex, TrajectoryPoint};
use ledger::{CellResult, Ledger};
use models::auto::TaskHead;
use models::{Checkpoint, FineTune, FineTuneJob, Weights};
use runner::data::{EncodedData, head_outputs};

use crate::AnalysisError;
use crate::params::Params;

/// A finished cell and its trajectory.
pub struct CellSource {
    pub result: CellResult,
    pub ckpt: Checkpoint,
    /// `weights/<hash>/trajectory`.
    pub dir: PathBuf,
    pub index: TrajectoryIndex,
    base: Weights,
}

impl CellSource {
    /// Opens the cell `result` of `ledger` (results under `results_dir`); a cell without a kept
    /// trajectory is an error saying how to get one.
    pub fn open(results_dir: &std::path::Path, ledger: &Ledger, result: CellResult) -> Result<Self, AnalysisError> {
        let label = result.cell.label();
        let Some(kept) = result.weights.as_ref().filter(|w| w.trajectory_points > 0) else {
            return Err(AnalysisError::msg(format!(
                "{label}: its result keeps no trajectory (a result from before trajectories were kept, or a family without an HF export): re-run the cell with `--force` to record one"
            )));
        };
        let dir = ledger.dir.join(&kept.dir).join(TRAJECTORY_DIR);
        let index = TrajectoryIndex::read(&dir).map_err(AnalysisError::msg)?;
        let ckpt = runner::train::checkpoint_for(&result.cell.model, results_dir, &hub::Hub::from_env())?;
        let base = ckpt.weights()?;
        Ok(Self { result, ckpt, dir, index, base })
    }

    pub fn label(&self) -> String {
        self.result.cell.label()
    }

    /// The keys the directions span: the targeted matrices and the head.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.index.matrices.iter().chain(&self.index.head).cloned().collect();
        k.sort();
        k.dedup();
        k
    }

    /// How many numbers the tensors `keys` hold (their checkpoint shapes).
    pub fn parameters(&self, keys: &[String]) -> usize {
        keys.iter().filter_map(|k| self.base.shape(k)).map(|s| s.iter().product::<usize>()).sum()
    }

    /// The point `p` of the trajectory, restricted to `keys`, densely (W₀ + ΔW).
    pub fn point(&self, p: &TrajectoryPoint, keys: &[String]) -> Result<Params, AnalysisError> {
        let t = models::trajectory::read_dense(&self.dir.join(&p.file), keys, &self.base, self.index.fan_in_fan_out)?;
        Ok(Params::from_triples(t))
    }

    /// The pretrained W₀ of `keys` (the checkpoint's tensors).
    pub fn base_tensors(&self, keys: &[String]) -> Result<Params, AnalysisError> {
        let mut t = Vec::new();
        for k in keys {
            let shape = self.base.shape(k).ok_or_else(|| AnalysisError::msg(format!("{}: the base checkpoint has no `{k}`", self.label())))?;
            t.push((k.clone(), shape.clone(), self.base.read_f32(k, &shape)?));
        }
        Ok(Params::from_triples(t))
    }

    /// The points up to the end of `epoch` (`None`: all); the last is the landscape's centre.
    pub fn path(&self, epoch: Option<usize>) -> Result<&[TrajectoryPoint], AnalysisError> {
        let pts = self.index.until_epoch(epoch);
        if let Some(e) = epoch
            && !pts.last().is_some_and(|p| p.epoch_end && p.epoch == e)
        {
            return Err(AnalysisError::msg(format!("{}: its trajectory has no point at the end of epoch {e}", self.label())));
        }
        if pts.is_empty() {
            return Err(AnalysisError::msg(format!("{}: its trajectory has no points", self.label())));
        }
        Ok(pts)
    }

    /// Every other tensor the model at point `p` has that the checkpoint's differ from: FFT's
    /// full last point (the whole trained model) — else nothing beyond the trajectory's keys.
    pub fn fixed_tensors(&self, p: &TrajectoryPoint, keys: &[String]) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, AnalysisError> {
        if !p.full {
            return Ok(Vec::new());
        }
        let file = self.dir.join(&p.file);
        let others: Vec<String> = models::trajectory::dense_keys(&file)?.into_iter().filter(|k| !keys.contains(k)).collect();
        Ok(models::trajectory::read_dense(&file, &others, &self.base, self.index.fan_in_fan_out)?)
    }
}

/// The loss L of the cell's model at any point of weight space, on a fixed subset: the first
/// `examples` examples of `split`, in mini-batches of `batch_size`, by the runner's own
/// evaluation (the mean over examples; a causal LM's over target tokens).
pub struct LossOnSubset {
    ckpt: Checkpoint,
    head: TaskHead,
    info: &'static DatasetInfo,
    data: EncodedData,
    split: Split,
    examples: usize,
    batch_size: usize,
    device: Device,
    /// Tensors every point shares (FFT's other trained tensors).
    fixed: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl LossOnSubset {
    pub fn new(src: &CellSource, split: Split, examples: usize, batch_size: usize, fixed: Vec<(String, Vec<usize>, Vec<f32>)>, device: Device) -> Result<Self, AnalysisError> {
        let cell = &src.result.cell;
        let info = datasets::info(&cell.dataset)?;
        let mut splits = datasets::load(&cell.dataset, &hub::Hub::from_env())?;
        // Only the first `examples` of the split are ever evaluated: encode no more of it (a
        // paper data set's whole training split would be encoded for each landscape).
        match split {
            Split::Train => splits.train.truncate(examples),
            Split::Validation => splits.validation.truncate(examples),
            Split::Test => splits.test.truncate(examples),
        }
        let data = EncodedData::encode(info, splits, &src.ckpt, cell.hyper.max_length, cell.hyper.image_size)?;
        let head = match info.task {
            datasets::Task::CausalLm => TaskHead::CausalLm,
            ref task => TaskHead::Classifier(head_outputs(task)?),
        };
        if data.len(split) == 0 {
            return Err(AnalysisError::msg(format!("{}: its {} split is empty", cell.dataset, split.name())));
        }
        let examples = examples.min(data.len(split));
        Ok(Self { ckpt: src.ckpt.clone(), head, info, data, split, examples, batch_size, device, fixed })
    }

    /// Examples the loss is measured on.
    pub fn examples(&self) -> usize {
        self.examples
    }

    /// L at `point` (its tensors in place of the checkpoint's).
    pub fn loss(&self, point: &Params) -> Result<f64, AnalysisError> {
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = self.fixed.iter().cloned().chain(point.clone().into_triples()).collect();
        let model = models::auto::load_with(&self.ckpt, self.head, 0, &self.device, |w| Ok(w.with_tensors(tensors)))?;
        let job = Evaluate { loss: self };
        model.fine_tune(job).map_err(|kind| AnalysisError::msg(format!("a {kind} cannot be evaluated for {}", self.info.task.describe())))
    }
}

struct Evaluate<'a> {
    loss: &'a LossOnSubset,
}

impl FineTuneJob for Evaluate<'_> {
    type Output = f64;

    fn run<M: FineTune>(self, model: M) -> f64 {
        let l = self.loss;
        runner::train::evaluate_first(&model, &l.data, l.split, l.info, l.examples, l.batch_size, &l.device).0
    }
}
