//! HF PEFT's format both ways. A model adapted here (every kind of method: LoRA, a chained
//! method after resets, a one-hot selector, its gathered form, PaCA and C-PaCA; FFT) is
//! exported — a PEFT LoRA adapter over the fixture checkpoint, or a transformers checkpoint —
//! and loaded back through the PEFT reader on a model with a fresh head of another seed: the
//! logits are the trained model's. Against HF PEFT itself: `peft-lora/` fixtures saved by
//! PEFT (`make_peft_fixtures.py`) give PEFT's logits here.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};
use models::auto::{TaskHead, load, load_for_finetuning, load_with};
use models::peft::{ExportBase, Exported, PeftAdapter, export};
use models::{Checkpoint, FineTune, FineTuneJob, Inputs};
use peft_core::{AdapterConfig, Rng, TargetModules};

fn fixture(family: &str) -> Checkpoint {
    Checkpoint::Dir(common::fixtures().join(family))
}

fn random(shape: [usize; 2], seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = Rng::seed_from(seed);
    let v: Vec<f32> = (0..shape[0] * shape[1]).map(|_| rng.uniform(-0.5, 0.5) as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn inputs(family: &str, device: &Device) -> Inputs {
    if family == "vit" {
        let n = 2 * 3 * 32 * 32;
        let px: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        return Inputs::Pixels(Tensor::from_data(TensorData::new(px, [2, 3, 32, 32]), device));
    }
    let ids: Vec<i64> = vec![0, 10, 11, 12, 2, 1, 0, 20, 21, 22, 23, 2];
    let mask: Vec<i64> = vec![1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1];
    let t = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [2, 6]), device);
    Inputs::Text { ids: t(ids), types: t(vec![0; 12]), mask: t(mask), pad_id: 1 }
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Adapts the model with `method` (r = 2), moves every adapter (and, for FFT, a base weight)
/// away from its start — across two chain resets for chained methods — and exports it.
struct TrainAndExport<'a> {
    family: &'a str,
    method: &'a str,
    targets: &'a [&'a str],
    dir: &'a std::path::Path,
    base: ExportBase<'a>,
}

impl FineTuneJob for TrainAndExport<'_> {
    type Output = (Vec<f32>, Exported);

    fn run<M: FineTune>(self, model: M) -> Self::Output {
        let config = AdapterConfig { rank: 2, alpha: 4.0, seed: 5, a_init: None };
        let (mut model, _) = model.apply_method(&TargetModules::names(self.targets), self.method, &config).unwrap();
        for round in 0..3u64 {
            if round > 0 {
                for l in model.backbone_linears() {
                    let taken = std::mem::replace(l, peft_core::AdaptedLinear::plain(Tensor::zeros([1, 1], &l.weight.val().device()), None, "x").unwrap());
                    *l = taken.reset_chain();
                }
            }
            for (i, l) in model.backbone_linears().into_iter().enumerate() {
                let device = l.weight.val().device();
                let seed = 100 * round + i as u64;
                if let Some(b) = &l.lora_b {
                    l.lora_b = Some(Param::initialized(b.id, random(b.val().dims(), seed, &device)));
                }
                if let Some(c) = &l.columns {
                    let moved = c.val() + random(c.val().dims(), seed, &device);
                    l.columns = Some(Param::initialized(c.id, moved));
                }
                if self.method == "fft" && i == 0 {
                    let moved = l.weight.val() + random(l.weight.val().dims(), seed, &device);
                    l.weight = Param::initialized(l.weight.id, moved);
                }
            }
        }
        let logits = values(model.logits(&inputs(self.family, &Device::flex())));
        (logits, export(&model, self.dir, &self.base).unwrap())
    }
}

/// The logits of a model with a PEFT adapter applied.
struct WithAdapter<'a> {
    family: &'a str,
    adapter: &'a PeftAdapter,
}

impl FineTuneJob for WithAdapter<'_> {
    type Output = Vec<f32>;

    fn run<M: FineTune>(self, model: M) -> Vec<f32> {
        let model = self.adapter.apply(model).unwrap();
        values(model.logits(&inputs(self.family, &Device::flex())))
    }
}

struct Logits<'a>(&'a str);

