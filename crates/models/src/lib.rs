//! models: the paper's model families in burn, loaded from Hugging Face files (config.json,
//! safetensors, tokenizer.json) through the `hub` cache, with their linear layers held as
//! [`peft_core::AdaptedLinear`]s and exposed by name so that a method can adapt the targeted
//! ones (`target_modules`, PEFT-style), and the task head kept apart with its own trainable
//! flag.
//!
//! It must not train, evaluate or format results.

pub mod auto;
pub mod bert;
pub mod deberta;
pub mod gpt2;
pub mod llama;
pub mod presets;
pub mod spm;
pub mod vit;
pub mod checkpoint;
pub mod export;
mod error;
pub mod layers;
pub mod tokenizer;
pub mod weights;

pub use checkpoint::{Checkpoint, num_labels};
pub use error::ModelError;
pub use weights::Weights;

use peft_core::{AdaptedLinear, AdapterConfig, TargetModules};

/// Applies `method` to a model's backbone, PEFT-style: for an adapter method every backbone
/// parameter is frozen and the targeted linears (found by `linears`) become adapted layers;
/// for `fft` everything stays trainable. The task head is the caller's (it trains either way).
/// Returns the backbone and how many layers were adapted.
pub fn apply_method<M: burn::module::Module>(
    backbone: M,
    linears: impl FnOnce(&mut M) -> Vec<&mut AdaptedLinear>,
    targets: &TargetModules,
    method: &str,
    config: &AdapterConfig,
) -> Result<(M, usize), ModelError> {
    let spec = peft_core::method(method)?;
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
    let spec = peft_core::method(method)?;
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
pub fn reset_chains<'a>(
    linears: impl IntoIterator<Item = &'a mut AdaptedLinear>,
    optimizer: &mut peft_core::AdamW,
) -> usize {
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
fn take(slot: &mut AdaptedLinear) -> AdaptedLinear {
    let device = slot.weight.val().device();
    let dummy = AdaptedLinear::plain(burn::tensor::Tensor::zeros([1, 1], &device), None, "placeholder")
        .expect("a 1×1 plain layer is valid");
    std::mem::replace(slot, dummy)
}
