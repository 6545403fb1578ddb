//! What a cell writes for the step-by-step cross-check against PyTorch + HF PEFT
//! (`cargo xtask crosscheck`, `bench/crosscheck.py`): its starting model as HF loads it, every
//! training batch in order with its learning rate, the test split's evaluation batches and the
//! optimizer's settings — everything the PyTorch side needs to take the very same steps.
//!
//! `<dir>/initial/`: the model right after the method was applied (A drawn, B zero, the fresh
//! head), through [`models::peft::export`] — an HF PEFT adapter or, for FFT, a transformers
//! checkpoint. `<dir>/batches.safetensors`: `train.<step>.{input_ids, token_type_ids,
//! attention_mask, labels}` and `test.<batch>.{…}` (classification cells only). `<dir>/steps.json`:
//! [`Plan`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use models::{FineTune, Inputs};
use peft_core::AdamWConfig;
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::data::{EncodedData, Targets};

/// The optimizer and schedule of the recorded steps, as `steps.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub method: String,
    /// The learning rate of every step (before its group's multiplier).
    pub lr: Vec<f64>,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub max_grad_norm: Option<f64>,
    /// Per parameter group (`A`, `B`, `head`, …) the factor on the step's rate (LoRA+'s B).
    pub lr_multipliers: BTreeMap<String, f64>,
    /// Whether A trains (LoRA, LoRA+) or stays as drawn (Asym, the selector methods).
    pub trains_a: bool,
    pub test_batches: usize,
}

/// Named i64 tensors for `safetensors_io::write_tensors`.
pub(crate) type Longs = Vec<(String, Vec<usize>, Vec<i64>)>;

/// Collects a cell's batches while it trains.
pub struct Recorder {
    dir: PathBuf,
    longs: Longs,
    lr: Vec<f64>,
    test_batches: usize,
}

/// A text batch's `input_ids`, `token_type_ids` and `attention_mask` under `<prefix><name>`
/// (HF's names); `false` (nothing pushed) for an image batch.
pub(crate) fn push_text_inputs(longs: &mut Longs, prefix: &str, inputs: &Inputs) -> bool {
    let Inputs::Text { ids, types, mask, .. } = inputs else { return false };
    for (name, t) in [("input_ids", ids), ("token_type_ids", types), ("attention_mask", mask)] {
        let values = t.clone().into_data().convert::<i64>().try_to_vec().expect("ids");
        longs.push((format!("{prefix}{name}"), t.dims().to_vec(), values));
    }
    true
}

fn push_batch(longs: &mut Longs, prefix: &str, inputs: &Inputs, targets: &Targets) -> Result<(), RunError> {
    let Targets::Classes(_, gold) = targets else {
        return Err(RunError::msg("the cross-check covers text classification cells (a text model, class labels)"));
    };
    if !push_text_inputs(longs, &format!("{prefix}."), inputs) {
        return Err(RunError::msg("the cross-check covers text classification cells (a text model, class labels)"));
    }
    longs.push((format!("{prefix}.labels"), vec![gold.len()], gold.iter().map(|&g| g as i64).collect()));
    Ok(())
}

impl Recorder {
    /// Exports the starting `model` into `dir/initial` and records the test split's evaluation
    /// batches (`eval_batches`: the indices `evaluate` uses).
    pub fn start<M: FineTune>(
        dir: &Path,
        model: &M,
        base: &models::peft::ExportBase,
        data: &EncodedData,
        eval_batches: &[Vec<usize>],
        device: &burn::tensor::Device,
    ) -> Result<Self, RunError> {
        let initial = dir.join("initial");
        if initial.exists() {
            std::fs::remove_dir_all(&initial).map_err(|e| RunError::msg(format!("{}: {e}", initial.display())))?;
        }
        models::peft::export(model, &initial, base)?;
        let mut longs = Vec::new();
        for (i, idx) in eval_batches.iter().enumerate() {
            let (inputs, targets) = data.batch(datasets::Split::Test, idx, device);
            push_batch(&mut longs, &format!("test.{i}"), &inputs, &targets)?;
        }
        Ok(Self { dir: dir.to_path_buf(), longs, lr: Vec::new(), test_batches: eval_batches.len() })
    }

    /// One training step's batch and learning rate, in order.
    pub fn step(&mut self, inputs: &Inputs, targets: &Targets, lr: f64) -> Result<(), RunError> {
        push_batch(&mut self.longs, &format!("train.{}", self.lr.len()), inputs, targets)?;
        self.lr.push(lr);
        Ok(())
    }

    /// Writes `batches.safetensors` and `steps.json`.
    pub fn finish(self, method: &str, config: &AdamWConfig) -> Result<(), RunError> {
        peft_core::safetensors_io::write_tensors(&self.dir.join("batches.safetensors"), &[], &self.longs)?;
        let spec = peft_core::method(method).map_err(peft_core::PeftError::from)?;
        let plan = Plan {
            method: method.to_string(),
            lr: self.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            weight_decay: config.weight_decay,
            max_grad_norm: config.max_grad_norm,
            lr_multipliers: config.lr_multipliers.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect(),
            trains_a: spec.trains == peft_core::Trains::FactorsAB,
            test_batches: self.test_batches,
        };
        let path = self.dir.join("steps.json");
        std::fs::write(&path, serde_json::to_string_pretty(&plan).expect("JSON")).map_err(|e| RunError::msg(format!("{}: {e}", path.display())))
    }
}
