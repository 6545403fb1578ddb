//! Loading any supported checkpoint by its `config.json` (`model_type`, `architectures`).

use burn::tensor::Device;

use crate::bert::{BertConfig, BertForSequenceClassification, BertModel};
use crate::deberta::{DebertaV2Config, DebertaV2ForSequenceClassification, DebertaV2Model};
use crate::gpt2::{Gpt2Config, Gpt2LmHeadModel};
use crate::llama::{LlamaConfig, LlamaForCausalLm, LlamaForSequenceClassification};
use crate::vit::{VitConfig, VitForImageClassification};
use crate::{Checkpoint, ModelError, num_labels};

/// The model families this crate implements.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["bert", "roberta", "deberta-v2", "gpt2", "llama", "vit"];

/// A loaded model with the head its checkpoint declares. (One value per load: the size
/// difference between the families' variants does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    /// A bare encoder (e.g. a sentence-embedding BERT).
    BertEncoder(BertModel),
    BertClassifier(BertForSequenceClassification),
    /// A bare DeBERTa v2/v3 encoder (e.g. microsoft/deberta-v3-base before fine-tuning).
    DebertaEncoder(DebertaV2Model),
    DebertaClassifier(DebertaV2ForSequenceClassification),
    Gpt2Lm(Gpt2LmHeadModel),
    LlamaLm(LlamaForCausalLm),
    LlamaClassifier(LlamaForSequenceClassification),
    VitClassifier(VitForImageClassification),
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
    let (path, json) = ckpt.config_json()?;
    let model_type = json.get("model_type").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let arch = json
        .get("architectures")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|a| a.as_str())
        .unwrap_or("")
        .to_string();
    let parse = |what: &str| ModelError::Config { path: path.clone(), message: what.to_string() };
    let w = ckpt.weights()?;
    let declared_cls = arch.ends_with("ForSequenceClassification") || arch.ends_with("ForImageClassification");
    let (classifier, n) = match head {
        TaskHead::AsDeclared => (declared_cls, num_labels(&json, 2)),
        TaskHead::Classifier(n) => (true, n),
        TaskHead::CausalLm => (false, 0),
    };
    // A new head replaces the checkpoint's (fine-tuning); a declared one is read as stored.
    let w = if matches!(head, TaskHead::Classifier(_)) {
        let (replace, fill): (&[&str], &[&str]) = match model_type.as_str() {
            "bert" | "roberta" => (&["classifier."], &["bert.pooler."]),
            "deberta-v2" => (&["classifier."], &["pooler."]),
            "llama" => (&["score."], &[]),
            _ => (&["classifier."], &[]),
        };
        w.with_new_head(replace, fill, seed, 0.02)
    } else {
        w
    };
    let wrong_head = |family: &str| {
        parse(&format!("{family} checkpoints support {}; asked for {head:?}", if family == "gpt2" { "the LM head only" } else { "a classifier only" }))
    };
    let (model, ignore): (AnyModel, &[&str]) = match model_type.as_str() {
        "bert" | "roberta" => {
            let cfg: BertConfig = serde_json::from_value(json.clone()).map_err(|e| parse(&e.to_string()))?;
            if head == TaskHead::CausalLm {
                return Err(wrong_head(&model_type));
            }
            if classifier {
                (
                    AnyModel::BertClassifier(BertForSequenceClassification::load(&w, &cfg, n, device)?),
                    &["position_ids", "lm_head.", "cls.", "roberta.pooler.", "pooler."],
                )
            } else {
                (AnyModel::BertEncoder(BertModel::load(&w, &cfg, device)?), &["position_ids", "pooler."])
            }
        }
        "deberta-v2" => {
            let cfg: DebertaV2Config = serde_json::from_value(json.clone()).map_err(|e| parse(&e.to_string()))?;
            if head == TaskHead::CausalLm {
                return Err(wrong_head(&model_type));
            }
            // The pretraining heads (masked LM, replaced-token detection) are not part of the
            // encoder.
            let pretraining: &[&str] = &["position_ids", "lm_predictions.", "mask_predictions.", "cls."];
            if classifier {
                (AnyModel::DebertaClassifier(DebertaV2ForSequenceClassification::load(&w, &cfg, n, &path, device)?), pretraining)
            } else {
                (
                    AnyModel::DebertaEncoder(DebertaV2Model::load(&w, &cfg, &path, device)?),
                    &["position_ids", "pooler.", "lm_predictions.", "mask_predictions.", "cls."],
                )
            }
        }
        "gpt2" => {
            let cfg: Gpt2Config = serde_json::from_value(json.clone()).map_err(|e| parse(&e.to_string()))?;
            if matches!(head, TaskHead::Classifier(_)) {
                return Err(wrong_head("gpt2"));
            }
            (AnyModel::Gpt2Lm(Gpt2LmHeadModel::load(&w, &cfg, device)?), Gpt2LmHeadModel::IGNORED_KEYS)
        }
        "llama" => {
            let cfg: LlamaConfig = serde_json::from_value(json.clone()).map_err(|e| parse(&e.to_string()))?;
            let cfg = cfg.normalised().map_err(|e| parse(&e))?;
            if classifier {
                (AnyModel::LlamaClassifier(LlamaForSequenceClassification::load(&w, &cfg, n, &path, device)?), &["rotary_emb", "lm_head."])
            } else {
                (AnyModel::LlamaLm(LlamaForCausalLm::load(&w, &cfg, &path, device)?), &["rotary_emb"])
            }
        }
        "vit" => {
            let cfg: VitConfig = serde_json::from_value(json.clone()).map_err(|e| parse(&e.to_string()))?;
            if head == TaskHead::CausalLm {
                return Err(wrong_head(&model_type));
            }
            (AnyModel::VitClassifier(VitForImageClassification::load(&w, &cfg, n, device)?), &["vit.pooler."])
        }
        other => {
            return Err(ModelError::UnknownModelType {
                path,
                model_type: other.to_string(),
                supported: SUPPORTED_MODEL_TYPES.join(", "),
            });
        }
    };
    w.ensure_all_used(ignore)?;
    Ok(model)
}
