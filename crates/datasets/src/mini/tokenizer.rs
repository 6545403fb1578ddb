//! The mini suite's tokenizer: a word-level vocabulary over every word of the mini corpus
//! and tasks, written as a Hugging Face `tokenizer.json` (WordLevel model, lower-casing,
//! BERT pre-tokenizer — whitespace and punctuation —, the specials `[PAD] [UNK] [CLS] [SEP]
//! [MASK] [BOS] [EOS]` at ids 0–6, and a BERT-style template post-processor
//! `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1`). The models crate loads it through the
//! same `tokenizers::Tokenizer::from_file` path as a real checkpoint's.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::{DatasetError, Input, Label, Result};

pub const SPECIAL_TOKENS: [&str; 7] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"];
pub const PAD_ID: u32 = 0;
pub const UNK_ID: u32 = 1;
pub const CLS_ID: u32 = 2;
pub const SEP_ID: u32 = 3;
pub const MASK_ID: u32 = 4;
pub const BOS_ID: u32 = 5;
pub const EOS_ID: u32 = 6;

/// Every word of every mini text data set (all splits) and of the corpus, sorted.
pub fn words() -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    let mut add = |text: &str| {
        for w in text.split_whitespace() {
            words.insert(w.to_owned());
        }
    };
    let corpus = super::corpus::sentences();
    for s in corpus.train.iter().chain(&corpus.validation).chain(&corpus.test) {
        add(s);
    }
    for splits in [super::text::paraphrase(), super::text::acceptability(), super::text::question_type(), super::text::similarity(), super::text::sentiment(), super::data_to_text::load()] {
        for e in splits.train.iter().chain(&splits.validation).chain(&splits.test) {
            match &e.input {
                Input::Text(t) => add(t),
                Input::TextPair(a, b) => {
                    add(a);
                    add(b);
                }
                Input::Image(_) => {}
            }
            if let Label::Text(t) = &e.label {
                add(t);
            }
        }
    }
    words
}

/// The `tokenizer.json` document. Keys are sorted (serde_json's map), so the bytes are the
/// same on every run.
pub fn tokenizer_json() -> String {
    let mut vocab = serde_json::Map::new();
    for (id, t) in SPECIAL_TOKENS.iter().enumerate() {
        vocab.insert((*t).into(), json!(id));
    }
    for (i, w) in words().into_iter().enumerate() {
        vocab.insert(w, json!(SPECIAL_TOKENS.len() + i));
    }
    let added: Vec<Value> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(id, t)| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let special = |t: &str, type_id: u32| json!({"SpecialToken": {"id": t, "type_id": type_id}});
    let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)],
            "pair": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1), special("[SEP]", 1)],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [CLS_ID], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [SEP_ID], "tokens": ["[SEP]"]},
            },
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": Value::Object(vocab), "unk_token": "[UNK]"},
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// The mini tokenizer, parsed from [`tokenizer_json`].
pub fn build() -> tokenizers::Tokenizer {
    tokenizer_json().parse().expect("the generated tokenizer.json parses")
}

/// Writes `tokenizer.json` into `dir` (atomically: temp file + rename); returns its path.
pub fn save(dir: &Path) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).map_err(DatasetError::io(dir))?;
    let path = dir.join("tokenizer.json");
    crate::cache::write_atomic(&path, tokenizer_json().as_bytes())?;
    Ok(path)
}
