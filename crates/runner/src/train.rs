//! Training and evaluating one cell: load the checkpoint with a new head, apply the method,
//! train with AdamW (ε = 1e-8, decoupled decay, global-norm clipping, LoRA+ groups) under the
//! cell's LR schedule, reset chains every `chain_reset_every_epochs` epochs (with the reset
//! factors' optimizer state), evaluate validation and test after every epoch, and report the
//! test metric of the epoch the cell's rule selects.
//!
//! Long cells checkpoint after each epoch (adapters, trainable parameters, optimizer state,
//! epoch records) under `<ledger>/partial/<hash>/` and resume from there after a kill; the
//! data order depends only on (seed, epoch), so a resumed cell continues exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use burn::tensor::activation::log_softmax;
use datasets::batch::batch_indices;
use datasets::{DatasetInfo, Metric, Split};
use ledger::{Cell, CellResult, Cost, EpochRecord, Outcome, ParamCounts};
use models::auto::{TaskHead, load_for_finetuning};
use models::{Checkpoint, FineTune, FineTuneJob};
use peft_core::{AdamW, AdamWConfig, AdapterConfig, ChainSchedule, ParamGroupKind, ParamGroups, ResetUnit, TargetModules};
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::best::select_best;
use crate::data::{EncodedData, Targets, head_outputs};
use crate::loss::batch_loss;
use crate::schedule::LrSchedule;
use crate::step::{StepError, train_step};

/// How a cell is run (not part of its identity: none of this changes the result).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The results root (`results/`): mini checkpoints under `models/`, ledgers under `runs/`.
    pub results_dir: PathBuf,
    /// Where partial (per-epoch) checkpoints of this cell's ledger go.
    pub partial_dir: PathBuf,
    /// The compute device (without autodiff; the runner adds it for training).
    pub device: Device,
    pub device_name: String,
    /// A progress bar for the batches of the current epoch (length and message set by the
    /// runner).
    pub batch_bar: Option<indicatif::ProgressBar>,
    /// Checkpoint after an epoch only if the epoch took longer than this (seconds): short
    /// cells are cheaper to redo than to checkpoint.
    pub checkpoint_min_epoch_s: f64,
    /// Stop after this many epochs as if killed (tests of resuming).
    pub stop_after_epochs: Option<usize>,
    /// Where each cell's step log and `trainer_state.json` go (`Ledger::log_dir`); `None`: no
    /// logs.
    pub log_dir: Option<PathBuf>,
    /// Raised by a signal handler (SIGTERM): the cell stops after the batch under way with
    /// [`RunError::Stopped`], leaving its last partial checkpoint to resume from.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Evaluation batch size.
    pub eval_batch_size: usize,
    /// Where each cell keeps its trained model (`Ledger::weights_dir`): the selected epoch's,
    /// as an HF PEFT adapter or a transformers checkpoint ([`models::peft`]); `None`: not kept.
    pub weights_dir: Option<PathBuf>,
    /// Record the cell for the PyTorch cross-check into this directory
    /// ([`crate::crosscheck`]): its starting model, every batch, the optimizer's settings.
    pub crosscheck: Option<PathBuf>,
    /// Time the cell's steps alone before it trains ([`crate::timing`]); `None`: no timing
    /// phase (and no waiting for other cells' timing phases).
    pub timing: Option<crate::timing::TimingOptions>,
}

impl RunOptions {
    pub fn new(results_dir: impl Into<PathBuf>, partial_dir: impl Into<PathBuf>, device: Device, device_name: &str) -> Self {
        Self {
            results_dir: results_dir.into(),
            partial_dir: partial_dir.into(),
            device,
            device_name: device_name.to_string(),
            batch_bar: None,
            checkpoint_min_epoch_s: 30.0,
            stop_after_epochs: None,
            stop: None,
            log_dir: None,
            eval_batch_size: 64,
            weights_dir: None,
            crosscheck: None,
            timing: None,
        }
    }
}

/// The checkpoint of model `name`: a mini model pretrained by this harness (under
/// `<results>/models/`), a paper preset (through the hub cache), or a local directory.
pub fn checkpoint_for(name: &str, results_dir: &Path, hub: &hub::Hub) -> Result<Checkpoint, RunError> {
    if name.starts_with("mini-") {
        let dir = crate::mini::model_dir(results_dir, name);
        if !dir.join("config.json").is_file() {
            return Err(RunError::msg(format!(
                "mini model `{name}` is not at {}: run `cargo xtask pretrain mini` first",
                dir.display()
            )));
        }
        return Ok(Checkpoint::Dir(dir));
    }
    if let Some(p) = models::presets::preset(name) {
        return Ok(Checkpoint::hub(hub.clone(), p.hub_id, p.revision));
    }
    let dir = PathBuf::from(name);
    if dir.join("config.json").is_file() {
        return Ok(Checkpoint::Dir(dir));
    }
    Err(RunError::msg(format!(
        "unknown model `{name}`: not a preset (see `cargo xtask models`), not a mini model ({}), not a checkpoint directory",
        crate::mini::names().join(", ")
    )))
}

