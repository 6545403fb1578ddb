//! The mini suite's models, pretrained by the harness itself on data it ships or generates, and
//! saved as Hugging Face checkpoints (`config.json`, `model.safetensors`, `tokenizer.json` or
//! `preprocessor_config.json`) under `<results>/models/<name>/`, so that fine-tuning reads them
//! through the same `load` code as a downloaded checkpoint.
//!
//! - `mini-encoder`: a 2-layer BERT, masked-LM pretraining (15 % of tokens; 80 % `[MASK]`,
//!   10 % random, 10 % kept, as BERT) on the mini corpus with the mini word-level tokenizer.
//! - `mini-decoder`: a 2-layer GPT-2, next-token prediction on `[BOS] sentence [EOS]` of the
//!   mini corpus, LM head tied to the word embeddings.
//! - `mini-vit`: a 2-layer ViT on 8×8 images (2×2 patches), pretrained to predict the rotation
//!   (0°, 90°, 180°, 270°) of the UCI digits' training images — their labels are never used.
//!
//! A `pretrain.json` beside the weights records the configuration (and its hash: a changed
//! configuration pretrains again), the loss curve and the time taken.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, Param};
use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use datasets::encode::ImagePreprocessor;
use datasets::rng::SplitMix64;
use datasets::{Image, Input};
use models::Weights;
use models::bert::{BertConfig, BertModel};
use models::export::{HfTensors, save_checkpoint};
use models::gpt2::{Gpt2Config, Gpt2LmHeadModel};
use models::layers::{Act, LayerNorm, load_linear};
use models::vit::{VitConfig, VitForImageClassification};
use peft_core::{AdamW, AdamWConfig, AdaptedLinear, ParamGroups};
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::schedule::{LrSchedule, ScheduleKind};
use crate::task_model::next_token_logits;
use crate::train::weighted_nll;

/// The mini models, by name.
pub const MINI_MODELS: &[&str] = &["mini-vit", "mini-encoder", "mini-decoder"];

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
    pub fn default_for(model: &str) -> Option<Self> {
        let (objective, data) = match model {
            "mini-encoder" => (
                "masked-lm 15% (80/10/10) + [CLS] bag-of-words",
                format!("{}{}", fingerprint("mini-corpus"), fingerprint("mini-tokenizer")),
            ),
            "mini-decoder" => (
                "causal-lm on [BOS] sentence [EOS]",
                format!("{}{}", fingerprint("mini-corpus"), fingerprint("mini-tokenizer")),
            ),
            "mini-vit" => ("rotation (0/90/180/270) of mini-digits train images", fingerprint("mini-digits")),
            _ => return None,
        };
        let data = datasets::mini::hex_sha256(data.as_bytes());
        let base = |epochs, batch_size, lr| Self {
            model: model.to_string(),
            hidden: 64,
            layers: 2,
            heads: 4,
            intermediate: 256,
            epochs,
            batch_size,
            lr,
            seed: 0,
            objective: objective.to_string(),
            data: data.clone(),
        };
        match model {
            "mini-encoder" => Some(base(4, 64, 2e-3)),
            "mini-decoder" => Some(base(4, 64, 2e-3)),
            "mini-vit" => Some(base(12, 64, 2e-3)),
            _ => None,
        }
    }
}

fn fingerprint(dataset: &str) -> String {
    datasets::mini::fingerprint(dataset).expect("a mini data set")
}

/// What a mini cell's result depends on beyond its configuration: the mini model's
/// pretraining (its [`PretrainConfig`], data included) and the generated data set it is
/// fine-tuned on. `None` unless both are mini ones.
pub fn mini_cell_fingerprint(model: &str, dataset: &str) -> Option<String> {
    let config = PretrainConfig::default_for(model)?;
    let data = datasets::mini::fingerprint(dataset)?;
    Some(datasets::mini::hex_sha256(format!("{}{data}", crate::ledger::config_hash(&config)).as_bytes()))
}

