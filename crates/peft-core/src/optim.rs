//! AdamW as the paper trains with it: β = (0.9, 0.999), ε = 1e-8 (burn's Adam defaults to
//! 1e-5), decoupled weight decay, one learning rate per [`ParamGroupKind`] (LoRA+ gives B a
//! multiple of A's), clipping of the *global* L2 norm of all gradients (burn's own clipping is
//! per tensor), and state that can be dropped per group or per parameter at a chain reset.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{Gradients, Tensor};
use serde::{Deserialize, Serialize};

use crate::safetensors_io::{file_err, read_f32, shape_and_values, write_f32};
use crate::{ParamGroupKind, ParamGroups, PeftError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Clip the global L2 norm of all gradients to this value (the paper: 1.0 for ViT,
    /// RoBERTa and GPT-2; none for the others).
    pub max_grad_norm: Option<f64>,
    /// Learning-rate multiplier per group (missing groups: 1). LoRA+ sets B to its ratio.
    pub lr_multipliers: BTreeMap<ParamGroupKind, f64>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: None,
            lr_multipliers: BTreeMap::new(),
        }
    }
}

impl AdamWConfig {
    /// lr(B) = ratio · lr(A), as LoRA+.
    pub fn with_lr_ratio_b(mut self, ratio: f64) -> Self {
        self.lr_multipliers.insert(ParamGroupKind::B, ratio);
        self
    }

    pub fn multiplier(&self, group: ParamGroupKind) -> f64 {
        self.lr_multipliers.get(&group).copied().unwrap_or(1.0)
    }
}

/// Per-parameter moments, flattened to rank 1 so that one map holds every rank.
#[derive(Clone, Debug)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
    step: i32,
}

/// What one optimizer step saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// Whether clipping scaled the gradients down.
    pub clipped: bool,
}

/// AdamW over a burn module, keyed by parameter id.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    groups: ParamGroups,
    moments: HashMap<ParamId, Moments>,
}

impl AdamW {
    /// `groups` tells which parameters train and their group (see [`ParamGroups`]).
    pub fn new(config: AdamWConfig, groups: ParamGroups) -> Self {
        Self { config, groups, moments: HashMap::new() }
    }

    pub fn groups(&self) -> &ParamGroups {
        &self.groups
    }

    /// One step at base learning rate `lr` (each group gets `lr · multiplier`).
    /// Consumes the gradients of the trainable parameters.
    pub fn step<M: Module>(
        &mut self,
        lr: f64,
        model: M,
        mut grads: Gradients,
    ) -> Result<(M, StepReport), PeftError> {
        // Collect the gradients of the trainable parameters, flattened.
        let mut collector = GradCollector { groups: &self.groups, grads: &mut grads, out: HashMap::new(), order: Vec::new() };
        model.visit(&mut collector);
        let (mut flat, order) = (collector.out, collector.order);

        // Summed in the module's order, not the map's (random per map): the same model and
        // gradients give the same norm bit for bit, so clipping, and the run, repeat exactly.
        let grad_norm = global_norm(order.iter().map(|id| &flat[id]));
        if !grad_norm.is_finite() {
            return Err(PeftError::NonFiniteGradient(grad_norm));
        }
        let mut clipped = false;
        if let Some(max) = self.config.max_grad_norm
            && grad_norm > max
        {
            // As torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6).
            let coef = max / (grad_norm + 1e-6);
            for g in flat.values_mut() {
                *g = g.clone().mul_scalar(coef);
            }
            clipped = true;
        }

        let mut mapper = AdamWMapper { opt: self, lr, grads: flat };
        let model = model.map(&mut mapper);
        Ok((model, StepReport { grad_norm, clipped }))
    }

    /// Drops the moments (and step count) of these parameters: the next step starts them
    /// afresh, as a newly created optimizer would. Used at chain resets.
    pub fn reset_params(&mut self, ids: &[ParamId]) {
        for id in ids {
            self.moments.remove(id);
        }
    }

    /// Drops the moments of every parameter in `group`.
    pub fn reset_group(&mut self, group: ParamGroupKind) {
        let ids = self.groups.ids_in(group);
        self.reset_params(&ids);
    }

    /// Number of parameters that currently hold optimizer state.
    pub fn state_len(&self) -> usize {
        self.moments.len()
    }

    /// The step count of one parameter (0 when it holds no state).
    pub fn step_count(&self, id: &ParamId) -> i32 {
        self.moments.get(id).map(|m| m.step).unwrap_or(0)
    }
}

