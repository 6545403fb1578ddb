//! Exporting a model back to transformers' layout gives the very tensors (names, shapes,
//! orientation, values) of the checkpoint it was loaded from, and a saved checkpoint loads
//! back to the same outputs; fine-tuning loads get a fresh head of the asked size.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use models::auto::{AnyModel, TaskHead, load, load_for_finetuning};
use models::export::{HfTensors, save_checkpoint};
use models::Checkpoint;
use safetensors::SafeTensors;

fn fixture(family: &str) -> Checkpoint {
    Checkpoint::Dir(common::fixtures().join(family))
}

/// Every exported tensor equals the fixture's bit for bit, and every fixture tensor not
/// matched by `ignore` was exported.
fn assert_same_as_fixture(family: &str, out: &HfTensors, ignore: &[&str]) {
    let bytes = std::fs::read(common::fixtures().join(family).join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (key, dims, values) in &out.tensors {
        let view = st.tensor(key).unwrap_or_else(|_| panic!("{family}: exported `{key}` is not a transformers key"));
        assert_eq!(view.shape(), dims.as_slice(), "{family}: shape of {key}");
        let stored: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(&stored, values, "{family}: values of {key}");
    }
    let exported: std::collections::BTreeSet<&str> = out.tensors.iter().map(|(k, _, _)| k.as_str()).collect();
    let missing: Vec<String> =
        st.names().into_iter().filter(|k| !exported.contains(*k) && !ignore.iter().any(|i| k.contains(i))).map(str::to_string).collect();
    assert!(missing.is_empty(), "{family}: not exported: {missing:?}");
}

#[test]
fn export_reproduces_the_checkpoint_tensors() {
    let device = Device::flex();
    let AnyModel::BertClassifier(bert) = load(&fixture("bert"), &device).unwrap() else { panic!("bert") };
    let mut out = HfTensors::default();
    bert.encoder.hf_tensors("bert.", &mut out);
    assert_eq!(out.tensors.len(), 41 - 4);
    assert_same_as_fixture("bert", &out, &["pooler", "classifier"]);

    let AnyModel::VitClassifier(vit) = load(&fixture("vit"), &device).unwrap() else { panic!("vit") };
    let mut out = HfTensors::default();
    vit.hf_tensors(&mut out);
    assert_same_as_fixture("vit", &out, &[]);

    let AnyModel::Gpt2Lm(gpt2) = load(&fixture("gpt2"), &device).unwrap() else { panic!("gpt2") };
    let mut out = HfTensors::default();
    gpt2.hf_tensors(&mut out);
    assert_same_as_fixture("gpt2", &out, &["attn.bias", "attn.masked_bias", "lm_head"]);
}

#[test]
fn saved_checkpoint_loads_back_to_the_same_outputs_and_a_new_head() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = fixture("vit");
    let AnyModel::VitClassifier(vit) = load(&ckpt, &device).unwrap() else { panic!("vit") };
    let (_, config) = ckpt.config_json().unwrap();
    let mut out = HfTensors::default();
    vit.hf_tensors(&mut out);
    save_checkpoint(dir.path(), &config, &out).unwrap();
    let saved = Checkpoint::Dir(dir.path().to_path_buf());
    let AnyModel::VitClassifier(back) = load(&saved, &device).unwrap() else { panic!("vit") };
    let size = vit.vit.config.image_size;
    let n = 2 * 3 * size * size;
    let px: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(px, [2, 3, size, size]), &device);
    let a: Vec<f32> = vit.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = back.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a, b);

    // Fine-tuning: a fresh 7-class head; the backbone is the stored one.
    let AnyModel::VitClassifier(ft) = load_for_finetuning(&saved, TaskHead::Classifier(7), 3, &device).unwrap() else { panic!("vit") };
    assert_eq!(ft.classifier.out_features(), 7);
    let h1: Vec<f32> = vit.vit.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let h2: Vec<f32> = ft.vit.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(h1, h2);
    // The new head is N(0, 0.02²) with zero bias, drawn from the seed.
    let w: Vec<f32> = ft.classifier.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
    assert!((0.01..0.03).contains(&std), "head std {std}");
    let bias: Vec<f32> = ft.classifier.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
    assert!(bias.iter().all(|&b| b == 0.0));
    let AnyModel::VitClassifier(again) = load_for_finetuning(&saved, TaskHead::Classifier(7), 3, &device).unwrap() else { panic!() };
    let w2: Vec<f32> = again.classifier.weight.val().into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(w, w2, "same seed, same head");
}

#[test]
fn finetuning_a_masked_lm_checkpoint_drops_its_pretraining_head() {
    // A BERT masked-LM checkpoint (encoder under `bert.` + `cls.predictions.*`): the classifier
    // loads with a fresh pooler and head, and the `cls.` tensors are not an error.
    let device = Device::flex();
    let ckpt = fixture("bert");
    let AnyModel::BertClassifier(bert) = load(&ckpt, &device).unwrap() else { panic!("bert") };
    let (_, mut config) = ckpt.config_json().unwrap();
    config["architectures"] = serde_json::json!(["BertForMaskedLM"]);
    let mut out = HfTensors::default();
    bert.encoder.hf_tensors("bert.", &mut out);
    let h = bert.encoder.config.hidden_size;
    out.push("cls.predictions.bias", Tensor::<1>::zeros([bert.encoder.config.vocab_size], &device));
    out.push("cls.predictions.transform.dense.weight", Tensor::<2>::zeros([h, h], &device));
    let dir = tempfile::tempdir().unwrap();
    save_checkpoint(dir.path(), &config, &out).unwrap();
    std::fs::copy(common::fixtures().join("bert/tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    let mlm = Checkpoint::Dir(dir.path().to_path_buf());
    assert!(matches!(load(&mlm, &device), Err(models::ModelError::UnexpectedKeys { .. })), "a bare encoder does not take cls.*");
    let AnyModel::BertClassifier(ft) = load_for_finetuning(&mlm, TaskHead::Classifier(3), 0, &device).unwrap() else { panic!() };
    assert_eq!(ft.classifier.out_proj.out_features(), 3);
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![2i64, 5, 9, 3], [1, 4]), &device);
    let mask = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64; 4], [1, 4]), &device);
    let a: Vec<f32> = bert.encoder.forward(ids.clone(), mask.clone()).into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = ft.encoder.forward(ids, mask).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a, b);
}