/// The commit of the source tree this binary was built from and whether that tree has
/// uncommitted changes (to tracked files), asked of git once per process; `None` without git
/// or outside a checkout (e.g. a copied binary on a cluster node).
pub fn code_version() -> Option<ledger::CodeVersion> {
    static VERSION: std::sync::OnceLock<Option<ledger::CodeVersion>> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            let git = |args: &[&str]| {
                let out = std::process::Command::new("git").arg("-C").arg(env!("CARGO_MANIFEST_DIR")).args(args).output().ok()?;
                out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            };
            let commit = git(&["rev-parse", "HEAD"])?;
            let dirty = !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty();
            Some(ledger::CodeVersion { commit, dirty })
        })
        .clone()
}

/// Peak resident set size of this process (VmHWM), in bytes.
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Trains and evaluates `cell`; the result is the caller's to record in the ledger, and then to
/// [`discard_partial`] the cell's checkpoint (kept until then, so that a kill before the record
/// loses no epoch).
pub fn run_cell(cell: &Cell, opts: &RunOptions) -> Result<CellResult, RunError> {
    let start = Instant::now();
    let info = datasets::info(&cell.dataset)?;
    let hub = hub::Hub::from_env();
    let ckpt = checkpoint_for(&cell.model, &opts.results_dir, &hub)?;
    let splits = datasets::load(&cell.dataset, &hub)?;
    let data = EncodedData::encode(info, splits, &ckpt, cell.hyper.max_length, cell.hyper.image_size)?;
    let head = match info.task {
        datasets::Task::CausalLm => TaskHead::CausalLm,
        ref task => TaskHead::Classifier(head_outputs(task)?),
    };
    let device = opts.device.clone().autodiff();
    let model = load_for_finetuning(&ckpt, head, cell.seed, &device)?;
    let (_, base_config) = ckpt.config_json()?;
    let base_name = match &ckpt {
        Checkpoint::Hub { repo, .. } => repo.id.clone(),
        Checkpoint::Dir(dir) => dir.display().to_string(),
    };
    let base = models::peft::ExportBase { config: &base_config, name_or_path: &base_name };
    let trained = model.fine_tune(Train { cell, info, data: &data, opts, base: &base }).map_err(|kind| {
        RunError::msg(format!("{}: a {kind} cannot be fine-tuned for {} by the runner", cell.label(), info.task.describe()))
    })??;
    let best = select_best(&trained.epochs, cell.hyper.best_epoch).cloned();
    let weights = match (&opts.weights_dir, &best) {
        (Some(dir), Some(best)) => keep_weights(dir, &cell.hash(), best.epoch)?,
        _ => None,
    };
    let steps_per_epoch = data.len(Split::Train).div_ceil(cell.hyper.batch_size);
    let result = CellResult {
        cell: cell.clone(),
        hash: cell.hash(),
        outcome: trained.outcome,
        metric: info.metric.name().to_string(),
        higher_is_better: info.metric.higher_is_better(),
        epochs: trained.epochs,
        best,
        params: trained.params,
        adaptation: Some(trained.adaptation),
        cost: Cost {
            train_samples_per_s: trained.samples as f64 / trained.train_s.max(1e-9),
            wall_s: start.elapsed().as_secs_f64(),
            train_s: trained.train_s,
            peak_rss_bytes: peak_rss_bytes(),
            device_peak_bytes: trained.device_peak_bytes,
            device: opts.device_name.clone(),
            timed: trained.timed,
        },
        finished_at: ledger::unix_now(),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        code: code_version(),
        weights,
    };
    if let Some(dir) = &opts.log_dir {
        write_trainer_state(dir, &result, steps_per_epoch)?;
    }
    Ok(result)
}

/// What the training loop hands back.
struct Trained {
    adaptation: ledger::Adaptation,
    epochs: Vec<EpochRecord>,
    outcome: Outcome,
    params: ParamCounts,
    train_s: f64,
    samples: usize,
    device_peak_bytes: Option<u64>,
    timed: Option<ledger::TimedCost>,
}

/// Raises `peak` to what the device's allocator holds now, where it reports its pools.
fn sample_device_memory(device: &Device, peak: &mut Option<u64>) {
    if let Some(usage) = device.memory_pool_usage() {
        *peak = Some(peak.unwrap_or(0).max(usage.bytes_reserved));
    }
}

/// What a partial checkpoint holds besides the tensors: the cell's state at an epoch's end.
#[derive(Serialize, Deserialize)]
struct PartialState {
    hash: String,
    epochs: Vec<EpochRecord>,
    train_s: f64,
    samples: usize,
}

/// The data set's reported metric from predictions collected over a split.
fn metric_value(metric: Metric, classes: usize, pred: &Predictions) -> f64 {
    use datasets::metrics;
    match metric {
        Metric::Accuracy => metrics::accuracy(&pred.classes, &pred.gold_classes),
        Metric::MatthewsCorrelation => metrics::matthews_correlation(&pred.classes, &pred.gold_classes, classes.max(2)),
        Metric::Pearson => metrics::pearson(&pred.scores, &pred.gold_scores),
        Metric::Spearman => metrics::spearman(&pred.scores, &pred.gold_scores),
        Metric::Perplexity => metrics::perplexity(&pred.token_nlls),
        Metric::TokenAccuracy => metrics::accuracy(&pred.tokens, &pred.gold_tokens),
        Metric::ExactMatch => pred.exact.iter().filter(|&&e| e).count() as f64 / pred.exact.len().max(1) as f64,
    }
}