impl AdamW {
    /// Writes the optimizer state (both moments and the step count of every parameter that has
    /// state) to a safetensors file, keyed by parameter path so that a new process can restore
    /// it onto a freshly built model (`<path>.exp_avg`, `<path>.exp_avg_sq`; step counts in the
    /// metadata). Written atomically.
    pub fn save_state(&self, path: &std::path::Path) -> Result<(), PeftError> {
        let mut tensors = Vec::new();
        let mut steps = std::collections::BTreeMap::new();
        for (id, m) in &self.moments {
            let Some(info) = self.groups.params.get(id) else { continue };
            for (suffix, t) in [("exp_avg", &m.m), ("exp_avg_sq", &m.v)] {
                let (dims, values) = shape_and_values(t.clone());
                tensors.push((format!("{}.{suffix}", info.path), dims, values));
            }
            steps.insert(info.path.clone(), m.step);
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "beyond-lora-adamw-v1".to_string());
        meta.insert("steps".to_string(), serde_json::to_string(&steps).expect("serialises"));
        write_f32(path, &tensors, meta)
    }

    /// Restores what [`AdamW::save_state`] wrote, onto this optimizer's parameters (matched by
    /// path). A saved path the model does not have, or a size mismatch, is an error.
    pub fn load_state(&mut self, path: &std::path::Path, device: &burn::tensor::Device) -> Result<(), PeftError> {
        let err = |m: String| file_err(path, m);
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some("beyond-lora-adamw-v1") {
            return Err(err("not an optimizer state file (metadata `format`)".into()));
        }
        let steps: std::collections::BTreeMap<String, i32> =
            serde_json::from_str(meta.get("steps").map(String::as_str).unwrap_or("{}")).map_err(|e| err(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
        let by_path: HashMap<&str, (&ParamId, usize)> =
            self.groups.params.iter().map(|(id, p)| (p.path.as_str(), (id, p.numel))).collect();
        let read = |key: String, n: usize| -> Result<Tensor<1>, PeftError> {
            let values = read_f32(&st, path, &key, &[n])?;
            Ok(Tensor::from_data(burn::tensor::TensorData::new(values, [n]), &device.clone().inner()))
        };
        let mut restored = HashMap::new();
        for (p, step) in steps {
            let (id, n) = by_path.get(p.as_str()).copied().ok_or_else(|| err(format!("the model has no trainable parameter `{p}`")))?;
            let m = read(format!("{p}.exp_avg"), n)?;
            let v = read(format!("{p}.exp_avg_sq"), n)?;
            restored.insert(*id, Moments { m, v, step });
        }
        self.moments = restored;
        Ok(())
    }
}

fn global_norm<'a>(grads: impl Iterator<Item = &'a Tensor<1>>) -> f64 {
    let mut total: Option<Tensor<1>> = None;
    for g in grads {
        let sq = g.clone().powi_scalar(2).sum();
        total = Some(match total {
            Some(t) => t + sq,
            None => sq,
        });
    }
    match total {
        Some(t) => (t.into_scalar::<f32>() as f64).sqrt(),
        None => 0.0,
    }
}

struct GradCollector<'a> {
    groups: &'a ParamGroups,
    grads: &'a mut Gradients,
    out: HashMap<ParamId, Tensor<1>>,
    /// The parameters of `out` in the order the module visits them.
    order: Vec<ParamId>,
}

impl burn::module::ModuleVisitor for GradCollector<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.groups.params.contains_key(&param.id) {
            return;
        }
        if let Some(g) = param.val().grad_remove(self.grads) {
            let n = g.shape().num_elements();
            self.out.insert(param.id, g.reshape([n]));
            self.order.push(param.id);
        }
    }
}

struct AdamWMapper<'a> {
    opt: &'a mut AdamW,
    lr: f64,
    grads: HashMap<ParamId, Tensor<1>>,
}

impl ModuleMapper for AdamWMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = self.grads.remove(&param.id) else {
            return param;
        };
        let Some(info) = self.opt.groups.params.get(&param.id) else {
            return param;
        };
        let cfg = &self.opt.config;
        let lr = self.lr * cfg.multiplier(info.group);
        let decay = if info.decay { cfg.weight_decay } else { 0.0 };
        let (b1, b2, eps) = (cfg.beta1, cfg.beta2, cfg.eps);

        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let strategy = tensor.gradient_checkpointing_strategy();
        let dims = tensor.dims();
        let n = tensor.shape().num_elements();
        let p = tensor.inner().reshape([n]);

        let moments = self.opt.moments.remove(&id);
        let (m, v, step) = match moments {
            Some(Moments { m, v, step }) => (m, v, step + 1),
            None => (grad.zeros_like(), grad.zeros_like(), 1),
        };
        let adamw = kernels::AdamWStep {
            lr,
            beta1: b1,
            beta2: b2,
            eps,
            bias_correction1: 1.0 - b1.powi(step),
            bias_correction2: 1.0 - b2.powi(step),
            weight_decay: decay,
        };
        // One fused pass on CPU, the tensor-operation form elsewhere.
        let (p, m, v) = kernels::adamw_step(p, grad, m, v, &adamw);
        self.opt.moments.insert(id, Moments { m, v, step });

        let mut out: Tensor<D> = crate::layer::with_autodiff_strategy(p.reshape(dims), strategy);
        if require_grad {
            out = out.require_grad();
        }
        Param::from_mapped_value(id, out, mapper)
    }
}
