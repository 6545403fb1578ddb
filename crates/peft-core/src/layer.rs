//! [`AdaptedLinear`]: a frozen linear layer plus the adapter state its [`MethodSpec`] asks for.
//!
//! y = x·W + b + (α/r)·Δ(x), with Δ(x) computed from the factors and never as a dense ΔW:
//! - dense factors (LoRA, LoRA+, CoLA, Asym, RAC, cLA, r-cLA, c3LA, r-c3LA): Δ(x) = (x·A)·B;
//! - gathered (s-cLA, s-r-c3LA): Δ(x) = x[..., cols]·B, the selector as an index;
//! - base columns (PaCA, C-PaCA, D-PaCA): y = x·W + b + x[..., cols]·(C − C₀), where C are the
//!   trained columns of W and C₀ their value when selected (no α/r: PaCA trains W itself).
//!
//! Layouts follow burn, not PyTorch: W is [in, out] (HF's weight transposed), A is [in, r]
//! (the paper's A ∈ R^{r×in} transposed), B is [r, out] (the paper's B ∈ R^{out×r}
//! transposed), C is [r, out] (the chosen rows of W = the chosen columns of HF's weight).

use burn::module::{Module, Param, ParamId};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::{AInit, ColumnSelector, MethodSpec, PeftError, Rng, Selector, Trains, method};

/// Adapter hyper-parameters shared by all methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Rank r (number of selected columns for selector methods).
    pub rank: usize,
    /// Scaling α; the update is multiplied by α / r. The paper uses α = 2r.
    pub alpha: f64,
    /// Seed of the run; each layer draws from its own stream of it.
    pub seed: u64,
    /// Overrides the method's initialisation of a dense A (`MethodSpec::a_init`), e.g.
    /// HF PEFT's Kaiming-uniform for LoRA instead of the paper's N(0, 0.02²).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_init: Option<AInit>,
}

impl AdapterConfig {
    /// The paper's setting: α = 2r, the method's own A initialisation.
    pub fn paper(rank: usize, seed: u64) -> Self {
        Self { rank, alpha: 2.0 * rank as f64, seed, a_init: None }
    }

    pub fn scaling(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// The non-tensor state of an adapted layer: what a resumed run needs besides the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterState {
    pub method: String,
    pub config: AdapterConfig,
    /// The layer's name in its model (e.g. `encoder.layer.0.attention.self.query`); it names
    /// the layer's random stream.
    pub name: String,
    pub in_features: usize,
    pub out_features: usize,
    /// 0-based index of the current chain.
    pub chain: usize,
    /// Coordinates the current chain adapts (selector methods; empty otherwise).
    pub columns: Vec<usize>,
    pub selector: ColumnSelector,
    pub rng: Rng,
}

impl AdapterState {
    pub fn spec(&self) -> &'static MethodSpec {
        method(&self.method).expect("AdapterState holds a registered method name")
    }
}

/// A layer's update as a low-rank product, W − W₀ = scale · A·B (see
/// [`AdaptedLinear::lora_factors`]).
#[derive(Clone, Debug)]
pub struct LoraFactors {
    /// [in, R]
    pub a: Tensor<2>,
    /// [R, out]
    pub b: Tensor<2>,
    pub scale: f64,
}

/// A linear layer adapted by one of the paper's methods.
#[derive(Module, Debug)]
pub struct AdaptedLinear {
    /// Base weight W, [in, out]. Frozen unless the method is `fft`; chain resets merge into it.
    pub weight: Param<Tensor<2>>,
    /// Base bias, [out]. Frozen unless the method is `fft`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Dense A, [in, r]: trained (LoRA, LoRA+, CoLA) or frozen (Asym, RAC, dense selectors).
    pub lora_a: Option<Param<Tensor<2>>>,
    /// B, [r, out], zeros at the start of each chain.
    pub lora_b: Option<Param<Tensor<2>>>,
    /// PaCA: the trained columns C of W, [r, out].
    pub columns: Option<Param<Tensor<2>>>,
    /// PaCA: C₀, the value of `columns` at selection (not a parameter; never trained).
    pub columns_start: Option<Tensor<2>>,
    /// Selected coordinates as an index tensor, for the gathered forms.
    pub column_index: Option<Tensor<1, Int>>,
    /// Chained methods: the factors of every chain merged so far, side by side — A [in, K·r]
    /// and B [K·r, out] (PaCA: one-hot A and C − C₀), so that the merged update stays a
    /// low-rank product (`lora_factors`, PEFT export). Never trained.
    pub merged_a: Option<Tensor<2>>,
    pub merged_b: Option<Tensor<2>>,
    #[module(skip)]
    pub state: AdapterState,
}

