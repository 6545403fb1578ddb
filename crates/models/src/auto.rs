//! Loading any supported checkpoint by its `config.json` (`model_type`, `architectures`), and
//! [`AnyModel`], the loaded model of whichever family.
//!
//! The families are [`FAMILIES`]: each model file (`bert.rs`, `deberta.rs`, …) provides one
//! [`Family`] — its `model_type`s, the tensors a new task head replaces, and its `load` — and
//! this file only dispatches. Adding a family is one file and one line in [`FAMILIES`] (and an
//! [`AnyModel`] variant with its arm in [`AnyModel::fine_tune`]).

use std::path::Path;

use burn::tensor::Device;

use crate::finetune::{FineTune, FineTuneJob};
use crate::{Checkpoint, ModelError, Weights, num_labels};

/// Every family this crate implements, in the order `cargo xtask models` lists them.
pub const FAMILIES: &[&Family] = &[&crate::bert::FAMILY, &crate::deberta::FAMILY, &crate::gpt2::FAMILY, &crate::llama::FAMILY, &crate::vit::FAMILY];

/// What one model family's file gives the loader.
pub struct Family {
    /// The `model_type`s of `config.json` it reads.
    pub model_types: &'static [&'static str],
    /// The checkpoint tensors a new classification head replaces (drawn afresh), and those
    /// drawn afresh only where the checkpoint lacks them (BERT's pooler) — name prefixes.
    pub new_head: NewHead,
    /// Builds the model a request asks for, and names the checkpoint keys it leaves unused on
    /// purpose (buffers, pretraining heads).
    pub load: fn(&LoadRequest<'_>) -> Result<Loaded, ModelError>,
}

/// Name prefixes of a family's task-head tensors (see [`Family::new_head`]).
pub struct NewHead {
    pub replace: &'static [&'static str],
    pub fill: &'static [&'static str],
}

/// What a family's `load` is asked to build.
pub struct LoadRequest<'a> {
    pub weights: &'a Weights,
    /// The parsed `config.json` and where it came from (for errors).
    pub config: &'a serde_json::Value,
    pub config_path: &'a Path,
    pub model_type: &'a str,
    pub head: TaskHead,
    /// Whether a classification head is wanted (asked for, or declared by the checkpoint).
    pub classifier: bool,
    /// Its outputs.
    pub num_labels: usize,
    pub device: &'a Device,
}

impl LoadRequest<'_> {
    /// `config.json` as the family's config type; a field that does not parse is an error
    /// naming the file.
    pub fn parse_config<C: serde::de::DeserializeOwned>(&self) -> Result<C, ModelError> {
        serde_json::from_value(self.config.clone()).map_err(|e| self.config_error(&e.to_string()))
    }

    pub fn config_error(&self, message: &str) -> ModelError {
        ModelError::Config { path: self.config_path.to_path_buf(), message: message.to_string() }
    }

    /// The error for a head the family does not have (`supports`: what it has).
    pub fn unsupported_head(&self, family: &str, supports: &str) -> ModelError {
        self.config_error(&format!("{family} checkpoints support {supports}; asked for {:?}", self.head))
    }
}

/// A family's loaded model and the checkpoint keys it left unused on purpose.
pub struct Loaded {
    pub model: AnyModel,
    pub ignored_keys: &'static [&'static str],
}

/// A loaded model with the head its checkpoint declares. (One value per load: the size
/// difference between the families' variants does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    /// A bare encoder (e.g. a sentence-embedding BERT).
    BertEncoder(crate::bert::BertModel),
    BertClassifier(crate::bert::BertForSequenceClassification),
    /// A bare DeBERTa v2/v3 encoder (e.g. microsoft/deberta-v3-base before fine-tuning).
    DebertaEncoder(crate::deberta::DebertaV2Model),
    DebertaClassifier(crate::deberta::DebertaV2ForSequenceClassification),
    Gpt2Lm(crate::gpt2::Gpt2LmHeadModel),
    LlamaLm(crate::llama::LlamaForCausalLm),
    LlamaClassifier(crate::llama::LlamaForSequenceClassification),
    VitClassifier(crate::vit::VitForImageClassification),
}