/// Per row of a causal-LM batch (`row_len` next-token positions each): whether greedy decoding
/// from the prompt reproduces the target exactly (through its end-of-sequence token). That holds
/// exactly when every target token is the argmax given the reference prefix — while greedy
/// decoding has matched so far, its context *is* the reference prefix — so it is read off the
/// teacher-forced argmaxes, without a decoding loop.
fn exact_rows(gold: &[i64], argmax: &[i64], row_len: usize) -> Vec<bool> {
    gold.chunks(row_len)
        .zip(argmax.chunks(row_len))
        .map(|(g, a)| g.iter().zip(a).all(|(&g, &a)| g == datasets::batch::IGNORE_INDEX || g == a))
        .collect()
}

#[derive(Default)]
struct Predictions {
    classes: Vec<usize>,
    gold_classes: Vec<usize>,
    scores: Vec<f64>,
    gold_scores: Vec<f64>,
    /// Causal LM: the negative log-likelihood, argmax and gold of every target token, and
    /// whether each example is reproduced exactly by greedy decoding.
    token_nlls: Vec<f64>,
    tokens: Vec<usize>,
    gold_tokens: Vec<usize>,
    exact: Vec<bool>,
}

/// Mean loss and metric of `model` (without autodiff) over a split. The loss is the mean over
/// examples, or for a causal LM over target tokens (so that its exp is the perplexity).
fn evaluate<M: FineTune>(model: &M, data: &EncodedData, split: Split, info: &DatasetInfo, opts: &RunOptions) -> (f64, f64) {
    evaluate_first(model, data, split, info, data.len(split), opts.eval_batch_size, &opts.device)
}

/// [`evaluate`] over the first `n` examples of `split` (in the split's order) in batches of
/// `batch_size`: the loss landscapes' L on their fixed subset.
pub fn evaluate_first<M: FineTune>(model: &M, data: &EncodedData, split: Split, info: &DatasetInfo, n: usize, batch_size: usize, device: &Device) -> (f64, f64) {
    let n = n.min(data.len(split));
    let mut loss_sum = 0.0;
    let mut pred = Predictions::default();
    for idx in batch_indices(n, batch_size, 0, 0, false, false) {
        let (inputs, targets) = data.batch(split, &idx, device);
        let logits = model.logits(&inputs);
        if let Targets::Tokens { next, gold, .. } = &targets {
            let nll = log_softmax(logits.clone(), 1).gather(1, next.clone()).neg();
            let nll: Vec<f32> = nll.into_data().convert::<f32>().try_to_vec().expect("f32 NLL");
            let argmax: Vec<i64> = logits.argmax(1).into_data().convert::<i64>().try_to_vec().expect("token ids");
            for ((&g, &l), &a) in gold.iter().zip(&nll).zip(&argmax) {
                if g != datasets::batch::IGNORE_INDEX {
                    pred.token_nlls.push(f64::from(l));
                    pred.tokens.push(a as usize);
                    pred.gold_tokens.push(g as usize);
                }
            }
            pred.exact.extend(exact_rows(gold, &argmax, gold.len() / idx.len()));
            continue;
        }
        let [b, k] = logits.dims();
        loss_sum += batch_loss(logits.clone(), &targets).into_scalar::<f32>() as f64 * b as f64;
        let values: Vec<f32> = logits.into_data().convert::<f32>().try_to_vec().expect("f32 logits");
        match &targets {
            Targets::Tokens { .. } => unreachable!("handled above"),
            Targets::Classes(_, gold) => {
                for row in values.chunks(k) {
                    let best = row.iter().enumerate().fold(0, |bi, (i, v)| if *v > row[bi] { i } else { bi });
                    pred.classes.push(best);
                }
                pred.gold_classes.extend_from_slice(gold);
            }
            Targets::Scores(_, gold) => {
                pred.scores.extend(values.chunks(k).map(|r| f64::from(r[0])));
                pred.gold_scores.extend(gold.iter().map(|&g| f64::from(g)));
            }
        }
    }
    let classes = info.task.num_classes().unwrap_or(0);
    let loss = if pred.token_nlls.is_empty() {
        loss_sum / n.max(1) as f64
    } else {
        pred.token_nlls.iter().sum::<f64>() / pred.token_nlls.len() as f64
    };
    (loss, metric_value(info.metric, classes, &pred))
}

/// The training loop of one cell, run on whichever family the checkpoint loaded as.
struct Train<'a> {
    cell: &'a Cell,
    info: &'a DatasetInfo,
    data: &'a EncodedData,
    opts: &'a RunOptions,
    base: &'a models::peft::ExportBase<'a>,
}

impl FineTuneJob for Train<'_> {
    type Output = Result<Trained, RunError>;

    fn run<M: FineTune>(self, model: M) -> Self::Output {
        train(model, self.cell, self.info, self.data, self.opts, self.base)
    }
}

