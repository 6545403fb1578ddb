//! methods: the paper's fine-tuning methods as data. Each method is one [`MethodSpec`] in
//! [`REGISTRY`]; every grouping of methods the harness uses (which a table schedules, which
//! get the "drop from the best" column, which a benchmark times) is defined here, once.
//!
//! The adapted layer (`peft_core::AdaptedLinear`) reads the spec and has no per-method code
//! paths beyond what the spec's fields say; the report reads names and groupings from here
//! without depending on any tensor library.
//!
//! Adding a method: add one `MethodSpec` to `REGISTRY` (and, only if it needs a new kind of
//! state, a field in peft-core's layer).
//!
//! It must not hold tensors, layers or training code. [`bounds`] has the closed-form bound
//! terms of Table 1, which are functions of a method's spec and its layers' shapes only.

pub mod bounds;

use serde::{Deserialize, Serialize};

pub use bounds::{BoundInputs, LayerShape, generalization_bound, update_support};

/// A method name that is not in the registry.
#[derive(Debug, thiserror::Error)]
#[error("unknown method `{name}`; valid methods are: {valid}")]
pub struct UnknownMethod {
    pub name: String,
    pub valid: String,
}

/// Which tensors a method trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Trains {
    /// The whole base weight (and every other parameter of the model): full fine-tuning.
    #[serde(rename = "base-weight")]
    BaseWeight,
    /// Both low-rank factors A and B.
    #[serde(rename = "A+B")]
    FactorsAB,
    /// Only B; A is fixed (random or a column selector).
    #[serde(rename = "B")]
    FactorB,
    /// `r` columns of the base weight itself (PaCA).
    #[serde(rename = "base-columns")]
    BaseColumns,
}

impl Trains {
    pub fn as_str(self) -> &'static str {
        match self {
            Trains::BaseWeight => "base-weight",
            Trains::FactorsAB => "A+B",
            Trains::FactorB => "B",
            Trains::BaseColumns => "base-columns",
        }
    }
}

/// How the input coordinates an adapter sees are chosen (only for selector-based methods:
/// cLA, PaCA and their variants). Dense-A methods (LoRA, Asym, …) have `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// No column selector: A is a dense matrix (or there is no adapter).
    None,
    /// The first `r` input coordinates: A = [I_r | 0].
    First,
    /// `r` distinct coordinates drawn at random once (A = [I_r | 0] with permuted columns).
    Random,
    /// Chain k uses coordinates k·r … k·r + r − 1 (mod in): the identity block shifted by r
    /// columns at each chain, wrapping around when k·r reaches the input width.
    Circulant,
    /// Each chain draws `r` coordinates not drawn before; once every coordinate has been used
    /// the pool is refilled and drawing starts again.
    RandomNoReplacement,
}

impl Selector {
    pub fn as_str(self) -> &'static str {
        match self {
            Selector::None => "none",
            Selector::First => "first",
            Selector::Random => "random",
            Selector::Circulant => "circulant",
            Selector::RandomNoReplacement => "random-no-replacement",
        }
    }
}

/// How a dense (non-selector) A factor is initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AInit {
    /// No dense A (selector methods, PaCA, FFT).
    None,
    /// N(0, 0.02²): the paper's LoRA (§2.1: "LoRA initializes B = 0, A ∼ N(0, 0.02²)"), the
    /// default of LoRA, LoRA+ and CoLA.
    #[serde(rename = "normal-0.02")]
    Normal002,
    /// Kaiming-uniform with a = √5 as PyTorch's `nn.Linear` and HF PEFT use for LoRA's A:
    /// U(−1/√in, 1/√in). HF PEFT's default; an experiment option (`a_init = "kaiming-uniform"`).
    KaimingUniform,
    /// The paper's Asymmetric LoRA and RAC-LoRA draw the frozen A "via a Normal distribution"
    /// without a scale. We choose N(0, 1/in) (standard deviation 1/√in, the same bound as
    /// LoRA's Kaiming-uniform A) so that A·x keeps the scale of x's coordinates.
    Gaussian,
}

