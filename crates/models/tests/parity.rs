//! Parity with transformers: tiny random-weight checkpoints of each family, written by
//! `fixtures/make_fixtures.py` in the real HF layout together with transformers' outputs, are
//! loaded through the same path as a real download (an hf-hub cache, offline) and must give
//! the same hidden states and logits (≤ 1e-4) and the same token ids.

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hub::{Hub, HubRepo};
use models::auto::{AnyModel, load};
use models::{Checkpoint, ModelError};

mod common;

use common::{Reference, assert_tokenizer_parity, fixtures};

/// The fixture `family` imported into a fresh offline hub cache, as `fixtures/<family>`.
fn checkpoint(family: &str) -> (Checkpoint, PathBuf) {
    // One cache per call: tests run in parallel, and two of them may load the same family (a
    // re-import under another test's memory map would pull the file from under it).
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cache = std::env::temp_dir().join(format!("models-parity-{}-{family}-{call}", std::process::id()));
    let hub = Hub::offline_at(&cache);
    let repo = HubRepo::model(&format!("fixtures/{family}"));
    hub.import_dir(&repo, &fixtures().join(family), "0000000000000000000000000000000000000000").unwrap();
    (Checkpoint::Hub { hub, repo }, cache)
}

fn values<const D: usize>(t: Tensor<D>) -> (Vec<f32>, Vec<usize>) {
    let dims = t.dims().to_vec();
    (t.into_data().convert::<f32>().try_to_vec().unwrap(), dims)
}

fn assert_close(what: &str, ours: (Vec<f32>, Vec<usize>), theirs: (Vec<f32>, Vec<usize>), tol: f32) {
    assert_eq!(ours.1, theirs.1, "{what}: shape");
    let max = ours.0.iter().zip(&theirs.0).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max <= tol, "{what}: max abs error {max} > {tol}");
    eprintln!("{what}: max abs error {max:.2e}");
}

fn text_parity(family: &str) {
    let device = Device::flex();
    let (ckpt, cache) = checkpoint(family);
    let r = Reference::open(family);
    let ids: Tensor<2, Int> = r.ints("input_ids", &device);
    let mask: Tensor<2, Int> = r.ints("attention_mask", &device);
    let model = load(&ckpt, &device).unwrap();
    let tol = 1e-4;
    match &model {
        AnyModel::BertClassifier(m) => {
            let hidden = m.encoder.forward(ids.clone(), mask.clone());
            assert_close(&format!("{family} last_hidden_state"), values(hidden.clone()), r.f32("last_hidden_state"), tol);
            assert_close(&format!("{family} logits"), values(m.head(hidden)), r.f32("logits"), tol);
        }
        AnyModel::Gpt2Lm(m) => {
            assert_close(&format!("{family} last_hidden_state"), values(m.hidden(ids.clone(), mask.clone())), r.f32("last_hidden_state"), tol);
            assert_close(&format!("{family} logits"), values(m.forward(ids, mask)), r.f32("logits"), tol);
        }
        AnyModel::LlamaLm(m) => {
            assert_close(&format!("{family} last_hidden_state"), values(m.model.forward(ids.clone(), mask.clone())), r.f32("last_hidden_state"), tol);
            assert_close(&format!("{family} logits"), values(m.forward(ids, mask)), r.f32("logits"), tol);
        }
        AnyModel::LlamaClassifier(m) => {
            let pad = m.model.config.pad_token_id.expect("pad id");
            assert_close(&format!("{family} last_hidden_state"), values(m.model.forward(ids.clone(), mask.clone())), r.f32("last_hidden_state"), tol);
            assert_close(&format!("{family} logits"), values(m.forward(ids, mask, pad)), r.f32("logits"), tol);
        }
        AnyModel::DebertaClassifier(m) => {
            let hidden = m.encoder.forward(ids.clone(), mask.clone());
            assert_close(&format!("{family} last_hidden_state"), values(hidden.clone()), r.f32("last_hidden_state"), tol);
            assert_close(&format!("{family} logits"), values(m.head(hidden)), r.f32("logits"), tol);
        }
        other => panic!("{family}: unexpected model {other:?}"),
    }
    assert_tokenizer_parity(family, &ckpt, &r);
    std::fs::remove_dir_all(cache).ok();
}

#[test]
fn bert_matches_transformers() {
    text_parity("bert");
}

/// A sentence pair with `token_type_ids` (segment 1 for the second sentence) gives
/// transformers' logits; without the types it would not (the segment embeddings differ).
#[test]
fn bert_token_type_ids_match_transformers() {
    let device = Device::flex();
    let (ckpt, cache) = checkpoint("bert");
    let r = Reference::open_file("bert", "token_types.safetensors");
    let (ids, types, mask) = (r.ints("input_ids", &device), r.ints("token_type_ids", &device), r.ints("attention_mask", &device));
    let AnyModel::BertClassifier(m) = load(&ckpt, &device).unwrap() else { panic!("bert fixture: expected a classifier") };
    assert_close("bert pair logits", values(m.forward_with_types(ids.clone(), types, mask.clone())), r.f32("logits"), 1e-4);
    let untyped = values(m.forward(ids, mask)).0;
    let gap = untyped.iter().zip(&r.f32("logits").0).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(gap > 1e-3, "segment ids made no difference ({gap})");
    std::fs::remove_dir_all(cache).ok();
}

