//! Experiments as data: `experiments/<suite>/*.toml` → the grid of [`Cell`]s.
//!
//! A file has `[defaults]` (keys every cell inherits), one `[[cell]]` per (model, data set) with
//! Table 7's hyper-parameters — three learning rates, one per method family — and optional
//! `[ablation.<name>]` grids (Tables 8–13) that sweep some keys over the same cells, and
//! `[grid.<name>]` tables with their own settings over some of the cells (Table 15's: E.3.2's
//! r = 16, 30 epochs, seeds 0–2), in the same form. The method
//! picks its learning rate and weight decay from its family:
//!
//! | family | methods | keys |
//! |---|---|---|
//! | full fine-tuning | fft | `lr_fft`, `weight_decay_fft` |
//! | both factors trained | lora, cola, lora-plus | `lr_lora`, `weight_decay_lora` |
//! | only B trained | asym-lora, rac-lora, cla, c3la, r-cla, r-c3la, s-cla, s-r-c3la | `lr_asym`, `weight_decay_lora` |
//! | weight columns trained | paca, c-paca, d-paca | `lr_paca`, else `lr_asym` bridged to cLA |
//!
//! PaCA is not in Table 7. Without `lr_paca` the PaCA family takes the rates that make D-PaCA's
//! trajectory cLA's (the columns D-PaCA trains are those cLA's B updates, scaled by α/r): the
//! cell's `lr` is cLA's `lr_asym`, and training gives the columns (α/r)·lr with AdamW's ε·(r/α)
//! ([`ledger::Hyper::lr_bridge_to_cla`]); the head trains at `lr`. With `lr_paca` everything
//! trains at that rate. LoRA+ trains A at `lr_lora` and B at `lora_plus_ratio` × that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::{Cell, Hyper, ScheduleKind, Selection};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("experiment file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("experiment file {path}, cell {model}/{dataset}: {message}")]
    Cell { path: PathBuf, model: String, dataset: String, message: String },
    #[error("no ablation `{name}` in {path}; it defines: {known}")]
    UnknownAblation { path: PathBuf, name: String, known: String },
}

/// `target_modules` as a file writes it: `["query", "value"]` or `"all-linear"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum TargetList {
    Names(Vec<String>),
    One(String),
}

/// One `[[cell]]` (or `[defaults]`) table: every key optional, so a cell inherits what it lacks.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSpec {
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub methods: Option<Vec<String>>,
    pub seeds: Option<Vec<u64>>,
    pub scheduler: Option<ScheduleKind>,
    pub warmup_init_lr: Option<f64>,
    pub warmup_ratio: Option<f64>,
    pub lr_fft: Option<f64>,
    pub lr_lora: Option<f64>,
    pub lr_asym: Option<f64>,
    pub lr_paca: Option<f64>,
    pub lora_plus_ratio: Option<f64>,
    pub chain_reset_every_epochs: Option<usize>,
    /// Chain methods: k chains over the whole run, a reset every ⌊T/k⌋ steps (instead of
    /// `chain_reset_every_epochs`; a cell sets one or the other).
    pub chain_length: Option<usize>,
    pub weight_decay_fft: Option<f64>,
    pub weight_decay_lora: Option<f64>,
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
    pub max_length: Option<usize>,
    /// Image side (ViT rows of Table 7); the checkpoint's preprocessor decides the actual size.
    pub image_size: Option<usize>,
    /// A trajectory point every this many steps besides the epoch ends (the landscapes' path).
    pub trajectory_every: Option<usize>,
    pub rank: Option<usize>,
    pub alpha: Option<f64>,
    /// Module names (PEFT's suffix match) or `"all-linear"` (every linear but the task head).
    pub target_modules: Option<TargetList>,
    /// The initialisation of a trained A (LoRA, LoRA+, CoLA): `normal-0.02` (the paper's, the
    /// default) or `kaiming-uniform` (HF PEFT's).
    pub a_init: Option<peft_core::AInit>,
    pub grad_clip_global_norm: Option<f64>,
    pub best_epoch: Option<String>,
    /// AdamW's (β₁, β₂) and ε (default: 0.9, 0.999 and 1e-8, Table 7's).
    pub adam_betas: Option<Vec<f64>>,
    pub adam_eps: Option<f64>,
    /// `adam` or `adamw` (Table 7 says "adam" with weight decay: AdamW's decoupled decay, as
    /// HF Trainer's `adamw_torch`); nothing else is implemented.
    pub optimizer: Option<String>,
    /// A row only the ablation grids that name it in their `cells` use (the paper's ablations
    /// have rows Table 7 does not list); the main grid and the other grids skip it.
    pub ablation_only: Option<bool>,
}

