//! peft-core: the paper's fine-tuning methods as data and as burn layers.
//!
//! It re-exports the method registry ([`REGISTRY`], [`MethodSpec`], from the `methods` crate,
//! which holds it without tensors so that the report can read it) and owns the adapted linear layer
//! ([`AdaptedLinear`]: frozen base + the adapter a method asks for, computed as x·A·B or a
//! gather, never a dense ΔW), column selectors and chain schedules, adapter save/load in
//! safetensors, optimizer groups and the paper's AdamW with global-norm clipping, and the
//! closed-form numbers of the paper (Table 6 parameter counts, Table 1 bounds).
//!
//! It must not know about models, data sets, training loops or reports: the models crate
//! wraps its linears in [`AdaptedLinear`], the runner drives [`AdamW`] and
//! [`ChainSchedule`].

mod chain;
mod counts;
mod error;
mod groups;
pub mod layer;
mod optim;
pub mod safetensors_io;
mod selector;
mod state_file;
pub mod targets;
mod trainable_io;

pub use chain::{ChainSchedule, ResetUnit};
pub use counts::{ParamCount, count_params};
pub use error::PeftError;
pub use groups::{ParamGroupKind, ParamGroups, TrainableParam};
pub use layer::{AdaptedLinear, AdapterConfig, AdapterState, LoraFactors};
pub use methods::{AInit, BoundInputs, LayerShape, MethodSpec, REGISTRY, Selector, Trains, generalization_bound, method, update_support};
pub use optim::{AdamW, AdamWConfig, StepReport};
pub use seeded::Rng;
pub use selector::ColumnSelector;
pub use state_file::{load_adapters, save_adapters};
pub use targets::TargetModules;
pub use trainable_io::{load_trainable, save_trainable};
