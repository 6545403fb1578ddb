//! Trainable-parameter counts per method (the paper's Table 6 convention).
//!
//! Table 6 reports, for LoRA and Asymmetric LoRA, trainable parameters — adapter plus the
//! classification head — as a percentage of all parameters of the adapted model, frozen
//! adapter tensors included (HF PEFT's `print_trainable_parameters`). We keep adapter and
//! head counts apart and give that percentage too.

use serde::Serialize;

use crate::{LayerShape, MethodSpec, Trains};

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ParamCount {
    /// Trainable adapter elements (A and/or B, or PaCA's columns); for FFT, every base weight.
    pub adapter_trainable: usize,
    /// Frozen adapter tensors stored beside the base (Asym's and dense cLA's A).
    pub adapter_frozen: usize,
    /// The task head, trained by every method.
    pub head: usize,
    /// The base model without head.
    pub base: usize,
    /// Everything that trains.
    pub trainable: usize,
    /// Everything stored: base + head + adapter tensors.
    pub total: usize,
    /// 100 · trainable / total, as Table 6 prints it.
    pub trainable_percent: f64,
}

/// Counts for `method` adapting `layers` at rank `rank` in a model of `base_params`
/// (without head) and `head_params`.
pub fn count_params(
    method: &MethodSpec,
    layers: &[LayerShape],
    rank: usize,
    base_params: usize,
    head_params: usize,
) -> ParamCount {
    let (mut trainable, mut frozen) = (0usize, 0usize);
    for l in layers {
        let (m, n) = (l.in_features, l.out_features);
        match method.trains {
            Trains::BaseWeight => {}
            Trains::FactorsAB => trainable += rank * (m + n),
            Trains::FactorB => {
                trainable += rank * n;
                if !method.sparse {
                    frozen += rank * m;
                }
            }
            // PaCA's columns are part of the base weight: nothing is added.
            Trains::BaseColumns => trainable += rank * n,
        }
    }
    let (adapter_trainable, trainable_all, total) = if method.trains == Trains::BaseWeight {
        (base_params, base_params + head_params, base_params + head_params)
    } else {
        let extra = if method.trains == Trains::BaseColumns { 0 } else { trainable + frozen };
        (trainable, trainable + head_params, base_params + head_params + extra)
    };
    ParamCount {
        adapter_trainable,
        adapter_frozen: frozen,
        head: head_params,
        base: base_params,
        trainable: trainable_all,
        total,
        trainable_percent: 100.0 * trainable_all as f64 / total as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method;

    /// RoBERTa-base as in the paper: 12 layers, hidden 768, FFN 3072, vocab 50265, 514
    /// positions; sequence-classification head dense 768×768 + out_proj 768×2.
    fn roberta_base() -> (Vec<LayerShape>, usize, usize) {
        let h = 768usize;
        let embeddings = 50265 * h + 514 * h + h + 2 * h;
        let per_layer = 4 * (h * h + h) + (h * 3072 + 3072) + (3072 * h + h) + 2 * 2 * h;
        let base = embeddings + 12 * per_layer;
        assert_eq!(base, 124_055_040);
        let head = (h * h + h) + (h * 2 + 2);
        let layers = vec![LayerShape::new(h, h); 24]; // query and value of 12 layers
        (layers, base, head)
    }

    #[test]
    fn table6_roberta_base_percentages() {
        let (layers, base, head) = roberta_base();
        let lora = count_params(method("lora").unwrap(), &layers, 16, base, head);
        assert_eq!(lora.adapter_trainable, 24 * 16 * (768 + 768));
        assert_eq!(lora.head, 592_130);
        assert_eq!(format!("{:.3}", lora.trainable_percent), "0.944"); // Table 6
        let asym = count_params(method("asym-lora").unwrap(), &layers, 16, base, head);
        assert_eq!(asym.adapter_trainable, 24 * 16 * 768);
        assert_eq!(asym.adapter_frozen, 24 * 16 * 768);
        assert_eq!(format!("{:.3}", asym.trainable_percent), "0.708"); // Table 6
        let fft = count_params(method("fft").unwrap(), &layers, 16, base, head);
        assert_eq!(fft.trainable, 124_647_170); // "124.6M"
        assert_eq!(fft.trainable_percent, 100.0);
    }

    #[test]
    fn sparse_and_paca_counts() {
        let layers = [LayerShape::new(10, 6), LayerShape::new(6, 4)];
        let r = 2;
        let cla = count_params(method("cla").unwrap(), &layers, r, 1000, 50);
        let scla = count_params(method("s-cla").unwrap(), &layers, r, 1000, 50);
        let paca = count_params(method("paca").unwrap(), &layers, r, 1000, 50);
        assert_eq!(cla.adapter_trainable, 2 * 6 + 2 * 4);
        assert_eq!(cla.adapter_frozen, 2 * 10 + 2 * 6);
        assert_eq!(cla.total, 1000 + 50 + 20 + 32);
        assert_eq!(scla.adapter_trainable, 20);
        assert_eq!(scla.adapter_frozen, 0);
        assert_eq!(scla.total, 1070);
        assert_eq!(paca.adapter_trainable, 20);
        assert_eq!(paca.total, 1050);
        assert_eq!(paca.trainable, 70);
    }
}