/// An ablation grid: the methods it covers and the values it sweeps (every combination).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AblationSpec {
    pub description: Option<String>,
    pub methods: Option<Vec<String>>,
    /// Replaces the method family's learning rate.
    pub lr: Option<Vec<f64>>,
    pub rank: Option<Vec<usize>>,
    /// α as a multiple of r (the paper's α = 2r is 2).
    pub alpha_over_rank: Option<Vec<f64>>,
    pub chain_reset_every_epochs: Option<Vec<usize>>,
    /// Restrict to these (model, data set) cells, written `model/dataset`.
    pub cells: Option<Vec<String>>,
    pub seeds: Option<Vec<u64>>,
    /// Replaces the cells' epochs.
    pub epochs: Option<usize>,
    /// Replaces the cells' `target_modules` (Table 4's grid adapts `"all-linear"`).
    pub target_modules: Option<TargetList>,
    /// Sub-grids with their own cells and swept values (a paper ablation spans two tables
    /// with different models and ranges, e.g. Tables 8 and 9); each takes this spec's keys
    /// where it sets none, and the grid is their union.
    #[serde(default)]
    pub parts: Vec<AblationSpec>,
}

impl AblationSpec {
    /// `self` with `parent`'s keys where it has none (its parts are its own).
    fn under(&self, parent: &AblationSpec) -> AblationSpec {
        let or = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        AblationSpec {
            description: or(&self.description, &parent.description),
            methods: self.methods.clone().or_else(|| parent.methods.clone()),
            lr: self.lr.clone().or_else(|| parent.lr.clone()),
            rank: self.rank.clone().or_else(|| parent.rank.clone()),
            alpha_over_rank: self.alpha_over_rank.clone().or_else(|| parent.alpha_over_rank.clone()),
            chain_reset_every_epochs: self.chain_reset_every_epochs.clone().or_else(|| parent.chain_reset_every_epochs.clone()),
            cells: self.cells.clone().or_else(|| parent.cells.clone()),
            seeds: self.seeds.clone().or_else(|| parent.seeds.clone()),
            epochs: self.epochs.or(parent.epochs),
            target_modules: self.target_modules.clone().or_else(|| parent.target_modules.clone()),
            parts: self.parts.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentFile {
    #[serde(default)]
    defaults: CellSpec,
    #[serde(default)]
    cell: Vec<CellSpec>,
    #[serde(default)]
    ablation: BTreeMap<String, AblationSpec>,
    #[serde(default)]
    grid: BTreeMap<String, AblationSpec>,
}

/// A parsed experiment file.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub path: PathBuf,
    pub suite: String,
    defaults: CellSpec,
    cells: Vec<CellSpec>,
    pub ablations: BTreeMap<String, AblationSpec>,
    /// A table's own grid over some of the cells (`[grid.<name>]`, e.g. `table15`).
    pub grids: BTreeMap<String, AblationSpec>,
}


/// Which filters apply when expanding a grid (empty: everything).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    pub methods: Vec<String>,
    pub seeds: Vec<u64>,
}

impl Filter {
    fn keeps(list: &[String], value: &str) -> bool {
        list.is_empty() || list.iter().any(|v| v == value)
    }

