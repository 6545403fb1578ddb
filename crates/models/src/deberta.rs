//! DeBERTa v2 / v3 (`model_type` `deberta-v2`): a BERT-like encoder whose attention adds
//! disentangled relative-position terms (content→position `c2p` and position→content `p2c`)
//! computed from a shared table of relative-position embeddings, deberta-v2-xlarge/xxlarge's
//! convolution after the first layer (`ConvLayer`), and the sequence-classification head
//! transformers puts on it (`ContextPooler` = dense + activation on the first token, then
//! `classifier`).
//!
//! Semantics follow transformers' `modeling_deberta_v2.py` (eager attention).

use burn::module::{Module, Param};
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use peft_core::AdaptedLinear;
use serde::{Deserialize, Deserializer, Serialize};

use crate::ModelError;
use crate::auto::{AnyModel, Family, LoadRequest, Loaded, NewHead, TaskHead};
use crate::finetune::{FineTune, Inputs, backbone_in_field};
use crate::layers::{
    Act, Embedding, LayerNorm, arange_rows, attend, default_dropout, dropout, dropout_prob, load_linear, merge_heads,
    optional_dropout_prob, split_heads,
};
use crate::weights::Weights;

#[derive(Clone, Debug, Deserialize)]
pub struct DebertaV2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub relative_attention: bool,
    /// < 1 means `max_position_embeddings`.
    #[serde(default = "minus_one")]
    pub max_relative_positions: i64,
    /// > 0: relative distances are log-bucketed into this many buckets per side.
    #[serde(default = "minus_one")]
    pub position_buckets: i64,
    /// `["c2p", "p2c"]`; hub configs of v2/v3 write it as the string `"p2c|c2p"`.
    #[serde(default, deserialize_with = "pipe_list")]
    pub pos_att_type: Vec<String>,
    #[serde(default)]
    pub share_att_key: bool,
    /// Absolute position embeddings added to the input (v1 style); v3 turns them off.
    #[serde(default = "default_true")]
    pub position_biased_input: bool,
    /// `"layer_norm"` (v3) normalises the relative-position embeddings; `"none"` does not.
    #[serde(default, deserialize_with = "pipe_list")]
    pub norm_rel_ebd: Vec<String>,
    /// When it differs from `hidden_size`, `embeddings.embed_proj` maps it up.
    #[serde(default)]
    pub embedding_size: Option<usize>,
    /// Per-head size when it is not `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub attention_head_size: Option<usize>,
    #[serde(default)]
    pub pooler_hidden_size: Option<usize>,
    #[serde(default = "default_act")]
    pub pooler_hidden_act: String,
    /// > 0: deberta-v2-xlarge/xxlarge's convolution after the first layer ([`DebertaV2Conv`]).
    #[serde(default)]
    pub conv_kernel_size: usize,
    /// The convolution's activation (transformers' default `tanh`).
    #[serde(default = "default_conv_act")]
    pub conv_act: String,
    #[serde(default = "default_one")]
    pub conv_groups: usize,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// Dropout (training only) after the embeddings, each sub-layer's output dense, the
    /// convolution, and on the relative-position embeddings of each layer.
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub attention_probs_dropout_prob: f64,
    /// `ContextPooler`'s dropout on the first token.
    #[serde(default, deserialize_with = "dropout_prob")]
    pub pooler_dropout: f64,
    /// Before `classifier`; `hidden_dropout_prob` when absent or null.
    #[serde(default, deserialize_with = "optional_dropout_prob")]
    pub cls_dropout: Option<f64>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_conv_act() -> String {
    "tanh".into()
}
fn default_one() -> usize {
    1
}
fn default_max_pos() -> usize {
    512
}
fn default_eps() -> f64 {
    1e-7
}
fn minus_one() -> i64 {
    -1
}
fn default_true() -> bool {
    true
}

/// A list of strings given either as a JSON list or as one `|`-separated string (lower-cased
/// and trimmed, as `DebertaV2Config` does for `pos_att_type` and the encoder for
/// `norm_rel_ebd`); `null` is empty.
fn pipe_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::One(s)) => s.split('|').map(|x| x.trim().to_lowercase()).filter(|x| !x.is_empty()).collect(),
        Some(Either::Many(v)) => v.into_iter().map(|x| x.trim().to_lowercase()).collect(),
    })
}

