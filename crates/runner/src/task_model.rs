//! The models a cell fine-tunes, seen through one small trait: where the backbone's linear
//! layers are (for the method), which module paths are the task head (its own parameter
//! group), and logits for a batch. One impl per model family; the training loop is generic.

use burn::module::Module;
use burn::tensor::{Int, Tensor};
use models::bert::BertForSequenceClassification;
use models::deberta::DebertaV2ForSequenceClassification;
use models::gpt2::Gpt2LmHeadModel;
use models::llama::{LlamaForCausalLm, LlamaForSequenceClassification};
use models::vit::VitForImageClassification;
use peft_core::{AdapterConfig, TargetModules};

/// One batch of model inputs, already on the device.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Token ids, `token_type_ids` (the segment of a pair; models without segment embeddings
    /// ignore them) and attention mask, `[batch, seq]`; `pad_id` for last-token heads.
    Text { ids: Tensor<2, Int>, types: Tensor<2, Int>, mask: Tensor<2, Int>, pad_id: i64 },
    /// `pixel_values` `[batch, channels, height, width]`.
    Pixels(Tensor<4>),
}

/// A sequence / image classifier (or 1-output regressor), or a causal LM, that a method can
/// adapt. A causal LM is a classifier over its next tokens: its logits are those of every
/// position but the last, flattened to `[batch × (seq − 1), vocab]`, which the loss pairs
/// with [`crate::data::Targets::Tokens`].
pub trait FineTune: Module + Sized {
    /// Module paths of the task head (a separate parameter group, always trained).
    const HEAD: &'static [&'static str];

    /// Applies `method` to the backbone (freezing it for adapter methods) and returns how many
    /// linears were adapted.
    fn apply_method(self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError>;

    /// Every adapted (or adaptable) linear of the backbone, for chain resets and checkpoints.
    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear>;

    /// Logits `[batch, outputs]` (causal LMs: `[batch × (seq − 1), vocab]`).
    fn logits(&self, inputs: &Inputs) -> Tensor<2>;
}

/// Next-token logits `[batch, seq, vocab]` → those predicting positions 1.., flattened.
pub(crate) fn next_token_logits(logits: Tensor<3>) -> Tensor<2> {
    let [b, s, v] = logits.dims();
    logits.slice([0..b, 0..s - 1, 0..v]).reshape([b * (s - 1), v])
}

impl FineTune for Gpt2LmHeadModel {
    /// The LM head is tied to the word embeddings: nothing of its own to train.
    const HEAD: &'static [&'static str] = &[];

    fn apply_method(self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError> {
        models::apply_method(self, |m| m.linears_mut(), targets, method, config)
    }

    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
        self.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, _) = text(inputs);
        next_token_logits(self.forward(ids, mask))
    }
}

impl FineTune for LlamaForCausalLm {
    /// Frozen with the backbone for adapter methods, as PEFT does with `lm_head`.
    const HEAD: &'static [&'static str] = &[];

    fn apply_method(self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError> {
        models::apply_method(self, |m| m.model.linears_mut(), targets, method, config)
    }

    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
        self.model.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, _) = text(inputs);
        next_token_logits(self.forward(ids, mask))
    }
}

/// Token ids, attention mask and pad id of a text batch.
fn text(inputs: &Inputs) -> (Tensor<2, Int>, Tensor<2, Int>, i64) {
    let (ids, _, mask, pad) = text_with_types(inputs);
    (ids, mask, pad)
}

/// Token ids, `token_type_ids`, attention mask and pad id of a text batch.
fn text_with_types(inputs: &Inputs) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>, i64) {
    match inputs {
        Inputs::Text { ids, types, mask, pad_id } => (ids.clone(), types.clone(), mask.clone(), *pad_id),
        Inputs::Pixels(_) => panic!("a text model was given pixels (the data set's task and the model disagree)"),
    }
}

impl FineTune for BertForSequenceClassification {
    const HEAD: &'static [&'static str] = &["classifier"];

    fn apply_method(mut self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError> {
        let (encoder, n) = models::apply_method(self.encoder, |e| e.linears_mut(), targets, method, config)?;
        self.encoder = encoder;
        Ok((self, n))
    }

    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
        self.encoder.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, types, mask, _) = text_with_types(inputs);
        self.forward_with_types(ids, types, mask)
    }
}

impl FineTune for DebertaV2ForSequenceClassification {
    const HEAD: &'static [&'static str] = &["classifier"];

    fn apply_method(mut self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError> {
        let (encoder, n) = models::apply_method(self.encoder, |e| e.linears_mut(), targets, method, config)?;
        self.encoder = encoder;
        Ok((self, n))
    }

    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
        self.encoder.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, _) = text(inputs);
        self.forward(ids, mask)
    }
}

impl FineTune for LlamaForSequenceClassification {
    const HEAD: &'static [&'static str] = &["score"];

    fn apply_method(mut self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError> {
        let (model, n) = models::apply_method(self.model, |m| m.linears_mut(), targets, method, config)?;
        self.model = model;
        Ok((self, n))
    }

    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
        self.model.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        let (ids, mask, pad) = text(inputs);
        self.forward(ids, mask, pad)
    }
}

impl FineTune for VitForImageClassification {
    const HEAD: &'static [&'static str] = &["classifier"];

    fn apply_method(mut self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), models::ModelError> {
        let (vit, n) = models::apply_method(self.vit, |v| v.linears_mut(), targets, method, config)?;
        self.vit = vit;
        Ok((self, n))
    }

    fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
        self.vit.linears_mut()
    }

    fn logits(&self, inputs: &Inputs) -> Tensor<2> {
        match inputs {
            Inputs::Pixels(p) => self.forward(p.clone()),
            Inputs::Text { .. } => panic!("an image model was given text (the data set's task and the model disagree)"),
        }
    }
}
