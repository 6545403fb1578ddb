//! BERT and RoBERTa encoders (`model_type` `bert`, `roberta`) with the sequence-classification
//! heads transformers puts on them (BERT: pooler + classifier; RoBERTa:
//! `RobertaClassificationHead` = dense + tanh + out_proj on `<s>`), as transformers'
//! `modeling_bert.py` / `modeling_roberta.py`: config, modules, loading from HF tensor names,
//! export, the parameter-count formula and the fine-tuning interface.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use peft_core::AdaptedLinear;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::auto::{AnyModel, Family, LoadRequest, Loaded, NewHead, TaskHead};
use crate::finetune::{FineTune, Inputs, backbone_in_field};
use crate::layers::{
    Act, Embedding, LayerNorm, arange_rows, attention, default_dropout, dropout, dropout_prob, load_linear, merge_heads,
    optional_dropout_prob, padding_bias, split_heads,
};
use crate::weights::Weights;

#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// Dropout after the embeddings and after each sub-layer's output dense (training only).
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub attention_probs_dropout_prob: f64,
    /// The classification head's dropout; `hidden_dropout_prob` when absent or null.
    #[serde(default, deserialize_with = "optional_dropout_prob")]
    pub classifier_dropout: Option<f64>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    pub fn is_roberta(&self) -> bool {
        self.model_type == "roberta"
    }
}

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word: Embedding,
    pub position: Embedding,
    pub token_type: Embedding,
    pub norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertLayer {
    pub query: AdaptedLinear,
    pub key: AdaptedLinear,
    pub value: AdaptedLinear,
    pub attention_output: AdaptedLinear,
    pub attention_norm: LayerNorm,
    pub intermediate: AdaptedLinear,
    pub output: AdaptedLinear,
    pub output_norm: LayerNorm,
}

/// The encoder: embeddings + layers (no pooler; BERT's pooler belongs to its head).
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub layers: Vec<BertLayer>,
    #[module(skip)]
    pub config: BertConfig,
}

/// The task head of a sequence classifier.
#[derive(Module, Debug)]
pub struct BertClassificationHead {
    /// BERT: the pooler's dense; RoBERTa: `classifier.dense`.
    pub dense: AdaptedLinear,
    /// BERT: `classifier`; RoBERTa: `classifier.out_proj`.
    pub out_proj: AdaptedLinear,
}

#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub encoder: BertModel,
    pub classifier: BertClassificationHead,
}

fn key_prefix(w: &Weights, cfg: &BertConfig) -> String {
    let p = if cfg.is_roberta() { "roberta" } else { "bert" };
    if w.contains(&format!("{p}.embeddings.word_embeddings.weight")) { format!("{p}.") } else { String::new() }
}

impl BertModel {
    pub fn load(w: &Weights, cfg: &BertConfig, device: &Device) -> Result<Self, ModelError> {
        let p = key_prefix(w, cfg);
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let embeddings = BertEmbeddings {
            word: Embedding::load(w, &format!("{p}embeddings.word_embeddings.weight"), cfg.vocab_size, h, device)?,
            position: Embedding::load(w, &format!("{p}embeddings.position_embeddings.weight"), cfg.max_position_embeddings, h, device)?,
            token_type: Embedding::load(w, &format!("{p}embeddings.token_type_embeddings.weight"), cfg.type_vocab_size, h, device)?,
            norm: LayerNorm::load(w, &format!("{p}embeddings.LayerNorm"), h, eps, device)?,
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = format!("{p}encoder.layer.{i}");
            let n = format!("encoder.layer.{i}");
            let lin = |sub: &str, inf: usize, outf: usize| {
                load_linear(w, &format!("{l}.{sub}"), &format!("{n}.{sub}"), inf, outf, true, device)
            };
            layers.push(BertLayer {
                query: lin("attention.self.query", h, h)?,
                key: lin("attention.self.key", h, h)?,
                value: lin("attention.self.value", h, h)?,
                attention_output: lin("attention.output.dense", h, h)?,
                attention_norm: LayerNorm::load(w, &format!("{l}.attention.output.LayerNorm"), h, eps, device)?,
                intermediate: lin("intermediate.dense", h, cfg.intermediate_size)?,
                output: lin("output.dense", cfg.intermediate_size, h)?,
                output_norm: LayerNorm::load(w, &format!("{l}.output.LayerNorm"), h, eps, device)?,
            });
        }
        Ok(Self { embeddings, layers, config: cfg.clone() })
    }

    /// Position ids: BERT counts 0, 1, …; RoBERTa starts after the padding index and gives pad
    /// tokens the padding index (transformers' `create_position_ids_from_input_ids`).
    fn position_ids(&self, ids: &Tensor<2, Int>) -> Tensor<2, Int> {
        if self.config.is_roberta() {
            let pad = self.config.pad_token_id.unwrap_or(1) as i64;
            let not_pad = ids.clone().not_equal_elem(pad).int();
            let cum = not_pad.clone().cumsum(1);
            (cum * not_pad).add_scalar(pad)
        } else {
            let [b, s] = ids.dims();
            arange_rows(b, s, &ids.device())
        }
    }