/// The architecture numbers of a mini model (as `config.json` will hold them) and its task, for
/// `cargo xtask models` beside the paper's presets.
pub fn mini_arch(model: &str) -> Option<(models::presets::Arch, &'static str)> {
    use models::presets::Arch;
    let c = PretrainConfig::default_for(model)?;
    let vocab = datasets::mini::tokenizer::build().get_vocab_size(true);
    Some(match model {
        "mini-encoder" => (
            Arch::Encoder { vocab, hidden: c.hidden, layers: c.layers, intermediate: c.intermediate, positions: 64, type_vocab: 2, roberta: false },
            "sequence-classification",
        ),
        "mini-decoder" => (Arch::Gpt2 { vocab, hidden: c.hidden, layers: c.layers, positions: 64 }, "causal-lm"),
        _ => (Arch::Vit { hidden: c.hidden, layers: c.layers, intermediate: c.intermediate, image: VIT_SIZE, patch: 2 }, "image-classification"),
    })
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

/// The checkpoint directory of a mini model.
pub fn model_dir(results_dir: &Path, model: &str) -> PathBuf {
    results_dir.join("models").join(model)
}

/// Whether `model` is pretrained with exactly `config` already.
pub fn is_pretrained(results_dir: &Path, config: &PretrainConfig) -> bool {
    let path = model_dir(results_dir, &config.model).join("pretrain.json");
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    serde_json::from_str::<PretrainRecord>(&text).is_ok_and(|r| r.config_hash == crate::ledger::config_hash(config))
        && model_dir(results_dir, &config.model).join("model.safetensors").is_file()
}

/// Pretrains one mini model and saves its checkpoint; `progress` shows the steps.
pub fn pretrain(results_dir: &Path, config: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<PretrainRecord, RunError> {
    let start = Instant::now();
    let dir = model_dir(results_dir, &config.model);
    let (train_loss, held_out_accuracy, parameters) = match config.model.as_str() {
        "mini-encoder" => pretrain_encoder(&dir, config, device, progress)?,
        "mini-vit" => pretrain_vit(&dir, config, device, progress)?,
        "mini-decoder" => pretrain_decoder(&dir, config, device, progress)?,
        other => return Err(RunError::msg(format!("no mini model `{other}`; known: {}", MINI_MODELS.join(", ")))),
    };
    let record = PretrainRecord {
        config: config.clone(),
        config_hash: crate::ledger::config_hash(config),
        train_loss,
        held_out_accuracy,
        seconds: start.elapsed().as_secs_f64(),
        parameters,
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

/// A plain training loop over pre-made batches: AdamW, linear warm-up (5 %) and decay, global
/// norm clipped to 1. `loss` returns the batch loss; `epoch_batches(epoch)` the batches.
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
            let v = l.clone().into_scalar::<f32>() as f64;
            if !v.is_finite() {
                return Err(RunError::msg(format!("pretraining {}: loss is {v} at step {step}", config.model)));
            }
            model = opt.step(schedule.lr_at(step), model, l.backward())?.0;
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

// ---------------------------------------------------------------- mini-encoder (masked LM)

/// BERT with the masked-LM head transformers calls `cls.predictions` (decoder tied to the word
/// embeddings), and a sentence head on `[CLS]` that predicts which words the sentence holds.
///
/// Why the second head: masked-LM alone never trains the `[CLS]` position (BERT has its
/// next-sentence head for that), and in a 2-layer, 64-wide encoder its output then stays
/// nearly the same for every input, so a method that cannot move the embeddings (every
/// adapter method) has nothing to classify from — measured: LoRA stayed at chance on
/// mini-sentiment while FFT reached 100 %. Predicting the sentence's bag of words from
/// `[CLS]` makes it a summary of the content, as a sentence-level objective does in BERT.
/// The head is dropped when the checkpoint is saved.
#[derive(Module, Debug)]
struct BertForMaskedLm {
    bert: BertModel,
    transform: AdaptedLinear,
    transform_norm: LayerNorm,
    decoder_bias: Param<Tensor<1>>,
    bag_of_words: AdaptedLinear,
}

impl BertForMaskedLm {
    /// Masked-LM logits `[batch, seq, vocab]` and bag-of-words logits `[batch, vocab]`.
    fn logits(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> (Tensor<3>, Tensor<2>) {
        let h = self.bert.forward(ids, mask);
        let bag = self.bag_of_words.forward(models::layers::first_token(h.clone()));
        let h = self.transform_norm.forward(Act::Gelu.forward(self.transform.forward(h)));
        (self.bert.embeddings.word.attend(h) + self.decoder_bias.val().unsqueeze(), bag)
    }
}

fn encoder_config(vocab: usize, c: &PretrainConfig) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": vocab,
        "hidden_size": c.hidden, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
        "intermediate_size": c.intermediate, "hidden_act": "gelu", "max_position_embeddings": 64,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "transformers_version": "4.46.0"
    })
}

/// One masked-LM batch: ids with masks applied, attention mask, labels (-1 = no loss), and
/// which words each sentence holds (`[batch, vocab]`, 0/1, special tokens excluded).
struct MlmBatch {
    ids: Vec<i64>,
    mask: Vec<i64>,
    labels: Vec<i64>,
    bag: Vec<f32>,
    shape: [usize; 2],
}

fn mlm_batches(sentences: &[Vec<u32>], batch: usize, vocab: usize, g: &mut SplitMix64) -> Vec<MlmBatch> {
    use datasets::mini::tokenizer::{CLS_ID, MASK_ID, PAD_ID, SEP_ID};
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    g.shuffle(&mut order);
    order
        .chunks(batch)
        .map(|chunk| {
            let len = chunk.iter().map(|&i| sentences[i].len()).max().unwrap_or(0);
            let b = chunk.len();
            let (mut ids, mut mask, mut labels) = (vec![PAD_ID as i64; b * len], vec![0i64; b * len], vec![-1i64; b * len]);
            let mut bag = vec![0f32; b * vocab];
            for (r, &i) in chunk.iter().enumerate() {
                for &tok in &sentences[i] {
                    if tok >= 7 {
                        bag[r * vocab + tok as usize] = 1.0;
                    }
                }
                for (t, &tok) in sentences[i].iter().enumerate() {
                    let k = r * len + t;
                    mask[k] = 1;
                    ids[k] = i64::from(tok);
                    if tok == CLS_ID || tok == SEP_ID || g.unit_f64() >= 0.15 {
                        continue;
                    }
                    labels[k] = i64::from(tok);
                    let u = g.unit_f64();
                    if u < 0.8 {
                        ids[k] = i64::from(MASK_ID);
                    } else if u < 0.9 {
                        ids[k] = 7 + g.below(vocab - 7) as i64;
                    }
                }
            }
            MlmBatch { ids, mask, labels, bag, shape: [b, len] }
        })
        .collect()
}

/// Masked-LM loss (mean over masked tokens) plus the bag-of-words loss (binary cross-entropy
/// summed over the vocabulary, per word present: a scale like the masked-LM loss's), and the masked-LM logits (for the held-out accuracy).
fn mlm_loss(model: &BertForMaskedLm, b: &MlmBatch, device: &Device) -> (Tensor<1>, Tensor<3>) {
    let ids = Tensor::<2, Int>::from_data(TensorData::new(b.ids.clone(), b.shape), device);
    let mask = Tensor::<2, Int>::from_data(TensorData::new(b.mask.clone(), b.shape), device);
    let (logits, bag_logits) = model.logits(ids, mask);
    let present = Tensor::<2>::from_data(TensorData::new(b.bag.clone(), bag_logits.dims()), device);
    let words = b.bag.iter().sum::<f32>().max(1.0);
    let bag_loss = (present.clone() * log_sigmoid(bag_logits.clone()) + (present.neg() + 1.0) * log_sigmoid(bag_logits.neg())).sum().div_scalar(words).neg();
    let [bs, s, v] = logits.dims();
    let safe: Vec<i64> = b.labels.iter().map(|&l| l.max(0)).collect();
    let weight: Vec<f32> = b.labels.iter().map(|&l| if l >= 0 { 1.0 } else { 0.0 }).collect();
    let count = weight.iter().sum::<f32>().max(1.0);
    let labels = Tensor::<2, Int>::from_data(TensorData::new(safe, [bs * s, 1]), device);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [bs * s, 1]), device);
    (weighted_nll(logits.clone().reshape([bs * s, v]), labels, weight, f64::from(count)) + bag_loss, logits)
}

