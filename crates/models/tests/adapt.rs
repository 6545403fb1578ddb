//! peft-core adapters on a loaded model, PEFT-style: the targeted linears (query, value)
//! become adapted layers, everything else but the head is frozen, the function at init is the
//! base model's, and an optimizer step moves only the adapters and the head.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use models::Checkpoint;
use models::auto::{AnyModel, load};
use peft_core::{AdamW, AdamWConfig, AdapterConfig, ParamGroupKind, ParamGroups, TargetModules};

fn roberta(device: &Device) -> models::bert::BertForSequenceClassification {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures/roberta");
    match load(&Checkpoint::Dir(dir), device).unwrap() {
        AnyModel::BertClassifier(m) => m,
        other => panic!("{other:?}"),
    }
}

fn batch(device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let ids: Vec<i64> = vec![0, 10, 11, 12, 2, 1, 0, 20, 21, 22, 23, 2];
    let mask: Vec<i64> = vec![1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1];
    (
        Tensor::from_data(TensorData::new(ids, [2, 6]), device),
        Tensor::from_data(TensorData::new(mask, [2, 6]), device),
    )
}

/// The model's function: logits in inference (no autodiff, so no dropout).
fn logits(m: &models::bert::BertForSequenceClassification, device: &Device) -> Vec<f32> {
    let (ids, mask) = batch(&device.clone().inner());
    m.valid().forward(ids, mask).into_data().convert::<f32>().try_to_vec().unwrap()
}

#[test]
fn lora_on_query_and_value_of_a_loaded_roberta() {
    let device = Device::flex().autodiff();
    let base = roberta(&device);
    let before = logits(&base, &device);
    for method in ["lora", "s-r-c3la", "paca", "fft"] {
        let mut model = roberta(&device);
        let cfg = AdapterConfig::paper(4, 0);
        let targets = TargetModules::names(&["query", "value"]);
        let (encoder, n) = models::apply_method(model.encoder, |e| e.linears_mut(), &targets, method, &cfg).unwrap();
        model.encoder = encoder;
        if method == "fft" {
            assert_eq!(n, 0);
        } else {
            assert_eq!(n, 4, "{method}: 2 layers × (query, value)");
        }
        let after = logits(&model, &device);
        assert_eq!(before, after, "{method}: adapting changes the function at init");

        let groups = ParamGroups::from_module(&model, &["classifier"]);
        let counts = groups.count_by_group();
        let h = 32;
        match method {
            "lora" => {
                assert_eq!(counts[&ParamGroupKind::A], 4 * h * 4);
                assert_eq!(counts[&ParamGroupKind::B], 4 * 4 * h);
                assert!(!counts.contains_key(&ParamGroupKind::Base), "{method}: the base is frozen");
            }
            "s-r-c3la" => assert_eq!(counts[&ParamGroupKind::B], 4 * 4 * h),
            "paca" => assert_eq!(counts[&ParamGroupKind::BaseColumns], 4 * 4 * h),
            "fft" => assert_eq!(counts[&ParamGroupKind::Base], model.encoder.num_params()),
            _ => unreachable!(),
        }
        // The head trains for every method (as the paper's reference code).
        assert_eq!(counts[&ParamGroupKind::Head], model.classifier.num_params());

        // One step: the key projection (never a target) stays bitwise the same unless FFT.
        let key_before: Vec<f32> = model.encoder.layers[0].key.weight.val().into_data().try_to_vec().unwrap();
        let (ids, mask) = batch(&device);
        let loss = model.forward(ids, mask).powi_scalar(2).mean();
        let grads = loss.backward();
        let mut opt = AdamW::new(AdamWConfig::default(), groups);
        let (model, _) = opt.step(1e-2, model, grads).unwrap();
        let key_after: Vec<f32> = model.encoder.layers[0].key.weight.val().into_data().try_to_vec().unwrap();
        if method == "fft" {
            assert_ne!(key_before, key_after);
        } else {
            assert_eq!(key_before, key_after, "{method}: a frozen base weight moved");
            assert_ne!(logits(&model, &device), before, "{method}: the step changed nothing");
        }
    }
}