impl AInit {
    /// Every initialisation, for errors that list them.
    pub const ALL: [AInit; 4] = [AInit::None, AInit::Normal002, AInit::KaimingUniform, AInit::Gaussian];

    /// The name experiment files and the ledger use (as serde writes it).
    pub fn name(self) -> &'static str {
        match self {
            AInit::None => "none",
            AInit::Normal002 => "normal-0.02",
            AInit::KaimingUniform => "kaiming-uniform",
            AInit::Gaussian => "gaussian",
        }
    }

    pub fn from_name(name: &str) -> Option<AInit> {
        AInit::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The starts an experiment may choose for a trained A (`a_init`).
    pub const FOR_TRAINED_A: [AInit; 2] = [AInit::Normal002, AInit::KaimingUniform];

    /// The choices of [`AInit::FOR_TRAINED_A`], for error messages.
    pub const TRAINED_A_CHOICES: &str = "`normal-0.02` (the paper's) or `kaiming-uniform` (HF PEFT's)";
}

/// One fine-tuning method of the paper.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MethodSpec {
    /// Registry name, e.g. `r-c3la`.
    pub name: &'static str,
    /// The name the paper's tables use, e.g. `r-c3LA`.
    pub paper_name: &'static str,
    pub trains: Trains,
    pub a_init: AInit,
    pub selector: Selector,
    /// Chained methods merge their update into the base weight and restart at each reset of
    /// the chain schedule (`peft_core::ChainSchedule`).
    pub chained: bool,
    /// Computed by gathering `x[..., cols]` rather than by a matmul with a selector matrix.
    pub sparse: bool,
    /// LoRA+: the default ratio lr(B) / lr(A). `None` for every other method.
    pub default_lr_ratio_b: Option<f64>,
    /// One line on what the method does.
    pub summary: &'static str,
}

impl MethodSpec {
    /// Whether the layer holds an adapter at all (everything but FFT).
    pub fn has_adapter(&self) -> bool {
        self.trains != Trains::BaseWeight
    }

    /// The paper's sparsity-induced LoRA variants: B trained behind a fixed column selector
    /// (cLA, c3LA, r-cLA, r-c3LA and their gathered forms s-cLA, s-r-c3LA). Their table columns
    /// carry the "from best" percentage.
    pub fn is_sparsity_induced(&self) -> bool {
        self.trains == Trains::FactorB && self.selector != Selector::None
    }

    /// Whether HF PEFT can train this method as it is, for the step-by-step cross-check: FFT,
    /// LoRA (and LoRA+'s rate for B), and the non-chained B-only methods as a LoRA whose A is
    /// frozen (Asym; cLA and r-cLA with their one-hot selector as A). The reason otherwise.
    pub fn peft_counterpart(&self) -> Result<(), &'static str> {
        if self.chained {
            return Err("HF PEFT has no chain resets (merge and restart)");
        }
        if self.trains == Trains::BaseColumns {
            return Err("HF PEFT has no PaCA (training columns of W itself)");
        }
        if self.is_gathered_variant() {
            return Err("the gathered form computes its dense twin exactly (tested); cross-checked as that twin");
        }
        Ok(())
    }

    /// Whether this is a gathered (`x[..., cols]`) form of a sparsity-induced variant.
    pub fn is_gathered_variant(&self) -> bool {
        self.sparse && self.is_sparsity_induced()
    }
}