fn pretrain_encoder(dir: &Path, c: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<(Vec<f64>, f64, usize), RunError> {
    let tokenizer = datasets::mini::tokenizer::build();
    let vocab = tokenizer.get_vocab_size(true);
    let corpus = datasets::mini::corpus::sentences();
    let encode = |s: &[String]| -> Result<Vec<Vec<u32>>, RunError> {
        s.iter()
            .map(|t| tokenizer.encode(t.as_str(), true).map(|e| e.get_ids().to_vec()).map_err(|e| RunError::msg(format!("mini tokenizer: {e}"))))
            .collect()
    };
    let (train, val) = (encode(&corpus.train)?, encode(&corpus.validation)?);
    let json = encoder_config(vocab, c);
    let cfg: BertConfig = serde_json::from_value(json.clone()).expect("a valid BERT config");
    let ad = device.clone().autodiff();
    let w = Weights::random_init(c.seed, 0.02);
    let model = BertForMaskedLm {
        bert: BertModel::load(&w, &cfg, &ad)?,
        transform: load_linear(&w, "cls.predictions.transform.dense", "cls.predictions.transform.dense", c.hidden, c.hidden, true, &ad)?,
        transform_norm: LayerNorm::load(&w, "cls.predictions.transform.LayerNorm", c.hidden, 1e-12, &ad)?,
        decoder_bias: Param::from_tensor(w.tensor("cls.predictions.bias", [vocab], &ad)?),
        bag_of_words: load_linear(&w, "bag_of_words", "bag_of_words", c.hidden, vocab, true, &ad)?,
    };
    let parameters = model.num_params();
    let mut g = SplitMix64::for_stream("mini-encoder/mlm", c.seed);
    let steps = train.len().div_ceil(c.batch_size);
    let (model, curve) = fit(model, c, steps, |_| mlm_batches(&train, c.batch_size, vocab, &mut g), |m, b| mlm_loss(m, b, &ad).0, progress)?;
    // Held-out masked-token accuracy.
    let valid = model.valid();
    let mut gv = SplitMix64::for_stream("mini-encoder/mlm-val", c.seed);
    let (mut right, mut total) = (0usize, 0usize);
    for b in mlm_batches(&val, 128, vocab, &mut gv) {
        let (_, logits) = mlm_loss(&valid, &b, device);
        let pred: Vec<i64> = logits.argmax(2).into_data().convert::<i64>().try_to_vec().expect("ids");
        for (p, l) in pred.iter().zip(&b.labels) {
            if *l >= 0 {
                total += 1;
                right += usize::from(p == l);
            }
        }
    }
    let mut out = HfTensors::default();
    valid.bert.hf_tensors("bert.", &mut out);
    out.linear("cls.predictions.transform.dense", &valid.transform);
    out.layer_norm("cls.predictions.transform.LayerNorm", &valid.transform_norm);
    out.push("cls.predictions.bias", valid.decoder_bias.val());
    save_checkpoint(dir, &json, &out)?;
    datasets::mini::tokenizer::save(dir)?;
    Ok((curve, right as f64 / total.max(1) as f64, parameters))
}

// ---------------------------------------------------------------- mini-decoder (causal LM)

fn decoder_config(vocab: usize, c: &PretrainConfig) -> serde_json::Value {
    use datasets::mini::tokenizer::{BOS_ID, EOS_ID, PAD_ID};
    serde_json::json!({
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocab,
        "n_positions": 64, "n_ctx": 64, "n_embd": c.hidden, "n_layer": c.layers, "n_head": c.heads,
        "n_inner": c.intermediate, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID, "tie_word_embeddings": true,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
        "transformers_version": "4.46.0"
    })
}

/// `[BOS] sentence [EOS]` ids of every sentence (no template: the decoder has none).
fn decoder_sequences(tokenizer: &tokenizers::Tokenizer, sentences: &[String]) -> Result<Vec<Vec<u32>>, RunError> {
    use datasets::mini::tokenizer::{BOS_ID, EOS_ID};
    sentences
        .iter()
        .map(|s| {
            let e = tokenizer.encode(s.as_str(), false).map_err(|e| RunError::msg(format!("mini tokenizer: {e}")))?;
            Ok([&[BOS_ID][..], e.get_ids(), &[EOS_ID]].concat())
        })
        .collect()
}

/// Next-token loss (mean over real tokens) of one padded batch, and the number of correctly
/// predicted tokens (for the held-out accuracy) with their count.
fn causal_lm_loss(model: &Gpt2LmHeadModel, rows: &[&Vec<u32>], device: &Device) -> (Tensor<1>, usize, usize) {
    let (b, len) = (rows.len(), rows.iter().map(|r| r.len()).max().unwrap_or(0));
    let (mut ids, mut mask) = (vec![0i64; b * len], vec![0i64; b * len]);
    let (mut next, mut weight) = (vec![0i64; b * (len - 1)], vec![0f32; b * (len - 1)]);
    for (r, row) in rows.iter().enumerate() {
        for (t, &tok) in row.iter().enumerate() {
            ids[r * len + t] = i64::from(tok);
            mask[r * len + t] = 1;
            if t > 0 {
                next[r * (len - 1) + t - 1] = i64::from(tok);
                weight[r * (len - 1) + t - 1] = 1.0;
            }
        }
    }
    let logits = next_token_logits(model.forward(Tensor::from_data(TensorData::new(ids, [b, len]), device), Tensor::from_data(TensorData::new(mask, [b, len]), device)));
    let count = weight.iter().sum::<f32>().max(1.0);
    let right = {
        let pred: Vec<i64> = logits.clone().argmax(1).into_data().convert::<i64>().try_to_vec().expect("ids");
        pred.iter().zip(&next).zip(&weight).filter(|((p, n), w)| **w > 0.0 && p == n).count()
    };
    let next = Tensor::<2, Int>::from_data(TensorData::new(next, [b * (len - 1), 1]), device);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [b * (len - 1), 1]), device);
    (weighted_nll(logits, next, weight, f64::from(count)), right, count as usize)
}