fn train<M: FineTune>(model: M, cell: &Cell, info: &DatasetInfo, data: &EncodedData, opts: &RunOptions, base: &models::peft::ExportBase) -> Result<Trained, RunError> {
    let h = &cell.hyper;
    let targets = TargetModules::from_list(&h.target_modules);
    let a_init = match h.a_init.as_deref() {
        None => None,
        Some(name) => Some(peft_core::AInit::from_name(name).ok_or_else(|| RunError::msg(format!("unknown a_init `{name}`")))?),
    };
    let adapter = AdapterConfig { rank: h.rank, alpha: h.alpha, seed: cell.seed, a_init };
    let (mut model, _adapted) = model.apply_method(&targets, &cell.method, &adapter)?;
    // An adapter method must adapt what the cell names (FFT trains every weight whatever it
    // names: GPT-2's q/v thirds are split only for an adapter).
    let paths: Vec<String> = model.backbone_linears().iter().map(|l| l.name().to_string()).collect();
    let unmatched = targets.unmatched(paths.iter().map(String::as_str));
    let has_adapter = peft_core::method(&cell.method).map_err(|e| RunError::msg(e.to_string()))?.has_adapter();
    if !unmatched.is_empty() && !has_adapter {
        eprintln!("{}: target_modules {unmatched:?} name no linear layer of {} (FFT trains every weight; its trajectory keeps only the matrices named)", cell.label(), cell.model);
    } else if !unmatched.is_empty() {
        // The layers' own names (the last component, e.g. `query`), each once, as a target list would name them.
        let mut known: Vec<&str> = paths.iter().map(|p| p.rsplit('.').next().unwrap_or(p)).collect();
        known.sort();
        known.dedup();
        return Err(RunError::msg(format!(
            "{}: target_modules {unmatched:?} match no linear layer of {}; its linear layers are named {} (or `all-linear` for every one; the task head is always trained; embedding adapters are not supported)",
            cell.label(),
            cell.model,
            known.join(", ")
        )));
    }
    let groups = ParamGroups::from_module(&model, M::HEAD);
    let by_group = groups.count_by_group();
    let head = by_group.get(&ParamGroupKind::Head).copied().unwrap_or(0);
    let params = ParamCounts {
        backbone_trainable: by_group.values().sum::<usize>() - head,
        head,
        total: model.num_params(),
    };
    let [beta1, beta2] = h.adam_betas.unwrap_or(ledger::ADAM_BETAS);
    let mut eps = h.adam_eps.unwrap_or(ledger::ADAM_EPS);
    let mut lr_multipliers = std::collections::BTreeMap::new();
    if let Some(r) = h.lr_ratio_b {
        lr_multipliers.insert(ParamGroupKind::B, r);
    }
    if h.lr_bridge_to_cla {
        // D-PaCA's columns see 1/s of cLA's B gradient (s = α/r): AdamW takes cLA's step on
        // W with s·lr and ε/s.
        let s = h.alpha / h.rank as f64;
        lr_multipliers.insert(ParamGroupKind::BaseColumns, s);
        eps /= s;
    }
    let config = AdamWConfig { beta1, beta2, eps, weight_decay: h.weight_decay, max_grad_norm: h.grad_clip_global_norm, lr_multipliers };
    let mut opt = AdamW::new(config, groups);
    let n_train = data.len(Split::Train);
    let steps_per_epoch = n_train.div_ceil(h.batch_size);
    let schedule = LrSchedule {
        kind: h.scheduler,
        base_lr: h.lr,
        warmup_init_lr: h.warmup_init_lr,
        warmup_ratio: h.warmup_ratio,
        total_steps: steps_per_epoch * h.epochs,
    };
    let device = opts.device.clone().autodiff();

    // Resume from a partial checkpoint of this very cell, if one exists.
    let hash = cell.hash();
    let partial = opts.partial_dir.join(&hash);
    let mut state = PartialState { hash: hash.clone(), epochs: Vec::new(), train_s: 0.0, samples: 0 };
    if let Some(found) = find_partial(&partial) {
        let unusable = |e: RunError| RunError::UnusablePartial { path: found.clone(), message: e.to_string() };
        let (m, p) = restore(&found, model, &mut opt, &opts.device).map_err(unusable)?;
        if p.hash != hash {
            return Err(unusable(RunError::msg(format!("it belongs to cell {}", p.hash))));
        }
        model = m;
        state = p;
    }
    let total_steps = steps_per_epoch * h.epochs;
    // The trajectory continues a resumed cell's; a fresh one starts with the model as adapted.
    let fft = !has_adapter;
    let mut trajectory = match &opts.weights_dir {
        Some(dir) => Some(crate::trajectory::Recorder::open(dir, &hash, targets.clone(), fft, state.epochs.len() * steps_per_epoch)?),
        None => None,
    };
    if state.epochs.is_empty()
        && let Some(t) = trajectory.as_mut()
    {
        t.record(&model.valid(), 0, 0, true, false)?;
    }
    let mut recorder = match &opts.crosscheck {
        Some(dir) if state.epochs.is_empty() => {
            let eval = batch_indices(data.len(Split::Test), opts.eval_batch_size, 0, 0, false, false);
            Some(crate::crosscheck::Recorder::start(dir, &model, base, data, &eval, &opts.device)?)
        }
        Some(_) => return Err(RunError::msg("a cross-check records a cell from its start: remove its partial checkpoint")),
        None => None,
    };
    // By epochs (Table 7's frequency), or k chains over the run's T steps (Algorithm 3).
    let chains = match (h.chain_reset_every_epochs, h.chain_length) {
        (Some(every), _) => Some(ChainSchedule::every_epochs(every)),
        (None, Some(k)) => Some(ChainSchedule::chains_over_steps(k, total_steps)),
        (None, None) => None,
    };
    // What Table 1's bound needs: the adapted layers' shapes and the chains run (a resumed
    // cell continues the chain its checkpoint was in).
    let adapted: Vec<&mut peft_core::AdaptedLinear> = model.backbone_linears().into_iter().filter(|l| targets.matches(l.name())).collect();
    let adapted_layers: Vec<(usize, usize)> = adapted.iter().map(|l| (l.in_features(), l.out_features())).collect();
    let mut chains_run = adapted.iter().map(|l| l.state.chain + 1).max().unwrap_or(1);

    // The controlled timing phase, alone on the machine (a resumed cell times again: it does
    // not change what trains).
    let gate = opts.timing.as_ref().map(crate::timing::Gate::open).transpose()?;
    let timed = match (&opts.timing, &gate) {
        (Some(t), Some(g)) if n_train > 0 => {
            let _alone = g.alone();
            let (m, timed) = time_steps(model, &mut opt, cell, data, t, &device, &opts.device)?;
            model = m;
            timed
        }
        _ => None,
    };
    // The step log continues a resumed cell's: the lines of the epochs it redoes are dropped.
    let mut log = opts.log_dir.as_ref().map(|d| StepLog::open(&d.join(format!("{hash}.steps.jsonl")), state.epochs.len())).transpose()?;
    let bar = opts.batch_bar.as_ref();
    let mut outcome = Outcome::Finished;
    let mut device_peak_bytes = None;
    'epochs: for epoch in state.epochs.len() + 1..=h.epochs {
        let epoch_start = Instant::now();
        if let Some(b) = bar {
            b.set_length(steps_per_epoch as u64);
            b.set_position(0);
            b.set_message(format!("{} · epoch {epoch}/{}", cell.label(), h.epochs));
        }
        // Dropout masks are seeded from (seed, epoch) like the data order, so a cell resumed
        // at this epoch draws the same masks.
        models::layers::seed_dropout(&opts.device, dropout_seed(cell.seed, epoch as u64));
        let mut loss_sum = 0.0;
        for (i, idx) in batch_indices(n_train, h.batch_size, cell.seed, epoch as u64, true, false).into_iter().enumerate() {
            let _step_gate = gate.as_ref().map(|g| g.shared());
            let step = (epoch - 1) * steps_per_epoch + i;
            let step_start = Instant::now();
            let (inputs, batch_targets) = data.batch(Split::Train, &idx, &device);
            let lr = schedule.lr_at(step);
            if let Some(r) = recorder.as_mut() {
                r.step(&inputs, &batch_targets, lr)?;
            }
            let loss = batch_loss(model.logits(&inputs), &batch_targets);
            let value = match train_step(&mut opt, lr, model, loss) {
                Ok((m, value, grad_norm)) => {
                    model = m;
                    if let Some(log) = log.as_mut() {
                        let learning_rate = by_group.keys().map(|&kind| (kind.as_str().to_string(), lr * opt.config.multiplier(kind))).collect();
                        let samples_per_s = idx.len() as f64 / step_start.elapsed().as_secs_f64().max(1e-9);
                        log.push(&ledger::StepLine { step: step + 1, epoch, learning_rate, loss: value, grad_norm, samples_per_s })?;
                    }
                    value
                }
                Err(StepError::NonFiniteLoss(v)) => {
                    outcome = Outcome::Diverged { epoch, step, reason: format!("training loss is {v}") };
                    break 'epochs;
                }
                Err(StepError::NonFiniteGradient(g)) => {
                    outcome = Outcome::Diverged { epoch, step, reason: format!("gradient norm is {g}") };
                    break 'epochs;
                }
                Err(StepError::Optimizer(e)) => return Err(e.into()),
            };
            sample_device_memory(&opts.device, &mut device_peak_bytes);
            if let (Some(t), Some(every)) = (trajectory.as_mut(), h.trajectory_every)
                && (step + 1) % every == 0
                && (step + 1) % steps_per_epoch != 0
            {
                t.record(&model.valid(), step + 1, epoch - 1, false, false)?;
            }
            if chains.is_some_and(|c| c.unit == ResetUnit::Steps && c.reset_after(step + 1, total_steps)) {
                models::reset_chains(model.backbone_linears(), &mut opt);
                chains_run += 1;
            }
            loss_sum += value * idx.len() as f64;
            state.samples += idx.len();
            if let Some(b) = bar {
                b.inc(1);
            }
            if opts.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(RunError::Stopped { epoch });
            }
        }
        state.train_s += epoch_start.elapsed().as_secs_f64();
        let eval_gate = gate.as_ref().map(|g| g.shared());
        let valid = model.valid();
        // The empirical risk of these weights (G(W) subtracts it), measured as the test loss.
        let (train_eval_loss, _) = evaluate(&valid, data, Split::Train, info, opts);
        let (val_loss, val_metric) = evaluate(&valid, data, Split::Validation, info, opts);
        let (test_loss, test_metric) = evaluate(&valid, data, Split::Test, info, opts);
        sample_device_memory(&opts.device, &mut device_peak_bytes);
        drop(eval_gate);
        state.epochs.push(EpochRecord { epoch, train_loss: loss_sum / n_train as f64, train_eval_loss: Some(train_eval_loss), val_loss, val_metric, test_loss, test_metric });
        if let Some(t) = trajectory.as_mut() {
            t.record(&valid, epoch * steps_per_epoch, epoch, true, epoch == h.epochs)?;
        }
        // The selected epoch's model is kept: exported whenever this epoch is the best so far.
        if let Some(dir) = &opts.weights_dir
            && select_best(&state.epochs, h.best_epoch).is_some_and(|b| b.epoch == epoch)
        {
            export_best(&valid, dir, &hash, epoch, base, &check_batch(data, &opts.device))?;
        }
        drop(valid);
        // A chain reset between epochs: merge, next chain, forget the reset factors' moments.
        if chains.is_some_and(|c| c.unit == ResetUnit::Epochs && c.reset_after(epoch, h.epochs)) {
            models::reset_chains(model.backbone_linears(), &mut opt);
            chains_run += 1;
        }
        if let Some(log) = log.as_mut() {
            log.flush()?;
        }
        if epoch < h.epochs && epoch_start.elapsed().as_secs_f64() >= opts.checkpoint_min_epoch_s {
            save_partial(&partial, &mut model, &opt, &state)?;
        }
        if opts.stop_after_epochs == Some(epoch) {
            return Err(RunError::Interrupted { epoch });
        }
    }
    if let Some(r) = recorder {
        r.finish(&cell.method, &opt.config)?;
    }
    let adaptation = ledger::Adaptation { layers: adapted_layers, chains: chains_run, train_examples: n_train };
    Ok(Trained { adaptation, epochs: state.epochs, outcome, params, train_s: state.train_s, samples: state.samples, device_peak_bytes, timed })
}