impl AnyModel {
    /// Runs `job` on the concrete model if its family can be fine-tuned with that head (every
    /// classifier and causal LM); a bare encoder is `Err` with its kind, for the caller's
    /// message.
    pub fn fine_tune<J: FineTuneJob>(self, job: J) -> Result<J::Output, &'static str> {
        fn run<M: FineTune, J: FineTuneJob>(job: J, model: M) -> J::Output {
            job.run(model)
        }
        match self {
            AnyModel::BertClassifier(m) => Ok(run(job, m)),
            AnyModel::DebertaClassifier(m) => Ok(run(job, m)),
            AnyModel::LlamaClassifier(m) => Ok(run(job, m)),
            AnyModel::VitClassifier(m) => Ok(run(job, m)),
            AnyModel::Gpt2Lm(m) => Ok(run(job, m)),
            AnyModel::LlamaLm(m) => Ok(run(job, m)),
            other => Err(other.kind()),
        }
    }

    /// "bare encoder", "causal LM" or "classifier".
    pub fn kind(&self) -> &'static str {
        match self {
            AnyModel::BertEncoder(_) | AnyModel::DebertaEncoder(_) => "bare encoder",
            AnyModel::Gpt2Lm(_) | AnyModel::LlamaLm(_) => "causal LM",
            _ => "classifier",
        }
    }
}

/// What head the caller wants on the backbone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskHead {
    /// Whatever the checkpoint's `architectures` declares (its own head, or a bare encoder).
    AsDeclared,
    /// A new sequence / image classification head with this many outputs (1 = regression).
    Classifier(usize),
    /// The language-model head (decoders only).
    CausalLm,
}

/// The `model_type`s of every family, for messages.
pub fn supported_model_types() -> Vec<&'static str> {
    FAMILIES.iter().flat_map(|f| f.model_types.iter().copied()).collect()
}

/// Loads the checkpoint's model on `device` as its `config.json` declares it. Tensors the model
/// does not use (other than known buffers) and missing tensors are errors listing the keys.
pub fn load(ckpt: &Checkpoint, device: &Device) -> Result<AnyModel, ModelError> {
    load_for_finetuning(ckpt, TaskHead::AsDeclared, 0, device)
}

/// Loads a checkpoint for fine-tuning: with [`TaskHead::Classifier`] the backbone gets a new
/// head of `n` outputs drawn from `seed` (N(0, 0.02²) as transformers), whatever head the
/// checkpoint had; pretraining heads (masked-LM, LM, pooler of RoBERTa) are dropped.
/// [`TaskHead::AsDeclared`] loads the checkpoint as it is (what [`load`] does).
pub fn load_for_finetuning(ckpt: &Checkpoint, head: TaskHead, seed: u64, device: &Device) -> Result<AnyModel, ModelError> {
    load_with(ckpt, head, seed, device, Ok)
}

/// As [`load_for_finetuning`], with the checkpoint's weights (after a new head's) passed
/// through `edit` first: an overlay of trained head tensors ([`crate::peft`]).
pub fn load_with(
    ckpt: &Checkpoint,
    head: TaskHead,
    seed: u64,
    device: &Device,
    edit: impl FnOnce(Weights) -> Result<Weights, ModelError>,
) -> Result<AnyModel, ModelError> {
    let (path, json) = ckpt.config_json()?;
    let model_type = json.get("model_type").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let arch = json
        .get("architectures")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|a| a.as_str())
        .unwrap_or("")
        .to_string();
    let w = ckpt.weights()?;
    let family = FAMILIES.iter().find(|f| f.model_types.contains(&model_type.as_str())).ok_or_else(|| ModelError::UnknownModelType {
        path: path.clone(),
        model_type: model_type.clone(),
        supported: supported_model_types().join(", "),
    })?;
    let declared_cls = arch.ends_with("ForSequenceClassification") || arch.ends_with("ForImageClassification");
    let (classifier, n) = match head {
        TaskHead::AsDeclared => (declared_cls, num_labels(&json, 2)),
        TaskHead::Classifier(n) => (true, n),
        TaskHead::CausalLm => (false, 0),
    };
    // A new head replaces the checkpoint's (fine-tuning); a declared one is read as stored.
    let w = if matches!(head, TaskHead::Classifier(_)) { w.with_new_head(family.new_head.replace, family.new_head.fill, seed, 0.02) } else { w };
    let w = edit(w)?;
    let request = LoadRequest {
        weights: &w,
        config: &json,
        config_path: &path,
        model_type: &model_type,
        head,
        classifier,
        num_labels: n,
        device,
    };
    let loaded = (family.load)(&request)?;
    w.ensure_all_used(loaded.ignored_keys)?;
    Ok(loaded.model)
}
