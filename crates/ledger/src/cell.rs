//! One experiment cell — (model, data set, method, seed) with every hyper-parameter that can
//! change its result — and what a finished cell records in the ledger.
//!
//! The cell's hash (the ledger key) covers exactly what is in [`Cell`]: change a learning rate
//! and it is a new cell; re-run the same grid and the finished cells are found again.

use serde::{Deserialize, Serialize};

/// The learning-rate schedules of the paper's Table 7 (the runner's `schedule` computes them):
/// constant, or linear / cosine decay after a warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Constant,
    Linear,
    Cosine,
}

/// Which epoch a cell reports: the lowest validation loss (the paper's rule) or, for CoLA,
/// the highest validation metric (Table 7's exception).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    LowestValLoss,
    HighestValMetric,
}

/// What one epoch measured. A value that was NaN or infinite is written as JSON `null` (JSON
/// has no NaN) and read back as NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// The running mean of the epoch's batch losses (training mode: dropout on, the weights
    /// moving), for the logs and curves. Not the risk G(W) needs: see `train_eval_loss`.
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_loss: f64,
    /// The training split's loss in evaluation mode (no dropout) with the epoch's final
    /// weights, normalised as `test_loss` is (mean per example; per target token for causal
    /// LMs): the empirical risk L(W) of the paper's Definition 1. `None` in results made
    /// before it was measured (their G(W) is unknown).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_f64_or_nan")]
    pub train_eval_loss: Option<f64>,
    #[serde(deserialize_with = "f64_or_nan")]
    pub val_loss: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub val_metric: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub test_loss: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub test_metric: f64,
}

/// A number, or NaN for the `null` serde_json writes for a non-finite one.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// As [`f64_or_nan`] for an optional value that is present (absent is `None`, by default).
fn some_f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    f64_or_nan(d).map(Some)
}

impl EpochRecord {
    /// The empirical generalization error G(W) = L_test(W) − L_train(W) of the epoch's weights
    /// (Definition 1; Tables 3, 16, 17), both losses in evaluation mode. `None` where the
    /// evaluation-mode training loss was not measured.
    pub fn generalization_gap(&self) -> Option<f64> {
        self.train_eval_loss.map(|train| self.test_loss - train)
    }
}

/// The hyper-parameters of one cell, already resolved for its method (e.g. `lr` is Table 7's
/// FFT, LoRA or Asym rate, whichever the method uses).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Peak learning rate.
    pub lr: f64,
    /// LoRA+: lr(B) = ratio · lr; `None` for every other method.
    pub lr_ratio_b: Option<f64>,
    /// The PaCA family's bridge to cLA: `lr` is cLA's rate, the trained columns of W get
    /// (α/r)·lr and AdamW's ε·(r/α), so that D-PaCA takes cLA's steps (the head trains at `lr`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lr_bridge_to_cla: bool,
    pub scheduler: ScheduleKind,
    pub warmup_init_lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Maximum sequence length (text) — images use the checkpoint's size.
    pub max_length: usize,
    pub rank: usize,
    pub alpha: f64,
    pub target_modules: Vec<String>,
    /// How a trained dense A starts (`methods::AInit::name`: `normal-0.02`, the paper's, or
    /// `kaiming-uniform`, HF PEFT's) for the methods that train one (LoRA, LoRA+, CoLA);
    /// `None` for the others, whose hashes it leaves as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_init: Option<String>,
    /// Chain methods reset their chain every this many epochs (`None`: never).
    pub chain_reset_every_epochs: Option<usize>,
    /// Or: chain methods train this many chains, resetting every ⌊T/k⌋ of the T training
    /// steps (Algorithm 3's chain length k). At most one of the two is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_length: Option<usize>,
    /// Clip the global L2 norm of the gradients (`None`: no clipping).
    pub grad_clip_global_norm: Option<f64>,
    pub best_epoch: Selection,
    /// AdamW's (β₁, β₂) where they differ from (0.9, 0.999), and ε where it differs from 1e-8:
    /// the defaults are left out so that a file stating them names the same cell as one that
    /// does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_betas: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_eps: Option<f64>,
    /// The image side the experiment expects (Table 7's ViT rows); the cell fails when the
    /// checkpoint's preprocessor makes another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    /// Besides each epoch end, record a trajectory point every this many optimisation steps
    /// ([`crate::trajectory`]; `None`: epoch ends only). It changes what is kept, not what is
    /// trained, but is part of the cell so that a finished cell's trajectory is what it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_every: Option<usize>,
}

