//! The paper's quality metrics: accuracy; Matthews correlation (CoLA); Pearson and Spearman
//! correlation (STS-B); perplexity (E2E); exact match and token accuracy (DJANGO).
//!
//! Every function takes plain slices, so the runner computes predictions however it likes and
//! calls these at the end of an evaluation pass. Degenerate inputs (no examples, a constant
//! series) give `f64::NAN` rather than a made-up number, as scikit-learn / scipy would warn.

use serde::{Deserialize, Serialize};

/// A quality metric of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Accuracy,
    /// Matthews correlation coefficient (multi-class form of Gorodkin 2004; the binary φ).
    MatthewsCorrelation,
    Pearson,
    /// Spearman's ρ: Pearson of average ranks (ties share the mean of their ranks).
    Spearman,
    /// `exp(mean NLL over target tokens)`.
    Perplexity,
    /// The generated text equals the reference after trimming surrounding whitespace.
    ExactMatch,
    /// Fraction of target tokens predicted correctly (teacher forcing).
    TokenAccuracy,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Accuracy,
        Metric::MatthewsCorrelation,
        Metric::Pearson,
        Metric::Spearman,
        Metric::Perplexity,
        Metric::ExactMatch,
        Metric::TokenAccuracy,
    ];

    /// The short name used in reports and ledgers.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::MatthewsCorrelation => "matthews_correlation",
            Metric::Pearson => "pearson",
            Metric::Spearman => "spearman",
            Metric::Perplexity => "perplexity",
            Metric::ExactMatch => "exact_match",
            Metric::TokenAccuracy => "token_accuracy",
        }
    }

    /// Perplexity is the only lower-is-better metric.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Perplexity)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Fraction of positions where `predicted[i] == gold[i]`.
pub fn accuracy(predicted: &[usize], gold: &[usize]) -> f64 {
    assert_eq!(predicted.len(), gold.len(), "accuracy: length mismatch");
    if gold.is_empty() {
        return f64::NAN;
    }
    let hits = predicted.iter().zip(gold).filter(|(p, g)| p == g).count();
    hits as f64 / gold.len() as f64
}

/// Matthews correlation coefficient over `num_classes` classes (scikit-learn's
/// `matthews_corrcoef`): `(c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²))` with `c` the
/// correct count, `s` the sample count, `p_k`/`t_k` the predicted/true counts of class k.
/// Returns 0 when a denominator factor is 0 (as scikit-learn does).
pub fn matthews_correlation(predicted: &[usize], gold: &[usize], num_classes: usize) -> f64 {
    assert_eq!(predicted.len(), gold.len(), "matthews_correlation: length mismatch");
    if gold.is_empty() {
        return f64::NAN;
    }
    let mut p = vec![0f64; num_classes];
    let mut t = vec![0f64; num_classes];
    let mut c = 0f64;
    for (&pi, &gi) in predicted.iter().zip(gold) {
        p[pi] += 1.0;
        t[gi] += 1.0;
        if pi == gi {
            c += 1.0;
        }
    }
    let s = gold.len() as f64;
    let pt: f64 = p.iter().zip(&t).map(|(a, b)| a * b).sum();
    let pp: f64 = p.iter().map(|a| a * a).sum();
    let tt: f64 = t.iter().map(|a| a * a).sum();
    let denom = ((s * s - pp) * (s * s - tt)).sqrt();
    if denom == 0.0 { 0.0 } else { (c * s - pt) / denom }
}

/// Pearson's r.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson: length mismatch");
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// 1-based ranks; tied values get the average of the ranks they span.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        // positions i..=j (0-based) hold ranks i+1..=j+1; their mean:
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's ρ with average ranks for ties (scipy's `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Perplexity accumulated over batches: add the summed negative log-likelihood (natural log)
/// of the target tokens and their count; `value()` is `exp(total_nll / total_tokens)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Perplexity {
    pub nll_sum: f64,
    pub tokens: u64,
}

impl Perplexity {
    pub fn add(&mut self, nll_sum: f64, tokens: u64) {
        self.nll_sum += nll_sum;
        self.tokens += tokens;
    }

    pub fn value(&self) -> f64 {
        if self.tokens == 0 { f64::NAN } else { (self.nll_sum / self.tokens as f64).exp() }
    }
}

/// `exp(mean NLL)` of per-token negative log-likelihoods.
pub fn perplexity(token_nlls: &[f64]) -> f64 {
    let mut p = Perplexity::default();
    p.add(token_nlls.iter().sum(), token_nlls.len() as u64);
    p.value()
}