    /// Whether `c` passes every list (an empty list passes everything).
    pub fn keeps_cell(&self, c: &Cell) -> bool {
        Self::keeps(&self.models, &c.model) && Self::keeps(&self.datasets, &c.dataset) && Self::keeps(&self.methods, &c.method) && (self.seeds.is_empty() || self.seeds.contains(&c.seed))
    }
}

macro_rules! merge {
    ($base:expr, $over:expr, $($f:ident),*) => {{
        let mut out = $base.clone();
        $( if $over.$f.is_some() { out.$f = $over.$f.clone(); } )*
        out
    }};
}

fn merged(defaults: &CellSpec, cell: &CellSpec) -> CellSpec {
    let mut out = merge_keys(defaults, cell);
    // The two ways of resetting chains exclude each other: the cell's choice replaces the
    // defaults' other one.
    if cell.chain_length.is_some() && cell.chain_reset_every_epochs.is_none() {
        out.chain_reset_every_epochs = None;
    }
    if cell.chain_reset_every_epochs.is_some() && cell.chain_length.is_none() {
        out.chain_length = None;
    }
    out
}

fn merge_keys(defaults: &CellSpec, cell: &CellSpec) -> CellSpec {
    merge!(
        defaults, cell, model, dataset, methods, seeds, scheduler, warmup_init_lr, warmup_ratio, lr_fft, lr_lora,
        lr_asym, lr_paca, lora_plus_ratio, chain_reset_every_epochs, chain_length, weight_decay_fft, weight_decay_lora, batch_size,
        epochs, max_length, image_size, trajectory_every, rank, alpha, target_modules, a_init, grad_clip_global_norm, best_epoch, adam_betas, adam_eps,
        optimizer, ablation_only
    )
}

impl Experiment {
    /// Reads and checks an experiment file; `suite` is the ledger directory its cells go to.
    pub fn load(path: &Path, suite: &str) -> Result<Self, ExperimentError> {
        let err = |m: String| ExperimentError::File { path: path.to_path_buf(), message: m };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("{e} (run from the repository root?)")))?;
        let file: ExperimentFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let exp = Self { path: path.to_path_buf(), suite: suite.to_string(), defaults: file.defaults, cells: file.cell, ablations: file.ablation, grids: file.grid };
        // Resolve every cell once so a malformed file fails before anything trains.
        exp.cells(&Filter::default())?;
        for name in exp.ablations.keys() {
            exp.ablation_cells(name, &Filter::default())?;
        }
        for name in exp.grids.keys() {
            exp.grid_cells(name, &Filter::default())?;
        }
        Ok(exp)
    }

    /// Every cell runs `methods` instead of its own list (e.g. Table 15 adds the gathered
    /// variants to the main grid).
    pub fn set_methods(&mut self, methods: &[&str]) {
        let m: Vec<String> = methods.iter().map(|s| s.to_string()).collect();
        self.defaults.methods = Some(m.clone());
        for c in &mut self.cells {
            c.methods = Some(m.clone());
        }
    }

    /// The (model, data set) pairs the file defines.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.cells
            .iter()
            .filter(|c| c.ablation_only != Some(true))
            .map(|c| {
                let c = merged(&self.defaults, c);
                (c.model.unwrap_or_default(), c.dataset.unwrap_or_default())
            })
            .collect()
    }

    /// The main grid: every cell × method × seed that passes `filter`.
    pub fn cells(&self, filter: &Filter) -> Result<Vec<Cell>, ExperimentError> {
        let mut out = Vec::new();
        for spec in self.cells.iter().filter(|c| c.ablation_only != Some(true)) {
            out.extend(self.cells_of(&merged(&self.defaults, spec), filter)?);
        }
        Ok(out)
    }

    /// The cells a figure file draws: for each (model, data set) it names, the methods it draws
    /// at its seed, or at the row's lowest seed when it names none.
    pub fn figure_cells(&self, figures: &ledger::analysis::FigureFile) -> Result<Vec<Cell>, ExperimentError> {
        let mut out = Vec::new();
        for (model, dataset, methods) in figures.cells_needed() {
            let filter = Filter { models: vec![model.clone()], datasets: vec![dataset.clone()], methods, seeds: figures.seed.into_iter().collect() };
            let cells = self.cells(&filter)?;
            let Some(seed) = cells.iter().map(|c| c.seed).min() else {
                return Err(ExperimentError::File { path: self.path.clone(), message: format!("the figures draw {model}/{dataset}, which this grid has no cell of") });
            };
            out.extend(cells.into_iter().filter(|c| c.seed == seed));
        }
        Ok(out)
    }

    /// The grid of ablation `name`: each selected cell × method × seed × every combination of
    /// the swept values.
    pub fn ablation_cells(&self, name: &str, filter: &Filter) -> Result<Vec<Cell>, ExperimentError> {
        let ab = self.ablations.get(name).ok_or_else(|| ExperimentError::UnknownAblation {
            path: self.path.clone(),
            name: name.to_string(),
            known: self.ablations.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        self.expand(ab, filter)
    }

    /// The cells of `[grid.<name>]`, if the file has that grid.
    pub fn grid_cells(&self, name: &str, filter: &Filter) -> Result<Option<Vec<Cell>>, ExperimentError> {
        self.grids.get(name).map(|g| self.expand(g, filter)).transpose()
    }

    /// An ablation's or a table's grid: its cells × methods × seeds × every combination of the
    /// swept values.
    fn expand(&self, ab: &AblationSpec, filter: &Filter) -> Result<Vec<Cell>, ExperimentError> {
        if !ab.parts.is_empty() {
            let mut out = Vec::new();
            for part in &ab.parts {
                out.extend(self.expand(&part.under(ab), filter)?);
            }
            return Ok(out);
        }
        let pairs: Vec<String> = self
            .cells
            .iter()
            .map(|c| {
                let c = merged(&self.defaults, c);
                format!("{}/{}", c.model.unwrap_or_default(), c.dataset.unwrap_or_default())
            })
            .collect();
        if let Some(unknown) = ab.cells.iter().flatten().find(|c| !pairs.contains(c)) {
            return Err(ExperimentError::File { path: self.path.clone(), message: format!("`{unknown}` is not a [[cell]] of this file (model/dataset: {})", pairs.join(", ")) });
        }
        let mut out = Vec::new();
        for spec in &self.cells {
            let mut spec = merged(&self.defaults, spec);
            let pair = format!("{}/{}", spec.model.as_deref().unwrap_or(""), spec.dataset.as_deref().unwrap_or(""));
            let named = ab.cells.as_ref().is_some_and(|c| c.contains(&pair));
            if (ab.cells.is_some() && !named) || (spec.ablation_only == Some(true) && !named) {
                continue;
            }
            if let Some(m) = &ab.methods {
                spec.methods = Some(m.clone());
            }
            if let Some(s) = &ab.seeds {
                spec.seeds = Some(s.clone());
            }
            if let Some(e) = ab.epochs {
                spec.epochs = Some(e);
            }
            if let Some(t) = &ab.target_modules {
                spec.target_modules = Some(t.clone());
            }
            for base in self.cells_of(&spec, filter)? {
                let lrs = ab.lr.clone().map(|v| v.into_iter().map(Some).collect()).unwrap_or(vec![None]);
                let ranks = ab.rank.clone().map(|v| v.into_iter().map(Some).collect()).unwrap_or(vec![None]);
                let alphas = ab.alpha_over_rank.clone().map(|v| v.into_iter().map(Some).collect()).unwrap_or(vec![None]);
                let chains =
                    ab.chain_reset_every_epochs.clone().map(|v| v.into_iter().map(Some).collect()).unwrap_or(vec![None]);
                for lr in &lrs {
                    for rank in &ranks {
                        for a in &alphas {
                            for chain in &chains {
                                let mut c = base.clone();
                                if let Some(lr) = lr {
                                    c.hyper.lr = *lr;
                                }
                                if let Some(r) = rank {
                                    // α = 2r unless α itself is swept.
                                    c.hyper.alpha *= *r as f64 / c.hyper.rank as f64;
                                    c.hyper.rank = *r;
                                }
                                if let Some(a) = a {
                                    c.hyper.alpha = a * c.hyper.rank as f64;
                                }
                                if let Some(k) = chain {
                                    c.hyper.chain_reset_every_epochs = Some(*k);
                                }
                                out.push(c);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn cells_of(&self, spec: &CellSpec, filter: &Filter) -> Result<Vec<Cell>, ExperimentError> {
        let methods: Vec<String> =
            spec.methods.clone().unwrap_or_else(|| methods::TABLE2_METHODS.iter().map(|s| s.to_string()).collect());
        let seeds = spec.seeds.clone().unwrap_or_else(|| vec![0, 1, 2]);
        let mut out = Vec::new();
        for m in &methods {
            for &s in &seeds {
                let c = self.resolve(spec, m, s)?;
                if filter.keeps_cell(&c) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// One cell of `spec` for `method` and `seed`, with the method family's rates.
    fn resolve(&self, spec: &CellSpec, method: &str, seed: u64) -> Result<Cell, ExperimentError> {
        let model = spec.model.clone().unwrap_or_default();
        let dataset = spec.dataset.clone().unwrap_or_default();
        let err = |m: String| ExperimentError::Cell { path: self.path.clone(), model: model.clone(), dataset: dataset.clone(), message: m };
        if model.is_empty() || dataset.is_empty() {
            return Err(err("every [[cell]] needs `model` and `dataset`".into()));
        }
        let ms = peft_core::method(method).map_err(|e| err(e.to_string()))?;
        let need = |v: Option<f64>, key: &str| v.ok_or_else(|| err(format!("`{key}` is missing (needed by {method})")));
        use peft_core::Trains;
        let (lr, wd) = match ms.trains {
            Trains::BaseWeight => (need(spec.lr_fft, "lr_fft")?, spec.weight_decay_fft.unwrap_or(0.0)),
            Trains::FactorsAB => (need(spec.lr_lora, "lr_lora")?, spec.weight_decay_lora.unwrap_or(0.0)),
            Trains::BaseColumns => (need(spec.lr_paca.or(spec.lr_asym), "lr_asym")?, spec.weight_decay_lora.unwrap_or(0.0)),
            Trains::FactorB => (need(spec.lr_asym, "lr_asym")?, spec.weight_decay_lora.unwrap_or(0.0)),
        };
        let lr_ratio_b = ms.default_lr_ratio_b.map(|d| spec.lora_plus_ratio.unwrap_or(d));
        let best_epoch = match spec.best_epoch.as_deref().unwrap_or("lowest-val-loss") {
            "lowest-val-loss" => Selection::LowestValLoss,
            // Table 7 prints "lowest" MCC for CoLA: MCC is higher-is-better, so the highest.
            "highest-val-mcc" | "highest-val-metric" => Selection::HighestValMetric,
            other => return Err(err(format!("unknown best_epoch `{other}` (lowest-val-loss, highest-val-metric)"))),
        };
        let rank = spec.rank.unwrap_or(16);
        let positive = |v: usize, key: &str| if v == 0 { Err(err(format!("`{key}` must be positive"))) } else { Ok(v) };
        let scheduler = spec.scheduler.unwrap_or(ScheduleKind::Constant);
        let (reset_every, chain_length) = match (spec.chain_reset_every_epochs, spec.chain_length) {
            (Some(_), Some(_)) => return Err(err("set `chain_reset_every_epochs` or `chain_length`, not both".into())),
            both => if ms.chained { both } else { (None, None) },
        };
        if let Some(o) = spec.optimizer.as_deref()
            && !matches!(o, "adam" | "adamw")
        {
            return Err(err(format!("optimizer `{o}` is not implemented (AdamW is: `adam` or `adamw`)")));
        }
        let adam_betas = match spec.adam_betas.as_deref() {
            None => None,
            Some(&[b1, b2]) if (0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2) => ([b1, b2] != ledger::ADAM_BETAS).then_some([b1, b2]),
            Some(b) => return Err(err(format!("adam_betas is {b:?}: two numbers in [0, 1)"))),
        };
        let adam_eps = match spec.adam_eps {
            None => None,
            Some(e) if e.is_finite() && e > 0.0 => (e != ledger::ADAM_EPS).then_some(e),
            Some(e) => return Err(err(format!("adam_eps is {e}: a finite number > 0"))),
        };
        // Only a trained dense A has a choice of start (the frozen ones of Asym/RAC are the
        // paper's "Normal distribution"; selectors and FFT have none).
        let trains_dense_a = ms.trains == Trains::FactorsAB && ms.selector == peft_core::Selector::None;
        let a_init = match spec.a_init {
            Some(a) if !peft_core::AInit::FOR_TRAINED_A.contains(&a) => {
                return Err(err(format!("`a_init` is {}", peft_core::AInit::TRAINED_A_CHOICES)));
            }
            chosen => trains_dense_a.then(|| chosen.unwrap_or(ms.a_init).name().to_string()),
        };
        Ok(Cell {
            fingerprint: crate::mini::cell_fingerprint(&model, &dataset),
            suite: self.suite.clone(),
            model: model.clone(),
            dataset: dataset.clone(),
            method: method.to_string(),
            seed,
            hyper: Hyper {
                lr,
                lr_ratio_b,
                scheduler,
                warmup_init_lr: spec.warmup_init_lr.unwrap_or(lr),
                warmup_ratio: if scheduler == ScheduleKind::Constant { 0.0 } else { spec.warmup_ratio.unwrap_or(0.0) },
                weight_decay: wd,
                batch_size: positive(spec.batch_size.ok_or_else(|| err("`batch_size` is missing".into()))?, "batch_size")?,
                epochs: positive(spec.epochs.ok_or_else(|| err("`epochs` is missing".into()))?, "epochs")?,
                max_length: spec.max_length.unwrap_or(128),
                rank: positive(rank, "rank")?,
                alpha: spec.alpha.unwrap_or(2.0 * rank as f64),
                target_modules: match &spec.target_modules {
                    None => vec!["query".into(), "value".into()],
                    Some(TargetList::Names(names)) => names.clone(),
                    Some(TargetList::One(one)) if one == peft_core::targets::ALL_LINEAR => vec![one.clone()],
                    Some(TargetList::One(other)) => return Err(err(format!("target_modules = {other:?}: a list of module names, or \"all-linear\""))),
                },
                a_init,
                lr_bridge_to_cla: ms.trains == Trains::BaseColumns && spec.lr_paca.is_none(),
                chain_reset_every_epochs: reset_every,
                chain_length,
                grad_clip_global_norm: spec.grad_clip_global_norm,
                best_epoch,
                adam_betas,
                adam_eps,
                image_size: spec.image_size,
                trajectory_every: spec.trajectory_every.map(|n| positive(n, "trajectory_every")).transpose()?,
            },
        })
    }
}
