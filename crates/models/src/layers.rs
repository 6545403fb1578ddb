//! Building blocks shared by the model families: layer norm, embeddings, multi-head attention
//! over named linears, activations.

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, activation};
use peft_core::AdaptedLinear;

use crate::ModelError;
use crate::weights::Weights;

/// LayerNorm over the last dimension, PyTorch semantics (biased variance, ε inside the root).
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(w: &Weights, prefix: &str, dim: usize, eps: f64, device: &Device) -> Result<Self, ModelError> {
        // Old BERT checkpoints name them gamma / beta.
        let (wk, bk) = if w.contains(&format!("{prefix}.gamma")) {
            (format!("{prefix}.gamma"), format!("{prefix}.beta"))
        } else {
            (format!("{prefix}.weight"), format!("{prefix}.bias"))
        };
        Ok(Self {
            weight: Param::from_tensor(w.tensor(&wk, [dim], device)?),
            bias: Param::from_tensor(w.tensor(&bk, [dim], device)?),
            eps,
        })
    }

    /// Fused on CPU (`kernels::layer_norm`: its backward keeps the input and two floats per
    /// row instead of every intermediate).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        kernels::layer_norm(x, self.weight.val(), self.bias.val(), self.eps)
    }
}

/// RMSNorm (Llama): x / √(mean(x²) + ε) · w.
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    pub eps: f64,
}

impl RmsNorm {
    pub fn load(w: &Weights, key: &str, dim: usize, eps: f64, device: &Device) -> Result<Self, ModelError> {
        Ok(Self { weight: Param::from_tensor(w.tensor(key, [dim], device)?), eps })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let ms = x.clone().powi_scalar(2).mean_dim(D - 1);
        x.div(ms.add_scalar(self.eps).sqrt()) * self.weight.val().unsqueeze()
    }
}

/// A lookup table [num, dim].
#[derive(Module, Debug)]
pub struct Embedding {
    pub weight: Param<Tensor<2>>,
}

impl Embedding {
    pub fn load(w: &Weights, key: &str, num: usize, dim: usize, device: &Device) -> Result<Self, ModelError> {
        Ok(Self { weight: Param::from_tensor(w.tensor(key, [num, dim], device)?) })
    }

    /// ids [batch, seq] → [batch, seq, dim]
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        burn::tensor::module::embedding(self.weight.val(), ids)
    }

    /// The tied LM head: hidden [batch, seq, dim] → logits [batch, seq, num] = hidden · tableᵀ.
    pub fn attend(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, s, h] = hidden.dims();
        let [num, _] = self.weight.dims();
        hidden.reshape([b * s, h]).matmul(self.weight.val().transpose()).reshape([b, s, num])
    }
}

/// A PyTorch `nn.Linear` (`<prefix>.weight` [out, in], `<prefix>.bias`) as a plain
/// [`AdaptedLinear`] named `name`.
pub fn load_linear(
    w: &Weights,
    prefix: &str,
    name: &str,
    in_features: usize,
    out_features: usize,
    bias: bool,
    device: &Device,
) -> Result<AdaptedLinear, ModelError> {
    let weight = w.linear_weight(&format!("{prefix}.weight"), in_features, out_features, device)?;
    let b = if bias { Some(w.tensor(&format!("{prefix}.bias"), [out_features], device)?) } else { None };
    Ok(AdaptedLinear::plain(weight, b, name)?)
}

/// GPT-2's `Conv1D` (`<prefix>.weight` stored [in, out], already burn's layout).
pub fn load_conv1d(
    w: &Weights,
    prefix: &str,
    name: &str,
    in_features: usize,
    out_features: usize,
    device: &Device,
) -> Result<AdaptedLinear, ModelError> {
    let weight = w.tensor(&format!("{prefix}.weight"), [in_features, out_features], device)?;
    let b = w.tensor(&format!("{prefix}.bias"), [out_features], device)?;
    Ok(AdaptedLinear::plain(weight, Some(b), name)?)
}

/// [batch, seq, heads·dim] → [batch, heads, seq, dim]
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, s, h] = x.dims();
    x.reshape([b, s, heads, h / heads]).swap_dims(1, 2)
}

/// [batch, heads, seq, dim] → [batch, seq, heads·dim]
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, n, s, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, s, n * d])
}

/// softmax(q·kᵀ/√d + bias)·v with an additive bias broadcastable to [batch, heads, q, k], and
/// `dropout` on the attention probabilities while training (HF's `attention_probs_dropout_prob`).
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Option<Tensor<4>>, dropout_prob: f64) -> Tensor<4> {
    let d = q.dims()[3] as f64;
    let mut scores = q.matmul(k.transpose()).div_scalar(d.sqrt());
    if let Some(bias) = bias {
        scores = scores + bias;
    }
    attend(scores, v, dropout_prob)
}

/// softmax(scores)·v over the last dimension of the scores, with `dropout` on the
/// probabilities while training: the end of every attention (DeBERTa computes its own scores).
pub fn attend(scores: Tensor<4>, v: Tensor<4>, dropout_prob: f64) -> Tensor<4> {
    dropout(kernels::softmax(scores, 3), dropout_prob).matmul(v)
}

