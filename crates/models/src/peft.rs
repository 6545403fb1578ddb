//! HF PEFT's on-disk format, both ways: a fine-tuned model written so that
//! `PeftModel.from_pretrained` (or, for FFT, transformers' `from_pretrained`) loads it as it
//! is, and a LoRA adapter saved by HF PEFT applied to a model here.
//!
//! - Adapter methods → `adapter_config.json` + `adapter_model.safetensors`, as
//!   `peft.LoraConfig` / `save_pretrained` write them (PEFT 0.21): `base_model.model.<module>
//!   .lora_A.weight` [R, in], `…lora_B.weight` [out, R], the trained head under
//!   `base_model.model.<key>` (`modules_to_save`). Every method's update is exactly a LoRA
//!   ([`peft_core::AdaptedLinear::lora_factors`]): LoRA-type methods as trained; chained methods
//!   with the factors of every chain side by side (R = chains · r, `lora_alpha` keeping α/r);
//!   selector methods with a one-hot A; PaCA with a one-hot A and B = C − C₀ (`lora_alpha` =
//!   R: scale 1). The base is the pretrained checkpoint the cell started from.
//! - FFT → a transformers checkpoint of the task class (`config.json` + `model.safetensors`).
//!
//! Mirrors `peft/tuners/lora/config.py` (the fields written) and `peft/utils/save_and_load.py`
//! (the key names).

use std::collections::BTreeMap;
use std::path::Path;

use peft_core::safetensors_io::{shape_and_values, write_f32};
use peft_core::{AdapterConfig, TargetModules};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::export::{HfTensors, save_checkpoint};
use crate::finetune::{FineTune, HfTask};
use crate::weights::Weights;

/// The adapter's files, as PEFT names them.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The prefix PEFT's `save_pretrained` puts before the base model's module paths.
pub const KEY_PREFIX: &str = "base_model.model.";

/// What an export starts from: the base checkpoint's `config.json` and how PEFT should name
/// it (`base_model_name_or_path`: the hub repository, or the checkpoint's directory).
pub struct ExportBase<'a> {
    pub config: &'a serde_json::Value,
    pub name_or_path: &'a str,
}

/// What [`export`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "format")]
pub enum Exported {
    /// An HF PEFT LoRA adapter over the base checkpoint.
    PeftLora { rank: usize, lora_alpha: f64, target_modules: Vec<String>, modules_to_save: Vec<String> },
    /// A whole transformers checkpoint (FFT).
    Transformers { architecture: String },
}

/// The fields of PEFT's `LoraConfig` this harness writes and reads (the rest keep PEFT's
/// defaults).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoraConfigJson {
    pub peft_type: String,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    pub target_modules: TargetModulesJson,
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default = "bias_none")]
    pub bias: String,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default)]
    pub rank_pattern: BTreeMap<String, usize>,
    #[serde(default)]
    pub alpha_pattern: BTreeMap<String, f64>,
    #[serde(default)]
    pub inference_mode: bool,
}

fn bias_none() -> String {
    "none".into()
}

/// PEFT's `target_modules`: module names (a suffix match) or one regular expression.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModulesJson {
    Names(Vec<String>),
    Regex(String),
}

impl LoraConfigJson {
    /// The modules PEFT adapts, as [`TargetModules`] (the same suffix match as
    /// `peft.tuners.tuners_utils.check_target_module_exists` for a list of names).
    fn target_modules(&self) -> Result<TargetModules, ModelError> {
        match &self.target_modules {
            TargetModulesJson::Names(names) => Ok(TargetModules::Names(names.clone())),
            TargetModulesJson::Regex(r) => Err(ModelError::Unsupported(format!(
                "target_modules is the regular expression `{r}`: only a list of module names is supported"
            ))),
        }
    }
}