/// The timing phase ([`crate::timing`]): the first epoch's batches (cycled), `warmup + steps`
/// training steps at learning rate 0, the optimizer's state restored afterwards. A
/// non-finite loss ends it without a figure (the training then records the divergence).
fn time_steps<M: FineTune>(model: M, opt: &mut AdamW, cell: &Cell, data: &EncodedData, t: &crate::timing::TimingOptions, device: &Device, plain: &Device) -> Result<(M, Option<ledger::TimedCost>), RunError> {
    let h = &cell.hyper;
    let batches = batch_indices(data.len(Split::Train), h.batch_size, cell.seed, 1, true, false);
    let saved = opt.clone();
    let mut slot = Some(model);
    let mut finite = true;
    let result = crate::timing::time(t.warmup_steps, t.steps, |i| {
        if !finite {
            return Ok(());
        }
        let (inputs, targets) = data.batch(Split::Train, &batches[i % batches.len()], device);
        let m = slot.take().expect("the model is back after each step");
        let loss = batch_loss(m.logits(&inputs), &targets);
        if !loss.clone().into_scalar::<f32>().is_finite() {
            finite = false;
            slot = Some(m);
            return Ok(());
        }
        let (m, _, _) = train_step(opt, 0.0, m, loss).map_err(|e| RunError::msg(format!("{}: the timing phase's step failed: {e:?}", cell.label())))?;
        slot = Some(m);
        Ok(())
    });
    *opt = saved;
    let (median, p10, p90) = result?;
    let model = slot.expect("the model is back after the timing phase");
    if !finite {
        return Ok((model, None));
    }
    let mut device_peak = None;
    sample_device_memory(plain, &mut device_peak);
    let timed = ledger::TimedCost {
        warmup_steps: t.warmup_steps,
        steps: t.steps,
        batch_size: h.batch_size,
        median_step_s: median,
        p10_step_s: p10,
        p90_step_s: p90,
        peak_rss_bytes: peak_rss_bytes(),
        device_peak_bytes: device_peak,
    };
    Ok((model, Some(timed)))
}