fn pretrain_decoder(dir: &Path, c: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<(Vec<f64>, f64, usize), RunError> {
    let tokenizer = datasets::mini::tokenizer::build();
    let vocab = tokenizer.get_vocab_size(true);
    let corpus = datasets::mini::corpus::sentences();
    let (train, val) = (decoder_sequences(&tokenizer, &corpus.train)?, decoder_sequences(&tokenizer, &corpus.validation)?);
    let json = decoder_config(vocab, c);
    let cfg: Gpt2Config = serde_json::from_value(json.clone()).expect("a valid GPT-2 config");
    let ad = device.clone().autodiff();
    let model = Gpt2LmHeadModel::load(&Weights::random_init(c.seed, 0.02), &cfg, &ad)?;
    let parameters = model.num_params();
    let mut g = SplitMix64::for_stream("mini-decoder/causal-lm", c.seed);
    let steps = train.len().div_ceil(c.batch_size);
    let loss = |m: &Gpt2LmHeadModel, idx: &Vec<usize>| {
        let rows: Vec<&Vec<u32>> = idx.iter().map(|&i| &train[i]).collect();
        causal_lm_loss(m, &rows, &ad).0
    };
    let (model, curve) = fit(model, c, steps, |_| shuffled_batches(train.len(), c.batch_size, &mut g), loss, progress)?;
    let valid = model.valid();
    let (mut right, mut total) = (0, 0);
    for chunk in val.chunks(128) {
        let rows: Vec<&Vec<u32>> = chunk.iter().collect();
        let (_, r, n) = causal_lm_loss(&valid, &rows, device);
        right += r;
        total += n;
    }
    let mut out = HfTensors::default();
    valid.hf_tensors(&mut out);
    save_checkpoint(dir, &json, &out)?;
    datasets::mini::tokenizer::save(dir)?;
    Ok((curve, right as f64 / total.max(1) as f64, parameters))
}

// ---------------------------------------------------------------- mini-vit (rotation)

const VIT_SIZE: usize = 8;

fn vit_config(c: &PretrainConfig) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["ViTForImageClassification"], "model_type": "vit",
        "hidden_size": c.hidden, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
        "intermediate_size": c.intermediate, "hidden_act": "gelu", "image_size": VIT_SIZE, "patch_size": 2,
        "num_channels": 3, "layer_norm_eps": 1e-12, "qkv_bias": true, "num_labels": 4,
        "id2label": {"0": "rot0", "1": "rot90", "2": "rot180", "3": "rot270"},
        "label2id": {"rot0": 0, "rot90": 1, "rot180": 2, "rot270": 3},
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "transformers_version": "4.46.0"
    })
}

