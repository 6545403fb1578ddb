use std::path::PathBuf;

/// Everything peft-core can refuse, each naming the thing at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PeftError {
    #[error(transparent)]
    UnknownMethod(#[from] methods::UnknownMethod),

    #[error(
        "layer `{layer}`: rank r = {rank} is invalid for an input width of {in_features}; \
         choose 1 <= r <= {in_features}"
    )]
    InvalidRank { layer: String, rank: usize, in_features: usize },

    #[error("shape mismatch: {0}")]
    Shape(String),

    #[error("adapter state file {path}: {message}")]
    StateFile { path: PathBuf, message: String },

    #[error("no adapted layer matches target `{0}`; check the target module names")]
    NoTarget(String),

    #[error("non-finite gradient norm ({0}); the loss or a gradient is NaN/inf")]
    NonFiniteGradient(f64),
}
