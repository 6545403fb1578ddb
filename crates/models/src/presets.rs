//! The paper's ten checkpoints as presets: hub id, revision, family, the architecture numbers
//! of their `config.json`, and the parameter counts those imply (the paper's Table 6 "FFT"
//! column counts the model with its task head).

use serde::Serialize;

/// Architecture numbers read off each checkpoint's `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum Arch {
    /// BERT / RoBERTa encoder with the sequence-classification head.
    Encoder { vocab: usize, hidden: usize, layers: usize, intermediate: usize, positions: usize, type_vocab: usize, roberta: bool },
    /// DeBERTa v2/v3 encoder (relative attention, no absolute positions) with pooler + classifier.
    Deberta { vocab: usize, hidden: usize, layers: usize, intermediate: usize, position_buckets: usize, conv_kernel: usize },
    /// GPT-2 causal LM (tied head).
    Gpt2 { vocab: usize, hidden: usize, layers: usize, positions: usize },
    /// Llama decoder; `lm_head` false for sequence classification (the `score` head instead).
    Llama { vocab: usize, hidden: usize, layers: usize, intermediate: usize, heads: usize, kv_heads: usize, tied: bool },
    /// ViT image classifier.
    Vit { hidden: usize, layers: usize, intermediate: usize, image: usize, patch: usize },
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Preset {
    pub name: &'static str,
    pub hub_id: &'static str,
    /// Branch or `refs/pr/N` holding safetensors.
    pub revision: &'static str,
    pub arch: Arch,
    /// "sequence-classification", "causal-lm", "image-classification".
    pub task: &'static str,
    /// Needs `HF_TOKEN` (gated repository).
    pub gated: bool,
}

pub const PAPER_PRESETS: &[Preset] = &[
    Preset { name: "vit-tiny", hub_id: "facebook/deit-tiny-patch16-224", revision: "main", arch: Arch::Vit { hidden: 192, layers: 12, intermediate: 768, image: 224, patch: 16 }, task: "image-classification", gated: false },
    Preset { name: "vit-base", hub_id: "google/vit-base-patch16-224", revision: "main", arch: Arch::Vit { hidden: 768, layers: 12, intermediate: 3072, image: 224, patch: 16 }, task: "image-classification", gated: false },
    Preset { name: "roberta-base", hub_id: "FacebookAI/roberta-base", revision: "main", arch: Arch::Encoder { vocab: 50265, hidden: 768, layers: 12, intermediate: 3072, positions: 514, type_vocab: 1, roberta: true }, task: "sequence-classification", gated: false },
    Preset { name: "roberta-large", hub_id: "FacebookAI/roberta-large", revision: "main", arch: Arch::Encoder { vocab: 50265, hidden: 1024, layers: 24, intermediate: 4096, positions: 514, type_vocab: 1, roberta: true }, task: "sequence-classification", gated: false },
    Preset { name: "deberta-v3-base", hub_id: "microsoft/deberta-v3-base", revision: "main", arch: Arch::Deberta { vocab: 128100, hidden: 768, layers: 12, intermediate: 3072, position_buckets: 256, conv_kernel: 0 }, task: "sequence-classification", gated: false },
    Preset { name: "deberta-v2-xxlarge", hub_id: "microsoft/deberta-v2-xxlarge", revision: "main", arch: Arch::Deberta { vocab: 128100, hidden: 1536, layers: 48, intermediate: 6144, position_buckets: 256, conv_kernel: 3 }, task: "sequence-classification", gated: false },
    Preset { name: "gpt2", hub_id: "openai-community/gpt2", revision: "main", arch: Arch::Gpt2 { vocab: 50257, hidden: 768, layers: 12, positions: 1024 }, task: "causal-lm", gated: false },
    Preset { name: "tinyllama", hub_id: "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", revision: "main", arch: Arch::Llama { vocab: 32000, hidden: 2048, layers: 22, intermediate: 5632, heads: 32, kv_heads: 4, tied: false }, task: "sequence-classification", gated: false },
    Preset { name: "deepseek-coder-1.3b", hub_id: "deepseek-ai/deepseek-coder-1.3b-base", revision: "main", arch: Arch::Llama { vocab: 32256, hidden: 2048, layers: 24, intermediate: 5504, heads: 16, kv_heads: 16, tied: false }, task: "causal-lm", gated: false },
    Preset { name: "llama-3-8b", hub_id: "meta-llama/Meta-Llama-3-8B", revision: "main", arch: Arch::Llama { vocab: 128256, hidden: 4096, layers: 32, intermediate: 14336, heads: 32, kv_heads: 8, tied: false }, task: "sequence-classification", gated: true },
];

