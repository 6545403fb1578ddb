//! ViT (`model_type` `vit`; ViT-Base and DeiT-tiny weights) for image classification, as
//! transformers' `modeling_vit.py` (`ViTForImageClassification`).

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use peft_core::AdaptedLinear;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::auto::{AnyModel, Family, LoadRequest, Loaded, NewHead, TaskHead};
use crate::finetune::{FineTune, Inputs, backbone_in_field};
use crate::layers::{Act, LayerNorm, attention, dropout, dropout_prob, load_linear, merge_heads, split_heads};
use crate::weights::Weights;

#[derive(Clone, Debug, Deserialize)]
pub struct VitConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub image_size: usize,
    pub patch_size: usize,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
    /// transformers' ViTConfig defaults both to 0 (so do the ViT-Base and DeiT hub configs).
    #[serde(default, deserialize_with = "dropout_prob")]
    pub hidden_dropout_prob: f64,
    #[serde(default, deserialize_with = "dropout_prob")]
    pub attention_probs_dropout_prob: f64,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_channels() -> usize {
    3
}
fn default_eps() -> f64 {
    1e-12
}
fn default_true() -> bool {
    true
}

#[derive(Module, Debug)]
pub struct VitLayer {
    pub layernorm_before: LayerNorm,
    pub query: AdaptedLinear,
    pub key: AdaptedLinear,
    pub value: AdaptedLinear,
    pub attention_output: AdaptedLinear,
    pub layernorm_after: LayerNorm,
    pub intermediate: AdaptedLinear,
    pub output: AdaptedLinear,
}

#[derive(Module, Debug)]
pub struct VitModel {
    pub cls_token: Param<Tensor<3>>,
    pub position_embeddings: Param<Tensor<3>>,
    /// The patch projection (a stride-p convolution) as a linear over flattened patches.
    pub patch_projection: AdaptedLinear,
    pub layers: Vec<VitLayer>,
    pub layernorm: LayerNorm,
    #[module(skip)]
    pub config: VitConfig,
}

#[derive(Module, Debug)]
pub struct VitForImageClassification {
    pub vit: VitModel,
    pub classifier: AdaptedLinear,
}