impl FineTuneJob for Logits<'_> {
    type Output = Vec<f32>;

    fn run<M: FineTune>(self, model: M) -> Vec<f32> {
        values(model.logits(&inputs(self.0, &Device::flex())))
    }
}

fn head_of(family: &str) -> TaskHead {
    match family {
        "gpt2" => TaskHead::CausalLm,
        "vit" => TaskHead::Classifier(5),
        _ => TaskHead::Classifier(3),
    }
}

#[test]
fn every_method_exports_as_peft_or_transformers_and_loads_back_to_its_logits() {
    let device = Device::flex();
    // GPT-2 twice: on its fused c_attn (as HF PEFT adapts it) and on the query and value
    // thirds (as the paper does), which export as one block-structured LoRA on c_attn.
    let runs: [(&str, &[&str]); 5] = [
        ("bert", &["query", "value"]),
        ("roberta", &["query", "value"]),
        ("vit", &["query", "value"]),
        ("gpt2", &["c_attn"]),
        ("gpt2", &["c_attn.q", "c_attn.v"]),
    ];
    for (family, targets) in runs {
        let ckpt = fixture(family);
        let (_, config) = ckpt.config_json().unwrap();
        for method in ["lora", "cola", "cla", "s-cla", "paca", "c-paca", "fft"] {
            let dir = tempfile::tempdir().unwrap();
            let model = load_for_finetuning(&ckpt, head_of(family), 1, &device).unwrap();
            let base = ExportBase { config: &config, name_or_path: "fixture" };
            let (want, exported) = model.fine_tune(TrainAndExport { family, method, targets, dir: dir.path(), base }).unwrap();
            let got = match &exported {
                Exported::PeftLora { rank, lora_alpha, modules_to_save, .. } => {
                    let chains = if peft_core::method(method).unwrap().chained { 3 } else { 1 };
                    let thirds = if targets.len() == 2 && family == "gpt2" { 2 } else { 1 };
                    assert_eq!(*rank, 2 * chains * thirds, "{family}/{method}: R = chains · r (· 2 for the q and v thirds)");
                    let scale = if method.contains("paca") { 1.0 } else { 2.0 };
                    assert_eq!(*lora_alpha, scale * *rank as f64, "{family}/{method}");
                    let want_saved: &[&str] = match family {
                        "bert" => &["classifier", "bert.pooler"],
                        "gpt2" => &[],
                        _ => &["classifier"],
                    };
                    assert_eq!(modules_to_save, want_saved, "{family}/{method}");
                    let adapter = PeftAdapter::open(dir.path()).unwrap();
                    // A fresh head of another seed: the adapter's head must replace it.
                    let reloaded = load_with(&ckpt, head_of(family), 99, &device, |w| adapter.overlay_head(w)).unwrap();
                    reloaded.fine_tune(WithAdapter { family, adapter: &adapter }).unwrap()
                }
                Exported::Transformers { architecture } => {
                    assert_eq!(method, "fft");
                    assert!(dir.path().join("config.json").exists() && !dir.path().join("adapter_config.json").exists());
                    let (_, saved) = Checkpoint::Dir(dir.path().into()).config_json().unwrap();
                    assert_eq!(saved["architectures"][0], architecture.as_str());
                    load(&Checkpoint::Dir(dir.path().into()), &device).unwrap().fine_tune(Logits(family)).unwrap()
                }
            };
            let d = max_diff(&want, &got);
            assert!(d <= 1e-5, "{family}/{method} on {targets:?}: logits after export and reload differ by {d}");
        }
    }
}