/// Fraction of generations equal to their reference after trimming surrounding whitespace.
pub fn exact_match<S: AsRef<str>, T: AsRef<str>>(generated: &[S], reference: &[T]) -> f64 {
    assert_eq!(generated.len(), reference.len(), "exact_match: length mismatch");
    if reference.is_empty() {
        return f64::NAN;
    }
    let hits = generated
        .iter()
        .zip(reference)
        .filter(|(g, r)| g.as_ref().trim() == r.as_ref().trim())
        .count();
    hits as f64 / reference.len() as f64
}

/// Token accuracy accumulated over batches: for each example, the target token ids and the
/// model's argmax ids at the same (already shifted) positions. A prediction shorter than its
/// target counts the missing positions as wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenAccuracy {
    pub correct: u64,
    pub total: u64,
}

impl TokenAccuracy {
    pub fn add(&mut self, predicted: &[u32], target: &[u32]) {
        self.total += target.len() as u64;
        self.correct += predicted.iter().zip(target).filter(|(p, t)| p == t).count() as u64;
    }

    pub fn value(&self) -> f64 {
        if self.total == 0 { f64::NAN } else { self.correct as f64 / self.total as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn accuracy_counts_hits() {
        close(accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]), 0.75);
        assert!(accuracy(&[], &[]).is_nan());
    }

    #[test]
    fn matthews_on_a_hand_computed_confusion_matrix() {
        // TP = 6, FN = 2, FP = 1, TN = 3 (positive class = 1).
        let mut pred = vec![];
        let mut gold = vec![];
        for (p, g, n) in [(1, 1, 6), (0, 1, 2), (1, 0, 1), (0, 0, 3)] {
            for _ in 0..n {
                pred.push(p);
                gold.push(g);
            }
        }
        // (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (18 − 2) / sqrt(7·8·4·5)
        let expected = 16.0 / 1120f64.sqrt();
        close(matthews_correlation(&pred, &gold, 2), expected);
        close(expected, 0.478_091_443_733_757_4);
        // Perfect, inverted and constant predictions.
        close(matthews_correlation(&gold, &gold, 2), 1.0);
        let inverted: Vec<usize> = gold.iter().map(|g| 1 - g).collect();
        close(matthews_correlation(&inverted, &gold, 2), -1.0);
        close(matthews_correlation(&vec![1; gold.len()], &gold, 2), 0.0);
    }

    #[test]
    fn pearson_and_spearman_with_ties() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        // Σdxdy = 6, Σdx² = 10, Σdy² = 6  →  6 / sqrt(60)
        close(pearson(&x, &y), 6.0 / 60f64.sqrt());
        // y's average ranks: 2→1, 4→2.5, 5→4.5  →  Σ = 7, Σdr² = 9  →  7 / sqrt(90)
        assert_eq!(average_ranks(&y), vec![1.0, 2.5, 4.5, 2.5, 4.5]);
        close(spearman(&x, &y), 7.0 / 90f64.sqrt());
        close(spearman(&x, &[10.0, 20.0, 30.0, 40.0, 1000.0]), 1.0);
        assert!(pearson(&x, &[1.0; 5]).is_nan());
    }

    #[test]
    fn perplexity_is_exp_of_mean_target_nll() {
        // NLLs ln2, ln4, ln8: mean = ln(64)/3 = ln4  →  4.
        close(perplexity(&[2f64.ln(), 4f64.ln(), 8f64.ln()]), 4.0);
        let mut p = Perplexity::default();
        p.add(2f64.ln() + 4f64.ln(), 2);
        p.add(8f64.ln(), 1);
        close(p.value(), 4.0);
        assert!(Perplexity::default().value().is_nan());
    }

    #[test]
    fn exact_match_and_token_accuracy() {
        let generated = ["return x ", "x = 1", "y = 2"];
        let reference = ["return x", "x = 2", "y = 2\n"];
        close(exact_match(&generated, &reference), 2.0 / 3.0);
        let mut t = TokenAccuracy::default();
        t.add(&[5, 6, 7], &[5, 6, 8]);
        t.add(&[1], &[1, 2]); // the missing position counts as wrong
        assert_eq!(t, TokenAccuracy { correct: 3, total: 5 });
        close(t.value(), 0.6);
    }

    #[test]
    fn only_perplexity_is_lower_is_better() {
        let lower: Vec<_> = Metric::ALL.iter().filter(|m| !m.higher_is_better()).collect();
        assert_eq!(lower, vec![&Metric::Perplexity]);
    }
}