impl DebertaV2Config {
    pub fn has_c2p(&self) -> bool {
        self.pos_att_type.iter().any(|t| t == "c2p")
    }
    pub fn has_p2c(&self) -> bool {
        self.pos_att_type.iter().any(|t| t == "p2c")
    }
    fn head_size(&self) -> usize {
        self.attention_head_size.unwrap_or(self.hidden_size / self.num_attention_heads)
    }
    fn embedding_size(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }
    /// `max_relative_positions`, defaulted as the encoder does.
    fn max_relative_positions(&self) -> usize {
        if self.max_relative_positions < 1 { self.max_position_embeddings } else { self.max_relative_positions as usize }
    }
    /// The attention span: relative positions are clamped to ±span, and the relative embedding
    /// table used has 2·span rows.
    fn att_span(&self) -> usize {
        if self.position_buckets > 0 { self.position_buckets as usize } else { self.max_relative_positions() }
    }
}

#[derive(Module, Debug)]
pub struct DebertaV2Embeddings {
    pub word: Embedding,
    /// Only with `position_biased_input`.
    pub position: Option<Embedding>,
    /// Only with `type_vocab_size > 0`.
    pub token_type: Option<Embedding>,
    /// Only when `embedding_size != hidden_size`.
    pub embed_proj: Option<AdaptedLinear>,
    pub norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct DebertaV2Layer {
    pub query_proj: AdaptedLinear,
    pub key_proj: AdaptedLinear,
    pub value_proj: AdaptedLinear,
    /// Without `share_att_key`: separate projections of the relative embeddings.
    pub pos_key_proj: Option<AdaptedLinear>,
    pub pos_query_proj: Option<AdaptedLinear>,
    pub attention_output: AdaptedLinear,
    pub attention_norm: LayerNorm,
    pub intermediate: AdaptedLinear,
    pub output: AdaptedLinear,
    pub output_norm: LayerNorm,
}

/// transformers' `ConvLayer` (`encoder.conv`), applied once, to the output of the first layer:
/// a 1-D convolution over the sequence of the *embedding output* (zero at padded positions;
/// same length: zero padding of (kernel − 1)/2 on both ends), through `conv_act`, added to the
/// first layer's output and layer-normed, then zeroed at padded positions. (transformers also
/// zeroes the convolution's padded positions before the activation; every later step is per
/// position and ends zeroed, so that changes nothing and is left out.)
#[derive(Module, Debug)]
pub struct DebertaV2Conv {
    /// `encoder.conv.conv.weight` [hidden, hidden / groups, kernel]: PyTorch's `Conv1d` layout,
    /// which is also burn's.
    pub weight: Param<Tensor<3>>,
    /// `encoder.conv.conv.bias` [hidden].
    pub bias: Param<Tensor<1>>,
    /// `encoder.conv.LayerNorm`.
    pub norm: LayerNorm,
    #[module(skip)]
    pub groups: usize,
    #[module(skip)]
    pub act: Act,
    /// `hidden_dropout_prob`, on the convolution's output before `conv_act`.
    #[module(skip)]
    pub dropout: f64,
}

impl DebertaV2Conv {
    fn load(w: &Weights, prefix: &str, cfg: &DebertaV2Config, path: &std::path::Path, device: &Device) -> Result<Self, ModelError> {
        let (h, k, g) = (cfg.hidden_size, cfg.conv_kernel_size, cfg.conv_groups);
        // PyTorch pads (k − 1)/2 on each side: an even kernel would shorten the sequence, which
        // transformers' ConvLayer cannot handle either.
        if k.is_multiple_of(2) {
            return Err(config_err(path, format!("deberta-v2: conv_kernel_size {k} is even (the convolution keeps the length only for odd sizes)")));
        }
        if g == 0 || !h.is_multiple_of(g) {
            return Err(config_err(path, format!("deberta-v2: conv_groups {g} does not divide hidden_size {h}")));
        }
        let act = Act::parse(&cfg.conv_act)
            .ok_or_else(|| config_err(path, format!("deberta-v2: unsupported conv_act `{}`", cfg.conv_act)))?;
        Ok(Self {
            weight: Param::from_tensor(w.tensor(&format!("{prefix}.conv.weight"), [h, h / g, k], device)?),
            bias: Param::from_tensor(w.tensor(&format!("{prefix}.conv.bias"), [h], device)?),
            norm: LayerNorm::load(w, &format!("{prefix}.LayerNorm"), h, cfg.layer_norm_eps, device)?,
            groups: g,
            act,
            dropout: cfg.hidden_dropout_prob,
        })
    }

