//! Llama (`model_type` `llama`): TinyLlama, DeepSeek-Coder (linear rope scaling), Llama-3
//! (grouped-query attention, rope θ = 500000). Causal LM, and sequence classification on the
//! last non-pad token (left padding, pad = eos) as transformers' `LlamaForSequenceClassification`.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use peft_core::{AdaptedLinear, AdapterConfig, TargetModules};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::auto::{AnyModel, Family, LoadRequest, Loaded, NewHead};
use crate::finetune::{FineTune, Inputs, apply_method, backbone_in_field, next_token_logits};
use crate::layers::{Embedding, RmsNorm, attention, causal_padding_bias, dropout_prob, load_linear, merge_heads, split_heads};
use crate::weights::Weights;

#[derive(Clone, Debug, Deserialize)]
pub struct RopeScaling {
    #[serde(alias = "type")]
    pub rope_type: String,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    #[serde(default)]
    pub original_max_position_embeddings: Option<usize>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// transformers ≥ 5 writes `rope_parameters: {rope_type, factor, rope_theta, …}` instead of
    /// `rope_theta` + `rope_scaling`; [`LlamaConfig::normalised`] folds it into those.
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    /// Dropout on the attention probabilities while training (transformers' default 0).
    #[serde(default, deserialize_with = "dropout_prob")]
    pub attention_dropout: f64,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    #[serde(default)]
    pub eos_token_id: Option<serde_json::Value>,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10000.0
}

impl LlamaConfig {
    /// Reads the v5 `rope_parameters` spelling into `rope_theta` / `rope_scaling`.
    pub fn normalised(mut self) -> Result<Self, String> {
        if let Some(p) = self.rope_parameters.take() {
            if let Some(theta) = p.get("rope_theta").and_then(|v| v.as_f64()) {
                self.rope_theta = theta;
            }
            let kind = p.get("rope_type").and_then(|v| v.as_str()).unwrap_or("default");
            if kind != "default" {
                let scaling: RopeScaling = serde_json::from_value(p.clone()).map_err(|e| format!("rope_parameters: {e}"))?;
                self.rope_scaling = Some(scaling);
            }
        }
        Ok(self)
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// The rotary inverse frequencies, with the configured scaling applied.
    pub fn inv_freq(&self) -> Result<Vec<f64>, String> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d / 2).map(|i| 1.0 / self.rope_theta.powf((2 * i) as f64 / d as f64)).collect();
        let Some(s) = &self.rope_scaling else { return Ok(base) };
        match s.rope_type.as_str() {
            "default" => Ok(base),
            // Linear scaling divides the positions by the factor: the same as dividing the
            // frequencies.
            "linear" => {
                let f = s.factor.ok_or("rope_scaling `linear` needs `factor`")?;
                Ok(base.into_iter().map(|x| x / f).collect())
            }
            // Llama 3.1's frequency-dependent scaling.
            "llama3" => {
                let f = s.factor.ok_or("rope_scaling `llama3` needs `factor`")?;
                let lo = s.low_freq_factor.unwrap_or(1.0);
                let hi = s.high_freq_factor.unwrap_or(4.0);
                let old = s.original_max_position_embeddings.unwrap_or(8192) as f64;
                let (lo_wl, hi_wl) = (old / lo, old / hi);
                Ok(base
                    .into_iter()
                    .map(|x| {
                        let wl = 2.0 * std::f64::consts::PI / x;
                        if wl < hi_wl {
                            x
                        } else if wl > lo_wl {
                            x / f
                        } else {
                            let smooth = (old / wl - lo) / (hi - lo);
                            (1.0 - smooth) * x / f + smooth * x
                        }
                    })
                    .collect())
            }
            other => Err(format!("unsupported rope_scaling type `{other}` (supported: default, linear, llama3)")),
        }
    }
}

#[derive(Module, Debug)]
pub struct LlamaLayer {
    pub input_layernorm: RmsNorm,
    pub q_proj: AdaptedLinear,
    pub k_proj: AdaptedLinear,
    pub v_proj: AdaptedLinear,
    pub o_proj: AdaptedLinear,
    pub post_attention_layernorm: RmsNorm,
    pub gate_proj: AdaptedLinear,
    pub up_proj: AdaptedLinear,
    pub down_proj: AdaptedLinear,
}

#[derive(Module, Debug)]
pub struct LlamaModel {
    pub embed_tokens: Embedding,
    pub layers: Vec<LlamaLayer>,
    pub norm: RmsNorm,
    #[module(skip)]
    pub config: LlamaConfig,
    #[module(skip)]
    pub inv_freq: Vec<f64>,
}

/// The task head: the LM head (possibly tied) or the classifier `score`.
#[derive(Module, Debug)]
pub struct LlamaForCausalLm {
    pub model: LlamaModel,
    /// `None` when tied to the embeddings.
    pub lm_head: Option<AdaptedLinear>,
}

#[derive(Module, Debug)]
pub struct LlamaForSequenceClassification {
    pub model: LlamaModel,
    pub score: AdaptedLinear,
}

