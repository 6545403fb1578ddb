//! The mini suite's models, pretrained by the harness itself on data it ships or generates, and
//! saved as Hugging Face checkpoints (`config.json`, `model.safetensors`, `tokenizer.json` or
//! `preprocessor_config.json`) under `<results>/models/<name>/`, so that fine-tuning reads them
//! through the same `load` code as a downloaded checkpoint.
//!
//! One file per model ([`encoder`]: `mini-encoder`, [`decoder`]: `mini-decoder`, [`vit`]:
//! `mini-vit`), each a [`MiniModel`] — its objective, its data, its schedule, its architecture
//! numbers and its pretraining pipeline; this file has what they share: the configuration
//! that identifies a pretraining, the training loop ([`fit`], on the same step as
//! fine-tuning), and the record beside the weights.
//!
//! A `pretrain.json` beside the weights records the configuration (and its hash: a changed
//! configuration pretrains again), the loss curve and the time taken.
//!
//! The three checkpoints are also committed under `experiments/mini/models/` ([`COMMITTED_ROOT`]):
//! pretraining takes minutes and its result depends on the CPU (gemm and the kernels take
//! other paths with and without AVX-512), so every machine starts fine-tuning from the same
//! weights: [`install_committed`] copies them in place when their configuration is the current
//! one; `cargo xtask pretrain mini --force` pretrains here instead and [`compare`]s the result
//! with the committed one.

mod decoder;
mod encoder;
mod vit;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use datasets::rng::SplitMix64;
use ledger::ScheduleKind;
use models::presets::Arch;
use peft_core::{AdamW, AdamWConfig, ParamGroups};
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::schedule::LrSchedule;
use crate::step::{StepError, train_step};

/// One mini model: what its file gives this module.
pub(crate) struct MiniModel {
    pub name: &'static str,
    /// The pretraining task, named so that a change to it (not only to the numbers) pretrains
    /// again.
    pub objective: &'static str,
    /// The fingerprints of its pretraining data (and tokenizer), concatenated.
    pub data_fingerprint: fn() -> String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Its architecture numbers (as `config.json` will hold them, `vocab` the mini tokenizer's)
    /// and the task of the model fine-tuning loads.
    pub arch: fn(&PretrainConfig, usize) -> (Arch, &'static str),
    /// Pretrains it and saves the checkpoint into the directory.
    pub pretrain: fn(&Path, &PretrainConfig, &Device, Option<&indicatif::ProgressBar>) -> Result<Pretrained, RunError>,
}

/// The mini models, in the order they are listed and pretrained.
const MODELS: &[&MiniModel] = &[&vit::MODEL, &encoder::MODEL, &decoder::MODEL];

/// The mini models' names.
pub fn names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.name).collect()
}

fn find(model: &str) -> Option<&'static MiniModel> {
    MODELS.iter().copied().find(|m| m.name == model)
}

/// How one mini model is pretrained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    pub model: String,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    /// The pretraining task, named so that a change to it (not only to the numbers above)
    /// pretrains again.
    pub objective: String,
    /// A SHA-256 of the pretraining data (and tokenizer): new data pretrains again.
    pub data: String,
}

impl PretrainConfig {
    /// The configuration of a mini model (every mini model is 2 layers of width 64).
    fn of(m: &MiniModel) -> Self {
        Self {
            model: m.name.to_string(),
            hidden: 64,
            layers: 2,
            heads: 4,
            intermediate: 256,
            epochs: m.epochs,
            batch_size: m.batch_size,
            lr: m.lr,
            seed: 0,
            objective: m.objective.to_string(),
            data: datasets::mini::hex_sha256((m.data_fingerprint)().as_bytes()),
        }
    }

    pub fn default_for(model: &str) -> Option<Self> {
        find(model).map(Self::of)
    }
}

/// The fingerprint of a mini data set (or the corpus, or the tokenizer).
fn fingerprint(dataset: &str) -> String {
    datasets::mini::fingerprint(dataset).expect("a mini data set")
}

/// The mini corpus and tokenizer: the pretraining data of the encoder and the decoder.
fn corpus_fingerprint() -> String {
    format!("{}{}", fingerprint("mini-corpus"), fingerprint("mini-tokenizer"))
}

/// What a mini cell's result depends on beyond its configuration: the mini model's
/// pretraining (its [`PretrainConfig`], data included) and the generated data set it is
/// fine-tuned on. `None` unless both are mini ones.
pub fn cell_fingerprint(model: &str, dataset: &str) -> Option<String> {
    let config = PretrainConfig::default_for(model)?;
    let data = datasets::mini::fingerprint(dataset)?;
    Some(datasets::mini::hex_sha256(format!("{}{data}", ledger::config_hash(&config)).as_bytes()))
}