impl VitModel {
    pub fn load(w: &Weights, cfg: &VitConfig, device: &Device) -> Result<Self, ModelError> {
        let h = cfg.hidden_size;
        let p = cfg.patch_size;
        let c = cfg.num_channels;
        let n = (cfg.image_size / p).pow(2);
        // Conv2d weight [h, c, p, p] flattened to [h, c·p·p] is an nn.Linear weight.
        let conv = w.read_f32("vit.embeddings.patch_embeddings.projection.weight", &[h, c, p, p])?;
        let weight = crate::weights::transposed(&conv, h, c * p * p, device);
        let bias = w.tensor("vit.embeddings.patch_embeddings.projection.bias", [h], device)?;
        let patch_projection = AdaptedLinear::plain(weight, Some(bias), "embeddings.patch_embeddings.projection")?;
        let eps = cfg.layer_norm_eps;
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let l = format!("vit.encoder.layer.{i}");
            let nm = format!("encoder.layer.{i}");
            let lin = |sub: &str, inf: usize, outf: usize, bias: bool| {
                load_linear(w, &format!("{l}.{sub}"), &format!("{nm}.{sub}"), inf, outf, bias, device)
            };
            layers.push(VitLayer {
                layernorm_before: LayerNorm::load(w, &format!("{l}.layernorm_before"), h, eps, device)?,
                query: lin("attention.attention.query", h, h, cfg.qkv_bias)?,
                key: lin("attention.attention.key", h, h, cfg.qkv_bias)?,
                value: lin("attention.attention.value", h, h, cfg.qkv_bias)?,
                attention_output: lin("attention.output.dense", h, h, true)?,
                layernorm_after: LayerNorm::load(w, &format!("{l}.layernorm_after"), h, eps, device)?,
                intermediate: lin("intermediate.dense", h, cfg.intermediate_size, true)?,
                output: lin("output.dense", cfg.intermediate_size, h, true)?,
            });
        }
        Ok(Self {
            cls_token: Param::from_tensor(w.tensor("vit.embeddings.cls_token", [1, 1, h], device)?),
            position_embeddings: Param::from_tensor(w.tensor("vit.embeddings.position_embeddings", [1, n + 1, h], device)?),
            patch_projection,
            layers,
            layernorm: LayerNorm::load(w, "vit.layernorm", h, eps, device)?,
            config: cfg.clone(),
        })
    }

    /// pixel_values [batch, channels, size, size] → hidden states [batch, 1 + patches, hidden].
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        let cfg = &self.config;
        let [b, c, hh, ww] = pixels.dims();
        let p = cfg.patch_size;
        let (gh, gw) = (hh / p, ww / p);
        let patches = pixels
            .reshape([b, c, gh, p, gw, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, gh * gw, c * p * p]);
        let x = self.patch_projection.forward(patches);
        let h = cfg.hidden_size;
        let cls = self.cls_token.val().expand([b, 1, h]);
        let (p_hidden, p_attn) = (cfg.hidden_dropout_prob, cfg.attention_probs_dropout_prob);
        let mut x = dropout(Tensor::cat(vec![cls, x], 1) + self.position_embeddings.val(), p_hidden);
        let heads = cfg.num_attention_heads;
        let act = Act::parse(&cfg.hidden_act).unwrap_or(Act::Gelu);
        for l in &self.layers {
            let y = l.layernorm_before.forward(x.clone());
            let q = split_heads(l.query.forward(y.clone()), heads);
            let k = split_heads(l.key.forward(y.clone()), heads);
            let v = split_heads(l.value.forward(y), heads);
            x = x + dropout(l.attention_output.forward(merge_heads(attention(q, k, v, None, p_attn))), p_hidden);
            let y = l.layernorm_after.forward(x.clone());
            x = x + dropout(l.output.forward(act.forward(l.intermediate.forward(y))), p_hidden);
        }
        self.layernorm.forward(x)
    }

    pub fn linears_mut(&mut self) -> Vec<&mut AdaptedLinear> {
        let mut out: Vec<&mut AdaptedLinear> = vec![&mut self.patch_projection];
        for l in &mut self.layers {
            out.extend([&mut l.query, &mut l.key, &mut l.value, &mut l.attention_output, &mut l.intermediate, &mut l.output]);
        }
        out
    }
}

impl VitForImageClassification {
    pub fn load(w: &Weights, cfg: &VitConfig, num_labels: usize, device: &Device) -> Result<Self, ModelError> {
        Ok(Self {
            vit: VitModel::load(w, cfg, device)?,
            classifier: load_linear(w, "classifier", "classifier", cfg.hidden_size, num_labels, true, device)?,
        })
    }

    /// The model's tensors under transformers' `ViTForImageClassification` names, adapters
    /// merged.
    pub fn hf_tensors(&self, out: &mut crate::export::HfTensors) {
        let v = &self.vit;
        let cfg = &v.config;
        let (h, p, c) = (cfg.hidden_size, cfg.patch_size, cfg.num_channels);
        let conv = v.patch_projection.effective_weight().transpose().reshape([h, c, p, p]);
        out.push("vit.embeddings.patch_embeddings.projection.weight", conv);
        if let Some(b) = &v.patch_projection.bias {
            out.push("vit.embeddings.patch_embeddings.projection.bias", b.val().inner());
        }
        out.push("vit.embeddings.cls_token", v.cls_token.val().inner());
        out.push("vit.embeddings.position_embeddings", v.position_embeddings.val().inner());
        for (i, l) in v.layers.iter().enumerate() {
            let k = format!("vit.encoder.layer.{i}");
            out.layer_norm(&format!("{k}.layernorm_before"), &l.layernorm_before);
            out.linear(&format!("{k}.attention.attention.query"), &l.query);
            out.linear(&format!("{k}.attention.attention.key"), &l.key);
            out.linear(&format!("{k}.attention.attention.value"), &l.value);
            out.linear(&format!("{k}.attention.output.dense"), &l.attention_output);
            out.layer_norm(&format!("{k}.layernorm_after"), &l.layernorm_after);
            out.linear(&format!("{k}.intermediate.dense"), &l.intermediate);
            out.linear(&format!("{k}.output.dense"), &l.output);
        }
        out.layer_norm("vit.layernorm", &v.layernorm);
        out.linear("classifier", &self.classifier);
    }