fn rotate_half(x: Tensor<4>) -> Tensor<4> {
    let [b, n, s, d] = x.dims();
    let x1 = x.clone().slice([0..b, 0..n, 0..s, 0..d / 2]);
    let x2 = x.slice([0..b, 0..n, 0..s, d / 2..d]);
    Tensor::cat(vec![x2.neg(), x1], 3)
}

impl LlamaModel {
    pub fn load(w: &Weights, cfg: &LlamaConfig, path: &std::path::Path, device: &Device) -> Result<Self, ModelError> {
        let inv_freq = cfg.inv_freq().map_err(|message| ModelError::Config { path: path.to_path_buf(), message })?;
        let h = cfg.hidden_size;
        let (hd, nq, nkv) = (cfg.head_dim(), cfg.num_attention_heads, cfg.kv_heads());
        let eps = cfg.rms_norm_eps;
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let lin = |sub: &str, inf: usize, outf: usize, bias: bool| {
                load_linear(w, &format!("{p}.{sub}"), &format!("{p}.{sub}"), inf, outf, bias, device)
            };
            layers.push(LlamaLayer {
                input_layernorm: RmsNorm::load(w, &format!("{p}.input_layernorm.weight"), h, eps, device)?,
                q_proj: lin("self_attn.q_proj", h, nq * hd, cfg.attention_bias)?,
                k_proj: lin("self_attn.k_proj", h, nkv * hd, cfg.attention_bias)?,
                v_proj: lin("self_attn.v_proj", h, nkv * hd, cfg.attention_bias)?,
                o_proj: lin("self_attn.o_proj", nq * hd, h, cfg.attention_bias)?,
                post_attention_layernorm: RmsNorm::load(w, &format!("{p}.post_attention_layernorm.weight"), h, eps, device)?,
                gate_proj: lin("mlp.gate_proj", h, cfg.intermediate_size, cfg.mlp_bias)?,
                up_proj: lin("mlp.up_proj", h, cfg.intermediate_size, cfg.mlp_bias)?,
                down_proj: lin("mlp.down_proj", cfg.intermediate_size, h, cfg.mlp_bias)?,
            });
        }
        Ok(Self {
            embed_tokens: Embedding::load(w, "model.embed_tokens.weight", cfg.vocab_size, h, device)?,
            layers,
            norm: RmsNorm::load(w, "model.norm.weight", h, eps, device)?,
            config: cfg.clone(),
            inv_freq,
        })
    }

    /// cos and sin [1, 1, seq, head_dim] for positions 0..seq (transformers' default
    /// `position_ids`, also under left padding).
    fn rope(&self, seq: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
        let d = self.config.head_dim();
        let mut cos = vec![0.0f32; seq * d];
        let mut sin = vec![0.0f32; seq * d];
        for p in 0..seq {
            for (i, f) in self.inv_freq.iter().enumerate() {
                // Computed in f32 as transformers does (inv_freq and positions in float32).
                let angle = (p as f32) * (*f as f32);
                for j in [i, i + d / 2] {
                    cos[p * d + j] = angle.cos();
                    sin[p * d + j] = angle.sin();
                }
            }
        }
        let t = |v| Tensor::from_data(TensorData::new(v, [1, 1, seq, d]), device);
        (t(cos), t(sin))
    }

    /// Final hidden states [batch, seq, hidden] (after the last norm).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        let [_, s] = ids.dims();
        let device = ids.device();
        let (cos, sin) = self.rope(s, &device);
        let bias = causal_padding_bias(mask);
        let (nq, nkv) = (self.config.num_attention_heads, self.config.kv_heads());
        let mut x = self.embed_tokens.forward(ids);
        for l in &self.layers {
            let h = l.input_layernorm.forward(x.clone());
            let q = split_heads(l.q_proj.forward(h.clone()), nq);
            let k = split_heads(l.k_proj.forward(h.clone()), nkv);
            let v = split_heads(l.v_proj.forward(h), nkv);
            let q = q.clone() * cos.clone() + rotate_half(q) * sin.clone();
            let k = k.clone() * cos.clone() + rotate_half(k) * sin.clone();
            let (k, v) = (repeat_kv(k, nq / nkv), repeat_kv(v, nq / nkv));
            let a = merge_heads(attention(q, k, v, Some(bias.clone()), self.config.attention_dropout));
            x = x + l.o_proj.forward(a);
            let h = l.post_attention_layernorm.forward(x.clone());
            let m = activation::silu(l.gate_proj.forward(h.clone())) * l.up_proj.forward(h);
            x = x + l.down_proj.forward(m);
        }
        self.norm.forward(x)
    }

    pub fn linears_mut(&mut self) -> Vec<&mut AdaptedLinear> {
        self.layers
            .iter_mut()
            .flat_map(|l| {
                [
                    &mut l.q_proj,
                    &mut l.k_proj,
                    &mut l.v_proj,
                    &mut l.o_proj,
                    &mut l.gate_proj,
                    &mut l.up_proj,
                    &mut l.down_proj,
                ]
            })
            .collect()
    }
}