/// The architecture numbers of a mini model (as `config.json` will hold them) and its task, for
/// `cargo xtask models` beside the paper's presets.
pub fn arch(model: &str) -> Option<(Arch, &'static str)> {
    let m = find(model)?;
    let vocab = datasets::mini::tokenizer::build().get_vocab_size(true);
    Some((m.arch)(&PretrainConfig::of(m), vocab))
}

/// What a model's pretraining measured.
pub(crate) struct Pretrained {
    /// Mean training loss per epoch.
    pub train_loss: Vec<f64>,
    pub held_out_accuracy: f64,
    pub parameters: usize,
}

/// What `pretrain.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PretrainRecord {
    pub config: PretrainConfig,
    pub config_hash: String,
    /// Mean training loss per epoch.
    pub train_loss: Vec<f64>,
    /// The pretraining task's accuracy on held-out data after the last epoch (masked tokens
    /// of the corpus's validation split; rotations of the digits' validation images).
    pub held_out_accuracy: f64,
    pub seconds: f64,
    pub parameters: usize,
}

/// The committed mini checkpoints are under this directory's `models/` (laid out as a results
/// directory's), relative to the repository root.
pub const COMMITTED_ROOT: &str = "experiments/mini";

/// Copies the committed checkpoint of `config.model` into `<results>/models/` when it was
/// pretrained with exactly `config`; returns whether it did (`false`: none is committed, or it
/// is from another configuration, and the model must be pretrained here).
pub fn install_committed(results_dir: &Path, config: &PretrainConfig) -> Result<bool, RunError> {
    if !is_pretrained(Path::new(COMMITTED_ROOT), config) {
        return Ok(false);
    }
    let from = model_dir(Path::new(COMMITTED_ROOT), &config.model);
    let to = model_dir(results_dir, &config.model);
    let io = |p: &Path, e: std::io::Error| RunError::msg(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(&to).map_err(|e| io(&to, e))?;
    for entry in std::fs::read_dir(&from).map_err(|e| io(&from, e))? {
        let entry = entry.map_err(|e| io(&from, e))?;
        // The record last: a copy cut off midway is not taken for a pretrained model.
        if entry.file_name() != "pretrain.json" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(|e| io(&entry.path(), e))?;
        }
    }
    std::fs::copy(from.join("pretrain.json"), to.join("pretrain.json")).map_err(|e| io(&from, e))?;
    Ok(true)
}

/// How a checkpoint pretrained here compares with the committed one.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub committed_held_out_accuracy: f64,
    pub held_out_accuracy: f64,
    /// The largest absolute difference of any weight; 0 when the weights are identical.
    pub max_abs_weight_difference: f64,
}

/// Compares `<results>/models/<model>` with the committed checkpoint of `model`, if one is
/// committed with the same configuration.
pub fn compare(results_dir: &Path, model: &str) -> Result<Option<Comparison>, RunError> {
    let committed = model_dir(Path::new(COMMITTED_ROOT), model);
    let record = |dir: &Path| -> Option<PretrainRecord> { serde_json::from_str(&std::fs::read_to_string(dir.join("pretrain.json")).ok()?).ok() };
    let here = model_dir(results_dir, model);
    let (Some(theirs), Some(ours)) = (record(&committed), record(&here)) else { return Ok(None) };
    if theirs.config_hash != ours.config_hash {
        return Ok(None);
    }
    let a = models::Weights::open(&[committed.join("model.safetensors")])?;
    let b = models::Weights::open(&[here.join("model.safetensors")])?;
    let mut worst = 0f64;
    for key in a.keys() {
        let shape = a.shape(key).unwrap_or_default();
        let (x, y) = (a.read_f32(key, &shape)?, b.read_f32(key, &shape)?);
        worst = x.iter().zip(&y).map(|(p, q)| (p - q).abs() as f64).fold(worst, f64::max);
    }
    Ok(Some(Comparison { committed_held_out_accuracy: theirs.held_out_accuracy, held_out_accuracy: ours.held_out_accuracy, max_abs_weight_difference: worst }))
}

/// The checkpoint directory of a mini model.
pub fn model_dir(results_dir: &Path, model: &str) -> PathBuf {
    results_dir.join("models").join(model)
}

/// Whether `model` is pretrained with exactly `config` already.
pub fn is_pretrained(results_dir: &Path, config: &PretrainConfig) -> bool {
    let path = model_dir(results_dir, &config.model).join("pretrain.json");
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    serde_json::from_str::<PretrainRecord>(&text).is_ok_and(|r| r.config_hash == ledger::config_hash(config))
        && model_dir(results_dir, &config.model).join("model.safetensors").is_file()
}