    /// ids, mask [batch, seq] → hidden states [batch, seq, hidden] (the output transformers
    /// calls `last_hidden_state`).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        let types = ids.zeros_like();
        self.forward_with_types(ids, types, mask)
    }

    /// As [`Self::forward`], with the segment ids transformers calls `token_type_ids` (0 for the
    /// first sentence of a pair, 1 for the second; RoBERTa has one type and takes zeros).
    pub fn forward_with_types(&self, ids: Tensor<2, Int>, types: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        // A tokenizer may number segments past the model's type vocabulary (RoBERTa has one
        // type): such ids fall back to the last type, as they index nothing else.
        let types = types.clamp_max(self.config.type_vocab_size.saturating_sub(1) as i64);
        let pos = self.position_ids(&ids);
        let e = &self.embeddings;
        let x = e.word.forward(ids) + e.position.forward(pos) + e.token_type.forward(types);
        let (p_hidden, p_attn) = (self.config.hidden_dropout_prob, self.config.attention_probs_dropout_prob);
        let mut x = dropout(e.norm.forward(x), p_hidden);
        let bias = padding_bias(mask);
        let heads = self.config.num_attention_heads;
        let act = Act::parse(&self.config.hidden_act).unwrap_or(Act::Gelu);
        for l in &self.layers {
            let q = split_heads(l.query.forward(x.clone()), heads);
            let k = split_heads(l.key.forward(x.clone()), heads);
            let v = split_heads(l.value.forward(x.clone()), heads);
            let a = merge_heads(attention(q, k, v, Some(bias.clone()), p_attn));
            x = l.attention_norm.forward(dropout(l.attention_output.forward(a), p_hidden) + x);
            let f = l.output.forward(act.forward(l.intermediate.forward(x.clone())));
            x = l.output_norm.forward(dropout(f, p_hidden) + x);
        }
        x
    }

    /// The encoder's tensors under transformers' names, after `prefix` (`"bert."`,
    /// `"roberta."` or `""` for a bare `BertModel`), adapters merged.
    pub fn hf_tensors(&self, prefix: &str, out: &mut crate::export::HfTensors) {
        let p = prefix;
        let e = &self.embeddings;
        out.embedding(&format!("{p}embeddings.word_embeddings.weight"), &e.word);
        out.embedding(&format!("{p}embeddings.position_embeddings.weight"), &e.position);
        out.embedding(&format!("{p}embeddings.token_type_embeddings.weight"), &e.token_type);
        out.layer_norm(&format!("{p}embeddings.LayerNorm"), &e.norm);
        for (i, l) in self.layers.iter().enumerate() {
            let k = format!("{p}encoder.layer.{i}");
            out.linear(&format!("{k}.attention.self.query"), &l.query);
            out.linear(&format!("{k}.attention.self.key"), &l.key);
            out.linear(&format!("{k}.attention.self.value"), &l.value);
            out.linear(&format!("{k}.attention.output.dense"), &l.attention_output);
            out.layer_norm(&format!("{k}.attention.output.LayerNorm"), &l.attention_norm);
            out.linear(&format!("{k}.intermediate.dense"), &l.intermediate);
            out.linear(&format!("{k}.output.dense"), &l.output);
            out.layer_norm(&format!("{k}.output.LayerNorm"), &l.output_norm);
        }
    }

    /// Every linear layer with its name, for adapters.
    pub fn linears_mut(&mut self) -> Vec<&mut AdaptedLinear> {
        self.layers
            .iter_mut()
            .flat_map(|l| {
                [&mut l.query, &mut l.key, &mut l.value, &mut l.attention_output, &mut l.intermediate, &mut l.output]
            })
            .collect()
    }
}

impl BertForSequenceClassification {
    pub fn load(w: &Weights, cfg: &BertConfig, num_labels: usize, device: &Device) -> Result<Self, ModelError> {
        let encoder = BertModel::load(w, cfg, device)?;
        let h = cfg.hidden_size;
        let classifier = if cfg.is_roberta() {
            BertClassificationHead {
                dense: load_linear(w, "classifier.dense", "classifier.dense", h, h, true, device)?,
                out_proj: load_linear(w, "classifier.out_proj", "classifier.out_proj", h, num_labels, true, device)?,
            }
        } else {
            BertClassificationHead {
                dense: load_linear(w, "bert.pooler.dense", "classifier.dense", h, h, true, device)?,
                out_proj: load_linear(w, "classifier", "classifier.out_proj", h, num_labels, true, device)?,
            }
        };
        Ok(Self { encoder, classifier })
    }

