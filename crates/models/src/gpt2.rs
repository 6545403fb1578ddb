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
    /// The fused query/key/value projection [h → 3h] as GPT-2 stores it; `None` once split
    /// into `c_attn_thirds`.
    pub c_attn: Option<AdaptedLinear>,
    /// `c_attn`'s query, key and value thirds [h → h] (`h.N.attn.c_attn.q`, `.k`, `.v`), when a
    /// method targets a third: the paper adapts GPT-2's query and value (B.1, E.3.2), which
    /// GPT-2 fuses. Empty while fused.
    pub c_attn_thirds: Vec<AdaptedLinear>,
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
                c_attn: Some(load_conv1d(w, &format!("{b}.attn.c_attn"), &format!("{n}.attn.c_attn"), h, 3 * h, device)?),
                c_attn_thirds: Vec::new(),
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
            let normed = blk.ln_1.forward(x.clone());
            let (q, k, v) = match (&blk.c_attn, blk.c_attn_thirds.as_slice()) {
                (Some(fused), _) => {
                    let qkv = fused.forward(normed);
                    (qkv.clone().slice([0..b, 0..s, 0..h]), qkv.clone().slice([0..b, 0..s, h..2 * h]), qkv.slice([0..b, 0..s, 2 * h..3 * h]))
                }
                (None, [q, k, v]) => (q.forward(normed.clone()), k.forward(normed.clone()), v.forward(normed)),
                _ => unreachable!("c_attn is fused or in three thirds"),
            };
            let (q, k, v) = (split_heads(q, heads), split_heads(k, heads), split_heads(v, heads));
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
            match &b.c_attn {
                Some(fused) => out.conv1d(&format!("{k}.attn.c_attn"), fused),
                None => fused_thirds(out, &format!("{k}.attn.c_attn"), &b.c_attn_thirds),
            }
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
            .flat_map(|b| {
                let attn: Vec<&mut AdaptedLinear> = b.c_attn.iter_mut().chain(b.c_attn_thirds.iter_mut()).collect();
                attn.into_iter().chain([&mut b.c_proj, &mut b.c_fc, &mut b.mlp_c_proj])
            })
            .collect()
    }

    /// Splits every block's `c_attn` into its query, key and value thirds (same weights, same
    /// function), so that a method can adapt a third. Only before a method is applied.
    pub fn split_qkv(&mut self) -> Result<(), ModelError> {
        let h = self.config.n_embd;
        for blk in &mut self.blocks {
            let Some(fused) = blk.c_attn.take() else { continue };
            if fused.lora_factors().is_some() {
                return Err(ModelError::Unsupported(format!("{} is adapted already: split it before a method is applied", fused.name())));
            }
            let w = fused.weight.val().inner();
            let bias = fused.bias.as_ref().map(|b| b.val().inner());
            let rows = w.dims()[0];
            // Fresh leaves on the layer's own device (with its autodiff setting), not views
            // of the fused parameter.
            let device = fused.weight.val().device();
            blk.c_attn_thirds = THIRDS
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let cols = i * h..(i + 1) * h;
                    let wi = Tensor::<2>::from_data(w.clone().slice([0..rows, cols.clone()]).into_data(), &device);
                    let bi = bias.clone().map(|b| Tensor::<1>::from_data(b.slice([cols]).into_data(), &device));
                    AdaptedLinear::plain(wi, bi, &format!("{}.{part}", fused.name()))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }
}

/// The names of `c_attn`'s thirds, in their order in the fused output.
pub const THIRDS: [&str; 3] = ["q", "k", "v"];

/// The thirds written back as the fused `Conv1D` (`<prefix>.weight` [in, 3h], bias [3h]),
/// adapters merged; their adapters as one LoRA on `c_attn` (A = [A_q | A_v] side by side, B
/// block-diagonal into the q and v thirds of the output: the same update exactly), so that
/// HF PEFT loads it on GPT-2's fused module.
fn fused_thirds(out: &mut crate::export::HfTensors, prefix: &str, thirds: &[AdaptedLinear]) {
    let weights: Vec<Tensor<2>> = thirds.iter().map(|l| l.effective_weight()).collect();
    out.push(format!("{prefix}.weight"), Tensor::cat(weights, 1));
    let biases: Vec<Tensor<1>> = thirds.iter().filter_map(|l| l.bias.as_ref().map(|b| b.val().inner())).collect();
    if biases.len() == thirds.len() {
        out.push(format!("{prefix}.bias"), Tensor::cat(biases, 0));
    }
    let factors: Vec<(usize, peft_core::LoraFactors)> = thirds.iter().enumerate().filter_map(|(i, l)| l.lora_factors().map(|f| (i, f))).collect();
    let Some(scale) = factors.first().map(|(_, f)| f.scale) else { return };
    let h = thirds[0].out_features();
    // The factors' device (without autodiff, as `lora_factors` gives them).
    let device = factors[0].1.b.device();
    let rank: usize = factors.iter().map(|(_, f)| f.a.dims()[1]).sum();
    let mut a_parts = Vec::new();
    let mut b = Tensor::<2>::zeros([rank, 3 * h], &device);
    let mut row = 0;
    for (i, f) in &factors {
        let r = f.a.dims()[1];
        a_parts.push(f.a.clone());
        // Another scale (it cannot differ within one method) folded into B.
        let bi = f.b.clone().mul_scalar(f.scale / scale);
        b = b.slice_assign([row..row + r, i * h..(i + 1) * h], bi);
        row += r;
    }
    out.adapters.push((prefix.to_string(), peft_core::LoraFactors { a: Tensor::cat(a_parts, 1), b, scale }));
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

    /// A target naming a third of `c_attn` (`c_attn.q`, `c_attn.v`) splits the fused
    /// projection first; `c_attn` itself adapts the fused layer, as HF PEFT does.
    fn apply_method(mut self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), ModelError> {
        let adapter = peft_core::method(method).map_err(peft_core::PeftError::from)?.has_adapter();
        let wants_third = (0..self.config.n_layer).any(|i| THIRDS.iter().any(|t| targets.matches(&format!("h.{i}.attn.c_attn.{t}"))));
        if adapter && wants_third && !matches!(targets, TargetModules::AllLinear(_)) {
            self.split_qkv()?;
        }
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
