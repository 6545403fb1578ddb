//! GPT-2 (`model_type` `gpt2`) as a causal LM, as transformers' `modeling_gpt2.py`
//! (`GPT2LMHeadModel`). Its linears are `Conv1D`s, stored [in, out] (already burn's layout); the
//! LM head is tied to the token embeddings.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use peft_core::{AdaptedLinear, AdapterConfig, TargetModules};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::auto::{AnyModel, Family, LoadRequest, Loaded, NewHead, TaskHead};
use crate::finetune::{FineTune, Inputs, apply_method, next_token_logits};
use crate::layers::{
    Act, Embedding, LayerNorm, attention, causal_padding_bias, default_dropout, dropout, dropout_prob, load_conv1d, merge_heads,
    split_heads,
};
use crate::weights::Weights;

#[derive(Clone, Debug, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_act")]
    pub activation_function: String,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Dropout on the embeddings, the attention probabilities and each residual branch
    /// (training only; transformers' defaults are 0.1).
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub embd_pdrop: f64,
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub attn_pdrop: f64,
    #[serde(default = "default_dropout", deserialize_with = "dropout_prob")]
    pub resid_pdrop: f64,
}

fn default_act() -> String {
    "gelu_new".into()
}
fn default_eps() -> f64 {
    1e-5
}

#[derive(Module, Debug)]
pub struct Gpt2Block {
    pub ln_1: LayerNorm,
    pub c_attn: AdaptedLinear,
    pub c_proj: AdaptedLinear,
    pub ln_2: LayerNorm,
    pub c_fc: AdaptedLinear,
    pub mlp_c_proj: AdaptedLinear,
}

#[derive(Module, Debug)]
pub struct Gpt2LmHeadModel {
    pub wte: Embedding,
    pub wpe: Embedding,
    pub blocks: Vec<Gpt2Block>,
    pub ln_f: LayerNorm,
    #[module(skip)]
    pub config: Gpt2Config,
}

impl Gpt2LmHeadModel {
    pub fn load(w: &Weights, cfg: &Gpt2Config, device: &Device) -> Result<Self, ModelError> {
        let p = if w.contains("transformer.wte.weight") { "transformer." } else { "" };
        let h = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * h);
        let eps = cfg.layer_norm_epsilon;
        let mut blocks = Vec::new();
        for i in 0..cfg.n_layer {
            let b = format!("{p}h.{i}");
            let n = format!("h.{i}");
            blocks.push(Gpt2Block {
                ln_1: LayerNorm::load(w, &format!("{b}.ln_1"), h, eps, device)?,
                c_attn: load_conv1d(w, &format!("{b}.attn.c_attn"), &format!("{n}.attn.c_attn"), h, 3 * h, device)?,
                c_proj: load_conv1d(w, &format!("{b}.attn.c_proj"), &format!("{n}.attn.c_proj"), h, h, device)?,
                ln_2: LayerNorm::load(w, &format!("{b}.ln_2"), h, eps, device)?,
                c_fc: load_conv1d(w, &format!("{b}.mlp.c_fc"), &format!("{n}.mlp.c_fc"), h, inner, device)?,
                mlp_c_proj: load_conv1d(w, &format!("{b}.mlp.c_proj"), &format!("{n}.mlp.c_proj"), inner, h, device)?,
            });
        }
        Ok(Self {
            wte: Embedding::load(w, &format!("{p}wte.weight"), cfg.vocab_size, h, device)?,
            wpe: Embedding::load(w, &format!("{p}wpe.weight"), cfg.n_positions, h, device)?,
            blocks,
            ln_f: LayerNorm::load(w, &format!("{p}ln_f"), h, eps, device)?,
            config: cfg.clone(),
        })
    }

    /// Keys a GPT-2 checkpoint may hold that are buffers, not weights.
    pub const IGNORED_KEYS: &'static [&'static str] = &[".attn.bias", ".attn.masked_bias", "lm_head.weight"];

    /// The final hidden states [batch, seq, hidden] (after `ln_f`).
    pub fn hidden(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        let [b, s] = ids.dims();
        let device = ids.device();
        let pos = crate::layers::arange_rows(b, s, &device);
        let cfg = &self.config;
        let mut x = dropout(self.wte.forward(ids) + self.wpe.forward(pos), cfg.embd_pdrop);
        let bias = causal_padding_bias(mask);
        let heads = self.config.n_head;
        let h = self.config.n_embd;
        let act = Act::parse(&self.config.activation_function).unwrap_or(Act::GeluTanh);
        for blk in &self.blocks {
            let qkv = blk.c_attn.forward(blk.ln_1.forward(x.clone()));
            let q = split_heads(qkv.clone().slice([0..b, 0..s, 0..h]), heads);
            let k = split_heads(qkv.clone().slice([0..b, 0..s, h..2 * h]), heads);
            let v = split_heads(qkv.slice([0..b, 0..s, 2 * h..3 * h]), heads);
            let a = merge_heads(attention(q, k, v, Some(bias.clone()), cfg.attn_pdrop));
            x = x + dropout(blk.c_proj.forward(a), cfg.resid_pdrop);
            let m = blk.mlp_c_proj.forward(act.forward(blk.c_fc.forward(blk.ln_2.forward(x.clone()))));
            x = x + dropout(m, cfg.resid_pdrop);
        }
        self.ln_f.forward(x)
    }

    /// Next-token logits [batch, seq, vocab] (LM head tied to `wte`).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        self.wte.attend(self.hidden(ids, mask))
    }

    /// The model's tensors under transformers' `GPT2LMHeadModel` names (`transformer.`; the
    /// tied LM head is not stored), adapters merged.
    pub fn hf_tensors(&self, out: &mut crate::export::HfTensors) {
        out.embedding("transformer.wte.weight", &self.wte);
        out.embedding("transformer.wpe.weight", &self.wpe);
        for (i, b) in self.blocks.iter().enumerate() {
            let k = format!("transformer.h.{i}");
            out.layer_norm(&format!("{k}.ln_1"), &b.ln_1);
            out.conv1d(&format!("{k}.attn.c_attn"), &b.c_attn);
            out.conv1d(&format!("{k}.attn.c_proj"), &b.c_proj);
            out.layer_norm(&format!("{k}.ln_2"), &b.ln_2);
            out.conv1d(&format!("{k}.mlp.c_fc"), &b.c_fc);
            out.conv1d(&format!("{k}.mlp.c_proj"), &b.mlp_c_proj);
        }
        out.layer_norm("transformer.ln_f", &self.ln_f);
    }

    pub fn linears_mut(&mut self) -> Vec<&mut AdaptedLinear> {
        self.blocks
            .iter_mut()
            .flat_map(|b| [&mut b.c_attn, &mut b.c_proj, &mut b.c_fc, &mut b.mlp_c_proj])
            .collect()
    }
}