/// The export of a cell's best epoch so far, before the cell finishes.
fn best_so_far(dir: &Path, hash: &str) -> PathBuf {
    dir.join(format!("{hash}.best"))
}

/// The first test examples (up to 4), on which a kept model's logits are recorded
/// (`check.safetensors`) for `cargo xtask check peft` to compare HF's with.
fn check_batch(data: &EncodedData, device: &Device) -> models::Inputs {
    let idx: Vec<usize> = (0..data.len(Split::Test).min(4)).collect();
    data.batch(Split::Test, &idx, device).0
}

/// How many of a vocabulary's logits per position `check.safetensors` keeps.
const CHECK_TOP: usize = 16;

/// `check.safetensors`: the inputs (`input_ids`, `token_type_ids`, `attention_mask` or
/// `pixel_values`) and the kept model's `logits` on them (for a vocabulary, each position's top
/// `top_ids` and `top_logits`), in HF's orientation.
fn write_check<M: FineTune>(model: &M, inputs: &models::Inputs, path: &Path) -> Result<(), RunError> {
    use peft_core::safetensors_io::shape_and_values;
    let (dims, logits) = shape_and_values(model.logits(inputs));
    let mut floats = Vec::new();
    let mut longs = Vec::new();
    // A vocabulary's logits are many (GPT-2: 50 257 per position): keep each position's top
    // CHECK_TOP (their ids and logits), which a wrong load changes too.
    if dims[1] > CHECK_TOP * 4 {
        let (mut ids, mut top) = (Vec::new(), Vec::new());
        for row in logits.chunks(dims[1]) {
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            ids.extend(order[..CHECK_TOP].iter().map(|&i| i as i64));
            top.extend(order[..CHECK_TOP].iter().map(|&i| row[i]));
        }
        longs.push(("top_ids".to_string(), vec![dims[0], CHECK_TOP], ids));
        floats.push(("top_logits".to_string(), vec![dims[0], CHECK_TOP], top));
    } else {
        floats.push(("logits".to_string(), dims, logits));
    }
    if let models::Inputs::Pixels(px) = inputs {
        let (d, v) = shape_and_values(px.clone());
        floats.push(("pixel_values".into(), d, v));
    } else {
        crate::crosscheck::push_text_inputs(&mut longs, "", inputs);
    }
    peft_core::safetensors_io::write_tensors(path, &floats, &longs).map_err(|e| RunError::msg(e.to_string()))
}

