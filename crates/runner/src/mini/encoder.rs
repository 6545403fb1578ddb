//! `mini-encoder`: a 2-layer BERT pretrained with masked LM (15 % of tokens; 80 % `[MASK]`,
//! 10 % random, 10 % kept, as BERT) on the mini corpus, plus a `[CLS]` bag-of-words head.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use datasets::rng::SplitMix64;
use models::Weights;
use models::bert::{BertArch, BertConfig, BertModel};
use models::export::{HfTensors, save_checkpoint};
use models::layers::{Act, LayerNorm, load_linear};
use models::presets::Arch;
use peft_core::AdaptedLinear;

use super::{MiniModel, PretrainConfig, Pretrained, corpus_fingerprint, fit};
use crate::RunError;
use crate::loss::{bag_of_words, weighted_nll};

pub(super) const MODEL: MiniModel = MiniModel {
    name: "mini-encoder",
    objective: "masked-lm 15% (80/10/10) + [CLS] bag-of-words",
    data_fingerprint: corpus_fingerprint,
    epochs: 4,
    batch_size: 64,
    lr: 2e-3,
    arch,
    pretrain,
};

fn arch(c: &PretrainConfig, vocab: usize) -> (Arch, &'static str) {
    (
        Arch::Encoder(BertArch { vocab, hidden: c.hidden, layers: c.layers, intermediate: c.intermediate, positions: 64, type_vocab: 2, roberta: false }),
        "sequence-classification",
    )
}

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

pub(super) fn encoder_config(vocab: usize, c: &PretrainConfig) -> serde_json::Value {
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
/// summed over the vocabulary, per word present: a scale like the masked-LM loss's), and the
/// masked-LM logits (for the held-out accuracy).
fn mlm_loss(model: &BertForMaskedLm, b: &MlmBatch, device: &Device) -> (Tensor<1>, Tensor<3>) {
    let ids = Tensor::<2, Int>::from_data(TensorData::new(b.ids.clone(), b.shape), device);
    let mask = Tensor::<2, Int>::from_data(TensorData::new(b.mask.clone(), b.shape), device);
    let (logits, bag_logits) = model.logits(ids, mask);
    let present = Tensor::<2>::from_data(TensorData::new(b.bag.clone(), bag_logits.dims()), device);
    let words = b.bag.iter().sum::<f32>().max(1.0);
    let bag_loss = bag_of_words(bag_logits, present, f64::from(words));
    let [bs, s, v] = logits.dims();
    let safe: Vec<i64> = b.labels.iter().map(|&l| l.max(0)).collect();
    let weight: Vec<f32> = b.labels.iter().map(|&l| if l >= 0 { 1.0 } else { 0.0 }).collect();
    let count = weight.iter().sum::<f32>().max(1.0);
    let labels = Tensor::<2, Int>::from_data(TensorData::new(safe, [bs * s, 1]), device);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [bs * s, 1]), device);
    (weighted_nll(logits.clone().reshape([bs * s, v]), labels, weight, f64::from(count)) + bag_loss, logits)
}

fn pretrain(dir: &Path, c: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<Pretrained, RunError> {
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
    let mut g = SplitMix64::for_stream(c.seed, "mini-encoder/mlm");
    let steps = train.len().div_ceil(c.batch_size);
    let (model, curve) = fit(model, c, steps, |_| mlm_batches(&train, c.batch_size, vocab, &mut g), |m, b| mlm_loss(m, b, &ad).0, progress)?;
    // Held-out masked-token accuracy.
    let valid = model.valid();
    let mut gv = SplitMix64::for_stream(c.seed, "mini-encoder/mlm-val");
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
    Ok(Pretrained { train_loss: curve, held_out_accuracy: right as f64 / total.max(1) as f64, parameters })
}
