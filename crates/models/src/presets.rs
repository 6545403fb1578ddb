//! The paper's ten checkpoints as presets: hub id, revision, family, the architecture numbers
//! of their `config.json`, and the parameter counts those imply (the paper's Table 6 "FFT"
//! column counts the model with its task head).

use serde::Serialize;

use crate::bert::BertArch;
use crate::deberta::DebertaArch;
use crate::gpt2::Gpt2Arch;
use crate::llama::LlamaArch;
use crate::vit::VitArch;

/// Architecture numbers read off a checkpoint's `config.json`, one variant per family (each
/// family's file holds its numbers and its parameter-count formula).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum Arch {
    /// BERT / RoBERTa encoder with the sequence-classification head.
    Encoder(BertArch),
    /// DeBERTa v2/v3 encoder (relative attention, no absolute positions) with pooler + classifier.
    Deberta(DebertaArch),
    /// GPT-2 causal LM (tied head).
    Gpt2(Gpt2Arch),
    /// Llama decoder; the `score` head for sequence classification, else the LM head.
    Llama(LlamaArch),
    /// ViT image classifier.
    Vit(VitArch),
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
    Preset { name: "vit-tiny", hub_id: "facebook/deit-tiny-patch16-224", revision: "main", arch: Arch::Vit(VitArch { hidden: 192, layers: 12, intermediate: 768, image: 224, patch: 16 }), task: "image-classification", gated: false },
    Preset { name: "vit-base", hub_id: "google/vit-base-patch16-224", revision: "main", arch: Arch::Vit(VitArch { hidden: 768, layers: 12, intermediate: 3072, image: 224, patch: 16 }), task: "image-classification", gated: false },
    Preset { name: "roberta-base", hub_id: "FacebookAI/roberta-base", revision: "main", arch: Arch::Encoder(BertArch { vocab: 50265, hidden: 768, layers: 12, intermediate: 3072, positions: 514, type_vocab: 1, roberta: true }), task: "sequence-classification", gated: false },
    Preset { name: "roberta-large", hub_id: "FacebookAI/roberta-large", revision: "main", arch: Arch::Encoder(BertArch { vocab: 50265, hidden: 1024, layers: 24, intermediate: 4096, positions: 514, type_vocab: 1, roberta: true }), task: "sequence-classification", gated: false },
    Preset { name: "deberta-v3-base", hub_id: "microsoft/deberta-v3-base", revision: "main", arch: Arch::Deberta(DebertaArch { vocab: 128100, hidden: 768, layers: 12, intermediate: 3072, position_buckets: 256, conv_kernel: 0 }), task: "sequence-classification", gated: false },
    Preset { name: "deberta-v2-xxlarge", hub_id: "microsoft/deberta-v2-xxlarge", revision: "main", arch: Arch::Deberta(DebertaArch { vocab: 128100, hidden: 1536, layers: 48, intermediate: 6144, position_buckets: 256, conv_kernel: 3 }), task: "sequence-classification", gated: false },
    Preset { name: "gpt2", hub_id: "openai-community/gpt2", revision: "main", arch: Arch::Gpt2(Gpt2Arch { vocab: 50257, hidden: 768, layers: 12, positions: 1024 }), task: "causal-lm", gated: false },
    Preset { name: "tinyllama", hub_id: "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", revision: "main", arch: Arch::Llama(LlamaArch { vocab: 32000, hidden: 2048, layers: 22, intermediate: 5632, heads: 32, kv_heads: 4, tied: false }), task: "sequence-classification", gated: false },
    Preset { name: "deepseek-coder-1.3b", hub_id: "deepseek-ai/deepseek-coder-1.3b-base", revision: "main", arch: Arch::Llama(LlamaArch { vocab: 32256, hidden: 2048, layers: 24, intermediate: 5504, heads: 16, kv_heads: 16, tied: false }), task: "causal-lm", gated: false },
    Preset { name: "llama-3-8b", hub_id: "meta-llama/Meta-Llama-3-8B", revision: "main", arch: Arch::Llama(LlamaArch { vocab: 128256, hidden: 4096, layers: 32, intermediate: 14336, heads: 32, kv_heads: 8, tied: false }), task: "sequence-classification", gated: true },
];

impl Arch {
    /// The longest token sequence the model's absolute position embeddings cover (RoBERTa's
    /// start after the padding index: 514 − 2); `None` for relative (DeBERTa) or rotary (Llama)
    /// positions and for images.
    pub fn max_positions(&self) -> Option<usize> {
        match self {
            Arch::Encoder(a) => Some(a.positions.saturating_sub(if a.roberta { 2 } else { 0 })),
            Arch::Gpt2(a) => Some(a.positions),
            Arch::Deberta(_) | Arch::Llama(_) | Arch::Vit(_) => None,
        }
    }

    /// Parameters of the model without its task head, and of the head for `labels` classes
    /// (for a causal LM the head is the LM head: 0 when tied).
    pub fn param_counts(&self, labels: usize, task: &str) -> (usize, usize) {
        match self {
            Arch::Encoder(a) => a.param_counts(labels),
            Arch::Deberta(a) => a.param_counts(labels),
            Arch::Gpt2(a) => a.param_counts(),
            Arch::Llama(a) => a.param_counts(labels, task == "causal-lm"),
            Arch::Vit(a) => a.param_counts(labels),
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

    #[test]
    fn max_positions_of_the_presets() {
        let max = |name: &str| preset(name).unwrap().arch.max_positions();
        assert_eq!(max("roberta-base"), Some(512));
        assert_eq!(max("gpt2"), Some(1024));
        assert_eq!(max("deberta-v3-base"), None);
        assert_eq!(max("tinyllama"), None);
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