    /// Logits [batch, num_labels] from the first token (`[CLS]` / `<s>`).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<2> {
        let hidden = self.encoder.forward(ids, mask);
        self.head(hidden)
    }

    /// As [`Self::forward`], with `token_type_ids`.
    pub fn forward_with_types(&self, ids: Tensor<2, Int>, types: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<2> {
        self.head(self.encoder.forward_with_types(ids, types, mask))
    }

    /// RoBERTa's `RobertaClassificationHead` (dropout, dense, tanh, dropout, out_proj) or BERT's
    /// pooler + `classifier` (dense, tanh, dropout, classifier).
    pub fn head(&self, hidden: Tensor<3>) -> Tensor<2> {
        let cfg = &self.encoder.config;
        let p = cfg.classifier_dropout.unwrap_or(cfg.hidden_dropout_prob);
        let mut first = crate::layers::first_token(hidden);
        if cfg.is_roberta() {
            first = dropout(first, p);
        }
        let pooled = self.classifier.dense.forward(first).tanh();
        self.classifier.out_proj.forward(dropout(pooled, p))
    }
}

/// The loader's entry for this family.
pub const FAMILY: Family = Family {
    model_types: &["bert", "roberta"],
    new_head: NewHead { replace: &["classifier."], fill: &["bert.pooler."] },
    load: load_family,
};

/// Keys a classifier leaves unused: position ids (a buffer), the masked-LM heads, RoBERTa's
/// pooler (its head does not use it).
const CLASSIFIER_IGNORED_KEYS: &[&str] = &["position_ids", "lm_head.", "cls.", "roberta.pooler.", "pooler."];
/// Keys a bare encoder leaves unused.
const ENCODER_IGNORED_KEYS: &[&str] = &["position_ids", "pooler."];

fn load_family(r: &LoadRequest<'_>) -> Result<Loaded, ModelError> {
    let cfg: BertConfig = r.parse_config()?;
    if r.head == TaskHead::CausalLm {
        return Err(r.unsupported_head(r.model_type, "a classifier only"));
    }
    Ok(if r.classifier {
        Loaded {
            model: AnyModel::BertClassifier(BertForSequenceClassification::load(r.weights, &cfg, r.num_labels, r.device)?),
            ignored_keys: CLASSIFIER_IGNORED_KEYS,
        }
    } else {
        Loaded { model: AnyModel::BertEncoder(BertModel::load(r.weights, &cfg, r.device)?), ignored_keys: ENCODER_IGNORED_KEYS }
    })
}

impl FineTune for BertForSequenceClassification {
    const HEAD: &'static [&'static str] = &["classifier"];

    backbone_in_field!(encoder);

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, types, mask, _) = inputs.text_with_types();
        self.forward_with_types(ids, types, mask)
    }

    /// `BertForSequenceClassification` (`bert.`, the pooler's dense as `bert.pooler.dense`,
    /// `classifier`) or `RobertaForSequenceClassification` (`roberta.`, `classifier.dense`,
    /// `classifier.out_proj`).
    fn hf_export(&self, out: &mut crate::export::HfTensors) -> Result<crate::finetune::HfTask, ModelError> {
        let c = &self.classifier;
        let roberta = self.encoder.config.is_roberta();
        if roberta {
            self.encoder.hf_tensors("roberta.", out);
            out.linear("classifier.dense", &c.dense);
            out.linear("classifier.out_proj", &c.out_proj);
        } else {
            self.encoder.hf_tensors("bert.", out);
            out.linear("bert.pooler.dense", &c.dense);
            out.linear("classifier", &c.out_proj);
        }
        Ok(crate::finetune::HfTask {
            architecture: if roberta { "RobertaForSequenceClassification" } else { "BertForSequenceClassification" },
            peft_task_type: Some("SEQ_CLS"),
            head_prefixes: if roberta { &["classifier."] } else { &["classifier.", "bert.pooler."] },
            fan_in_fan_out: false,
            num_labels: Some(c.out_proj.out_features()),
            module_path: None,
        })
    }
}

/// The architecture numbers of a BERT / RoBERTa checkpoint (its `config.json`), for parameter
/// counts without loading it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BertArch {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub positions: usize,
    pub type_vocab: usize,
    pub roberta: bool,
}

impl BertArch {
    /// Parameters of the encoder, and of the sequence-classification head for `labels`
    /// classes (dense + out_proj, BERT's pooler counted as its dense).
    pub fn param_counts(&self, labels: usize) -> (usize, usize) {
        let BertArch { vocab, hidden: h, layers, intermediate: i, positions, type_vocab, .. } = *self;
        let emb = (vocab + positions + type_vocab) * h + 2 * h;
        (emb + layers * crate::layers::transformer_layer_params(h, i), (h * h + h) + (h * labels + labels))
    }
}