/// HF's `nn.Dropout(prob)` in `model.train()` ([`kernels::dropout`]). Training means an
/// autodiff device here: the runner evaluates on `model.valid()` (the inner device), and
/// inference and parity checks run without autodiff, so only training steps drop. The masks are
/// seeded by [`seed_dropout`] (the runner does so per epoch).
pub use kernels::dropout;

/// Seeds every source of dropout masks for `device`: the CPU kernels' generator and the
/// backend's own (wgpu, CUDA).
pub fn seed_dropout(device: &Device, seed: u64) {
    kernels::seed_dropout(seed);
    device.seed(seed);
}

/// Reads a dropout probability from a config, refusing values outside [0, 1) (as `nn.Dropout`
/// does) so that a bad config fails at load, naming the file, not in the middle of training.
pub fn dropout_prob<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked_dropout_prob::<D>(<f64 as serde::Deserialize>::deserialize(d)?)
}

/// As [`dropout_prob`] for optional keys (`"classifier_dropout": null`).
pub fn optional_dropout_prob<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    <Option<f64> as serde::Deserialize>::deserialize(d)?.map(checked_dropout_prob::<D>).transpose()
}

fn checked_dropout_prob<'de, D: serde::Deserializer<'de>>(p: f64) -> Result<f64, D::Error> {
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(serde::de::Error::custom(format!("{p} is not a dropout probability in [0, 1)")))
    }
}

/// transformers' default for BERT-like `hidden_dropout_prob` / `attention_probs_dropout_prob`.
pub fn default_dropout() -> f64 {
    0.1
}

/// The additive padding mask [batch, 1, 1, seq]: 0 where `mask` is 1, the dtype's minimum
/// where it is 0 (as transformers does).
pub fn padding_bias(mask: Tensor<2, Int>) -> Tensor<4> {
    let [b, s] = mask.dims();
    let keep = mask.float();
    keep.neg().add_scalar(1.0).mul_scalar(f32::MIN as f64).reshape([b, 1, 1, s])
}

/// Activations named as in HF configs (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Exact erf GELU (`gelu`).
    Gelu,
    /// tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    Relu,
    Silu,
    Tanh,
}

impl Act {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "gelu" => Act::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Act::GeluTanh,
            "relu" => Act::Relu,
            "silu" | "swish" => Act::Silu,
            "tanh" => Act::Tanh,
            _ => return None,
        })
    }

    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            // burn-flex computes GELU with one scalar libm call per element on one core (about a
            // fifth of a RoBERTa-base step); `kernels` has a vectorised, parallel one.
            Act::Gelu => kernels::gelu(x, kernels::GeluKind::Erf),
            Act::GeluTanh => kernels::gelu(x, kernels::GeluKind::Tanh),
            Act::Relu => activation::relu(x),
            Act::Silu => activation::silu(x),
            Act::Tanh => x.tanh(),
        }
    }
}

/// Position ids 0..seq for every row: [batch, seq].
pub fn arange_rows(batch: usize, seq: usize, device: &Device) -> Tensor<2, Int> {
    let row: Vec<i64> = (0..seq as i64).collect();
    let pos: Tensor<1, Int> = Tensor::from_data(burn::tensor::TensorData::new(row, [seq]), device);
    pos.unsqueeze::<2>().expand([batch, seq])
}

/// The additive mask of a decoder [batch, 1, seq, seq]: the padding mask plus the causal one
/// (0 on and below the diagonal, the minimum above), clamped so that a position masked twice is
/// the minimum, not −∞ (a row of −∞ would give NaN in the softmax).
pub fn causal_padding_bias(mask: Tensor<2, Int>) -> Tensor<4> {
    let seq = mask.dims()[1];
    let mut v = vec![0.0f32; seq * seq];
    for i in 0..seq {
        for j in i + 1..seq {
            v[i * seq + j] = f32::MIN;
        }
    }
    let causal: Tensor<4> = Tensor::from_data(burn::tensor::TensorData::new(v, [1, 1, seq, seq]), &mask.device());
    (padding_bias(mask) + causal).clamp_min(f32::MIN)
}

/// The first position of each sequence ([CLS] / <s> / ViT's class token): [batch, seq, h] → [batch, h].
pub fn first_token(hidden: Tensor<3>) -> Tensor<2> {
    let [b, _, h] = hidden.dims();
    hidden.slice([0..b, 0..1]).reshape([b, h])
}

/// Parameters of one post-/pre-norm transformer layer of width `h` and feed-forward width `i`
/// with biases everywhere: four attention projections, two feed-forward linears, two
/// LayerNorms (BERT, RoBERTa, DeBERTa and ViT layers all have this shape).
pub(crate) fn transformer_layer_params(h: usize, i: usize) -> usize {
    4 * (h * h + h) + 2 * h * i + i + h + 4 * h
}