#[test]
fn all_linear_and_missing_targets() {
    let device = Device::flex();
    let mut model = roberta(&device);
    let n = models::adapt_linears(model.encoder.linears_mut(), &TargetModules::all_linear(), "cla", &AdapterConfig::paper(2, 0)).unwrap();
    assert_eq!(n, 2 * 6);
    let mut model = roberta(&device);
    let err = models::adapt_linears(model.encoder.linears_mut(), &TargetModules::names(&["q_proj"]), "lora", &AdapterConfig::paper(2, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("q_proj"), "{err}");
}

#[test]
fn a_chain_reset_over_a_trained_model_keeps_its_function() {
    let device = Device::flex().autodiff();
    for method in ["cola", "r-c3la", "c-paca", "lora"] {
        let mut model = roberta(&device);
        let targets = TargetModules::names(&["query", "value"]);
        let (encoder, _) = models::apply_method(model.encoder, |e| e.linears_mut(), &targets, method, &AdapterConfig::paper(4, 0)).unwrap();
        model.encoder = encoder;
        let groups = ParamGroups::from_module(&model, &["classifier"]);
        let mut opt = AdamW::new(AdamWConfig::default(), groups);
        for _ in 0..2 {
            let (ids, mask) = batch(&device);
            let grads = model.forward(ids, mask).powi_scalar(2).mean().backward();
            model = opt.step(1e-2, model, grads).unwrap().0;
        }
        let before = logits(&model, &device);
        let adapter_ids: Vec<_> = model.encoder.layers[0].query.adapter_param_ids();
        assert!(adapter_ids.iter().all(|id| opt.step_count(id) == 2), "{method}");
        let n = models::reset_chains(model.encoder.linears_mut(), &mut opt);
        let after = logits(&model, &device);
        let max = before.iter().zip(&after).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        if method == "lora" {
            assert_eq!(n, 0);
            assert_eq!(before, after);
            continue;
        }
        assert_eq!(n, 4, "{method}");
        assert!(max <= 1e-5, "{method}: a reset changed the logits by {max}");
        assert_eq!(model.encoder.layers[0].query.state.chain, 1);
        assert!(adapter_ids.iter().all(|id| opt.step_count(id) == 0), "{method}: optimizer state not reset");
        // Training goes on from the new chain.
        let (ids, mask) = batch(&device);
        let grads = model.forward(ids, mask).powi_scalar(2).mean().backward();
        let model = opt.step(1e-2, model, grads).unwrap().0;
        assert_ne!(logits(&model, &device), after, "{method}");
    }
}

/// The closed-form counts of Table 6 (`peft_core::count_params`) are what an adapted model
/// really holds: its trainable parameters (adapter + head) and everything it stores — but for
/// PaCA, whose trained columns C are held beside the frozen W (C₀ stays inside W) while the
/// closed form counts them as part of W, as the paper does: r · n more per layer.
#[test]
fn table6_closed_form_counts_match_the_adapted_model() {
    let device = Device::flex().autodiff();
    let plain = roberta(&device);
    let (base, head) = (plain.encoder.num_params(), plain.classifier.num_params());
    let h = 32;
    let layers = vec![peft_core::LayerShape::new(h, h); 4]; // query and value of 2 layers
    for method in ["fft", "lora", "lora-plus", "asym-lora", "cla", "s-cla", "r-c3la", "paca"] {
        let mut model = roberta(&device);
        let targets = TargetModules::names(&["query", "value"]);
        let (encoder, _) = models::apply_method(model.encoder, |e| e.linears_mut(), &targets, method, &AdapterConfig::paper(4, 0)).unwrap();
        model.encoder = encoder;
        let trainable: usize = ParamGroups::from_module(&model, &["classifier"]).count_by_group().values().sum();
        let want = peft_core::count_params(peft_core::method(method).unwrap(), &layers, 4, base, head);
        assert_eq!(trainable, want.trainable, "{method}: trainable");
        let column_copies = if method == "paca" { layers.iter().map(|l| 4 * l.out_features).sum() } else { 0 };
        assert_eq!(model.num_params(), want.total + column_copies, "{method}: stored");
    }
}
