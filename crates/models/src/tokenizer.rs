//! Tokenizers through the `tokenizers` crate from a checkpoint's `tokenizer.json`.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::ModelError;

/// Loads `tokenizer.json`. Padding and truncation settings stored in the file (e.g.
/// all-MiniLM-L6-v2 pads every encoding to 128) are dropped: transformers ignores them too,
/// and the data pipeline pads and truncates batches itself.
pub fn load_tokenizer_json(path: &Path) -> Result<Tokenizer, ModelError> {
    let mut tok = Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
    tok.with_padding(None);
    tok.with_truncation(None).map_err(|e| ModelError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(tok)
}

/// Token ids of `text` with the tokenizer's special tokens (as transformers' `tokenizer(text)`).
pub fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>, ModelError> {
    tok.encode(text, true)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| ModelError::Tokenizer { path: "<in memory>".into(), message: e.to_string() })
}