fn preprocessor_config() -> serde_json::Value {
    serde_json::json!({
        "do_normalize": true, "do_rescale": true, "do_resize": true, "image_processor_type": "ViTImageProcessor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 1.0 / 255.0,
        "size": {"height": VIT_SIZE, "width": VIT_SIZE}
    })
}

/// A square grey image turned by `quarter` × 90° counter-clockwise.
fn rotate(pixels: &[u8], n: usize, quarter: usize) -> Vec<u8> {
    let mut out = pixels.to_vec();
    for _ in 0..quarter {
        let prev = out.clone();
        for r in 0..n {
            for c in 0..n {
                out[(n - 1 - c) * n + r] = prev[r * n + c];
            }
        }
    }
    out
}

/// Every image of `split` in its four rotations, preprocessed, with the rotation as label.
fn rotations(images: &[Vec<u8>], pre: &ImagePreprocessor) -> Result<Vec<(Vec<f32>, usize)>, RunError> {
    let mut out = Vec::with_capacity(images.len() * 4);
    for img in images {
        for q in 0..4 {
            let image = Image::Raw { width: VIT_SIZE as u32, height: VIT_SIZE as u32, channels: 1, pixels: rotate(img, VIT_SIZE, q) };
            out.push((pre.apply(&image).map_err(RunError::msg)?, q));
        }
    }
    Ok(out)
}