/// Pretrains one mini model and saves its checkpoint; `progress` shows the steps.
pub fn pretrain(results_dir: &Path, config: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<PretrainRecord, RunError> {
    let start = Instant::now();
    let dir = model_dir(results_dir, &config.model);
    let m = find(&config.model)
        .ok_or_else(|| RunError::msg(format!("no mini model `{}`; known: {}", config.model, names().join(", "))))?;
    let done = (m.pretrain)(&dir, config, device, progress)?;
    let record = PretrainRecord {
        config: config.clone(),
        config_hash: ledger::config_hash(config),
        train_loss: done.train_loss,
        held_out_accuracy: done.held_out_accuracy,
        seconds: start.elapsed().as_secs_f64(),
        parameters: done.parameters,
    };
    let path = dir.join("pretrain.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record).expect("JSON")).map_err(|e| RunError::msg(format!("{}: {e}", path.display())))?;
    Ok(record)
}

/// The indices 0..n shuffled by `g` and cut into batches (one epoch's order).
fn shuffled_batches(n: usize, batch: usize, g: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    g.shuffle(&mut order);
    order.chunks(batch).map(<[usize]>::to_vec).collect()
}

/// The pretraining loop over pre-made batches: AdamW, linear warm-up (5 %) and decay, global
/// norm clipped to 1, each step [`train_step`] as in fine-tuning. `loss` returns the batch loss; `epoch_batches(epoch)` the batches.
fn fit<M: Module, B>(
    mut model: M,
    config: &PretrainConfig,
    steps_per_epoch: usize,
    mut epoch_batches: impl FnMut(usize) -> Vec<B>,
    loss: impl Fn(&M, &B) -> Tensor<1>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(M, Vec<f64>), RunError> {
    let groups = ParamGroups::from_module(&model, &[]);
    let mut opt = AdamW::new(AdamWConfig { weight_decay: 0.01, max_grad_norm: Some(1.0), ..AdamWConfig::default() }, groups);
    let schedule = LrSchedule {
        kind: ScheduleKind::Linear,
        base_lr: config.lr,
        warmup_init_lr: 0.0,
        warmup_ratio: 0.05,
        total_steps: steps_per_epoch * config.epochs,
    };
    if let Some(b) = progress {
        b.set_length((steps_per_epoch * config.epochs) as u64);
        b.set_position(0);
    }
    let mut curve = Vec::new();
    let mut step = 0;
    for epoch in 0..config.epochs {
        let (mut sum, mut n) = (0.0, 0);
        for batch in epoch_batches(epoch) {
            let l = loss(&model, &batch);
            let v = match train_step(&mut opt, schedule.lr_at(step), model, l) {
                Ok((m, v, _)) => {
                    model = m;
                    v
                }
                Err(StepError::NonFiniteLoss(v)) => {
                    return Err(RunError::msg(format!("pretraining {}: loss is {v} at step {step}", config.model)));
                }
                Err(StepError::NonFiniteGradient(g)) => return Err(peft_core::PeftError::NonFiniteGradient(g).into()),
                Err(StepError::Optimizer(e)) => return Err(e.into()),
            };
            sum += v;
            n += 1;
            step += 1;
            if let Some(b) = progress {
                b.inc(1);
                b.set_message(format!("{} · epoch {}/{} · loss {:.3}", config.model, epoch + 1, config.epochs, sum / n as f64));
            }
        }
        curve.push(sum / n.max(1) as f64);
    }
    Ok((model, curve))
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::Weights;

    /// The counts `cargo xtask models` prints for the mini models are those of the models
    /// fine-tuning builds from the same configuration (backbone + a 2-class head; GPT-2 tied).
    #[test]
    fn arch_counts_match_the_built_models() {
        let device = Device::flex();
        let vocab = datasets::mini::tokenizer::build().get_vocab_size(true);
        let w = || Weights::random_init(0, 0.02);
        for m in MODELS {
            let c = PretrainConfig::of(m);
            let (arch, task) = (m.arch)(&c, vocab);
            let (base, head) = arch.param_counts(2, task);
            let built = match m.name {
                "mini-encoder" => {
                    let cfg = serde_json::from_value(encoder::encoder_config(vocab, &c)).unwrap();
                    models::bert::BertForSequenceClassification::load(&w(), &cfg, 2, &device).unwrap().num_params()
                }
                "mini-decoder" => {
                    let cfg = serde_json::from_value(decoder::decoder_config(vocab, &c)).unwrap();
                    models::gpt2::Gpt2LmHeadModel::load(&w(), &cfg, &device).unwrap().num_params()
                }
                _ => {
                    let cfg = serde_json::from_value(vit::vit_config(&c)).unwrap();
                    models::vit::VitForImageClassification::load(&w(), &cfg, 2, &device).unwrap().num_params()
                }
            };
            assert_eq!(base + head, built, "{}", m.name);
        }
    }
}
