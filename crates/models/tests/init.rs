//! Fresh initialisation: a whole model from a seed (the mini suite pretrains from one), and a
//! new task head on a pretrained backbone (fine-tuning replaces the checkpoint's head).

use burn::tensor::{Device, Int, Tensor, TensorData};
use models::Weights;
use models::bert::{BertConfig, BertForSequenceClassification};
use safetensors::SafeTensors;

mod common;

fn fixture(name: &str) -> std::path::PathBuf {
    common::fixtures().join(name)
}

fn roberta_config() -> BertConfig {
    serde_json::from_str(&std::fs::read_to_string(fixture("roberta/config.json")).unwrap()).unwrap()
}

fn batch(device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    (
        Tensor::from_data(TensorData::new(vec![0i64, 10, 11, 12, 2, 0, 20, 21, 22, 2], [2, 5]), device),
        Tensor::from_data(TensorData::new(vec![1i64; 10], [2, 5]), device),
    )
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

#[test]
fn a_random_model_is_a_function_of_its_seed() {
    let device = Device::flex();
    let cfg = roberta_config();
    let logits = |seed| {
        let m = BertForSequenceClassification::load(&Weights::random_init(seed, 0.02), &cfg, 3, &device).unwrap();
        let (ids, mask) = batch(&device);
        (values(m.forward(ids, mask)), m)
    };
    let (a, m) = logits(1);
    let (b, _) = logits(1);
    let (c, _) = logits(2);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 2 * 3);
    // transformers' init: normal(0, 0.02) matrices, zero biases, unit LayerNorm weights.
    let w = values(m.encoder.layers[0].query.weight.val());
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.004, "std {std}");
    assert!(values(m.encoder.layers[0].query.bias.as_ref().unwrap().val()).iter().all(|v| *v == 0.0));
    assert!(values(m.encoder.embeddings.norm.weight.val()).iter().all(|v| *v == 1.0));
}

#[test]
fn a_new_head_on_a_pretrained_backbone() {
    // The RoBERTa fixture without its classifier: a pretrained backbone.
    let dir = std::env::temp_dir().join(format!("models-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(fixture("roberta/model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        st.tensors().into_iter().filter(|(k, _)| !k.starts_with("classifier.")).collect();
    let path = dir.join("model.safetensors");
    safetensors::serialize_to_file(kept, None, &path).unwrap();

    let device = Device::flex();
    let cfg = roberta_config();
    // Without permission to initialise, the missing head is an error naming the key.
    let err = BertForSequenceClassification::load(&Weights::open(std::slice::from_ref(&path)).unwrap(), &cfg, 5, &device).unwrap_err();
    assert!(err.to_string().contains("classifier.dense.weight"), "{err}");

    let w = Weights::open(std::slice::from_ref(&path)).unwrap().init_missing(&["classifier."], 7, 0.02);
    let m = BertForSequenceClassification::load(&w, &cfg, 5, &device).unwrap();
    w.ensure_all_used(&[]).unwrap();
    let (ids, mask) = batch(&device);
    assert_eq!(m.forward(ids.clone(), mask.clone()).dims(), [2, 5]);
    // The backbone is the checkpoint's: its hidden states equal a full load's.
    let full = BertForSequenceClassification::load(&Weights::open(&[fixture("roberta/model.safetensors")]).unwrap(), &cfg, 2, &device).unwrap();
    assert_eq!(values(m.encoder.forward(ids.clone(), mask.clone())), values(full.encoder.forward(ids, mask)));
    assert!(values(m.classifier.out_proj.bias.as_ref().unwrap().val()).iter().all(|v| *v == 0.0));
    std::fs::remove_dir_all(dir).ok();
}
