//! Dropout as transformers applies it in `model.train()`: only on an autodiff (training) device,
//! with the config's probabilities, reproducible from the backend seed; never in inference.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Distribution, Int, Tensor};
use models::Checkpoint;
use models::auto::{AnyModel, load};
use models::layers::{dropout, seed_dropout};

mod common;

use common::{Reference, fixtures};

/// The mask generator is one per process: tests that seed it and draw take turns.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn dropout_zeroes_a_fraction_p_and_scales_the_rest() {
    let _turn = GENERATOR.lock().unwrap();
    let device = Device::flex().autodiff();
    let x: Tensor<2> = Tensor::random([400, 500], Distribution::Uniform(1.0, 2.0), &device).require_grad();
    seed_dropout(&device, 7);
    let y = dropout(x.clone(), 0.25);
    let (xs, ys): (Vec<f32>, Vec<f32>) =
        (x.clone().into_data().try_to_vec().unwrap(), y.clone().into_data().try_to_vec().unwrap());
    let dropped = ys.iter().filter(|&&v| v == 0.0).count() as f64 / ys.len() as f64;
    assert!((dropped - 0.25).abs() < 0.005, "dropped fraction {dropped}");
    // Neighbouring elements are independent: P(both dropped) ≈ p².
    let pairs = ys.chunks(2).filter(|p| p[0] == 0.0 && p[1] == 0.0).count() as f64 / (ys.len() / 2) as f64;
    assert!((pairs - 0.0625).abs() < 0.004, "both of a pair dropped: {pairs}");
    for (a, b) in xs.iter().zip(&ys) {
        assert!(*b == 0.0 || (b - a / 0.75).abs() <= 1e-6 * b.abs(), "kept {a} became {b}, not {a}/0.75");
    }
    // The gradient flows through the kept elements only, scaled alike.
    let grads = y.clone().sum().backward();
    let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    for (gi, yi) in g.iter().zip(&ys) {
        assert_eq!(*gi, if *yi == 0.0 { 0.0 } else { 1.0 / 0.75 });
    }
    // The same seed draws the same mask.
    seed_dropout(&device, 7);
    let again: Vec<f32> = dropout(x.clone(), 0.25).into_data().try_to_vec().unwrap();
    assert_eq!(again, ys);
    // No dropout without autodiff (inference) or at p = 0.
    let plain = x.clone().inner();
    assert_eq!(dropout(plain.clone(), 0.25).into_data(), plain.into_data());
    assert_eq!(dropout(x.clone(), 0.0).into_data(), x.into_data());
}

/// The fixture `family` copied to a temporary directory with `edit` applied to its config.
fn fixture_with(family: &str, tag: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("models-dropout-{}-{family}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures().join(family)).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let path = dir.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(&path, cfg.to_string()).unwrap();
    dir
}

/// The model's main output on `device` for the fixture's reference inputs, flattened.
fn output(dir: &Path, family: &str, device: &Device) -> Vec<f32> {
    let r = Reference::open(family);
    let ids: Tensor<2, Int> = r.ints("input_ids", device);
    let mask: Tensor<2, Int> = r.ints("attention_mask", device);
    let out = match load(&Checkpoint::Dir(dir.to_path_buf()), device).unwrap() {
        AnyModel::BertClassifier(m) => m.forward(ids, mask).into_data(),
        AnyModel::DebertaClassifier(m) => m.forward(ids, mask).into_data(),
        AnyModel::Gpt2Lm(m) => m.forward(ids, mask).into_data(),
        _ => panic!("{family}: not a family this test covers"),
    };
    out.convert::<f32>().try_to_vec().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn models_drop_only_while_training_with_their_config_probabilities() {
    let _turn = GENERATOR.lock().unwrap();
    let zero = |c: &mut serde_json::Value| {
        for key in ["hidden_dropout_prob", "attention_probs_dropout_prob", "embd_pdrop", "attn_pdrop", "resid_pdrop"] {
            if c.get(key).is_some() {
                c[key] = serde_json::json!(0.0);
            }
        }
    };
    for family in ["roberta", "deberta-v2", "gpt2"] {
        let train = Device::flex().autodiff();
        let with = fixture_with(family, "as-is", |_| {});
        let without = fixture_with(family, "zero", zero);
        let inference = output(&with, family, &Device::flex());
        seed_dropout(&train, 3);
        let a = output(&with, family, &train);
        seed_dropout(&train, 3);
        let b = output(&with, family, &train);
        seed_dropout(&train, 4);
        let c = output(&with, family, &train);
        assert_eq!(a, b, "{family}: the same seed must drop the same units");
        assert!(max_abs_diff(&a, &c) > 1e-3, "{family}: another seed must drop other units");
        assert!(max_abs_diff(&a, &inference) > 1e-3, "{family}: training output equals inference: no dropout applied");
        // With the config's probabilities at 0 the training forward is the inference one (up to
        // the summation order of autodiff's matmuls: 4e-6 on GPT-2's logits).
        let d = max_abs_diff(&output(&without, family, &train), &inference);
        assert!(d < 2e-5, "{family}: without dropout, training and inference differ by {d}");
        std::fs::remove_dir_all(with).ok();
        std::fs::remove_dir_all(without).ok();
    }
}

#[test]
fn a_dropout_probability_outside_0_1_is_a_config_error() {
    let dir = fixture_with("roberta", "bad", |c| c["attention_probs_dropout_prob"] = serde_json::json!(1.5));
    let err = load(&Checkpoint::Dir(dir.clone()), &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("1.5 is not a dropout probability"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
