//! models: the paper's model families in burn, loaded from Hugging Face files (config.json,
//! safetensors, tokenizer.json) through the `hub` cache, with their linear layers held as
//! [`peft_core::AdaptedLinear`]s and exposed by name so that a method can adapt the targeted
//! ones (`target_modules`, PEFT-style), and the task head kept apart with its own trainable
//! flag.
//!
//! It must not train, evaluate or format results.

// One file per family: config, modules, `load` from HF names, export, head and ignored keys,
// parameter counts, `FineTune`, and its `FAMILY` entry for the loader.
pub mod bert;
pub mod deberta;
pub mod gpt2;
pub mod llama;
pub mod vit;

// Shared by the families.
pub mod auto;
pub mod checkpoint;
mod error;
pub mod export;
pub mod finetune;
pub mod layers;
pub mod peft;
pub mod presets;
pub mod spm;
pub mod tokenizer;
pub mod trajectory;
pub mod weights;

pub use auto::{AnyModel, TaskHead};
pub use checkpoint::{Checkpoint, num_labels};
pub use error::ModelError;
pub use finetune::{FineTune, FineTuneJob, HfTask, Inputs, adapt_linears, apply_method, load_adapters, reset_chains, save_adapters};
pub use weights::Weights;
