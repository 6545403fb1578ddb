//! The generalization-error upper bounds of the paper's Table 1.
//!
//! Every row is G(W0 + ΔW) ≤ Φ_W0 + √(2σ² · I / |N|) with the mutual information I bounded
//! by q·p·ln 2 (Lemma 1), p the number of trainable update parameters:
//! - LoRA, LoRA+:              p = r · Σ (m_i + n_i)
//! - CoLA (k chains):          p = r · k · Σ (m_i + n_i)
//! - Asym, cLA, r-cLA, PaCA, D-PaCA, s-cLA: p = r · Σ n_i
//! - RAC, c3LA, r-c3LA, C-PaCA, s-r-c3LA (k chains): p = r · k · Σ n_i
//! - FFT (not in Table 1; Lemma 1 with every weight of the adapted layers): p = Σ m_i · n_i
//!
//! m_i is layer i's input width and n_i its output width. Φ_W0 depends on the pretrained
//! weights' spectral norms and Lipschitz constants (Theorem 1) and is not computed here: the
//! value returned is the method-dependent term.

use serde::{Deserialize, Serialize};

use crate::{MethodSpec, Trains};

/// Input and output width of one adapted linear layer (the paper's (m_i, n_i)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerShape {
    pub in_features: usize,
    pub out_features: usize,
}

impl LayerShape {
    pub fn new(in_features: usize, out_features: usize) -> Self {
        Self { in_features, out_features }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundInputs {
    pub layers: Vec<LayerShape>,
    /// Adapter rank r.
    pub rank: usize,
    /// Training bit-width q (the paper uses 32).
    pub bits: u32,
    /// The loss is σ-sub-Gaussian (Assumption 6).
    pub sigma: f64,
    /// Fine-tuning set size |N|.
    pub dataset_size: usize,
    /// Chain count k (ignored for methods that do not chain).
    pub chains: usize,
}

/// The number of trainable update parameters p that Lemma 1 bounds the information by.
pub fn update_support(method: &MethodSpec, inputs: &BoundInputs) -> f64 {
    let r = inputs.rank as f64;
    let k = if method.chained { inputs.chains.max(1) as f64 } else { 1.0 };
    let sum_mn: f64 = inputs.layers.iter().map(|l| (l.in_features + l.out_features) as f64).sum();
    let sum_n: f64 = inputs.layers.iter().map(|l| l.out_features as f64).sum();
    match method.trains {
        Trains::BaseWeight => inputs
            .layers
            .iter()
            .map(|l| (l.in_features * l.out_features) as f64)
            .sum(),
        Trains::FactorsAB => r * k * sum_mn,
        Trains::FactorB | Trains::BaseColumns => r * k * sum_n,
    }
}

/// √(2 q σ² p ln 2 / |N|): the method's term of Table 1 (add Φ_W0 for the full bound).
pub fn generalization_bound(method: &MethodSpec, inputs: &BoundInputs) -> f64 {
    let p = update_support(method, inputs);
    let q = inputs.bits as f64;
    (2.0 * q * inputs.sigma.powi(2) * p * std::f64::consts::LN_2 / inputs.dataset_size as f64)
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method;

    fn inputs() -> BoundInputs {
        BoundInputs {
            layers: vec![LayerShape::new(4, 3)],
            rank: 2,
            bits: 32,
            sigma: 1.0,
            dataset_size: 100,
            chains: 3,
        }
    }

    #[test]
    fn table1_rows_on_a_hand_computed_case() {
        let i = inputs();
        let b = |name: &str| generalization_bound(method(name).unwrap(), &i);
        // LoRA: p = 2·(4+3) = 14 → √(2·32·14·ln2/100)
        assert!((b("lora") - 2.492107288584725).abs() < 1e-12);
        assert_eq!(b("lora"), b("lora-plus"));
        // RAC / c3LA: p = 2·3·3 = 18
        assert!((b("c3la") - 2.8257840540371393).abs() < 1e-12);
        assert_eq!(b("rac-lora"), b("c3la"));
        assert_eq!(b("r-c3la"), b("c3la"));
        // FFT: p = 12
        assert!((b("fft") - 2.3072430185614126).abs() < 1e-12);
        // cLA = PaCA = Asym = CoLA/√(k·(m+n)/n) ...
        assert_eq!(b("cla"), b("paca"));
        assert_eq!(b("cla"), b("asym-lora"));
        assert!((b("cola") / b("lora") - 3f64.sqrt()).abs() < 1e-12);
        assert!((b("c3la") / b("cla") - 3f64.sqrt()).abs() < 1e-12);
    }
}
