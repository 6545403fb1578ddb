//! The fine-tuning interface every model family implements: the batch a model reads
//! ([`Inputs`]), what a method and a training loop need of it ([`FineTune`]: its adaptable
//! linears, its task head, logits), a way to run code generic over the family of a loaded
//! model ([`FineTuneJob`]), and applying a method to a family's linears PEFT-style.

use burn::module::Module;
use burn::tensor::{Int, Tensor};
use peft_core::{AdaptedLinear, AdapterConfig, TargetModules};

use crate::ModelError;

/// One batch of model inputs, already on the device.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Token ids, `token_type_ids` (the segment of a pair; models without segment embeddings
    /// ignore them) and attention mask, `[batch, seq]`; `pad_id` for last-token heads.
    Text { ids: Tensor<2, Int>, types: Tensor<2, Int>, mask: Tensor<2, Int>, pad_id: i64 },
    /// `pixel_values` `[batch, channels, height, width]`.
    Pixels(Tensor<4>),
}

impl Inputs {
    /// Token ids, attention mask and pad id of a text batch.
    pub(crate) fn text(&self) -> (Tensor<2, Int>, Tensor<2, Int>, i64) {
        let (ids, _, mask, pad) = self.text_with_types();
        (ids, mask, pad)
    }

    /// Token ids, `token_type_ids`, attention mask and pad id of a text batch.
    pub(crate) fn text_with_types(&self) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>, i64) {
        match self {
            Inputs::Text { ids, types, mask, pad_id } => (ids.clone(), types.clone(), mask.clone(), *pad_id),
            Inputs::Pixels(_) => panic!("a text model was given pixels (the data set's task and the model disagree)"),
        }
    }

    /// `pixel_values` of an image batch.
    pub(crate) fn pixels(&self) -> Tensor<4> {
        match self {
            Inputs::Pixels(p) => p.clone(),
            Inputs::Text { .. } => panic!("an image model was given text (the data set's task and the model disagree)"),
        }
    }
}

/// A sequence / image classifier (or 1-output regressor), or a causal LM, that a method can
/// adapt. A causal LM is a classifier over its next tokens: its logits are those of every
/// position but the last, flattened to `[batch × (seq − 1), vocab]` ([`next_token_logits`]).
/// Each family implements it in its own file.
pub trait FineTune: Module + Sized {
    /// Module paths of the task head (a separate parameter group, always trained).
    const HEAD: &'static [&'static str];

    /// Applies `method` to the backbone (freezing it for adapter methods) and returns how many
    /// linears were adapted.
    fn apply_method(self, targets: &TargetModules, method: &str, config: &AdapterConfig) -> Result<(Self, usize), ModelError>;

    /// Every adapted (or adaptable) linear of the backbone, for chain resets and checkpoints.
    fn backbone_linears(&mut self) -> Vec<&mut AdaptedLinear>;

    /// Logits `[batch, outputs]` (causal LMs: `[batch × (seq − 1), vocab]`).
    fn logits(&self, inputs: &Inputs) -> Tensor<2>;

    /// The model in the layout of its transformers task class (adapters merged, each adapted
    /// linear's factors beside), for [`crate::peft`]'s exports. Families without one say so.
    fn hf_export(&self, _out: &mut crate::export::HfTensors) -> Result<HfTask, ModelError> {
        Err(ModelError::Unsupported(format!("exporting a `{}` to transformers' layout is not implemented", std::any::type_name::<Self>())))
    }
}

/// What [`FineTune::hf_export`] wrote: the transformers class whose keys it used and what HF
/// PEFT needs to know of it.
#[derive(Clone, Debug)]
pub struct HfTask {
    /// e.g. `BertForSequenceClassification` (the exported `config.json`'s `architectures`).
    pub architecture: &'static str,
    /// HF PEFT's `task_type` (`SEQ_CLS`, `CAUSAL_LM`), `None` for image classifiers.
    pub peft_task_type: Option<&'static str>,
    /// Key prefixes of the task head (trained by every method: PEFT's `modules_to_save`).
    pub head_prefixes: &'static [&'static str],
    /// The linears are GPT-2 `Conv1D`s (PEFT's `fan_in_fan_out`).
    pub fan_in_fan_out: bool,
    /// The output count of a classifier head (`num_labels`), `None` for a causal LM.
    pub num_labels: Option<usize>,
    /// A linear's module path in the transformers HF PEFT runs on, from its checkpoint key
    /// prefix, where the two differ (transformers 5 renamed ViT's modules but reads the old
    /// keys); `None`: the same.
    pub module_path: Option<fn(&str) -> String>,
}

impl HfTask {
    /// The module path HF PEFT sees for the linear stored under `key_prefix`.
    pub fn module_of(&self, key_prefix: &str) -> String {
        self.module_path.map(|f| f(key_prefix)).unwrap_or_else(|| key_prefix.to_string())
    }
}

