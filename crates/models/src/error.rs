use std::path::PathBuf;

/// Everything loading a model can refuse, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Boxed: hub errors carry the repository, revision, file and a hint, and would make every
    /// `Result` of this crate large.
    #[error(transparent)]
    Hub(Box<hub::HubError>),

    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("{path}: unknown model_type `{model_type}`; supported: {supported}")]
    UnknownModelType { path: PathBuf, model_type: String, supported: String },

    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },

    #[error("weights {path}: missing tensors: {}", keys.join(", "))]
    MissingKeys { path: PathBuf, keys: Vec<String> },

    #[error("weights {path}: tensors the model does not use: {}", keys.join(", "))]
    UnexpectedKeys { path: PathBuf, keys: Vec<String> },

    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },

    #[error(transparent)]
    Peft(#[from] peft_core::PeftError),

    /// Something this model or adapter asks for that the harness does not do (yet).
    #[error("{0}")]
    Unsupported(String),
}

impl From<hub::HubError> for ModelError {
    fn from(e: hub::HubError) -> Self {
        ModelError::Hub(Box::new(e))
    }
}