/// The 15 methods, in the order of the paper's tables (then the PaCA and sparse variants).
pub const REGISTRY: &[MethodSpec] = &[
    MethodSpec {
        name: "fft",
        paper_name: "FFT",
        trains: Trains::BaseWeight,
        a_init: AInit::None,
        selector: Selector::None,
        chained: false,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "full fine-tuning: every weight trains, no adapter",
    },
    MethodSpec {
        name: "lora",
        paper_name: "LoRA",
        trains: Trains::FactorsAB,
        a_init: AInit::Normal002,
        selector: Selector::None,
        chained: false,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "ΔW = B·A, A ~ N(0, 0.02²), B zeros, both train",
    },
    MethodSpec {
        name: "cola",
        paper_name: "CoLA",
        trains: Trains::FactorsAB,
        a_init: AInit::Normal002,
        selector: Selector::None,
        chained: true,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "chain of LoRA: at each reset merge B·A into W, re-init A, zero B",
    },
    MethodSpec {
        name: "asym-lora",
        paper_name: "Asym",
        trains: Trains::FactorB,
        a_init: AInit::Gaussian,
        selector: Selector::None,
        chained: false,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "asymmetric LoRA: A random N(0, 1/in) and frozen, only B trains",
    },
    MethodSpec {
        name: "rac-lora",
        paper_name: "RAC",
        trains: Trains::FactorB,
        a_init: AInit::Gaussian,
        selector: Selector::None,
        chained: true,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "randomized asymmetric chain: at each reset merge, draw a new frozen A, zero B",
    },
    MethodSpec {
        name: "lora-plus",
        paper_name: "LoRA+",
        trains: Trains::FactorsAB,
        a_init: AInit::Normal002,
        selector: Selector::None,
        chained: false,
        sparse: false,
        default_lr_ratio_b: Some(16.0),
        summary: "LoRA with lr(B) = 16 · lr(A)",
    },
    MethodSpec {
        name: "cla",
        paper_name: "cLA",
        trains: Trains::FactorB,
        a_init: AInit::None,
        selector: Selector::First,
        chained: false,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "cheap LoRA: A = [I_r | 0] fixed, only B trains (dense matmul with A)",
    },
    MethodSpec {
        name: "c3la",
        paper_name: "c3LA",
        trains: Trains::FactorB,
        a_init: AInit::None,
        selector: Selector::Circulant,
        chained: true,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "circulant chain of cLA: the identity block shifts by r columns at each reset",
    },
    MethodSpec {
        name: "r-cla",
        paper_name: "r-cLA",
        trains: Trains::FactorB,
        a_init: AInit::None,
        selector: Selector::Random,
        chained: false,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "random cLA: A selects r distinct random input coordinates, only B trains",
    },
    MethodSpec {
        name: "r-c3la",
        paper_name: "r-c3LA",
        trains: Trains::FactorB,
        a_init: AInit::None,
        selector: Selector::RandomNoReplacement,
        chained: true,
        sparse: false,
        default_lr_ratio_b: None,
        summary: "random c3LA: each chain selects r unused random coordinates",
    },
    MethodSpec {
        name: "paca",
        paper_name: "PaCA",
        trains: Trains::BaseColumns,
        a_init: AInit::None,
        selector: Selector::Random,
        chained: false,
        sparse: true,
        default_lr_ratio_b: None,
        summary: "partial connection adaptation: r random columns of W train directly",
    },
    MethodSpec {
        name: "c-paca",
        paper_name: "C-PaCA",
        trains: Trains::BaseColumns,
        a_init: AInit::None,
        selector: Selector::RandomNoReplacement,
        chained: true,
        sparse: true,
        default_lr_ratio_b: None,
        summary: "chained PaCA: the trained columns are resampled (unused first) at each reset",
    },
    MethodSpec {
        name: "d-paca",
        paper_name: "D-PaCA",
        trains: Trains::BaseColumns,
        a_init: AInit::None,
        selector: Selector::First,
        chained: false,
        sparse: true,
        default_lr_ratio_b: None,
        summary: "deterministic PaCA: the first r columns of W train (the columns cLA updates)",
    },
    MethodSpec {
        name: "s-cla",
        paper_name: "s-cLA",
        trains: Trains::FactorB,
        a_init: AInit::None,
        selector: Selector::First,
        chained: false,
        sparse: true,
        default_lr_ratio_b: None,
        summary: "cLA computed by gathering x[..., :r] instead of a matmul with A",
    },
    MethodSpec {
        name: "s-r-c3la",
        paper_name: "s-r-c3LA",
        trains: Trains::FactorB,
        a_init: AInit::None,
        selector: Selector::RandomNoReplacement,
        chained: true,
        sparse: true,
        default_lr_ratio_b: None,
        summary: "r-c3LA computed by gathering x[..., cols] instead of a matmul with A",
    },
];