    /// embedded: the embedding output, residual: the first layer's output, both
    /// [batch, seq, hidden]; keep: the attention mask as floats [batch, seq, 1].
    pub fn forward(&self, embedded: Tensor<3>, residual: Tensor<3>, keep: Tensor<3>) -> Tensor<3> {
        let k = self.weight.dims()[2];
        let options = ConvOptions::new([1], [(k - 1) / 2], [1], self.groups);
        // [batch, seq, hidden] → channels first for the convolution, and back.
        let out = conv1d(embedded.swap_dims(1, 2), self.weight.val(), Some(self.bias.val()), options).swap_dims(1, 2);
        self.norm.forward(residual + self.act.forward(dropout(out, self.dropout))) * keep
    }
}

/// The encoder: embeddings, layers and the relative-position table (no pooler: it belongs to
/// the head).
#[derive(Module, Debug)]
pub struct DebertaV2Model {
    pub embeddings: DebertaV2Embeddings,
    pub layers: Vec<DebertaV2Layer>,
    /// `encoder.conv`, with `conv_kernel_size` > 0.
    pub conv: Option<DebertaV2Conv>,
    /// `encoder.rel_embeddings` [2·span, hidden], with `relative_attention`.
    pub rel_embeddings: Option<Embedding>,
    /// `encoder.LayerNorm`, applied to the relative embeddings when `norm_rel_ebd` says so.
    pub rel_norm: Option<LayerNorm>,
    #[module(skip)]
    pub config: DebertaV2Config,
}

/// `ContextPooler` (dense + `pooler_hidden_act` on the first token) and `classifier`.
#[derive(Module, Debug)]
pub struct DebertaV2ClassificationHead {
    /// `pooler.dense`.
    pub pooler: AdaptedLinear,
    /// `classifier`.
    pub classifier: AdaptedLinear,
    #[module(skip)]
    pub act: Act,
}

#[derive(Module, Debug)]
pub struct DebertaV2ForSequenceClassification {
    pub encoder: DebertaV2Model,
    pub classifier: DebertaV2ClassificationHead,
}

fn key_prefix(w: &Weights) -> &'static str {
    if w.contains("deberta.embeddings.word_embeddings.weight") { "deberta." } else { "" }
}

fn config_err(path: &std::path::Path, message: impl Into<String>) -> ModelError {
    ModelError::Config { path: path.to_path_buf(), message: message.into() }
}

/// transformers' `make_log_bucket_position` for one relative distance: within ±bucket_size/2
/// the distance itself, beyond it a log-spaced bucket reaching bucket_size-1 at max_position.
/// Computed in f32 like the PyTorch original (the ceil makes the precision matter at bucket
/// edges).
fn log_bucket(rel: i64, bucket_size: i64, max_position: i64) -> i64 {
    let mid = bucket_size / 2;
    let abs = rel.abs();
    if abs <= mid {
        return rel;
    }
    let ratio = (abs as f32 / mid as f32).ln() / (((max_position - 1) as f32) / mid as f32).ln();
    let log_pos = (ratio * (mid - 1) as f32).ceil() as i64 + mid;
    rel.signum() * log_pos
}

