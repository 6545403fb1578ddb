//! One optimisation step, shared by fine-tuning and the mini models' pretraining: check the
//! loss, backpropagate, and let AdamW step (it refuses a non-finite gradient norm).

use burn::module::Module;
use burn::tensor::Tensor;
use peft_core::{AdamW, PeftError};

/// Why a step was not taken.
#[derive(Debug)]
pub enum StepError {
    /// The loss was NaN or infinite (the value).
    NonFiniteLoss(f64),
    /// The global gradient norm was NaN or infinite (the norm).
    NonFiniteGradient(f64),
    /// Anything else the optimizer refused.
    Optimizer(PeftError),
}

/// Backpropagates `loss` and steps `model` at learning rate `lr`. Returns the stepped model,
/// the loss value and the global gradient norm before clipping; on a non-finite loss or
/// gradient no step is taken and the model is dropped (the caller ends training there).
pub fn train_step<M: Module>(opt: &mut AdamW, lr: f64, model: M, loss: Tensor<1>) -> Result<(M, f64, f64), StepError> {
    let value = loss.clone().into_scalar::<f32>() as f64;
    if !value.is_finite() {
        return Err(StepError::NonFiniteLoss(value));
    }
    match opt.step(lr, model, loss.backward()) {
        Ok((model, report)) => Ok((model, value, report.grad_norm)),
        Err(PeftError::NonFiniteGradient(g)) => Err(StepError::NonFiniteGradient(g)),
        Err(e) => Err(StepError::Optimizer(e)),
    }
}