fn tensor_from_vec<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub(crate) fn index_tensor(cols: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = cols.iter().map(|&c| c as i64).collect();
    Tensor::from_data(TensorData::new(v, [cols.len()]), device)
}

/// x·W (+ b) over the last dimension of `x`, as one [rows, in]·[in, out] product
/// ([`kernels::matmul`], which writes its output once on CPU).
///
/// The leading dimensions are folded into rows: for [batch, seq, in] with seq a multiple of 32,
/// burn keeps a broadcast batched matmul, which on Flex runs one small gemm per batch row and
/// packs W again for each (and its backward does the same with Wᵀ). One product packs W once;
/// measured on a RoBERTa-base step (`cargo xtask bench step`): FFT 9.1 → 5.9 s.
fn linear<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    let mut dims = x.dims();
    let [n_in, n_out] = weight.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    dims[D - 1] = n_out;
    let y = kernels::matmul(x.reshape([rows, n_in]), weight);
    let y = match bias {
        Some(b) => y + b.unsqueeze(),
        None => y,
    };
    y.reshape(dims)
}

/// `t` as a fresh leaf on `device`: computed values (a merge, a selection) must not carry a
/// graph into a parameter, and must keep the device's autodiff setting.
pub(crate) fn leaf<const D: usize, K: burn::tensor::kind::Autodiff>(
    t: Tensor<D, K>,
    device: &Device,
) -> Tensor<D, K> {
    with_autodiff_strategy(t.inner(), device.gradient_checkpointing_strategy())
}

/// `inner` (a tensor without autodiff) with autodiff under `strategy`, or as it is for `None`.
/// burn's `Tensor::autodiff` would attach the default strategy, and an operation that mixes a
/// gradient-checkpointing device's tensors with such a tensor panics ("strategy mismatch").
pub(crate) fn with_autodiff_strategy<const D: usize, K: burn::tensor::kind::Autodiff>(
    inner: Tensor<D, K>,
    strategy: Option<burn::tensor::GradientCheckpointingStrategy>,
) -> Tensor<D, K> {
    match strategy {
        Some(s) => inner.autodiff().with_gradient_checkpointing_strategy(s),
        None => inner,
    }
}

fn param<const D: usize>(id: Option<ParamId>, value: Tensor<D>, trainable: bool) -> Param<Tensor<D>> {
    let p = match id {
        Some(id) => Param::initialized(id, value),
        None => Param::from_tensor(value),
    };
    p.set_require_grad(trainable)
}

/// One-hot selector A ([in, r], A[cols[j], j] = 1) for the dense form of cLA-type methods.
fn selector_matrix(cols: &[usize], in_features: usize) -> Vec<f32> {
    let r = cols.len();
    let mut a = vec![0.0f32; in_features * r];
    for (j, &c) in cols.iter().enumerate() {
        a[c * r + j] = 1.0;
    }
    a
}

fn dense_a(init: AInit, in_features: usize, rank: usize, rng: &mut Rng) -> Vec<f32> {
    let bound = 1.0 / (in_features as f64).sqrt();
    (0..in_features * rank)
        .map(|_| match init {
            AInit::Normal002 => (rng.normal() * 0.02) as f32,
            AInit::KaimingUniform => rng.uniform(-bound, bound) as f32,
            AInit::Gaussian => (rng.normal() * bound) as f32,
            AInit::None => 0.0,
        })
        .collect()
}