/// The index into the 2·span relative embeddings for query i and key j, [seq, seq]:
/// clamp(bucket(i − j) + span, 0, 2·span − 1). Both c2p and p2c use it (transformers' p2c
/// gathers with −r(j, i), which equals r(i, j) since bucketing is odd-symmetric).
fn relative_index(cfg: &DebertaV2Config, seq: usize, device: &Device) -> Tensor<2, Int> {
    let span = cfg.att_span() as i64;
    let buckets = cfg.position_buckets;
    let max_pos = cfg.max_relative_positions() as i64;
    let mut v = Vec::with_capacity(seq * seq);
    for i in 0..seq as i64 {
        for j in 0..seq as i64 {
            let r = if buckets > 0 && max_pos > 0 { log_bucket(i - j, buckets, max_pos) } else { i - j };
            v.push((r + span).clamp(0, 2 * span - 1));
        }
    }
    Tensor::from_data(TensorData::new(v, [seq, seq]), device)
}

impl DebertaV2Model {
    pub fn load(w: &Weights, cfg: &DebertaV2Config, path: &std::path::Path, device: &Device) -> Result<Self, ModelError> {
        for t in &cfg.pos_att_type {
            if t != "c2p" && t != "p2c" {
                return Err(config_err(path, format!("deberta-v2: unknown pos_att_type `{t}` (expected c2p, p2c)")));
            }
        }
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(config_err(path, "deberta-v2: hidden_size is not a multiple of num_attention_heads"));
        }
        let p = key_prefix(w);
        let h = cfg.hidden_size;
        let e = cfg.embedding_size();
        let eps = cfg.layer_norm_eps;
        let all = cfg.num_attention_heads * cfg.head_size();
        let embeddings = DebertaV2Embeddings {
            word: Embedding::load(w, &format!("{p}embeddings.word_embeddings.weight"), cfg.vocab_size, e, device)?,
            position: if cfg.position_biased_input {
                Some(Embedding::load(w, &format!("{p}embeddings.position_embeddings.weight"), cfg.max_position_embeddings, e, device)?)
            } else {
                None
            },
            token_type: if cfg.type_vocab_size > 0 {
                Some(Embedding::load(w, &format!("{p}embeddings.token_type_embeddings.weight"), cfg.type_vocab_size, e, device)?)
            } else {
                None
            },
            embed_proj: if e != h {
                Some(load_linear(w, &format!("{p}embeddings.embed_proj"), "embeddings.embed_proj", e, h, false, device)?)
            } else {
                None
            },
            norm: LayerNorm::load(w, &format!("{p}embeddings.LayerNorm"), h, eps, device)?,
        };
        let separate_pos = cfg.relative_attention && !cfg.share_att_key;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = format!("{p}encoder.layer.{i}");
            let n = format!("encoder.layer.{i}");
            let lin = |sub: &str, inf: usize, outf: usize| {
                load_linear(w, &format!("{l}.{sub}"), &format!("{n}.{sub}"), inf, outf, true, device)
            };
            layers.push(DebertaV2Layer {
                query_proj: lin("attention.self.query_proj", h, all)?,
                key_proj: lin("attention.self.key_proj", h, all)?,
                value_proj: lin("attention.self.value_proj", h, all)?,
                pos_key_proj: if separate_pos && cfg.has_c2p() { Some(lin("attention.self.pos_key_proj", h, all)?) } else { None },
                pos_query_proj: if separate_pos && cfg.has_p2c() { Some(lin("attention.self.pos_query_proj", h, all)?) } else { None },
                attention_output: lin("attention.output.dense", all, h)?,
                attention_norm: LayerNorm::load(w, &format!("{l}.attention.output.LayerNorm"), h, eps, device)?,
                intermediate: lin("intermediate.dense", h, cfg.intermediate_size)?,
                output: lin("output.dense", cfg.intermediate_size, h)?,
                output_norm: LayerNorm::load(w, &format!("{l}.output.LayerNorm"), h, eps, device)?,
            });
        }
        let rel_embeddings = if cfg.relative_attention {
            Some(Embedding::load(w, &format!("{p}encoder.rel_embeddings.weight"), 2 * cfg.att_span(), h, device)?)
        } else {
            None
        };
        let rel_norm = if cfg.norm_rel_ebd.iter().any(|x| x == "layer_norm") {
            Some(LayerNorm::load(w, &format!("{p}encoder.LayerNorm"), h, eps, device)?)
        } else {
            None
        };
        let conv = if cfg.conv_kernel_size > 0 { Some(DebertaV2Conv::load(w, &format!("{p}encoder.conv"), cfg, path, device)?) } else { None };
        Ok(Self { embeddings, layers, conv, rel_embeddings, rel_norm, config: cfg.clone() })
    }

    /// ids, mask [batch, seq] → hidden states [batch, seq, hidden] (`last_hidden_state`).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        let cfg = &self.config;
        let [b, s] = ids.dims();
        let device = ids.device();
        let e = &self.embeddings;
        let types = ids.zeros_like();
        let mut x = e.word.forward(ids);
        if let Some(pos) = &e.position {
            x = x + pos.forward(arange_rows(b, s, &device));
        }
        if let Some(tt) = &e.token_type {
            x = x + tt.forward(types);
        }
        if let Some(proj) = &e.embed_proj {
            x = proj.forward(x);
        }
        // DeBERTa zeroes the embeddings of padding positions (after the norm).
        let keep = mask.clone().float().reshape([b, s, 1]);
        let mut x = dropout(e.norm.forward(x) * keep.clone(), cfg.hidden_dropout_prob);
        // The convolution reads the embedding output.
        let mut embedded = self.conv.as_ref().map(|_| x.clone());

        // The attention mask is mask[i]·mask[j]: padded *queries* are masked on every key too,
        // so their rows softmax over all-minimum scores (uniform), as in transformers.
        let m = mask.float();
        let pair = m.clone().reshape([b, 1, s, 1]) * m.reshape([b, 1, 1, s]);
        let masked = pair.equal_elem(0.0).expand([b, cfg.num_attention_heads, s, s]);

        // Relative embeddings (normalised once, shared by every layer) and their indices.
        let rel = self.rel_embeddings.as_ref().map(|r| {
            let t = r.weight.val().unsqueeze::<3>();
            match &self.rel_norm {
                Some(n) => n.forward(t),
                None => t,
            }
        });
        let index = rel.as_ref().map(|_| relative_index(cfg, s, &device));

        let act = Act::parse(&cfg.hidden_act).unwrap_or(Act::Gelu);
        for (i, l) in self.layers.iter().enumerate() {
            let a = self.attention(l, x.clone(), rel.clone(), index.clone(), masked.clone());
            x = l.attention_norm.forward(dropout(l.attention_output.forward(a), cfg.hidden_dropout_prob) + x);
            let f = l.output.forward(act.forward(l.intermediate.forward(x.clone())));
            x = l.output_norm.forward(dropout(f, cfg.hidden_dropout_prob) + x);
            if i == 0
                && let (Some(conv), Some(embedded)) = (&self.conv, embedded.take())
            {
                x = conv.forward(embedded, x, keep.clone());
            }
        }
        x
    }

    /// `DisentangledSelfAttention`: softmax((q·kᵀ + c2p + p2c) / √(d·scale_factor)) · v, with
    /// scale_factor = 1 + the number of relative terms.
    fn attention(
        &self,
        l: &DebertaV2Layer,
        x: Tensor<3>,
        rel: Option<Tensor<3>>,
        index: Option<Tensor<2, Int>>,
        masked: Tensor<4, Bool>,
    ) -> Tensor<3> {
        let cfg = &self.config;
        let heads = cfg.num_attention_heads;
        let q = split_heads(l.query_proj.forward(x.clone()), heads);
        let k = split_heads(l.key_proj.forward(x.clone()), heads);
        let v = split_heads(l.value_proj.forward(x), heads);
        let [b, n, s, d] = q.dims();
        let scale_factor = 1 + cfg.has_c2p() as usize + cfg.has_p2c() as usize;
        let scale = ((d * scale_factor) as f32).sqrt() as f64;
        let mut scores = q.clone().matmul(k.clone().transpose()).div_scalar(scale);

        if let (Some(rel), Some(index)) = (rel, index) {
            let span2 = 2 * cfg.att_span();
            // The first 2·span rows of the table, projected per head: [1, heads, 2·span, d];
            // each layer drops its own copy (`pos_dropout`).
            let rel = dropout(rel, cfg.hidden_dropout_prob).slice([0..1, 0..span2]);
            let idx = index.clone().reshape([1, 1, s, s]).expand([b, n, s, s]);
            if cfg.has_c2p() {
                // With share_att_key the content projections (bias included) are reused.
                let proj = l.pos_key_proj.as_ref().unwrap_or(&l.key_proj);
                let pos_k = split_heads(proj.forward(rel.clone()), heads);
                // c2p[i, j] = q_i · pos_k[idx(i, j)]
                let c2p = q.matmul(pos_k.transpose()).gather(3, idx.clone());
                scores = scores + c2p.div_scalar(scale);
            }
            if cfg.has_p2c() {
                let proj = l.pos_query_proj.as_ref().unwrap_or(&l.query_proj);
                let pos_q = split_heads(proj.forward(rel), heads);
                // p2c[i, j] = k_j · pos_q[idx(i, j)]: gather row j of k·pos_qᵀ at idx(i, j),
                // i.e. with the transposed index, then transpose back.
                let idx_t = index.transpose().reshape([1, 1, s, s]).expand([b, n, s, s]);
                let p2c = k.matmul(pos_q.transpose()).gather(3, idx_t).swap_dims(2, 3);
                scores = scores + p2c.div_scalar(scale);
            }
        }

        let scores = scores.mask_fill(masked, f32::MIN);
        merge_heads(attend(scores, v, cfg.attention_probs_dropout_prob))
    }

    /// Every linear layer with its name, for adapters.
    pub fn linears_mut(&mut self) -> Vec<&mut AdaptedLinear> {
        let mut out: Vec<&mut AdaptedLinear> = Vec::new();
        if let Some(p) = self.embeddings.embed_proj.as_mut() {
            out.push(p);
        }
        for l in &mut self.layers {
            out.push(&mut l.query_proj);
            out.push(&mut l.key_proj);
            out.push(&mut l.value_proj);
            if let Some(p) = l.pos_key_proj.as_mut() {
                out.push(p);
            }
            if let Some(p) = l.pos_query_proj.as_mut() {
                out.push(p);
            }
            out.push(&mut l.attention_output);
            out.push(&mut l.intermediate);
            out.push(&mut l.output);
        }
        out
    }
}