fn io_err(path: &Path, e: impl ToString) -> ModelError {
    ModelError::Weights { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes `model` into `dir` (created) for HF: a PEFT LoRA adapter when any linear is adapted,
/// else a transformers checkpoint of the task class.
pub fn export<M: FineTune>(model: &M, dir: &Path, base: &ExportBase) -> Result<Exported, ModelError> {
    let mut out = HfTensors::default();
    let task = model.hf_export(&mut out)?;
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    if out.adapters.is_empty() {
        save_checkpoint(dir, &task_config(base.config, &task), &out)?;
        return Ok(Exported::Transformers { architecture: task.architecture.to_string() });
    }
    write_adapter(dir, &out, &task, base)
}

/// The base `config.json` made the task class's: its `architectures`, and a classifier's
/// labels (kept when the base already has that many).
fn task_config(base: &serde_json::Value, task: &HfTask) -> serde_json::Value {
    let mut c = base.clone();
    c["architectures"] = serde_json::json!([task.architecture]);
    if let Some(n) = task.num_labels
        && crate::num_labels(base, 0) != n
    {
        let id2label: serde_json::Map<String, serde_json::Value> = (0..n).map(|i| (i.to_string(), format!("LABEL_{i}").into())).collect();
        let label2id: serde_json::Map<String, serde_json::Value> = (0..n).map(|i| (format!("LABEL_{i}"), i.into())).collect();
        c["id2label"] = id2label.into();
        c["label2id"] = label2id.into();
        if let Some(o) = c.as_object_mut() {
            o.remove("num_labels");
        }
    }
    c
}

fn write_adapter(dir: &Path, out: &HfTensors, task: &HfTask, base: &ExportBase) -> Result<Exported, ModelError> {
    let mut tensors = Vec::new();
    let mut ranks: BTreeMap<usize, usize> = BTreeMap::new();
    let adapters: Vec<(String, &peft_core::LoraFactors)> = out.adapters.iter().map(|(k, f)| (task.module_of(k), f)).collect();
    for (path, f) in &adapters {
        let (a_dims, a) = shape_and_values(f.a.clone().transpose());
        let (b_dims, b) = shape_and_values(f.b.clone().transpose());
        *ranks.entry(a_dims[0]).or_default() += 1;
        tensors.push((format!("{KEY_PREFIX}{path}.lora_A.weight"), a_dims, a));
        tensors.push((format!("{KEY_PREFIX}{path}.lora_B.weight"), b_dims, b));
    }
    // The most common rank is `r`; any other layer's goes in `rank_pattern` (PEFT's way).
    let rank = ranks.iter().max_by_key(|(r, n)| (**n, **r)).map(|(r, _)| *r).unwrap_or(0);
    let scale = adapters[0].1.scale;
    let mut rank_pattern = BTreeMap::new();
    let mut alpha_pattern = BTreeMap::new();
    for (path, f) in &adapters {
        let r = f.a.dims()[1];
        if r != rank || f.scale != scale {
            rank_pattern.insert(path.clone(), r);
            alpha_pattern.insert(path.clone(), f.scale * r as f64);
        }
    }
    let mut modules_to_save = Vec::new();
    for prefix in task.head_prefixes {
        let mut any = false;
        for (key, dims, values) in out.tensors.iter().filter(|(k, _, _)| k.starts_with(prefix)) {
            tensors.push((format!("{KEY_PREFIX}{key}"), dims.clone(), values.clone()));
            any = true;
        }
        if any {
            modules_to_save.push(prefix.trim_end_matches('.').to_string());
        }
    }
    let target_modules: Vec<String> = adapters.iter().map(|(p, _)| p.clone()).collect();
    let config = LoraConfigJson {
        peft_type: "LORA".into(),
        task_type: task.peft_task_type.map(String::from),
        base_model_name_or_path: Some(base.name_or_path.to_string()),
        r: rank,
        lora_alpha: scale * rank as f64,
        lora_dropout: 0.0,
        target_modules: TargetModulesJson::Names(target_modules.clone()),
        modules_to_save: (!modules_to_save.is_empty()).then(|| modules_to_save.clone()),
        fan_in_fan_out: task.fan_in_fan_out,
        bias: "none".into(),
        use_rslora: false,
        use_dora: false,
        rank_pattern,
        alpha_pattern,
        inference_mode: true,
    };
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    write_f32(&dir.join(ADAPTER_WEIGHTS), &tensors, meta)?;
    let path = dir.join(ADAPTER_CONFIG);
    let tmp = dir.join(".adapter_config.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&config).expect("JSON")).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    Ok(Exported::PeftLora { rank, lora_alpha: config.lora_alpha, target_modules, modules_to_save })
}

/// An HF PEFT LoRA adapter directory, read.
pub struct PeftAdapter {
    pub dir: std::path::PathBuf,
    pub config: LoraConfigJson,
}

impl PeftAdapter {
    /// Reads `dir/adapter_config.json`; what this harness cannot apply exactly (DoRA, bias
    /// training, per-module ranks, a regex target) is an error naming it.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(ADAPTER_CONFIG);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Config { path: path.clone(), message: e.to_string() })?;
        let config: LoraConfigJson =
            serde_json::from_str(&text).map_err(|e| ModelError::Config { path: path.clone(), message: format!("not a PEFT LoRA config: {e}") })?;
        let refuse = |what: &str| Err(ModelError::Config { path: path.clone(), message: format!("{what}: not supported here") });
        if config.peft_type != "LORA" {
            return refuse(&format!("peft_type {}", config.peft_type));
        }
        if config.use_dora {
            return refuse("use_dora (DoRA)");
        }
        if config.bias != "none" {
            return refuse(&format!("bias = \"{}\" (trained biases)", config.bias));
        }
        if !config.rank_pattern.is_empty() || !config.alpha_pattern.is_empty() {
            return refuse("rank_pattern / alpha_pattern (per-module ranks)");
        }
        if let TargetModulesJson::Regex(r) = &config.target_modules {
            return refuse(&format!("target_modules as the regular expression `{r}`"));
        }
        Ok(Self { dir: dir.to_path_buf(), config })
    }

    /// The base checkpoint's weights with the adapter's trained head (`modules_to_save`: every
    /// tensor of the file that is not a LoRA factor) in place of the checkpoint's — an `edit`
    /// for [`crate::auto::load_with`].
    pub fn overlay_head(&self, w: Weights) -> Result<Weights, ModelError> {
        w.with_overlay(&self.dir.join(ADAPTER_WEIGHTS), KEY_PREFIX, |k| !k.contains(".lora_"))
    }

    /// The LoRA scale as PEFT computes it: α/r, or α/√r with rsLoRA; returned as the α that
    /// gives it with this harness's α/r.
    fn alpha_for_rank(&self) -> f64 {
        let r = self.config.r as f64;
        if self.config.use_rslora { self.config.lora_alpha * r.sqrt() } else { self.config.lora_alpha }
    }

    /// `model` with the adapter's LoRA on the modules it targets (a `lora` adapter of its
    /// rank and scale, the factors read from the file). Load the model with
    /// [`Self::overlay_head`] first so that it has the adapter's head.
    pub fn apply<M: FineTune>(&self, model: M) -> Result<M, ModelError> {
        let mut names = HfTensors::default();
        let task = model.hf_export(&mut names)?;
        let mut targeted: Vec<(String, String)> = Vec::new();
        let peft_targets = self.config.target_modules()?;
        for (key, ours) in &names.linears {
            let head = task.head_prefixes.iter().any(|p| format!("{key}.").starts_with(p));
            let module = task.module_of(key);
            if !head && peft_targets.matches(&module) {
                targeted.push((module, ours.clone()));
            }
        }
        let file = self.dir.join(ADAPTER_WEIGHTS);
        if targeted.is_empty() {
            return Err(ModelError::Config { path: self.dir.join(ADAPTER_CONFIG), message: format!("target_modules {:?} match no linear of the model", self.config.target_modules) });
        }
        let ours: Vec<&str> = targeted.iter().map(|(_, o)| o.as_str()).collect();
        let config = AdapterConfig { rank: self.config.r, alpha: self.alpha_for_rank(), seed: 0, a_init: None };
        let (mut model, _) = model.apply_method(&TargetModules::names(&ours), "lora", &config)?;
        let w = Weights::open(&[file])?;
        let r = self.config.r;
        let mut applied = 0;
        for slot in model.backbone_linears() {
            let Some((hf, _)) = targeted.iter().find(|(_, o)| o == slot.name()) else { continue };
            let (n_in, n_out) = (slot.in_features(), slot.out_features());
            let device = slot.weight.val().device();
            // PEFT's lora_A [r, in] and lora_B [out, r] are linear weights: read transposed.
            let a = w.linear_weight(&format!("{KEY_PREFIX}{hf}.lora_A.weight"), n_in, r, &device)?;
            let b = w.linear_weight(&format!("{KEY_PREFIX}{hf}.lora_B.weight"), r, n_out, &device)?;
            *slot = crate::finetune::take(slot).with_factors(a, b)?;
            applied += 1;
        }
        let unused: Vec<String> = w.unused_keys(&[]).into_iter().filter(|k| k.contains(".lora_")).collect();
        if !unused.is_empty() || applied != targeted.len() {
            return Err(ModelError::UnexpectedKeys { path: self.dir.join(ADAPTER_WEIGHTS), keys: unused });
        }
        Ok(model)
    }
}
