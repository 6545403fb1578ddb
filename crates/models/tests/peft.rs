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
    dir: &'a std::path::Path,
    base: ExportBase<'a>,
}

impl FineTuneJob for TrainAndExport<'_> {
    type Output = (Vec<f32>, Exported);

    fn run<M: FineTune>(self, model: M) -> Self::Output {
        let targets = if self.family == "gpt2" { vec!["c_attn"] } else { vec!["query", "value"] };
        let config = AdapterConfig { rank: 2, alpha: 4.0, seed: 5, a_init: None };
        let (mut model, _) = model.apply_method(&TargetModules::names(&targets), self.method, &config).unwrap();
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
    for family in ["bert", "roberta", "vit", "gpt2"] {
        let ckpt = fixture(family);
        let (_, config) = ckpt.config_json().unwrap();
        for method in ["lora", "cola", "cla", "s-cla", "paca", "c-paca", "fft"] {
            let dir = tempfile::tempdir().unwrap();
            let model = load_for_finetuning(&ckpt, head_of(family), 1, &device).unwrap();
            let base = ExportBase { config: &config, name_or_path: "fixture" };
            let (want, exported) = model.fine_tune(TrainAndExport { family, method, dir: dir.path(), base }).unwrap();
            let got = match &exported {
                Exported::PeftLora { rank, lora_alpha, modules_to_save, .. } => {
                    let chains = if peft_core::method(method).unwrap().chained { 3 } else { 1 };
                    assert_eq!(*rank, 2 * chains, "{family}/{method}: R = chains · r");
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
            assert!(d <= 1e-5, "{family}/{method}: logits after export and reload differ by {d}");
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