/// AdamW's defaults (PyTorch's and HF Trainer's), which a [`Hyper`] leaves unstated.
pub const ADAM_BETAS: [f64; 2] = [0.9, 0.999];
pub const ADAM_EPS: f64 = 1e-8;

/// One experiment cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `paper` or `mini`: which ledger directory it belongs to.
    pub suite: String,
    /// A model preset (`roberta-base`, `mini-encoder`, …).
    pub model: String,
    /// A registered data set (`mrpc`, `mini-paraphrase`, …).
    pub dataset: String,
    /// A registered method (`lora`, `r-c3la`, …).
    pub method: String,
    pub seed: u64,
    pub hyper: Hyper,
    /// For mini cells, a hash of what the result depends on that the fields above do not name:
    /// the mini model's pretraining (configuration, objective, data) and the generated data
    /// set (`runner::mini::cell_fingerprint`). A change to either is a new cell, not
    /// a stale finished one. `None` for paper cells, whose checkpoint and data the model
    /// preset and data set name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl Cell {
    /// The ledger key: SHA-256 of the canonical JSON of the whole cell.
    pub fn hash(&self) -> String {
        crate::store::config_hash(self)
    }

    /// A short human label, e.g. `mini-encoder/mini-paraphrase/lora/seed 1`.
    pub fn label(&self) -> String {
        format!("{}/{}/{}/seed {}", self.model, self.dataset, self.method, self.seed)
    }
}

/// Why a cell ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    /// All epochs ran.
    Finished,
    /// Training stopped early with a non-finite loss or gradient; the epochs before it are
    /// kept and the best of them (if any) is reported.
    Diverged { epoch: usize, step: usize, reason: String },
}

/// Trainable parameter counts, split as the paper's Table 6 reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    /// Adapter parameters (A, B, PaCA columns) or, for FFT, the whole backbone.
    pub backbone_trainable: usize,
    /// The task head (always trained).
    pub head: usize,
    /// Every parameter of the model, frozen or not.
    pub total: usize,
}

/// Cost of the cell, as measured while it ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Training samples per second (training steps only, evaluation excluded).
    pub train_samples_per_s: f64,
    /// Wall-clock seconds of the whole cell (loading, training, evaluation).
    pub wall_s: f64,
    /// Seconds spent in training steps.
    pub train_s: f64,
    /// Peak resident memory of the process that ran the cell (VmHWM; on CPU this is the
    /// tensors' memory plus the program's).
    pub peak_rss_bytes: u64,
    /// On an accelerator (wgpu, CUDA): the most the backend's allocator held on the device
    /// (`bytes_reserved` of burn's memory pools, sampled after every training step and
    /// evaluation; the pools keep their pages, so this is their high-water mark). `None` where
    /// the backend reports no pools (Flex: the process's RSS above is the figure there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_peak_bytes: Option<u64>,
    /// "cpu", "wgpu", "cuda".
    pub device: String,
    /// Cost measured under control (`runner::timing`): steps timed before training while no
    /// other cell of the results directory steps or evaluates. `None`: not timed (a result
    /// from before, or timing off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed: Option<TimedCost>,
}

/// A cell's timing phase: `warmup_steps` untimed, then `steps` timed training steps on its
/// own batches at learning rate 0 (the weights do not move; the optimizer's state is restored
/// after), alone on the machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimedCost {
    pub warmup_steps: usize,
    pub steps: usize,
    pub batch_size: usize,
    /// The median, 10th and 90th percentile of the timed steps (seconds).
    pub median_step_s: f64,
    pub p10_step_s: f64,
    pub p90_step_s: f64,
    /// Process peak RSS after the timing phase (the model, data and the steps; before any
    /// epoch ran).
    pub peak_rss_bytes: u64,
    /// The device allocator's peak, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_peak_bytes: Option<u64>,
}

impl TimedCost {
    /// Training samples per second at the median step.
    pub fn samples_per_s(&self) -> f64 {
        self.batch_size as f64 / self.median_step_s.max(1e-12)
    }

    pub fn peak_memory_bytes(&self) -> u64 {
        self.device_peak_bytes.unwrap_or(self.peak_rss_bytes)
    }
}

impl Cost {
    /// The peak memory to compare methods by: the device allocator's where there is one,
    /// else the process's resident memory.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.device_peak_bytes.unwrap_or(self.peak_rss_bytes)
    }
}

/// What the ledger keeps for a cell that could not run (a missing file, a panic, a killed
/// process): not a result — a re-run retries the cell, and its record goes once it finishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedCell {
    pub cell: Cell,
    pub hash: String,
    /// What went wrong: the error, the panic message, or the signal that killed the process.
    pub reason: String,
    /// When (seconds since the Unix epoch).
    pub failed_at: u64,
}

