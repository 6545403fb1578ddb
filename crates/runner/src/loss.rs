//! Every loss the harness trains with, shared by fine-tuning ([`batch_loss`]) and the mini
//! models' pretraining ([`cross_entropy`], [`weighted_nll`], [`bag_of_words`]).

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor};

use crate::data::Targets;

/// Mean cross-entropy of the classes `targets` (`[n, 1]`) under `logits` (`[n, classes]`).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<2, Int>) -> Tensor<1> {
    log_softmax(logits, 1).gather(1, targets).mean().neg()
}

/// Mean negative log-likelihood of `targets` (`[n, 1]`) under `logits` (`[n, classes]`) over the
/// rows whose `weight` is 1 (`count` of them; rows of weight 0 — prompt, padding, unmasked
/// tokens — take no part). The token loss of fine-tuning a causal LM and of the mini models'
/// masked- and causal-LM pretraining.
pub fn weighted_nll(logits: Tensor<2>, targets: Tensor<2, Int>, weight: Tensor<2>, count: f64) -> Tensor<1> {
    (log_softmax(logits, 1).gather(1, targets) * weight).sum().div_scalar(count).neg()
}

/// Binary cross-entropy of which words a sentence holds (`present`, 0/1 `[batch, vocab]`)
/// under `logits`, summed over the vocabulary and divided by the number of words present
/// (`words`), so that its scale is that of a per-token loss. The mini encoder's `[CLS]`
/// objective.
pub fn bag_of_words(logits: Tensor<2>, present: Tensor<2>, words: f64) -> Tensor<1> {
    (present.clone() * log_sigmoid(logits.clone()) + (present.neg() + 1.0) * log_sigmoid(logits.neg())).sum().div_scalar(words).neg()
}

/// Mean loss of a fine-tuning batch: cross-entropy for classes, squared error for scores,
/// cross-entropy per target token for a causal LM (HF's mean over the tokens whose label is
/// not -100).
pub fn batch_loss(logits: Tensor<2>, targets: &Targets) -> Tensor<1> {
    match targets {
        Targets::Classes(t, _) => cross_entropy(logits, t.clone()),
        Targets::Tokens { next, weight, gold } => {
            let count = gold.iter().filter(|&&g| g != datasets::batch::IGNORE_INDEX).count().max(1);
            weighted_nll(logits, next.clone(), weight.clone(), count as f64)
        }
        Targets::Scores(t, _) => {
            let [b, _] = logits.dims();
            (logits.slice([0..b, 0..1]) - t.clone()).powi_scalar(2).mean()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    /// The causal-LM loss is the mean cross-entropy over the weighted (target) tokens only.
    #[test]
    fn causal_lm_loss_is_the_mean_nll_of_target_tokens() {
        let device = Device::flex();
        // Three next-token rows over a vocabulary of 3; the last is padding (weight 0).
        let logits = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 2.0, 0.0, 0.0, 5.0, -5.0, 0.0], [3, 3]), &device);
        let next = Tensor::<2, Int>::from_data(TensorData::new(vec![2i64, 0, 0], [3, 1]), &device);
        let weight = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0], [3, 1]), &device);
        let targets = Targets::Tokens { next, weight, gold: vec![2, 0, datasets::batch::IGNORE_INDEX] };
        let nll = |row: [f64; 3], k: usize| -(row[k] - row.iter().map(|v| v.exp()).sum::<f64>().ln());
        let want = (nll([0.0, 1.0, 2.0], 2) + nll([2.0, 0.0, 0.0], 0)) / 2.0;
        let got = batch_loss(logits, &targets).into_scalar::<f32>() as f64;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    /// The bag-of-words loss on hand-computed logits: −Σ [p log σ(z) + (1 − p) log σ(−z)] / words.
    #[test]
    fn bag_of_words_on_known_logits() {
        let device = Device::flex();
        let z = [2.0f64, -1.0, 0.5, 0.0];
        let p = [1.0f64, 0.0, 1.0, 0.0];
        let logits = Tensor::<2>::from_data(TensorData::new(z.iter().map(|&v| v as f32).collect::<Vec<_>>(), [1, 4]), &device);
        let present = Tensor::<2>::from_data(TensorData::new(p.iter().map(|&v| v as f32).collect::<Vec<_>>(), [1, 4]), &device);
        let log_sig = |x: f64| -(1.0 + (-x).exp()).ln();
        let want = -z.iter().zip(&p).map(|(&z, &p)| p * log_sig(z) + (1.0 - p) * log_sig(-z)).sum::<f64>() / 2.0;
        let got = bag_of_words(logits, present, 2.0).into_scalar::<f32>() as f64;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
