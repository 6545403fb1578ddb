//! `mini-decoder`: a 2-layer GPT-2 pretrained with next-token prediction on
//! `[BOS] sentence [EOS]` of the mini corpus, LM head tied to the word embeddings.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use datasets::rng::SplitMix64;
use models::Weights;
use models::export::{HfTensors, save_checkpoint};
use models::finetune::next_token_logits;
use models::gpt2::{Gpt2Arch, Gpt2Config, Gpt2LmHeadModel};
use models::presets::Arch;

use super::{MiniModel, PretrainConfig, Pretrained, corpus_fingerprint, fit, shuffled_batches};
use crate::RunError;
use crate::loss::weighted_nll;

pub(super) const MODEL: MiniModel = MiniModel {
    name: "mini-decoder",
    objective: "causal-lm on [BOS] sentence [EOS]",
    data_fingerprint: corpus_fingerprint,
    epochs: 4,
    batch_size: 64,
    lr: 2e-3,
    arch,
    pretrain,
};

fn arch(c: &PretrainConfig, vocab: usize) -> (Arch, &'static str) {
    (Arch::Gpt2(Gpt2Arch { vocab, hidden: c.hidden, layers: c.layers, positions: 64 }), "causal-lm")
}

pub(super) fn decoder_config(vocab: usize, c: &PretrainConfig) -> serde_json::Value {
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

fn pretrain(dir: &Path, c: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<Pretrained, RunError> {
    let tokenizer = datasets::mini::tokenizer::build();
    let vocab = tokenizer.get_vocab_size(true);
    let corpus = datasets::mini::corpus::sentences();
    let (train, val) = (decoder_sequences(&tokenizer, &corpus.train)?, decoder_sequences(&tokenizer, &corpus.validation)?);
    let json = decoder_config(vocab, c);
    let cfg: Gpt2Config = serde_json::from_value(json.clone()).expect("a valid GPT-2 config");
    let ad = device.clone().autodiff();
    let model = Gpt2LmHeadModel::load(&Weights::random_init(c.seed, 0.02), &cfg, &ad)?;
    let parameters = model.num_params();
    let mut g = SplitMix64::for_stream(c.seed, "mini-decoder/causal-lm");
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
    Ok(Pretrained { train_loss: curve, held_out_accuracy: right as f64 / total.max(1) as f64, parameters })
}
