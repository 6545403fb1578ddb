//! The embedded mini suite: the offline default that mirrors the paper's pretrain →
//! fine-tune setting at laptop scale. Everything here is generated from fixed seeds (or
//! decoded from the embedded UCI digits) and is byte-identical across runs and machines;
//! the tests pin a SHA-256 of every split.
//!
//! | name | shaped like | task | sizes (train / val / test) |
//! |---|---|---|---|
//! | `mini-digits` | CIFAR-10 / OfficeHome | 8×8 grey digits, 10 classes | 1,257 / 269 / 271 |
//! | `mini-paraphrase` | MRPC / PAWS | sentence pair, 2 classes | 2,000 / 250 / 250 |
//! | `mini-acceptability` | CoLA | sentence, 2 classes (MCC) | 2,000 / 250 / 250 |
//! | `mini-question-type` | TREC-50 | question, 14 classes | 2,800 / 350 / 350 |
//! | `mini-sentiment` | SST-2 | sentence, 2 classes (negation, contrast) | 2,000 / 250 / 250 |
//! | `mini-similarity` | STS-B | sentence pair, score 0–5 (Pearson) | 2,000 / 250 / 250 |
//! | `mini-data-to-text` | E2E | meaning representation → sentence (causal LM, perplexity) | 2,000 / 250 / 250 |
//! | `mini-corpus` | pretraining text | sentences for MLM / causal LM | 20,000 / 1,000 / 1,000 |
//!
//! The word-level tokenizer over all of it is [`tokenizer::build`] (a Hugging Face
//! `tokenizer.json`, WordLevel model).

pub mod corpus;
pub mod data_to_text;
pub mod digits;
pub mod lexicon;
pub mod text;
pub mod tokenizer;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::{Example, Image, Input, Label, Splits};

/// The seed every mini generator starts from.
pub const MINI_SEED: u64 = 20_260_601;

/// Generates the mini data set `name` (`None` for a name that is not one).
pub fn generate(name: &str) -> Option<Splits<Example>> {
    Some(match name {
        "mini-digits" => digits::load(),
        "mini-paraphrase" => text::paraphrase(),
        "mini-acceptability" => text::acceptability(),
        "mini-question-type" => text::question_type(),
        "mini-similarity" => text::similarity(),
        "mini-sentiment" => text::sentiment(),
        "mini-data-to-text" => data_to_text::load(),
        "mini-corpus" => corpus::load(),
        _ => return None,
    })
}

/// A SHA-256 over every split of the mini data set `name` (or of the mini `tokenizer.json` for
/// `mini-tokenizer`; `None` for any other name): what a
/// result computed from it depends on. Computed once per process (a grid asks per cell).
pub fn fingerprint(name: &str) -> Option<String> {
    static DONE: std::sync::Mutex<BTreeMap<String, Option<String>>> = std::sync::Mutex::new(BTreeMap::new());
    if let Some(f) = DONE.lock().expect("fingerprint cache").get(name) {
        return f.clone();
    }
    let f = if name == "mini-tokenizer" {
        Some(hex_sha256(tokenizer::tokenizer_json().as_bytes()))
    } else {
        generate(name).map(|s| hex_sha256(splits_hashes(&s).join("").as_bytes()))
    };
    DONE.lock().expect("fingerprint cache").insert(name.to_owned(), f.clone());
    f
}

/// A canonical byte serialisation of examples (for hashing and for the on-disk cache key).
pub fn canonical_bytes(examples: &[Example]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in examples {
        match &e.input {
            Input::Text(t) => {
                out.extend_from_slice(b"T\x1f");
                out.extend_from_slice(t.as_bytes());
            }
            Input::TextPair(a, b) => {
                out.extend_from_slice(b"P\x1f");
                out.extend_from_slice(a.as_bytes());
                out.push(0x1f);
                out.extend_from_slice(b.as_bytes());
            }
            Input::Image(Image::Raw { width, height, channels, pixels }) => {
                out.extend_from_slice(format!("I\x1f{width}x{height}x{channels}\x1f").as_bytes());
                out.extend_from_slice(pixels);
            }
            Input::Image(Image::Encoded(bytes)) => {
                out.extend_from_slice(b"E\x1f");
                out.extend_from_slice(bytes);
            }
        }
        out.push(0x1f);
        match &e.label {
            Label::Class(c) => out.extend_from_slice(format!("c{c}").as_bytes()),
            Label::Score(s) => out.extend_from_slice(format!("s{:08x}", s.to_bits()).as_bytes()),
            Label::Text(t) => {
                out.push(b't');
                out.extend_from_slice(t.as_bytes());
            }
        }
        out.push(0x1e);
    }
    out
}

/// SHA-256 (hex) of [`canonical_bytes`].
pub fn split_hash(examples: &[Example]) -> String {
    hex(&Sha256::digest(canonical_bytes(examples)))
}

/// `[train, validation, test]` hashes.
pub fn splits_hashes(splits: &Splits<Example>) -> [String; 3] {
    [split_hash(&splits.train), split_hash(&splits.validation), split_hash(&splits.test)]
}

/// SHA-256 (hex) of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