/// [b, kv, s, d] → [b, kv·n, s, d], each kv head repeated n times in place (as transformers).
fn repeat_kv(x: Tensor<4>, n: usize) -> Tensor<4> {
    if n == 1 {
        return x;
    }
    let [b, kv, s, d] = x.dims();
    x.unsqueeze_dim::<5>(2).expand([b, kv, n, s, d]).reshape([b, kv * n, s, d])
}

impl LlamaForCausalLm {
    pub fn load(w: &Weights, cfg: &LlamaConfig, path: &std::path::Path, device: &Device) -> Result<Self, ModelError> {
        let model = LlamaModel::load(w, cfg, path, device)?;
        let lm_head = if w.contains("lm_head.weight") && !cfg.tie_word_embeddings {
            Some(load_linear(w, "lm_head", "lm_head", cfg.hidden_size, cfg.vocab_size, false, device)?)
        } else {
            None
        };
        Ok(Self { model, lm_head })
    }

    /// Logits [batch, seq, vocab].
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        let hidden = self.model.forward(ids, mask);
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => self.model.embed_tokens.attend(hidden),
        }
    }
}

impl LlamaForSequenceClassification {
    pub fn load(w: &Weights, cfg: &LlamaConfig, num_labels: usize, path: &std::path::Path, device: &Device) -> Result<Self, ModelError> {
        Ok(Self {
            model: LlamaModel::load(w, cfg, path, device)?,
            score: load_linear(w, "score", "score", cfg.hidden_size, num_labels, false, device)?,
        })
    }

    /// Logits [batch, num_labels] at each row's last non-pad token (the rightmost position
    /// whose id is not the pad id, as transformers; with left padding, the last position).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>, pad_id: i64) -> Tensor<2> {
        let [b, s] = ids.dims();
        let ids_host: Vec<i64> = ids.to_data().convert::<i64>().try_to_vec().expect("int ids");
        let hidden = self.model.forward(ids, mask);
        let h = hidden.dims()[2];
        let device = hidden.device();
        let last: Vec<i64> = (0..b)
            .map(|r| {
                let row = &ids_host[r * s..(r + 1) * s];
                row.iter().rposition(|&t| t != pad_id).unwrap_or(s - 1) as i64
            })
            .collect();
        let index: Tensor<3, Int> = Tensor::<1, Int>::from_data(TensorData::new(last, [b]), &device)
            .reshape([b, 1, 1])
            .expand([b, 1, h]);
        let picked = hidden.gather(1, index).reshape([b, h]);
        self.score.forward(picked)
    }
}

/// The loader's entry for this family.
pub const FAMILY: Family = Family {
    model_types: &["llama"],
    new_head: NewHead { replace: &["score."], fill: &[] },
    load: load_family,
};

fn load_family(r: &LoadRequest<'_>) -> Result<Loaded, ModelError> {
    let cfg: LlamaConfig = r.parse_config()?;
    let cfg = cfg.normalised().map_err(|e| r.config_error(&e))?;
    // `rotary_emb` buffers are recomputed from the config; a classifier drops the LM head.
    Ok(if r.classifier {
        Loaded {
            model: AnyModel::LlamaClassifier(LlamaForSequenceClassification::load(r.weights, &cfg, r.num_labels, r.config_path, r.device)?),
            ignored_keys: &["rotary_emb", "lm_head."],
        }
    } else {
        Loaded { model: AnyModel::LlamaLm(LlamaForCausalLm::load(r.weights, &cfg, r.config_path, r.device)?), ignored_keys: &["rotary_emb"] }
    })
}

impl FineTune for LlamaForCausalLm {
    /// Frozen with the backbone for adapter methods, as PEFT does with `lm_head`.
    const HEAD: &'static [&'static str] = &[];

    fn apply_method(self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), ModelError> {
        apply_method(self, |m| m.model.linears_mut(), targets, method, config)
    }

    fn backbone_linears(&mut self) -> Vec<&mut AdaptedLinear> {
        self.model.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, _) = inputs.text();
        next_token_logits(self.forward(ids, mask))
    }
}

impl FineTune for LlamaForSequenceClassification {
    const HEAD: &'static [&'static str] = &["score"];

    backbone_in_field!(model);

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, pad) = inputs.text();
        self.forward(ids, mask, pad)
    }
}

/// The architecture numbers of a Llama checkpoint, for parameter counts without loading it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LlamaArch {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// LM head tied to the embeddings.
    pub tied: bool,
}

impl LlamaArch {
    /// Parameters of the model without its head, and of the head: the LM head for a causal LM
    /// (0 when tied), else the `score` classifier for `labels` classes (no bias).
    pub fn param_counts(&self, labels: usize, causal_lm: bool) -> (usize, usize) {
        let LlamaArch { vocab, hidden: h, layers, intermediate: i, heads, kv_heads, tied } = *self;
        let hd = h / heads;
        let layer = 2 * h + h * heads * hd + 2 * h * kv_heads * hd + heads * hd * h + 3 * h * i;
        let base = vocab * h + layers * layer + h;
        let head = if causal_lm { if tied { 0 } else { vocab * h } } else { h * labels };
        (base, head)
    }
}