impl AdaptedLinear {
    /// Wraps a base layer. `weight` is [in, out] (burn layout), `bias` is [out].
    ///
    /// Errors: an unknown method, r = 0, r > in, or a bias whose length is not `out`.
    pub fn new(
        weight: Tensor<2>,
        bias: Option<Tensor<1>>,
        method_name: &str,
        config: &AdapterConfig,
        name: &str,
    ) -> Result<Self, PeftError> {
        let spec = method(method_name)?;
        let [in_features, out_features] = weight.dims();
        if let Some(b) = &bias {
            let [n] = b.dims();
            if n != out_features {
                return Err(PeftError::Shape(format!(
                    "layer `{name}`: bias has {n} elements but the weight [in={in_features}, out={out_features}] has {out_features} outputs"
                )));
            }
        }
        if spec.has_adapter() {
            if config.rank == 0 {
                return Err(PeftError::InvalidRank { layer: name.into(), rank: 0, in_features });
            }
            if config.rank > in_features {
                return Err(PeftError::InvalidRank {
                    layer: name.into(),
                    rank: config.rank,
                    in_features,
                });
            }
        }
        let mut state = AdapterState {
            method: spec.name.to_string(),
            config: config.clone(),
            name: name.to_string(),
            in_features,
            out_features,
            chain: 0,
            columns: Vec::new(),
            selector: ColumnSelector::new(spec.selector, in_features, config.rank),
            rng: Rng::for_stream(config.seed, name),
        };
        let fft = spec.trains == Trains::BaseWeight;
        let layer = Self {
            weight: param(None, weight, fft),
            bias: bias.map(|b| param(None, b, fft)),
            lora_a: None,
            lora_b: None,
            columns: None,
            columns_start: None,
            column_index: None,
            merged_a: None,
            merged_b: None,
            state: state.clone(),
        };
        state.columns = Vec::new();
        Ok(layer.start_chain(None))
    }

