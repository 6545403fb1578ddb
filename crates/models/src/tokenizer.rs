//! Tokenizers through the `tokenizers` crate from a checkpoint's `tokenizer.json`, or, for a
//! checkpoint that ships only a sentencepiece `spm.model` (DeBERTa-v3), the equivalent
//! tokenizer built from it ([`crate::spm`]).

use std::path::Path;

use tokenizers::Tokenizer;

use crate::{Checkpoint, ModelError};

/// Loads `tokenizer.json`. Padding and truncation settings stored in the file (e.g.
/// all-MiniLM-L6-v2 pads every encoding to 128) are dropped: transformers ignores them too,
/// and the data pipeline pads and truncates batches itself.
pub fn load_tokenizer_json(path: &Path) -> Result<Tokenizer, ModelError> {
    let mut tok = Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
    tok.with_padding(None);
    tok.with_truncation(None).map_err(|e| ModelError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(tok)
}

/// The checkpoint's tokenizer: `tokenizer.json` when it has one, else `spm.model` (with the
/// options of `tokenizer_config.json` when present) converted as transformers does.
pub fn load_tokenizer(ckpt: &Checkpoint) -> Result<Tokenizer, ModelError> {
    if ckpt.has_file("tokenizer.json") {
        return load_tokenizer_json(&ckpt.file("tokenizer.json")?);
    }
    if ckpt.has_file("spm.model") {
        let spm = ckpt.file("spm.model")?;
        let config = if ckpt.has_file("tokenizer_config.json") { Some(ckpt.file("tokenizer_config.json")?) } else { None };
        return crate::spm::load_spm_tokenizer(&spm, config.as_deref());
    }
    // Neither: report the file that is normally there.
    load_tokenizer_json(&ckpt.file("tokenizer.json")?)
}

/// Token ids of `text` with the tokenizer's special tokens (as transformers' `tokenizer(text)`).
pub fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>, ModelError> {
    tok.encode(text, true)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| ModelError::Tokenizer { path: "<in memory>".into(), message: e.to_string() })
}