impl DebertaV2ForSequenceClassification {
    pub fn load(w: &Weights, cfg: &DebertaV2Config, num_labels: usize, path: &std::path::Path, device: &Device) -> Result<Self, ModelError> {
        let encoder = DebertaV2Model::load(w, cfg, path, device)?;
        let h = cfg.hidden_size;
        let ph = cfg.pooler_hidden_size.unwrap_or(h);
        if ph != h {
            // ContextPooler's dense is [pooler_hidden_size]² applied to a hidden state.
            return Err(config_err(path, format!("deberta-v2: pooler_hidden_size {ph} differs from hidden_size {h}")));
        }
        let act = Act::parse(&cfg.pooler_hidden_act)
            .ok_or_else(|| config_err(path, format!("deberta-v2: unsupported pooler_hidden_act `{}`", cfg.pooler_hidden_act)))?;
        let classifier = DebertaV2ClassificationHead {
            pooler: load_linear(w, "pooler.dense", "pooler.dense", ph, ph, true, device)?,
            classifier: load_linear(w, "classifier", "classifier", ph, num_labels, true, device)?,
            act,
        };
        Ok(Self { encoder, classifier })
    }

    /// Logits [batch, num_labels] from the first token (`[CLS]`).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<2> {
        let hidden = self.encoder.forward(ids, mask);
        self.head(hidden)
    }

    pub fn head(&self, hidden: Tensor<3>) -> Tensor<2> {
        let cfg = &self.encoder.config;
        let first = dropout(crate::layers::first_token(hidden), cfg.pooler_dropout);
        let pooled = self.classifier.act.forward(self.classifier.pooler.forward(first));
        let p = cfg.cls_dropout.unwrap_or(cfg.hidden_dropout_prob);
        self.classifier.classifier.forward(dropout(pooled, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pos_att_type_as_a_pipe_string_or_a_list() {
        let base = serde_json::json!({"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1,
            "num_attention_heads": 1, "intermediate_size": 8, "pos_att_type": "p2c|c2p", "norm_rel_ebd": "layer_norm"});
        let c: DebertaV2Config = serde_json::from_value(base.clone()).unwrap();
        assert!(c.has_c2p() && c.has_p2c() && c.norm_rel_ebd == ["layer_norm"]);
        let mut list = base.clone();
        list["pos_att_type"] = serde_json::json!(["c2p"]);
        let c: DebertaV2Config = serde_json::from_value(list).unwrap();
        assert!(c.has_c2p() && !c.has_p2c());
        let mut none = base;
        none["pos_att_type"] = serde_json::Value::Null;
        let c: DebertaV2Config = serde_json::from_value(none).unwrap();
        assert!(c.pos_att_type.is_empty() && c.position_biased_input && c.type_vocab_size == 0);
        // No convolution unless asked; when asked, transformers' ConvLayer defaults.
        assert_eq!((c.conv_kernel_size, c.conv_act.as_str(), c.conv_groups), (0, "tanh", 1));
    }

    #[test]
    fn log_buckets_match_transformers() {
        // transformers' make_log_bucket_position(torch.tensor([...]), 16, 64)
        let got: Vec<i64> = [-40, -20, -9, -8, -3, 0, 3, 8, 9, 12, 20, 40, 63].iter().map(|&r| log_bucket(r, 16, 64)).collect();
        assert_eq!(got, vec![-14, -12, -9, -8, -3, 0, 3, 8, 9, 10, 12, 14, 15]);
    }
}

/// The loader's entry for this family.
pub const FAMILY: Family = Family {
    model_types: &["deberta-v2"],
    new_head: NewHead { replace: &["classifier."], fill: &["pooler."] },
    load: load_family,
};

fn load_family(r: &LoadRequest<'_>) -> Result<Loaded, ModelError> {
    let cfg: DebertaV2Config = r.parse_config()?;
    if r.head == TaskHead::CausalLm {
        return Err(r.unsupported_head(r.model_type, "a classifier only"));
    }
    // The pretraining heads (masked LM, replaced-token detection) are not part of the encoder.
    Ok(if r.classifier {
        Loaded {
            model: AnyModel::DebertaClassifier(DebertaV2ForSequenceClassification::load(r.weights, &cfg, r.num_labels, r.config_path, r.device)?),
            ignored_keys: &["position_ids", "lm_predictions.", "mask_predictions.", "cls."],
        }
    } else {
        Loaded {
            model: AnyModel::DebertaEncoder(DebertaV2Model::load(r.weights, &cfg, r.config_path, r.device)?),
            ignored_keys: &["position_ids", "pooler.", "lm_predictions.", "mask_predictions.", "cls."],
        }
    })
}

impl FineTune for DebertaV2ForSequenceClassification {
    const HEAD: &'static [&'static str] = &["classifier"];

    backbone_in_field!(encoder);

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, _) = inputs.text();
        self.forward(ids, mask)
    }
}

/// The architecture numbers of a DeBERTa v2/v3 checkpoint, for parameter counts without
/// loading it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DebertaArch {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub position_buckets: usize,
    /// `conv_kernel_size` (0: no convolution layer).
    pub conv_kernel: usize,
}

impl DebertaArch {
    /// Parameters of the encoder (relative-position table and convolution included), and of
    /// the pooler + classifier head for `labels` classes.
    pub fn param_counts(&self, labels: usize) -> (usize, usize) {
        let DebertaArch { vocab, hidden: h, layers, intermediate: i, position_buckets, conv_kernel } = *self;
        let emb = vocab * h + 2 * h;
        let rel = 2 * position_buckets * h + 2 * h;
        let conv = if conv_kernel > 0 { h * h * conv_kernel + h + 2 * h } else { 0 };
        (emb + layers * crate::layers::transformer_layer_params(h, i) + rel + conv, (h * h + h) + (h * labels + labels))
    }
}