    /// Logits [batch, num_labels] from the CLS token.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        let hidden = self.vit.forward(pixels);
        self.classifier.forward(crate::layers::first_token(hidden))
    }
}

/// The loader's entry for this family.
pub const FAMILY: Family = Family {
    model_types: &["vit"],
    new_head: NewHead { replace: &["classifier."], fill: &[] },
    load: load_family,
};

fn load_family(r: &LoadRequest<'_>) -> Result<Loaded, ModelError> {
    let cfg: VitConfig = r.parse_config()?;
    if r.head == TaskHead::CausalLm {
        return Err(r.unsupported_head(r.model_type, "a classifier only"));
    }
    Ok(Loaded {
        model: AnyModel::VitClassifier(VitForImageClassification::load(r.weights, &cfg, r.num_labels, r.device)?),
        // The pooler of `ViTModel` checkpoints; the classifier reads the CLS token instead.
        ignored_keys: &["vit.pooler."],
    })
}

/// transformers 5's `ViTForImageClassification` module of a linear stored under `key` (it
/// still reads the 4.x keys: `vit.encoder.layer.{i}.attention.attention.query` is the module
/// `vit.layers.{i}.attention.q_proj`; `modeling_vit.py`'s `ViTAttention`, `ViTMLP`).
fn transformers5_module_path(key: &str) -> String {
    let Some(rest) = key.strip_prefix("vit.encoder.layer.") else { return key.to_string() };
    let Some((i, sub)) = rest.split_once('.') else { return key.to_string() };
    let module = match sub {
        "attention.attention.query" => "attention.q_proj",
        "attention.attention.key" => "attention.k_proj",
        "attention.attention.value" => "attention.v_proj",
        "attention.output.dense" => "attention.o_proj",
        "intermediate.dense" => "mlp.fc1",
        "output.dense" => "mlp.fc2",
        _ => return key.to_string(),
    };
    format!("vit.layers.{i}.{module}")
}

impl FineTune for VitForImageClassification {
    const HEAD: &'static [&'static str] = &["classifier"];

    backbone_in_field!(vit);

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        self.forward(inputs.pixels())
    }

    fn hf_export(&self, out: &mut crate::export::HfTensors) -> Result<crate::finetune::HfTask, ModelError> {
        if self.vit.patch_projection.lora_factors().is_some() {
            return Err(ModelError::Unsupported("the patch projection is adapted: a convolution's adapter has no HF PEFT LoRA export here".into()));
        }
        self.hf_tensors(out);
        Ok(crate::finetune::HfTask {
            architecture: "ViTForImageClassification",
            peft_task_type: None,
            head_prefixes: &["classifier."],
            fan_in_fan_out: false,
            num_labels: Some(self.classifier.out_features()),
            module_path: Some(transformers5_module_path),
        })
    }
}

/// The architecture numbers of a ViT checkpoint, for parameter counts without loading it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct VitArch {
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub image: usize,
    pub patch: usize,
}

impl VitArch {
    /// Parameters of the model without its head, and of the head for `labels` classes.
    pub fn param_counts(&self, labels: usize) -> (usize, usize) {
        let VitArch { hidden: h, layers, intermediate: i, image, patch } = *self;
        let n = (image / patch).pow(2);
        let emb = 3 * patch * patch * h + h + h + (n + 1) * h;
        (emb + layers * crate::layers::transformer_layer_params(h, i) + 2 * h, h * labels + labels)
    }
}