/// What the paper's Table 1 bound of a finished cell is computed from: the (in, out) widths of
/// the linears the method adapted, how many chains ran (1 unless the method chains), and the
/// number of training examples |N|.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adaptation {
    pub layers: Vec<(usize, usize)>,
    pub chains: usize,
    pub train_examples: usize,
}

/// What the ledger keeps for a finished cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub cell: Cell,
    /// `Cell::hash` of `cell` (also the file name).
    pub hash: String,
    pub outcome: Outcome,
    /// The data set's reported metric (`accuracy`, `matthews_correlation`, `perplexity`, …).
    pub metric: String,
    pub higher_is_better: bool,
    /// Every evaluated epoch, in order.
    pub epochs: Vec<EpochRecord>,
    /// The epoch chosen by `cell.hyper.best_epoch` (`None` if no epoch finished).
    pub best: Option<EpochRecord>,
    pub params: ParamCounts,
    /// `None` in results made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptation: Option<Adaptation>,
    pub cost: Cost,
    /// When it finished (seconds since the Unix epoch).
    pub finished_at: u64,
    /// The harness version that produced it.
    pub harness_version: String,
    /// The code that produced it: the commit and whether the tree had uncommitted changes
    /// (`None` where git could not tell, and in results from before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeVersion>,
    /// The trained model of the selected epoch, kept for HF (`None`: not kept — a diverged
    /// first epoch, a family without an export, or a result from before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<KeptWeights>,
}

/// Where a finished cell's trained model lies and in what form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeptWeights {
    /// The directory, relative to the experiment's ledger directory (`weights/<hash>`).
    pub dir: String,
    /// The epoch whose weights these are (the selected one).
    pub epoch: usize,
    /// `peft-lora` (an HF PEFT adapter over the base checkpoint) or `transformers` (a whole
    /// checkpoint).
    pub format: String,
    /// Points of the kept trajectory (`<dir>/trajectory`, [`crate::trajectory`]); 0: none kept
    /// (a result from before trajectories were kept).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub trajectory_points: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Seconds since the Unix epoch: the clock of `finished_at` and `failed_at`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A commit of the harness and whether the working tree differed from it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CodeVersion {
    pub commit: String,
    pub dirty: bool,
}

impl CodeVersion {
    /// The short form shown in reports: 10 hex digits, `+dirty` for uncommitted changes.
    pub fn short(&self) -> String {
        format!("{}{}", &self.commit[..self.commit.len().min(10)], if self.dirty { "+dirty" } else { "" })
    }
}

impl CellResult {
    /// The reported value: the test metric of the selected epoch, in the units the paper prints
    /// (accuracy, MCC, correlations and exact match × 100; perplexity as is).
    pub fn reported_value(&self) -> Option<f64> {
        let v = self.best.as_ref()?.test_metric;
        Some(if self.metric == "perplexity" { v } else { 100.0 * v })
    }

    /// G(W) at the selected epoch (see [`EpochRecord::generalization_gap`]).
    pub fn generalization_gap(&self) -> Option<f64> {
        self.best.as_ref().and_then(EpochRecord::generalization_gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN metric (a mini decoder whose targets were cut away) is written and read back as
    /// NaN: the result stays readable.
    #[test]
    fn non_finite_epoch_values_round_trip_as_nan() {
        let e = EpochRecord { epoch: 1, train_loss: 0.5, train_eval_loss: Some(f64::NAN), val_loss: f64::NAN, val_metric: f64::INFINITY, test_loss: 0.25, test_metric: f64::NAN };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"val_loss\":null"), "{text}");
        let back: EpochRecord = serde_json::from_str(&text).unwrap();
        assert_eq!((back.train_loss, back.test_loss), (0.5, 0.25));
        assert!(back.val_loss.is_nan() && back.val_metric.is_nan() && back.test_metric.is_nan());
        assert!(back.train_eval_loss.is_some_and(f64::is_nan), "a NaN risk stays NaN, not unmeasured");
        // A record from before the evaluation-mode training loss has none, and so no G(W).
        let old: EpochRecord = serde_json::from_str(r#"{"epoch":1,"train_loss":0.5,"val_loss":0.4,"val_metric":0.6,"test_loss":0.7,"test_metric":0.6}"#).unwrap();
        assert_eq!((old.train_eval_loss, old.generalization_gap()), (None, None));
        let new = EpochRecord { train_eval_loss: Some(0.3), ..old };
        assert!((new.generalization_gap().unwrap() - 0.4).abs() < 1e-12, "G(W) = test loss − evaluation-mode training loss");
    }
}