impl Arch {
    /// Parameters of the model without its task head, and of the head for `labels` classes
    /// (for a causal LM the head is the LM head: 0 when tied).
    pub fn param_counts(&self, labels: usize, task: &str) -> (usize, usize) {
        match *self {
            Arch::Encoder { vocab, hidden: h, layers, intermediate: i, positions, type_vocab, .. } => {
                let emb = (vocab + positions + type_vocab) * h + 2 * h;
                let layer = 4 * (h * h + h) + 2 * h * i + i + h + 4 * h;
                (emb + layers * layer, (h * h + h) + (h * labels + labels))
            }
            Arch::Deberta { vocab, hidden: h, layers, intermediate: i, position_buckets, conv_kernel } => {
                let emb = vocab * h + 2 * h;
                let layer = 4 * (h * h + h) + 2 * h * i + i + h + 4 * h;
                let rel = 2 * position_buckets * h + 2 * h;
                let conv = if conv_kernel > 0 { h * h * conv_kernel + h + 2 * h } else { 0 };
                (emb + layers * layer + rel + conv, (h * h + h) + (h * labels + labels))
            }
            Arch::Gpt2 { vocab, hidden: h, layers, positions } => {
                let layer = 4 * h + (h * 3 * h + 3 * h) + (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h);
                ((vocab + positions) * h + layers * layer + 2 * h, 0)
            }
            Arch::Llama { vocab, hidden: h, layers, intermediate: i, heads, kv_heads, tied } => {
                let hd = h / heads;
                let layer = 2 * h + h * heads * hd + 2 * h * kv_heads * hd + heads * hd * h + 3 * h * i;
                let base = vocab * h + layers * layer + h;
                let head = if task == "causal-lm" { if tied { 0 } else { vocab * h } } else { h * labels };
                (base, head)
            }
            Arch::Vit { hidden: h, layers, intermediate: i, image, patch } => {
                let n = (image / patch).pow(2);
                let emb = 3 * patch * patch * h + h + h + (n + 1) * h;
                let layer = 4 * (h * h + h) + 2 * h * i + i + h + 4 * h;
                (emb + layers * layer + 2 * h, h * labels + labels)
            }
        }
    }
}

pub fn preset(name: &str) -> Option<&'static Preset> {
    PAPER_PRESETS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(name: &str, labels: usize) -> usize {
        let p = preset(name).unwrap();
        let (b, h) = p.arch.param_counts(labels, p.task);
        b + h
    }

    /// The paper's Table 6 "Trainable Parameters (FFT)" column.
    #[test]
    fn counts_match_table6() {
        assert_eq!(total("roberta-base", 2), 124_647_170); // 124.6M
        assert_eq!(format!("{:.1}", total("roberta-large", 2) as f64 / 1e6), "355.4");
        assert_eq!(total("deberta-v3-base", 2), 184_423_682); // 184.4M
        assert_eq!(total("gpt2", 0), 124_439_808); // 124.4M
        assert_eq!(format!("{:.1}", total("vit-base", 10) as f64 / 1e6), "85.8");
        assert_eq!(format!("{:.2}", total("vit-tiny", 65) as f64 / 1e6), "5.54"); // OfficeHome
        assert_eq!(format!("{:.2}", total("vit-tiny", 10) as f64 / 1e6), "5.53"); // CIFAR-10
        assert_eq!(format!("{:.2}", total("deepseek-coder-1.3b", 0) as f64 / 1e9), "1.35");
        assert_eq!(format!("{:.2}", total("tinyllama", 4) as f64 / 1e9), "1.03");
    }
}