/// `make_peft_fixtures.py` trained LoRA adapters with HF PEFT 0.21 on the fixture checkpoints
/// (BERT: query/value + the classifier and pooler as `modules_to_save`; GPT-2: `c_attn`, a
/// Conv1D) and saved them with `save_pretrained`, with PEFT's logits on the fixture's inputs.
#[test]
fn adapters_saved_by_hf_peft_give_pefts_logits() {
    let device = Device::flex();
    for family in ["bert", "gpt2"] {
        let dir = common::fixtures().join(family).join("peft-lora");
        let reference = common::Reference::open_file(&format!("{family}/peft-lora"), "reference.safetensors");
        let (want, _) = reference.f32("logits");
        let ids = reference.ints::<2>("input_ids", &device);
        let mask = reference.ints::<2>("attention_mask", &device);
        let types = Tensor::<2, Int>::zeros(ids.dims(), &device);
        let adapter = PeftAdapter::open(&dir).unwrap();
        let model = load_with(&fixture(family), if family == "gpt2" { TaskHead::CausalLm } else { TaskHead::AsDeclared }, 0, &device, |w| adapter.overlay_head(w)).unwrap();
        struct Run<'a>(&'a PeftAdapter, Inputs);
        impl FineTuneJob for Run<'_> {
            type Output = Vec<f32>;
            fn run<M: FineTune>(self, model: M) -> Vec<f32> {
                let model = self.0.apply(model).unwrap();
                values(model.logits(&self.1))
            }
        }
        let got = model.fine_tune(Run(&adapter, Inputs::Text { ids, types, mask, pad_id: 0 })).unwrap();
        let d = max_diff(&want, &got);
        assert!(d <= 1e-4, "{family}: logits with PEFT's adapter differ from PEFT's by {d}");
        let (base, _) = reference.f32("base_logits");
        assert!(max_diff(&base, &want) > 1e-2, "{family}: the fixture's adapter changes the logits");
    }
    // What cannot be applied exactly is refused, naming it.
    let dir = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(common::fixtures().join("bert/peft-lora/adapter_config.json")).unwrap();
    let dora = cfg.replace("\"use_dora\": false", "\"use_dora\": true");
    std::fs::write(dir.path().join("adapter_config.json"), dora).unwrap();
    let err = PeftAdapter::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("use_dora") && err.contains("adapter_config.json"), "{err}");
}

/// GPT-2's query and value, as the paper adapts them: splitting `c_attn` into its thirds keeps
/// the function; LoRA on `c_attn.q` and `c_attn.v` adapts exactly those two [h → h] thirds
/// (r · 2h trainable each), the key third and everything else frozen; `c_attn` alone still
/// adapts the fused projection (r · (h + 3h)), as HF PEFT does.
#[test]
fn gpt2_query_and_value_thirds_of_c_attn() {
    let device = Device::flex();
    let fused = gpt2(&device);
    let mut split = gpt2(&device);
    split.split_qkv().unwrap();
    let x = inputs("gpt2", &device);
    let d = max_diff(&values(fused.logits(&x)), &values(split.logits(&x)));
    assert!(d <= 1e-5, "splitting c_attn changed the logits by {d}");
    let names: Vec<String> = split.linears_mut().iter().map(|l| l.name().to_string()).collect();
    assert!(names.contains(&"h.0.attn.c_attn.q".to_string()) && names.contains(&"h.0.attn.c_attn.v".to_string()));
    assert!(!names.contains(&"h.0.attn.c_attn".to_string()));
    let (h, layers) = (fused.config.n_embd, fused.config.n_layer);
    let config = AdapterConfig { rank: 2, alpha: 4.0, seed: 5, a_init: None };
    let trainable = |m: &models::gpt2::Gpt2LmHeadModel| -> usize { peft_core::ParamGroups::from_module(m, &[]).count_by_group().values().sum() };
    // What trains is counted on an autodiff device (require_grad means nothing without one).
    let train_device = Device::flex().autodiff();
    let (mut qv, n) = gpt2(&train_device).apply_method(&TargetModules::names(&["c_attn.q", "c_attn.v"]), "lora", &config).unwrap();
    assert_eq!(n, 2 * layers, "the q and v thirds of every block");
    let adapted: Vec<String> = qv.linears_mut().iter().filter(|l| l.lora_factors().is_some()).map(|l| l.name().to_string()).collect();
    assert!(adapted.len() == 2 * layers && adapted.iter().all(|n| n.ends_with("c_attn.q") || n.ends_with("c_attn.v")), "{adapted:?}");
    assert_eq!(trainable(&qv), layers * 2 * 2 * (h + h));
    let (whole, n) = gpt2(&train_device).apply_method(&TargetModules::names(&["c_attn"]), "lora", &config).unwrap();
    assert_eq!((n, trainable(&whole)), (layers, layers * 2 * (h + 3 * h)));
}

fn gpt2(device: &Device) -> models::gpt2::Gpt2LmHeadModel {
    match load(&fixture("gpt2"), device).unwrap() {
        models::AnyModel::Gpt2Lm(m) => m,
        other => panic!("{other:?}"),
    }
}