#[test]
fn roberta_matches_transformers() {
    text_parity("roberta");
}

/// DeBERTa-v3 layout: relative attention with log buckets (sentence 3 reaches them), c2p + p2c
/// with shared keys, padded rows, and the tokenizer built from spm.model (no tokenizer.json).
#[test]
fn deberta_v3_matches_transformers() {
    assert!(!fixtures().join("deberta-v2/tokenizer.json").exists(), "the fixture must exercise the spm.model path");
    text_parity("deberta-v2");
}

/// DeBERTa-v2-xlarge/xxlarge layout: the convolution after the first layer (kernel 3, gelu,
/// 2 groups) over padded rows, `pos_att_type` as the hub's pipe string, and an spm.model
/// without a precompiled normaliser.
#[test]
fn deberta_v2_conv_matches_transformers() {
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("deberta-v2-conv/config.json")).unwrap()).unwrap();
    assert_eq!((cfg["conv_kernel_size"].as_u64(), cfg["pos_att_type"].as_str()), (Some(3), Some("p2c|c2p")));
    text_parity("deberta-v2-conv");

    // An even kernel would shorten the sequence (PyTorch pads (k − 1)/2 per side): refused.
    let dir = std::env::temp_dir().join(format!("models-deberta-even-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut even = cfg;
    even["conv_kernel_size"] = serde_json::json!(2);
    std::fs::write(dir.join("config.json"), even.to_string()).unwrap();
    std::fs::copy(fixtures().join("deberta-v2-conv/model.safetensors"), dir.join("model.safetensors")).unwrap();
    let err = load(&Checkpoint::Dir(dir.clone()), &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("conv_kernel_size 2 is even"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn deberta_v3_spm_tokenizer_adds_mask_and_pairs() {
    // A local directory (a hub cache of the same fixture would race with the parity test's).
    let tok = models::tokenizer::load_tokenizer(&Checkpoint::Dir(fixtures().join("deberta-v2"))).unwrap();
    // [MASK] is not a piece: transformers adds it after the 200 pieces.
    assert_eq!(tok.token_to_id("[MASK]"), Some(200));
    // Expected ids from transformers 5.23 (`AutoTokenizer` on the fixture) unless noted.
    let enc = |s: &str| models::tokenizer::encode(&tok, s).unwrap();
    assert_eq!(enc("[MASK]"), vec![1, 200, 2]);
    assert_eq!(enc("[MASK] x [CLS]"), vec![1, 200, 4, 95, 1, 2]);
    assert_eq!(enc("  leading spaces"), vec![1, 4, 98, 20, 31, 154, 13, 199, 6, 5, 2]);
    assert_eq!(enc("a  b\tc\nd"), vec![1, 11, 37, 4, 199, 161, 2]);
    assert_eq!(enc("trailing  "), vec![1, 4, 8, 21, 13, 23, 18, 31, 2]);
    // The model's own nmt_nfkc map (sentencepiece, and transformers 4's converter) folds
    // full-width letters and ligatures; transformers 5 rebuilds the normaliser with NFC only
    // and gives [1, 4, 3, 34, 20, 27, 4, 3, 61, 2] here. We follow sentencepiece.
    assert_eq!(enc("ＦＵＬＬ width ﬁne"), vec![1, 4, 183, 190, 194, 194, 34, 20, 27, 59, 38, 6, 2]);
    let pair = tok.encode(("Hello", "world"), true).unwrap();
    assert_eq!(pair.get_ids(), &[1, 4, 195, 51, 17, 2, 65, 81, 2]);
    assert_eq!(pair.get_type_ids(), &[0, 0, 0, 0, 0, 0, 1, 1, 1]);
}

/// PEFT target names (`query_proj`, `value_proj`) reach the DeBERTa linears, and LoRA at init
/// leaves the logits unchanged.
#[test]
fn deberta_v3_linears_take_peft_targets() {
    let device = Device::flex();
    let dir = fixtures().join("deberta-v2");
    let AnyModel::DebertaClassifier(mut m) = load(&Checkpoint::Dir(dir), &device).unwrap() else { panic!("not a DeBERTa classifier") };
    let r = Reference::open("deberta-v2");
    let (ids, mask): (Tensor<2, Int>, Tensor<2, Int>) = (r.ints("input_ids", &device), r.ints("attention_mask", &device));
    let before = values(m.forward(ids.clone(), mask.clone()));
    let names: Vec<String> = m.encoder.linears_mut().iter().map(|l| l.name().to_string()).collect();
    assert!(names.contains(&"encoder.layer.1.attention.self.query_proj".to_string()), "{names:?}");
    assert_eq!(names.len(), 2 * 6);
    let targets = peft_core::TargetModules::names(&["query_proj", "value_proj"]);
    let cfg = peft_core::AdapterConfig::paper(4, 0);
    let (encoder, n) = models::apply_method(m.encoder, |e| e.linears_mut(), &targets, "lora", &cfg).unwrap();
    m.encoder = encoder;
    assert_eq!(n, 4);
    assert_close("deberta-v2 logits after lora init", values(m.forward(ids, mask)), before, 0.0);
}

#[test]
fn gpt2_matches_transformers() {
    text_parity("gpt2");
}

#[test]
fn gpt2_f16_weights_are_converted() {
    text_parity("gpt2-f16");
}

#[test]
fn llama_gqa_rope_scaling_sharded_matches_transformers() {
    text_parity("llama");
}

#[test]
fn llama_bf16_sequence_classifier_left_padded_matches_transformers() {
    text_parity("llama-cls");
}

#[test]
fn vit_matches_transformers() {
    let device = Device::flex();
    let (ckpt, cache) = checkpoint("vit");
    let r = Reference::open("vit");
    let (pixels, shape) = r.f32("pixel_values");
    let pixels: Tensor<4> = Tensor::from_data(TensorData::new(pixels, [shape[0], shape[1], shape[2], shape[3]]), &device);
    let AnyModel::VitClassifier(m) = load(&ckpt, &device).unwrap() else { panic!("not a ViT classifier") };
    assert_close("vit last_hidden_state", values(m.vit.forward(pixels.clone())), r.f32("last_hidden_state"), 1e-4);
    assert_close("vit logits", values(m.forward(pixels)), r.f32("logits"), 1e-4);
    std::fs::remove_dir_all(cache).ok();
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let device = Device::flex();
    let root = std::env::temp_dir().join(format!("models-bad-{}", std::process::id()));
    // An unknown model_type.
    let dir = root.join("unknown");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type": "mamba"}"#).unwrap();
    std::fs::copy(fixtures().join("bert/model.safetensors"), dir.join("model.safetensors")).unwrap();
    let err = load(&Checkpoint::Dir(dir.clone()), &device).unwrap_err().to_string();
    assert!(err.contains("unknown model_type `mamba`") && err.contains("config.json") && err.contains("roberta"), "{err}");
    // A truncated safetensors file.
    let dir = root.join("truncated");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixtures().join("bert/config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(fixtures().join("bert/model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = load(&Checkpoint::Dir(dir.clone()), &device).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("truncated or corrupt"), "{err}");
    // A tensor of the wrong shape: the BERT weights under a config with another hidden size.
    let dir = root.join("shape");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("bert/config.json")).unwrap()).unwrap();
    let (h, i) = (cfg["hidden_size"].as_u64().unwrap(), cfg["intermediate_size"].as_u64().unwrap());
    cfg["intermediate_size"] = serde_json::json!(i + 8);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    std::fs::copy(fixtures().join("bert/model.safetensors"), dir.join("model.safetensors")).unwrap();
    let err = load(&Checkpoint::Dir(dir.clone()), &device).unwrap_err().to_string();
    assert!(
        err.contains("encoder.layer.0.intermediate.dense.weight") && err.contains(&format!("[{i}, {h}]")) && err.contains(&format!("[{}, {h}]", i + 8)),
        "{err}"
    );
    // A missing file, offline.
    let hub = Hub::offline_at(root.join("cache"));
    let err = load(&Checkpoint::Hub { hub, repo: HubRepo::model("org/absent") }, &device).unwrap_err();
    assert!(matches!(err, ModelError::Hub(_)), "{err}");
    assert!(err.to_string().contains("config.json") && err.to_string().contains("huggingface-cli download org/absent"), "{err}");
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn vit_image_preprocessing_matches_transformers_bit_for_bit() {
    // The data pipeline's preprocessor (datasets::encode), on the fixture's image.
    let r = Reference::open("vit");
    let (image, shape) = r.i64s("image_uint8");
    let (h, w) = (shape[0], shape[1]);
    let pixels: Vec<u8> = image.into_iter().map(|v| v as u8).collect();
    let image = datasets::Image::Raw { width: w as u32, height: h as u32, channels: 3, pixels };
    let text = std::fs::read_to_string(fixtures().join("vit/preprocessor_config.json")).unwrap();
    let pre = datasets::encode::ImagePreprocessor::from_config_json(&text).unwrap();
    let ours = pre.apply(&image).unwrap();
    let (theirs, shape) = r.f32("pixel_values");
    assert_eq!(shape, vec![1, 3, 32, 32]);
    let max = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max <= 1e-6, "pixel_values: max abs error {max}");
}