fn pixel_batch(items: &[&(Vec<f32>, usize)], device: &Device) -> (Tensor<4>, Tensor<2, Int>) {
    let b = items.len();
    let px: Vec<f32> = items.iter().flat_map(|(p, _)| p.iter().copied()).collect();
    let y: Vec<i64> = items.iter().map(|(_, q)| *q as i64).collect();
    (
        Tensor::from_data(TensorData::new(px, [b, 3, VIT_SIZE, VIT_SIZE]), device),
        Tensor::from_data(TensorData::new(y, [b, 1]), device),
    )
}

fn pretrain_vit(dir: &Path, c: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<(Vec<f64>, f64, usize), RunError> {
    let splits = datasets::mini::digits::load();
    let grey = |examples: &[datasets::Example]| -> Vec<Vec<u8>> {
        examples
            .iter()
            .filter_map(|e| match &e.input {
                Input::Image(Image::Raw { pixels, .. }) => Some(pixels.clone()),
                _ => None,
            })
            .collect()
    };
    let pre = ImagePreprocessor::from_config_json(&preprocessor_config().to_string()).map_err(RunError::msg)?;
    let train = rotations(&grey(&splits.train), &pre)?;
    let val = rotations(&grey(&splits.validation), &pre)?;
    let json = vit_config(c);
    let cfg: VitConfig = serde_json::from_value(json.clone()).expect("a valid ViT config");
    let ad = device.clone().autodiff();
    let model = VitForImageClassification::load(&Weights::random_init(c.seed, 0.02), &cfg, 4, &ad)?;
    let parameters = model.num_params();
    let mut g = SplitMix64::for_stream("mini-vit/rotation", c.seed);
    let steps = train.len().div_ceil(c.batch_size);
    let loss = |m: &VitForImageClassification, idx: &Vec<usize>| {
        let items: Vec<&(Vec<f32>, usize)> = idx.iter().map(|&i| &train[i]).collect();
        let (x, y) = pixel_batch(&items, &ad);
        log_softmax(m.forward(x), 1).gather(1, y).mean().neg()
    };
    let (model, curve) = fit(model, c, steps, |_| shuffled_batches(train.len(), c.batch_size, &mut g), loss, progress)?;
    let valid = model.valid();
    let mut right = 0;
    for chunk in val.chunks(256) {
        let items: Vec<&(Vec<f32>, usize)> = chunk.iter().collect();
        let (x, _) = pixel_batch(&items, device);
        let pred: Vec<i64> = valid.forward(x).argmax(1).into_data().convert::<i64>().try_to_vec().expect("ids");
        right += pred.iter().zip(chunk).filter(|(p, (_, q))| **p == *q as i64).count();
    }
    let mut out = HfTensors::default();
    valid.hf_tensors(&mut out);
    save_checkpoint(dir, &json, &out)?;
    let pp = dir.join("preprocessor_config.json");
    std::fs::write(&pp, serde_json::to_string_pretty(&preprocessor_config()).expect("JSON")).map_err(|e| RunError::msg(format!("{}: {e}", pp.display())))?;
    Ok((curve, right as f64 / val.len().max(1) as f64, parameters))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts `cargo xtask models` prints for the mini models are those of the models the
    /// pretraining builds from the same configuration (backbone + a 2-class head; GPT-2 tied).
    #[test]
    fn mini_arch_counts_match_the_built_models() {
        let device = Device::flex();
        let vocab = datasets::mini::tokenizer::build().get_vocab_size(true);
        let w = || Weights::random_init(0, 0.02);
        for model in MINI_MODELS {
            let c = PretrainConfig::default_for(model).unwrap();
            let (arch, task) = mini_arch(model).unwrap();
            let (base, head) = arch.param_counts(2, task);
            let built = match *model {
                "mini-encoder" => {
                    let cfg: BertConfig = serde_json::from_value(encoder_config(vocab, &c)).unwrap();
                    models::bert::BertForSequenceClassification::load(&w(), &cfg, 2, &device).unwrap().num_params()
                }
                "mini-decoder" => {
                    let cfg: Gpt2Config = serde_json::from_value(decoder_config(vocab, &c)).unwrap();
                    Gpt2LmHeadModel::load(&w(), &cfg, &device).unwrap().num_params()
                }
                _ => {
                    let cfg: VitConfig = serde_json::from_value(vit_config(&c)).unwrap();
                    VitForImageClassification::load(&w(), &cfg, 2, &device).unwrap().num_params()
                }
            };
            assert_eq!(base + head, built, "{model}");
        }
    }
}
