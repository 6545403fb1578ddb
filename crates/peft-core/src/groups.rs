//! Which parameters train and in which optimizer group, read off a model by walking it.
//!
//! A parameter's group follows from where it sits: `lora_a` / `lora_b` / `columns` of an
//! [`crate::AdaptedLinear`] are groups A, B and base-columns; anything under one of the
//! model's head prefixes is `head`; every other trainable parameter (FFT) is `base`.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// An optimizer group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ParamGroupKind {
    /// Base-model weights (trainable only in FFT).
    #[serde(rename = "base")]
    Base,
    #[serde(rename = "A")]
    A,
    #[serde(rename = "B")]
    B,
    /// PaCA's trained columns of W.
    #[serde(rename = "base-columns")]
    BaseColumns,
    /// The task head (classifier / regressor), counted apart as in the paper's Table 6.
    #[serde(rename = "head")]
    Head,
}

impl ParamGroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamGroupKind::Base => "base",
            ParamGroupKind::A => "A",
            ParamGroupKind::B => "B",
            ParamGroupKind::BaseColumns => "base-columns",
            ParamGroupKind::Head => "head",
        }
    }
}

/// One trainable parameter as the optimizer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainableParam {
    pub path: String,
    pub group: ParamGroupKind,
    pub numel: usize,
    /// Whether decoupled weight decay applies: not to biases nor normalisation weights, as in
    /// the HF Trainer the paper's reference code uses.
    pub decay: bool,
}

/// The trainable parameters of a model, by id.
#[derive(Clone, Debug, Default)]
pub struct ParamGroups {
    pub params: HashMap<ParamId, TrainableParam>,
}

impl ParamGroups {
    /// Walks `model`; `head_prefixes` are the module paths of the task head (e.g.
    /// `["classifier"]`).
    pub fn from_module<M: Module>(model: &M, head_prefixes: &[&str]) -> Self {
        let mut v = GroupCollector {
            path: Vec::new(),
            containers: Vec::new(),
            head_prefixes: head_prefixes.iter().map(|s| s.to_string()).collect(),
            out: HashMap::new(),
        };
        model.visit(&mut v);
        Self { params: v.out }
    }

    pub fn group_of(&self, id: &ParamId) -> Option<ParamGroupKind> {
        self.params.get(id).map(|p| p.group)
    }

    /// Number of trainable elements per group.
    pub fn count_by_group(&self) -> HashMap<ParamGroupKind, usize> {
        let mut counts = HashMap::new();
        for p in self.params.values() {
            *counts.entry(p.group).or_insert(0) += p.numel;
        }
        counts
    }

    pub fn ids_in(&self, group: ParamGroupKind) -> Vec<ParamId> {
        self.params.iter().filter(|(_, p)| p.group == group).map(|(id, _)| *id).collect()
    }
}

struct GroupCollector {
    path: Vec<String>,
    containers: Vec<String>,
    head_prefixes: Vec<String>,
    out: HashMap<ParamId, TrainableParam>,
}

impl ModuleVisitor for GroupCollector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.is_require_grad() {
            return;
        }
        let path = self.path.join(".");
        let field = self.path.last().map(String::as_str).unwrap_or("");
        let owner = self.containers.last().map(String::as_str).unwrap_or("");
        let in_adapter = owner == "Struct:AdaptedLinear";
        let in_head = self
            .head_prefixes
            .iter()
            .any(|h| path == *h || path.starts_with(&format!("{h}.")));
        let group = match (in_adapter, field) {
            (true, "lora_a") => ParamGroupKind::A,
            (true, "lora_b") => ParamGroupKind::B,
            (true, "columns") => ParamGroupKind::BaseColumns,
            _ if in_head => ParamGroupKind::Head,
            _ => ParamGroupKind::Base,
        };
        let is_norm = self.containers.iter().any(|c| c.contains("Norm"));
        let decay = field != "bias" && field != "beta" && !is_norm;
        let numel = param.lazy_shape().num_elements();
        self.out.insert(param.id, TrainableParam { path, group, numel, decay });
    }
}
