//! Encoding for encoders and decoders with the mini tokenizer, batching, and the on-disk
//! cache of tokenized splits.

use datasets::batch::{BatchLabels, PaddingSide, collate_text};
use datasets::cache::{CacheKey, load_or_encode};
use datasets::encode::{Target, TextEncoding, encode_text};
use datasets::mini::tokenizer::{self, BOS_ID, CLS_ID, EOS_ID, SEP_ID};
use datasets::{Example, Input, Label, Splits};

fn ex(input: Input, label: Label) -> Example {
    Example { input, label, origin: "test".into() }
}

#[test]
fn encoder_pairs_get_the_template_and_longest_first_truncation() {
    let tok = tokenizer::build();
    let id = |w: &str| tok.token_to_id(w).unwrap();
    let pair = ex(Input::TextPair("the big cat".into(), "the red ball in the park .".into()), Label::Class(1));
    let f = encode_text("t", std::slice::from_ref(&pair), &tok, TextEncoding::Encoder, 64).unwrap();
    let want: Vec<u32> = [CLS_ID, id("the"), id("big"), id("cat"), SEP_ID, id("the"), id("red"), id("ball"), id("in"), id("the"), id("park"), id("."), SEP_ID].to_vec();
    assert_eq!(f[0].input_ids, want);
    assert_eq!(f[0].token_type_ids, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(f[0].target, Target::Class(1));
    // max_length 9: 3 specials + 6 tokens; longest first trims sentence B down to 3.
    let f = encode_text("t", std::slice::from_ref(&pair), &tok, TextEncoding::Encoder, 9).unwrap();
    assert_eq!(f[0].input_ids, [CLS_ID, id("the"), id("big"), id("cat"), SEP_ID, id("the"), id("red"), id("ball"), SEP_ID]);
}

#[test]
fn decoder_classification_keeps_the_end_and_causal_lm_masks_the_prompt() {
    let tok = tokenizer::build();
    let id = |w: &str| tok.token_to_id(w).unwrap();
    let q = ex(Input::Text("the big cat chases the red ball".into()), Label::Class(2));
    let f = encode_text("t", &[q], &tok, TextEncoding::DecoderClassification { bos: Some(BOS_ID) }, 4).unwrap();
    assert_eq!(f[0].input_ids, [id("chases"), id("the"), id("red"), id("ball")]);
    let lm = ex(Input::Text("the cat".into()), Label::Text("sees the ball".into()));
    let enc = TextEncoding::CausalLm { bos: Some(BOS_ID), eos: EOS_ID };
    let f = encode_text("t", std::slice::from_ref(&lm), &tok, enc, 64).unwrap();
    assert_eq!(f[0].input_ids, [BOS_ID, id("the"), id("cat"), id("sees"), id("the"), id("ball"), EOS_ID]);
    assert_eq!(f[0].prompt_len, 3);
    let b = collate_text(&[&f[0]], 0, PaddingSide::Right);
    assert_eq!(b.labels, BatchLabels::Lm(vec![-100, -100, -100, i64::from(id("sees")), i64::from(id("the")), i64::from(id("ball")), i64::from(EOS_ID)]));
    // Truncated to 5: the loss still covers what is left of the target.
    let f = encode_text("t", &[lm], &tok, enc, 5).unwrap();
    assert_eq!(f[0].input_ids.len(), 5);
    assert_eq!(f[0].prompt_len, 3);
    // A text label cannot be encoded for a classifier.
    let bad = ex(Input::Text("the cat".into()), Label::Text("x".into()));
    let e = encode_text("mini-x", &[bad], &tok, TextEncoding::Encoder, 16).unwrap_err().to_string();
    assert!(e.contains("mini-x") && e.contains("test"), "{e}");
}

#[test]
fn tokenized_splits_are_cached_on_disk_and_reused() {
    let tok = tokenizer::build();
    let dir = tempfile::tempdir().unwrap();
    let tok_path = tokenizer::save(dir.path()).unwrap();
    let tok_hash = datasets::cache::file_sha256(&tok_path).unwrap();
    let splits = datasets::mini::text::similarity();
    let info = datasets::info("mini-similarity").unwrap();
    let key = CacheKey { dataset: info.name, split_protocol: info.split_protocol, tokenizer_sha256: &tok_hash, encoding: TextEncoding::Encoder, max_length: 64 };
    let encode = || -> datasets::Result<Splits<_>> {
        Ok(Splits {
            train: encode_text(info.name, &splits.train, &tok, TextEncoding::Encoder, 64)?,
            validation: encode_text(info.name, &splits.validation, &tok, TextEncoding::Encoder, 64)?,
            test: encode_text(info.name, &splits.test, &tok, TextEncoding::Encoder, 64)?,
        })
    };
    let cache = dir.path().join("cache");
    let (first, hit) = load_or_encode(&cache, &key, encode).unwrap();
    assert!(!hit);
    let (second, hit) = load_or_encode(&cache, &key, || panic!("must come from the cache")).unwrap();
    assert!(hit);
    assert_eq!(first, second);
    assert_eq!(second.train.len(), 2_000);
    // Another max length is another entry; a corrupt entry is a miss and is rewritten.
    let other = CacheKey { max_length: 32, ..key.clone() };
    assert_ne!(other.path_in(&cache), key.path_in(&cache));
    std::fs::write(key.path_in(&cache), b"BLDSTOK1garbage").unwrap();
    let (third, hit) = load_or_encode(&cache, &key, encode).unwrap();
    assert!(!hit);
    assert_eq!(third, first);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