/// What a kept model's directory says of itself (`beyond_lora.json`, beside HF's files).
#[derive(Serialize, Deserialize)]
struct KeptInfo {
    epoch: usize,
    #[serde(flatten)]
    exported: models::peft::Exported,
}

const KEPT_INFO: &str = "beyond_lora.json";

/// Exports `model` as the cell's best epoch so far (into a fresh directory, then swapped in,
/// so that a kill leaves the previous best whole). A family without an export is not an
/// error: the cell keeps no weights and says why on stderr.
fn export_best<M: FineTune>(model: &M, dir: &Path, hash: &str, epoch: usize, base: &models::peft::ExportBase, check: &models::Inputs) -> Result<(), RunError> {
    let io = |p: &Path, e: std::io::Error| RunError::msg(format!("{}: {e}", p.display()));
    let tmp = dir.join(format!("{hash}.best.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    let exported = match models::peft::export(model, &tmp, base) {
        Ok(e) => e,
        Err(models::ModelError::Unsupported(why)) => {
            eprintln!("weights not kept: {why}");
            std::fs::remove_dir_all(&tmp).ok();
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    write_check(model, check, &tmp.join("check.safetensors"))?;
    let info = serde_json::to_string_pretty(&KeptInfo { epoch, exported }).expect("JSON");
    std::fs::write(tmp.join(KEPT_INFO), info).map_err(|e| io(&tmp, e))?;
    let best = best_so_far(dir, hash);
    if best.exists() {
        std::fs::remove_dir_all(&best).map_err(|e| io(&best, e))?;
    }
    std::fs::rename(&tmp, &best).map_err(|e| io(&best, e))
}

/// Moves a finished cell's best export to `weights/<hash>` (an earlier run's, from a
/// `--force` re-run, is moved aside, not deleted) and says what it is.
fn keep_weights(dir: &Path, hash: &str, epoch: usize) -> Result<Option<ledger::KeptWeights>, RunError> {
    let best = best_so_far(dir, hash);
    let Ok(text) = std::fs::read_to_string(best.join(KEPT_INFO)) else { return Ok(None) };
    let info: KeptInfo = serde_json::from_str(&text).map_err(|e| RunError::msg(format!("{}: {e}", best.display())))?;
    if info.epoch != epoch {
        return Err(RunError::msg(format!("{}: holds epoch {}, the selected epoch is {epoch}", best.display(), info.epoch)));
    }
    let kept = dir.join(hash);
    if kept.exists() {
        let aside = (1..).map(|i| dir.join(format!("{hash}.superseded-{i}"))).find(|p| !p.exists()).expect("a free name");
        std::fs::rename(&kept, &aside).map_err(|e| RunError::msg(format!("{}: {e}", kept.display())))?;
    }
    std::fs::rename(&best, &kept).map_err(|e| RunError::msg(format!("{}: {e}", kept.display())))?;
    let trajectory_points = crate::trajectory::keep(dir, hash, &kept)?;
    let format = match info.exported {
        models::peft::Exported::PeftLora { .. } => "peft-lora",
        models::peft::Exported::Transformers { .. } => "transformers",
    };
    Ok(Some(ledger::KeptWeights { dir: format!("weights/{hash}"), epoch, format: format.into(), trajectory_points }))
}

/// A cell's step log (`<hash>.steps.jsonl`), appended to as it trains.
struct StepLog {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl StepLog {
    /// Opens the log keeping only the lines of the first `epochs_kept` epochs (those a resumed
    /// cell does not redo).
    fn open(path: &Path, epochs_kept: usize) -> Result<Self, RunError> {
        let io = |e: std::io::Error| RunError::msg(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let kept: String = match std::fs::read_to_string(path) {
            Ok(text) if epochs_kept > 0 => text
                .lines()
                .filter(|l| serde_json::from_str::<ledger::StepLine>(l).is_ok_and(|s| s.epoch <= epochs_kept))
                .map(|l| format!("{l}\n"))
                .collect(),
            _ => String::new(),
        };
        ledger::write_durably(path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(io)?;
        Ok(Self { path: path.to_path_buf(), out: std::io::BufWriter::new(file) })
    }

    fn push(&mut self, line: &ledger::StepLine) -> Result<(), RunError> {
        use std::io::Write;
        writeln!(self.out, "{}", serde_json::to_string(line).expect("a step line serialises")).map_err(|e| RunError::msg(format!("{}: {e}", self.path.display())))
    }

    fn flush(&mut self) -> Result<(), RunError> {
        use std::io::Write;
        self.out.flush().map_err(|e| RunError::msg(format!("{}: {e}", self.path.display())))
    }
}

/// Writes `<hash>.trainer_state.json` beside the step log of a finished run.
fn write_trainer_state(dir: &Path, result: &CellResult, steps_per_epoch: usize) -> Result<(), RunError> {
    let steps: Vec<ledger::StepLine> = std::fs::read_to_string(dir.join(format!("{}.steps.jsonl", result.hash)))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let h = &result.cell.hyper;
    let state = ledger::TrainerState::from_run(&steps, &result.epochs, result.best.as_ref(), &result.metric, steps_per_epoch, h.epochs, h.batch_size);
    ledger::write_durably(&dir.join(format!("{}.trainer_state.json", result.hash)), serde_json::to_string_pretty(&state).expect("a trainer state serialises").as_bytes())?;
    Ok(())
}

/// The dropout seed of one epoch of a cell: a named stream of the cell's seed, like the
/// adapters' streams, so neighbouring seeds and epochs give unrelated masks.
fn dropout_seed(seed: u64, epoch: u64) -> u64 {
    peft_core::Rng::for_stream(seed, &format!("dropout/epoch-{epoch}")).next_u64()
}

/// Moves the partial checkpoint of cell `hash` aside (`<hash>.corrupt-<n>`, kept for
/// inspection) so that the cell starts afresh. Returns where it went.
pub fn move_partial_aside(partial_dir: &Path, hash: &str) -> Result<PathBuf, RunError> {
    let aside = (1..).map(|n| partial_dir.join(format!("{hash}.corrupt-{n}"))).find(|p| !p.exists()).expect("a free name");
    if let Some(found) = find_partial(&partial_dir.join(hash)) {
        std::fs::rename(&found, &aside).map_err(|e| RunError::msg(format!("{}: {e}", found.display())))?;
    }
    discard_partial(partial_dir, hash)?;
    Ok(aside)
}

/// Removes the partial checkpoint of cell `hash` under `partial_dir` (after its result is
/// recorded, or to redo the cell from scratch), with any half-swapped copy of it.
pub fn discard_partial(partial_dir: &Path, hash: &str) -> Result<(), RunError> {
    let dir = partial_dir.join(hash);
    for d in [dir.with_extension("tmp"), dir.with_extension("old"), dir] {
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(|e| RunError::msg(format!("{}: {e}", d.display())))?;
        }
    }
    Ok(())
}

/// Writes the partial checkpoint to a fresh directory, then swaps it in: the old one is
/// renamed aside before the new one takes its name and removed after, so that a complete
/// checkpoint is on disk at every moment (see [`find_partial`]).
fn save_partial<M: FineTune>(dir: &Path, model: &mut M, opt: &AdamW, state: &PartialState) -> Result<(), RunError> {
    let io = |p: &Path, e: std::io::Error| RunError::msg(format!("{}: {e}", p.display()));
    let tmp = dir.with_extension("tmp");
    let old = dir.with_extension("old");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    models::save_adapters(&tmp.join("adapters.safetensors"), model.backbone_linears())?;
    peft_core::save_trainable(&tmp.join("trainable.safetensors"), model)?;
    opt.save_state(&tmp.join("optimizer.safetensors"))?;
    std::fs::write(tmp.join("progress.json"), serde_json::to_string_pretty(state).expect("JSON")).map_err(|e| io(&tmp, e))?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        }
        std::fs::rename(dir, &old).map_err(|e| io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    }
    Ok(())
}

/// The complete partial checkpoint of a cell, if any: `dir`, or the previous one a kill left
/// renamed aside in the middle of a swap (`dir.old`).
fn find_partial(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.with_extension("old")].into_iter().find(|d| d.join("progress.json").is_file())
}

fn restore<M: FineTune>(dir: &Path, mut model: M, opt: &mut AdamW, device: &Device) -> Result<(M, PartialState), RunError> {
    let text = std::fs::read_to_string(dir.join("progress.json")).map_err(|e| RunError::msg(format!("{}: {e}", dir.display())))?;
    let state: PartialState =
        serde_json::from_str(&text).map_err(|e| RunError::msg(format!("{}/progress.json: {e}", dir.display())))?;
    models::load_adapters(&dir.join("adapters.safetensors"), model.backbone_linears())?;
    let model = peft_core::load_trainable(&dir.join("trainable.safetensors"), model)?;
    opt.load_state(&dir.join("optimizer.safetensors"), device)?;
    Ok((model, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kill in the middle of swapping checkpoints leaves the previous one renamed aside: it is
    /// found and resumed from; `discard_partial` removes every copy.
    #[test]
    fn a_checkpoint_swapped_halfway_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let cell = dir.path().join("abc");
        assert_eq!(find_partial(&cell), None);
        std::fs::create_dir_all(cell.with_extension("old")).unwrap();
        std::fs::write(cell.with_extension("old").join("progress.json"), "{}").unwrap();
        std::fs::create_dir_all(cell.with_extension("tmp")).unwrap(); // the new one, incomplete
        assert_eq!(find_partial(&cell), Some(cell.with_extension("old")));
        std::fs::create_dir_all(&cell).unwrap();
        std::fs::write(cell.join("progress.json"), "{}").unwrap();
        assert_eq!(find_partial(&cell), Some(cell.clone()), "the complete current one wins");
        discard_partial(dir.path(), "abc").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// An example is an exact match when every scored position's argmax is its gold token;
    /// unscored positions (prompt, padding) do not count.
    #[test]
    fn exact_match_needs_every_target_token() {
        let i = datasets::batch::IGNORE_INDEX;
        let gold = [i, 7, 8, 6, /* row 2 */ i, i, 9, 6, /* row 3 */ i, 5, 6, i];
        let argmax = [3, 7, 8, 6, /* */ 1, 2, 9, 5, /* */ 0, 5, 6, 4];
        assert_eq!(exact_rows(&gold, &argmax, 4), vec![true, false, true]);
        let pred = Predictions { exact: exact_rows(&gold, &argmax, 4), ..Predictions::default() };
        assert!((metric_value(Metric::ExactMatch, 0, &pred) - 2.0 / 3.0).abs() < 1e-12);
    }
}