/// The [`FineTune::apply_method`] and [`FineTune::backbone_linears`] of a model whose
/// backbone is its field `$backbone` (with a `linears_mut`) and whose head lies beside it:
/// the method applies to the backbone only, so the head keeps training.
macro_rules! backbone_in_field {
    ($backbone:ident) => {
        fn apply_method(
            mut self,
            targets: &peft_core::TargetModules,
            method: &str,
            config: &peft_core::AdapterConfig,
        ) -> Result<(Self, usize), crate::ModelError> {
            let (backbone, n) = crate::finetune::apply_method(self.$backbone, |b| b.linears_mut(), targets, method, config)?;
            self.$backbone = backbone;
            Ok((self, n))
        }

        fn backbone_linears(&mut self) -> Vec<&mut peft_core::AdaptedLinear> {
            self.$backbone.linears_mut()
        }
    };
}
pub(crate) use backbone_in_field;

/// Work that is generic over the fine-tuned model's type, handed the concrete model by
/// [`crate::auto::AnyModel::fine_tune`] (Rust closures cannot be generic; this trait is the
/// generic closure).
pub trait FineTuneJob {
    type Output;
    fn run<M: FineTune>(self, model: M) -> Self::Output;
}

/// Next-token logits `[batch, seq, vocab]` → those predicting positions 1.., flattened.
pub fn next_token_logits(logits: Tensor<3>) -> Tensor<2> {
    let [b, s, v] = logits.dims();
    logits.slice([0..b, 0..s - 1, 0..v]).reshape([b * (s - 1), v])
}

/// Applies `method` to a model's backbone, PEFT-style: for an adapter method every backbone
/// parameter is frozen and the targeted linears (found by `linears`) become adapted layers;
/// for `fft` everything stays trainable. The task head is the caller's (it trains either way).
/// Returns the backbone and how many layers were adapted.
pub fn apply_method<M: Module>(
    backbone: M,
    linears: impl FnOnce(&mut M) -> Vec<&mut AdaptedLinear>,
    targets: &TargetModules,
    method: &str,
    config: &AdapterConfig,
) -> Result<(M, usize), ModelError> {
    let spec = peft_core::method(method).map_err(peft_core::PeftError::from)?;
    let mut backbone = if spec.has_adapter() { backbone.no_grad() } else { backbone };
    let n = adapt_linears(linears(&mut backbone), targets, method, config)?;
    Ok((backbone, n))
}

/// Replaces each targeted linear (by name, PEFT's suffix match) with the same base layer
/// adapted by `method`; every other base parameter is frozen unless the method is `fft`.
/// Returns how many layers were adapted; none is an error naming the targets.
pub fn adapt_linears<'a>(
    linears: impl IntoIterator<Item = &'a mut AdaptedLinear>,
    targets: &TargetModules,
    method: &str,
    config: &AdapterConfig,
) -> Result<usize, ModelError> {
    let spec = peft_core::method(method).map_err(peft_core::PeftError::from)?;
    let fft = !spec.has_adapter();
    let mut adapted = 0;
    for slot in linears {
        let name = slot.name().to_string();
        let layer = take(slot);
        let new = if !fft && targets.matches(&name) {
            adapted += 1;
            layer.adapt(method, config)?
        } else {
            layer.with_base_trainable(fft)
        };
        *slot = new;
    }
    if adapted == 0 && !fft {
        return Err(peft_core::PeftError::NoTarget(format!("{targets:?}")).into());
    }
    Ok(adapted)
}

/// A chain reset over a model (CoLA, RAC-LoRA, c3LA, r-c3LA, C-PaCA, s-r-c3LA): every adapted
/// layer merges its update into the base and starts its next chain, and the optimizer forgets
/// the moments of the restarted factors. Returns how many layers were reset (0 for methods that
/// do not chain).
pub fn reset_chains<'a>(linears: impl IntoIterator<Item = &'a mut AdaptedLinear>, optimizer: &mut peft_core::AdamW) -> usize {
    let mut n = 0;
    for slot in linears {
        if !slot.spec().chained {
            continue;
        }
        optimizer.reset_params(&slot.adapter_param_ids());
        let layer = take(slot);
        *slot = layer.reset_chain();
        n += 1;
    }
    n
}

/// Saves the adapter state of `linears` (see [`peft_core::save_adapters`]).
pub fn save_adapters(path: &std::path::Path, linears: Vec<&mut AdaptedLinear>) -> Result<(), ModelError> {
    let refs: Vec<&AdaptedLinear> = linears.into_iter().map(|l| &*l).collect();
    Ok(peft_core::save_adapters(path, &refs)?)
}

/// Restores what [`save_adapters`] wrote into the same linears of a model built the same way.
pub fn load_adapters(path: &std::path::Path, linears: Vec<&mut AdaptedLinear>) -> Result<(), ModelError> {
    let mut slots = linears;
    let taken: Vec<AdaptedLinear> = slots.iter_mut().map(|s| take(s)).collect();
    let restored = peft_core::load_adapters(path, taken)?;
    for (slot, layer) in slots.into_iter().zip(restored) {
        *slot = layer;
    }
    Ok(())
}

/// Moves a layer out of its slot, leaving a 1×1 placeholder that is overwritten at once.
pub(crate) fn take(slot: &mut AdaptedLinear) -> AdaptedLinear {
    let device = slot.weight.val().device();
    let dummy = AdaptedLinear::plain(burn::tensor::Tensor::zeros([1, 1], &device), None, "placeholder")
        .expect("a 1×1 plain layer is valid");
    std::mem::replace(slot, dummy)
}