/// A cell's `target_modules` for every linear layer of the backbone (HF PEFT's spelling; the
/// task head is trained apart): Tables 4 and 14 adapt these.
pub const ALL_LINEAR: &str = "all-linear";

/// The methods of the paper's Table 2, in its column order, with PaCA after them: the methods
/// the main grid of every experiment file runs unless it names its own.
pub const TABLE2_METHODS: &[&str] =
    &["fft", "lora", "cola", "asym-lora", "rac-lora", "lora-plus", "cla", "c3la", "r-cla", "r-c3la", "paca"];

/// What Table 15 (cost of the sparse forms) adds to Table 2's grid: the gathered variants and
/// C-PaCA.
pub const TABLE15_EXTRA_METHODS: &[&str] = &["s-cla", "s-r-c3la", "c-paca"];

/// The methods `bench step` times by default: Table 2's and the gathered variants.
pub fn bench_methods() -> impl Iterator<Item = &'static str> {
    TABLE2_METHODS.iter().copied().chain(REGISTRY.iter().filter(|m| m.is_gathered_variant()).map(|m| m.name))
}

/// Looks a method up by name; an unknown name is an error listing the valid ones.
pub fn method(name: &str) -> Result<&'static MethodSpec, UnknownMethod> {
    REGISTRY.iter().find(|m| m.name == name).ok_or_else(|| UnknownMethod {
        name: name.to_string(),
        valid: REGISTRY.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}

/// The paper's name of a method (`r-c3la` → `r-c3LA`); an unknown name as it is.
pub fn paper_name(name: &str) -> &str {
    method(name).map(|m| m.paper_name).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_fifteen_methods_with_unique_names() {
        let names: Vec<&str> = REGISTRY.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), 15);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 15);
        for t in TABLE2_METHODS {
            assert!(names.contains(t), "{t}");
        }
    }

    /// The names files and the ledger use are serde's, and the paper's LoRA init is LoRA's,
    /// LoRA+'s and CoLA's default (§2.1).
    #[test]
    fn a_init_names_and_defaults() {
        for a in AInit::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), serde_json::Value::String(a.name().into()));
            assert_eq!(AInit::from_name(a.name()), Some(a));
        }
        assert_eq!(AInit::from_name("kaiming"), None);
        for m in ["lora", "lora-plus", "cola"] {
            assert_eq!(method(m).unwrap().a_init, AInit::Normal002, "{m}");
        }
        assert_eq!(method("asym-lora").unwrap().a_init, AInit::Gaussian);
    }

    #[test]
    fn unknown_method_lists_the_valid_ones() {
        let err = method("dora").unwrap_err().to_string();
        assert!(err.contains("dora"), "{err}");
        assert!(err.contains("s-r-c3la") && err.contains("lora-plus"), "{err}");
        assert_eq!(method("c3la").unwrap().selector, Selector::Circulant);
    }

    #[test]
    fn groupings_name_registered_methods() {
        let drop: Vec<&str> = REGISTRY.iter().filter(|m| m.is_sparsity_induced()).map(|m| m.name).collect();
        assert_eq!(drop, ["cla", "c3la", "r-cla", "r-c3la", "s-cla", "s-r-c3la"]);
        let bench: Vec<&str> = bench_methods().collect();
        assert_eq!(bench.len(), 13);
        assert_eq!(&bench[11..], ["s-cla", "s-r-c3la"]);
        for m in TABLE2_METHODS.iter().chain(TABLE15_EXTRA_METHODS) {
            assert!(method(m).is_ok(), "{m}");
        }
        assert_eq!(paper_name("r-c3la"), "r-c3LA");
        assert_eq!(paper_name("dora"), "dora");
    }

    #[test]
    fn sparse_variants_mirror_their_dense_twins() {
        let pairs = [("s-cla", "cla"), ("s-r-c3la", "r-c3la")];
        for (s, d) in pairs {
            let (s, d) = (method(s).unwrap(), method(d).unwrap());
            assert!(s.sparse && !d.sparse);
            assert_eq!((s.trains, s.selector, s.chained), (d.trains, d.selector, d.chained));
        }
    }
}
