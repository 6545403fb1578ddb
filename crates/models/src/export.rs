//! Writing a model back out as a Hugging Face checkpoint directory (`config.json` +
//! `model.safetensors`, f32, transformers' key names and orientations), so that a model this
//! harness trained itself (the mini suite's pretrained models) is read back through the very
//! `load` code that reads downloaded checkpoints.
//!
//! Adapted layers are exported with their update merged ([`AdaptedLinear::effective_weight`]).

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use peft_core::{AdaptedLinear, LoraFactors};
use peft_core::safetensors_io::{shape_and_values, write_f32};

use crate::ModelError;
use crate::layers::{Embedding, LayerNorm};

/// Named tensors in transformers' layout, collected family by family; and, for HF PEFT, each
/// linear's module path beside the harness's name of it, with its update as factors where it
/// is adapted.
#[derive(Default)]
pub struct HfTensors {
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// (transformers' module path, the layer's name here) of every linear written.
    pub linears: Vec<(String, String)>,
    /// (transformers' module path, the update since adaptation) of every adapted linear.
    pub adapters: Vec<(String, LoraFactors)>,
}

impl HfTensors {
    pub fn push<const D: usize>(&mut self, key: impl Into<String>, t: Tensor<D>) {
        let (dims, v) = shape_and_values(t);
        self.tensors.push((key.into(), dims, v));
    }

    /// An `nn.Linear` (`<prefix>.weight` [out, in], `<prefix>.bias`), adapter merged.
    pub fn linear(&mut self, prefix: &str, l: &AdaptedLinear) {
        self.push(format!("{prefix}.weight"), l.effective_weight().transpose());
        self.bias_and_names(prefix, l);
    }

    /// GPT-2's `Conv1D` (`<prefix>.weight` stored [in, out]), adapter merged. HF PEFT's LoRA
    /// factors of a `Conv1D` have the same layout as a linear's.
    pub fn conv1d(&mut self, prefix: &str, l: &AdaptedLinear) {
        self.push(format!("{prefix}.weight"), l.effective_weight());
        self.bias_and_names(prefix, l);
    }

    fn bias_and_names(&mut self, prefix: &str, l: &AdaptedLinear) {
        if let Some(b) = &l.bias {
            self.push(format!("{prefix}.bias"), b.val().inner());
        }
        self.linears.push((prefix.to_string(), l.name().to_string()));
        if let Some(f) = l.lora_factors() {
            self.adapters.push((prefix.to_string(), f));
        }
    }

    pub fn layer_norm(&mut self, prefix: &str, n: &LayerNorm) {
        self.push(format!("{prefix}.weight"), n.weight.val().inner());
        self.push(format!("{prefix}.bias"), n.bias.val().inner());
    }

    pub fn embedding(&mut self, key: &str, e: &Embedding) {
        self.push(key, e.weight.val().inner());
    }
}

/// Writes `config.json` and `model.safetensors` into `dir` (created if needed). Each file is
/// written to a temporary name and renamed, so a killed run never leaves a half checkpoint
/// under the real name.
pub fn save_checkpoint(dir: &Path, config: &serde_json::Value, tensors: &HfTensors) -> Result<PathBuf, ModelError> {
    let err = |path: &Path, e: String| ModelError::Weights { path: path.to_path_buf(), message: e };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e.to_string()))?;
    let weights = dir.join("model.safetensors");
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    write_f32(&weights, &tensors.tensors, meta)?;
    let cfg = dir.join("config.json");
    let tmp = dir.join(".config.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(config).expect("JSON")).map_err(|e| err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, &cfg).map_err(|e| err(&cfg, e.to_string()))?;
    Ok(dir.to_path_buf())
}