/// The loader's entry for this family.
pub const FAMILY: Family = Family {
    model_types: &["gpt2"],
    // GPT-2 has no classification head: asking for one is refused by `load_family`.
    new_head: NewHead { replace: &["classifier."], fill: &[] },
    load: load_family,
};

fn load_family(r: &LoadRequest<'_>) -> Result<Loaded, ModelError> {
    let cfg: Gpt2Config = r.parse_config()?;
    if matches!(r.head, TaskHead::Classifier(_)) {
        return Err(r.unsupported_head("gpt2", "the LM head only"));
    }
    Ok(Loaded { model: AnyModel::Gpt2Lm(Gpt2LmHeadModel::load(r.weights, &cfg, r.device)?), ignored_keys: Gpt2LmHeadModel::IGNORED_KEYS })
}

impl FineTune for Gpt2LmHeadModel {
    /// The LM head is tied to the word embeddings: nothing of its own to train.
    const HEAD: &'static [&'static str] = &[];

    fn apply_method(self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), ModelError> {
        apply_method(self, |m| m.linears_mut(), targets, method, config)
    }

    fn backbone_linears(&mut self) -> Vec<&mut AdaptedLinear> {
        self.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, _) = inputs.text();
        next_token_logits(self.forward(ids, mask))
    }

    /// `GPT2LMHeadModel` (the LM head tied to `wte`: no head of its own).
    fn hf_export(&self, out: &mut crate::export::HfTensors) -> Result<crate::finetune::HfTask, ModelError> {
        self.hf_tensors(out);
        Ok(crate::finetune::HfTask {
            architecture: "GPT2LMHeadModel",
            peft_task_type: Some("CAUSAL_LM"),
            head_prefixes: &[],
            fan_in_fan_out: true,
            num_labels: None,
            module_path: None,
        })
    }
}

/// The architecture numbers of a GPT-2 checkpoint, for parameter counts without loading it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Gpt2Arch {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub positions: usize,
}

impl Gpt2Arch {
    /// Parameters of the model, and of its head (0: tied to the embeddings).
    pub fn param_counts(&self) -> (usize, usize) {
        let Gpt2Arch { vocab, hidden: h, layers, positions } = *self;
        let layer = 4 * h + (h * 3 * h + 3 * h) + (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h);
        ((vocab + positions) * h + layers * layer + 2 * h, 0)
    }
}
