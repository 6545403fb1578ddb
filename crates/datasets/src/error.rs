//! Errors. Every one that concerns data names the data set, and where it can the file and
//! the row, so a bad download or a changed upstream schema is found at once.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("unknown data set `{name}`; known: {known}")]
    Unknown { name: String, known: String },

    #[error("data set {dataset}: {source}")]
    Hub {
        dataset: String,
        #[source]
        source: Box<hub::HubError>,
    },

    #[error("data set {dataset}: cannot read {}: {message}", file.display())]
    Read { dataset: String, file: PathBuf, message: String },

    #[error("data set {dataset}: {} has no column `{column}` (columns: {present})", file.display())]
    MissingColumn { dataset: String, file: PathBuf, column: String, present: String },

    #[error("data set {dataset}: {}, row {row}, column `{column}`: {message}", file.display())]
    BadValue { dataset: String, file: PathBuf, row: usize, column: String, message: String },

    #[error("data set {dataset}: {}, row {row}: unreadable image: {message}", file.display())]
    Image { dataset: String, file: PathBuf, row: usize, message: String },

    #[error("data set {dataset}: split `{split}` is empty (read from {source_desc})")]
    EmptySplit { dataset: String, split: String, source_desc: String },

    #[error("data set {dataset}: tokenizer: {message}")]
    Tokenizer { dataset: String, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DatasetError {
        let path = path.into();
        move |source| DatasetError::Io { path, source }
    }
}