    pub fn spec(&self) -> &'static MethodSpec {
        self.state.spec()
    }

    /// A plain linear layer (no adapter), all of it trainable: how models hold their linears
    /// before any method is applied. `weight` is [in, out].
    pub fn plain(weight: Tensor<2>, bias: Option<Tensor<1>>, name: &str) -> Result<Self, PeftError> {
        Self::new(weight, bias, "fft", &AdapterConfig { rank: 1, alpha: 1.0, seed: 0, a_init: None }, name)
    }

    /// The same base layer (its current, possibly merged, weight and bias) adapted by
    /// `method`. Adapting with `fft` makes the whole layer trainable again.
    pub fn adapt(self, method_name: &str, config: &AdapterConfig) -> Result<Self, PeftError> {
        let device = self.weight.val().device();
        let merged = leaf(self.effective_weight(), &device);
        let bias = self.bias.map(|b| leaf(b.val(), &device));
        Self::new(merged, bias, method_name, config, &self.state.name)
    }

    /// Sets whether the base weight and bias train (for plain layers outside the targets).
    pub fn with_base_trainable(mut self, trainable: bool) -> Self {
        self.weight = self.weight.set_require_grad(trainable);
        self.bias = self.bias.map(|b| b.set_require_grad(trainable));
        self
    }

    pub fn in_features(&self) -> usize {
        self.state.in_features
    }

    pub fn out_features(&self) -> usize {
        self.state.out_features
    }

    /// The layer's name in its model.
    pub fn name(&self) -> &str {
        &self.state.name
    }


    pub fn scaling(&self) -> f64 {
        self.state.config.scaling()
    }

    /// (Re)initialises the adapter for the current chain index: draws A or the columns, zeros
    /// B. Keeps the parameter ids of `ids` (A, B, C) so optimizer state stays keyed.
    fn start_chain(mut self, ids: Option<[Option<ParamId>; 3]>) -> Self {
        let spec = self.spec();
        if !spec.has_adapter() {
            return self;
        }
        let [id_a, id_b, id_c] = ids.unwrap_or([None, None, None]);
        let device = self.weight.val().device();
        let (n_in, n_out, r) = (self.state.in_features, self.state.out_features, self.state.config.rank);
        let chain = self.state.chain;
        if spec.selector != Selector::None {
            let cols = self.state.selector.columns_for_chain(chain, &mut self.state.rng);
            self.state.columns = cols;
        }
        let cols = self.state.columns.clone();
        match spec.trains {
            Trains::FactorsAB | Trains::FactorB => {
                if !spec.sparse {
                    let a = if spec.selector == Selector::None {
                        dense_a(self.state.config.a_init.unwrap_or(spec.a_init), n_in, r, &mut self.state.rng)
                    } else {
                        selector_matrix(&cols, n_in)
                    };
                    let train_a = spec.trains == Trains::FactorsAB;
                    self.lora_a = Some(param(id_a, tensor_from_vec(a, [n_in, r], &device), train_a));
                } else {
                    self.column_index = Some(index_tensor(&cols, &device));
                }
                let b = Tensor::zeros([r, n_out], &device);
                self.lora_b = Some(param(id_b, b, true));
            }
            Trains::BaseColumns => {
                let index = index_tensor(&cols, &device);
                let start = leaf(self.weight.val().inner().select(0, index.clone().inner()), &device);
                self.columns = Some(param(id_c, start.clone(), true));
                self.columns_start = Some(start);
                self.column_index = Some(index);
            }
            Trains::BaseWeight => {}
        }
        self
    }

    /// y = x·W + b + (α/r)·Δ(x) for x of shape [..., in]. Every product folds the leading
    /// dimensions into rows ([`linear`]).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let spec = self.spec();
        let base = linear(x.clone(), self.weight.val(), self.bias.as_ref().map(|b| b.val()));
        match spec.trains {
            Trains::BaseWeight => base,
            Trains::FactorsAB | Trains::FactorB => {
                let b = self.lora_b.as_ref().expect("adapter has B").val();
                let h = match (&self.lora_a, &self.column_index) {
                    (Some(a), _) => linear(x, a.val(), None),
                    (None, Some(index)) => x.select(D - 1, index.clone()),
                    (None, None) => unreachable!("adapter without A or columns"),
                };
                base + linear(h.mul_scalar(self.scaling()), b, None)
            }
            Trains::BaseColumns => {
                let index = self.column_index.as_ref().expect("PaCA has columns").clone();
                let c = self.columns.as_ref().expect("PaCA has columns").val();
                let c0 = self.columns_start.as_ref().expect("PaCA has C0").clone();
                base + linear(x.select(D - 1, index), c - c0, None)
            }
        }
    }

    /// The effective weight W + (α/r)·A·B as a dense [in, out] tensor (for merging and tests;
    /// the forward pass never forms it).
    pub fn effective_weight(&self) -> Tensor<2> {
        let w = self.weight.val().inner();
        let spec = self.spec();
        let device = w.device();
        match spec.trains {
            Trains::BaseWeight => w,
            Trains::FactorsAB | Trains::FactorB => {
                let b = self.lora_b.as_ref().unwrap().val().inner().mul_scalar(self.scaling());
                match &self.lora_a {
                    Some(a) => w + a.val().inner().matmul(b),
                    None => {
                        let index = index_tensor(&self.state.columns, &device).inner();
                        w.select_assign(0, index, b, burn::tensor::IndexingUpdateOp::Add)
                    }
                }
            }
            Trains::BaseColumns => {
                let index = index_tensor(&self.state.columns, &device).inner();
                let c = self.columns.as_ref().unwrap().val().inner();
                w.select_assign(0, index, c, burn::tensor::IndexingUpdateOp::Assign)
            }
        }
    }

    /// Merges the current adapter into the base weight (W ← W + (α/r)·A·B, or PaCA's columns
    /// written back) and returns the merged weight. The adapter itself is left as it is.
    pub fn merge_into_base(mut self) -> Self {
        let fft = self.spec().trains == Trains::BaseWeight;
        let device = self.weight.val().device();
        let merged = leaf(self.effective_weight(), &device);
        let id = self.weight.id;
        self.weight = param(Some(id), merged, fft);
        self
    }

    /// A chain reset: merge, move to the next chain, re-draw A / the columns, zero B. The
    /// adapter keeps its parameter ids; the caller resets their optimizer state (see
    /// [`AdaptedLinear::adapter_param_ids`]). For non-chained methods this is an error-free
    /// no-op.
    pub fn reset_chain(self) -> Self {
        if !self.spec().chained {
            return self;
        }
        let ids = [
            self.lora_a.as_ref().map(|p| p.id),
            self.lora_b.as_ref().map(|p| p.id),
            self.columns.as_ref().map(|p| p.id),
        ];
        let done = self.current_factors();
        let mut merged = self.merge_into_base();
        if let Some((a, b)) = done {
            let cat = |old: Option<Tensor<2>>, new: Tensor<2>, dim: usize| match old {
                Some(old) => Tensor::cat(vec![old, new], dim),
                None => new,
            };
            merged.merged_a = Some(cat(merged.merged_a.take(), a, 1));
            merged.merged_b = Some(cat(merged.merged_b.take(), b, 0));
        }
        merged.state.chain += 1;
        merged.start_chain(Some(ids))
    }

    /// The current chain's update as factors (A [in, r], B [r, out]) with ΔW = scale·A·B,
    /// without autodiff: dense A or the one-hot selector, and B; PaCA: one-hot A and C − C₀
    /// (scale 1). `None` for FFT.
    fn current_factors(&self) -> Option<(Tensor<2>, Tensor<2>)> {
        let spec = self.spec();
        let device = self.weight.val().device();
        let one_hot = || {
            let cols = &self.state.columns;
            tensor_from_vec(selector_matrix(cols, self.state.in_features), [self.state.in_features, cols.len()], &device)
        };
        match spec.trains {
            Trains::BaseWeight => None,
            Trains::FactorsAB | Trains::FactorB => {
                let a = self.lora_a.as_ref().map(|a| a.val().inner()).unwrap_or_else(one_hot);
                Some((a, self.lora_b.as_ref()?.val().inner()))
            }
            Trains::BaseColumns => {
                let c = self.columns.as_ref()?.val().inner();
                Some((one_hot(), c - self.columns_start.clone()?.inner()))
            }
        }
    }

    /// The layer's whole update since it was adapted as one low-rank product: W − W₀ =
    /// scale · A·B with the factors of every merged chain and the current one side by side
    /// (A [in, R], B [R, out], R = chains · r). Exact for every adapter method: PaCA's update
    /// lives in r columns of W (A one-hot, B = C − C₀, scale 1). `None` for FFT.
    pub fn lora_factors(&self) -> Option<LoraFactors> {
        let (a, b) = self.current_factors()?;
        let (a, b) = match (&self.merged_a, &self.merged_b) {
            (Some(ma), Some(mb)) => (Tensor::cat(vec![ma.clone(), a], 1), Tensor::cat(vec![mb.clone(), b], 0)),
            _ => (a, b),
        };
        let scale = if self.spec().trains == Trains::BaseColumns { 1.0 } else { self.scaling() };
        Some(LoraFactors { a, b, scale })
    }

    /// The same layer with its dense factors set to `a` [in, r] and `b` [r, out] (an adapter
    /// trained elsewhere: HF PEFT's `lora_A`/`lora_B`, transposed). Parameter ids and what
    /// trains are kept; a layer without dense factors or factors of another shape is an error.
    pub fn with_factors(mut self, a: Tensor<2>, b: Tensor<2>) -> Result<Self, PeftError> {
        let (n_in, n_out, r) = (self.state.in_features, self.state.out_features, self.state.config.rank);
        let name = self.state.name.clone();
        let (Some(pa), Some(pb)) = (&self.lora_a, &self.lora_b) else {
            return Err(PeftError::Shape(format!("layer `{name}` ({}) has no dense A and B to set", self.state.method)));
        };
        if a.dims() != [n_in, r] || b.dims() != [r, n_out] {
            return Err(PeftError::Shape(format!(
                "layer `{name}`: factors A {:?} and B {:?} given, the layer has A [{n_in}, {r}] and B [{r}, {n_out}]",
                a.dims(),
                b.dims()
            )));
        }
        let device = self.weight.val().device();
        let set = |p: &Param<Tensor<2>>, v: Tensor<2>| param(Some(p.id), leaf(v, &device), p.is_require_grad());
        let (na, nb) = (set(pa, a), set(pb, b));
        self.lora_a = Some(na);
        self.lora_b = Some(nb);
        Ok(self)
    }

    /// Ids of the adapter's trainable tensors (A when trained, B, PaCA's columns).
    pub fn adapter_param_ids(&self) -> Vec<ParamId> {
        let mut ids = Vec::new();
        if let Some(a) = &self.lora_a
            && self.spec().trains == Trains::FactorsAB
        {
            ids.push(a.id);
        }
        ids.extend(self.lora_b.as_ref().map(|p| p.id));
        ids.extend(self.columns.as_ref().map(|p| p.id));
        ids
    }
}
