//! One cell end to end on a tiny random BERT saved as a mini checkpoint: training learns, an
//! interrupted cell resumes to exactly the uninterrupted result (adapters, chain state, head,
//! optimizer), a diverging cell is recorded as such, and the ledger keeps finished results.

use burn::tensor::Device;
use ledger::{Cell, Hyper, Outcome, ScheduleKind, Selection};
use models::Weights;
use models::bert::{BertConfig, BertModel};
use models::export::{HfTensors, save_checkpoint};
use runner::train::{RunOptions, run_cell};

/// One cell trains at a time in this binary. The resume test compares two runs to 1e-5, and
/// burn-flex sums large tensors in rayon chunks whose combining order follows the pool's load;
/// a cell training beside it could change that order.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A 1-layer, 32-wide BERT over the mini vocabulary, saved as `results/models/mini-test`.
fn tiny_checkpoint(results: &std::path::Path) {
    tiny_checkpoint_with_dropout(results, "mini-test", 0.0);
}

/// A 1-layer BERT under `results/models/<name>` with `dropout` as its hidden and attention
/// dropout (transformers' default would be 0.1).
fn tiny_checkpoint_with_dropout(results: &std::path::Path, name: &str, dropout: f64) {
    let tok = datasets::mini::tokenizer::build();
    let config = serde_json::json!({
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": tok.get_vocab_size(true),
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0,
        "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout
    });
    let cfg: BertConfig = serde_json::from_value(config.clone()).unwrap();
    let model = BertModel::load(&Weights::random_init(7, 0.02), &cfg, &Device::flex()).unwrap();
    let mut out = HfTensors::default();
    model.hf_tensors("", &mut out);
    let dir = results.join("models").join(name);
    save_checkpoint(&dir, &config, &out).unwrap();
    datasets::mini::tokenizer::save(&dir).unwrap();
}

fn cell(method: &str, epochs: usize, lr: f64) -> Cell {
    Cell {
        suite: "mini".into(),
        model: "mini-test".into(),
        dataset: "mini-question-type".into(),
        method: method.into(),
        seed: 3,
        hyper: Hyper {
            lr,
            lr_ratio_b: None,
            lr_bridge_to_cla: false,
            scheduler: ScheduleKind::Linear,
            warmup_init_lr: 1e-6,
            warmup_ratio: 0.1,
            weight_decay: 0.01,
            batch_size: 32,
            epochs,
            max_length: 32,
            rank: 4,
            alpha: 8.0,
            target_modules: vec!["query".into(), "value".into()],
            a_init: None,
            chain_reset_every_epochs: Some(1),
            chain_length: None,
            grad_clip_global_norm: Some(1.0),
            best_epoch: Selection::LowestValLoss,
            adam_betas: None,
            adam_eps: None,
            image_size: None,
            trajectory_every: None,
        },
        fingerprint: None,
    }
}

/// Runs a cell to its end as the grid does: its partial checkpoint goes once it is done.
fn run_to_end(c: &Cell, o: &RunOptions) -> Result<ledger::CellResult, runner::RunError> {
    let r = run_cell(c, o)?;
    runner::train::discard_partial(&o.partial_dir, &c.hash()).unwrap();
    Ok(r)
}

fn options(results: &std::path::Path) -> RunOptions {
    let mut o = RunOptions::new(results, ledger::Ledger::of_experiment(results, "mini", "main").partial_dir(), Device::flex(), "cpu");
    o.checkpoint_min_epoch_s = 0.0;
    o.eval_batch_size = 256;
    o
}

#[test]
fn interrupted_cells_resume_to_the_uninterrupted_result() {
    let _serial = serial();

    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    for method in ["r-c3la", "fft"] {
        let c = cell(method, 3, if method == "fft" { 2e-3 } else { 1e-2 });
        let whole = run_to_end(&c, &options(dir.path())).unwrap();
        assert_eq!(whole.outcome, Outcome::Finished);
        assert_eq!(whole.epochs.len(), 3);
        // 14 classes: chance is 1/14; a few epochs of the tiny model must do better.
        let best = whole.best.as_ref().unwrap();
        assert!(best.test_metric > 0.2, "{method}: test accuracy {}", best.test_metric);
        assert!(whole.epochs[2].train_loss < whole.epochs[0].train_loss, "{method}: the training loss falls");
        assert!(whole.params.head > 0 && whole.params.total > whole.params.backbone_trainable);
        assert_eq!(whole.cost.device_peak_bytes, None, "Flex reports no device pools: RSS is the figure");
        assert!(whole.cost.peak_rss_bytes > 0);

        let mut stop = options(dir.path());
        stop.stop_after_epochs = Some(2);
        let err = run_cell(&c, &stop).unwrap_err();
        assert!(matches!(err, runner::RunError::Interrupted { epoch: 2 }), "{err}");
        let partial = ledger::Ledger::of_experiment(dir.path(), "mini", "main").partial_dir().join(c.hash());
        assert!(partial.join("progress.json").is_file(), "a partial checkpoint is kept");
        let resumed = run_cell(&c, &options(dir.path())).unwrap();
        assert!(partial.join("progress.json").is_file(), "kept until the result is recorded");
        runner::train::discard_partial(&stop.partial_dir, &c.hash()).unwrap();
        assert!(!partial.exists(), "the partial checkpoint is removed once the cell is recorded");
        let gap = max_difference(&whole, &resumed);
        assert!(gap <= 1e-5, "{method}: resumed differs from uninterrupted by {gap}");
    }
}

/// Dropout masks are drawn per epoch from (seed, epoch): a cell with dropout resumes to the
/// uninterrupted result too, and dropout changes what the cell learns.
#[test]
fn cells_with_dropout_resume_to_the_uninterrupted_result() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint_with_dropout(dir.path(), "mini-test", 0.0);
    tiny_checkpoint_with_dropout(dir.path(), "mini-dropout", 0.2);
    let mut c = cell("lora", 2, 1e-2);
    c.hyper.chain_reset_every_epochs = None;
    let without = run_to_end(&c, &options(dir.path())).unwrap();
    c.model = "mini-dropout".into();
    let whole = run_to_end(&c, &options(dir.path())).unwrap();
    assert!(max_difference(&whole, &without) > 1e-4, "dropout 0.2 left the training unchanged");
    let mut stop = options(dir.path());
    stop.stop_after_epochs = Some(1);
    assert!(matches!(run_cell(&c, &stop).unwrap_err(), runner::RunError::Interrupted { epoch: 1 }));
    let resumed = run_cell(&c, &options(dir.path())).unwrap();
    let gap = max_difference(&whole, &resumed);
    assert!(gap <= 1e-6, "resumed with dropout differs from uninterrupted by {gap}");
}

/// The largest difference between two runs' epoch records (losses and test metric).
fn max_difference(a: &ledger::CellResult, b: &ledger::CellResult) -> f64 {
    assert_eq!(a.epochs.len(), b.epochs.len());
    a.epochs
        .iter()
        .zip(&b.epochs)
        .flat_map(|(a, b)| [(a.train_loss, b.train_loss), (a.val_loss, b.val_loss), (a.test_loss, b.test_loss), (a.test_metric, b.test_metric)])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_diverging_cell_is_recorded_not_lost() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let mut c = cell("lora", 2, 1e30);
    c.hyper.grad_clip_global_norm = None;
    c.hyper.scheduler = ScheduleKind::Constant;
    c.hyper.warmup_ratio = 0.0;
    let r = run_to_end(&c, &options(dir.path())).unwrap();
    assert!(matches!(r.outcome, Outcome::Diverged { .. }), "{:?}", r.outcome);
    assert!(r.epochs.len() < 2);
}

/// A panic inside a cell (here the text encoder's assertion on a `max_length` that validation
/// would have refused) fails that cell with the panic's message, records the failure, and the
/// grid goes on to the next cell, which finishes.
#[test]
fn a_panicking_cell_fails_alone_in_a_grid() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let mut bad = cell("lora", 1, 1e-3);
    bad.hyper.max_length = 2;
    let good = cell("lora", 1, 1e-3);
    let ledger = ledger::Ledger::of_experiment(dir.path(), "mini", "main");
    let failures = runner::grid::run_in_process(&[bad.clone(), good.clone()], &ledger, &options(dir.path()), false, &mut runner::grid::Quiet).unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, bad.label());
    assert!(failures[0].1.starts_with("panicked: max_length 2 is too small"), "{failures:?}");
    assert!(ledger.is_finished(&good.hash()) && !ledger.is_finished(&bad.hash()));
    let kept: Vec<ledger::FailedCell> = ledger.failures();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].hash, bad.hash());
}

/// A partial checkpoint that cannot be resumed from (here: cut off) is moved aside and the cell
/// runs from the start to the same result as a clean run.
#[test]
fn an_unusable_partial_checkpoint_is_moved_aside_and_the_cell_starts_afresh() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let c = cell("lora", 2, 1e-2);
    let clean = run_to_end(&c, &options(dir.path())).unwrap();
    let ledger = ledger::Ledger::of_experiment(dir.path(), "mini", "main");
    let partial = ledger.partial_dir().join(c.hash());
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("progress.json"), "{\"hash\": ").unwrap();
    let e = run_cell(&c, &options(dir.path())).unwrap_err();
    assert!(matches!(e, runner::RunError::UnusablePartial { .. }), "{e}");
    let failures = runner::grid::run_in_process(std::slice::from_ref(&c), &ledger, &options(dir.path()), false, &mut runner::grid::Quiet).unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let r: ledger::CellResult = ledger.read(&c.hash()).unwrap();
    assert!(max_difference(&r, &clean) <= 1e-5, "started afresh: the clean run's result");
    assert!(ledger.partial_dir().join(format!("{}.corrupt-1", c.hash())).join("progress.json").is_file(), "kept for inspection");
    assert!(!partial.exists());
}

#[test]
fn a_missing_mini_model_says_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cell("lora", 1, 1e-3);
    c.model = "mini-encoder".into();
    let e = run_cell(&c, &options(dir.path())).unwrap_err().to_string();
    assert!(e.contains("cargo xtask pretrain mini"), "{e}");
}

/// A 1-layer, 32-wide GPT-2 over the mini vocabulary, saved as `results/models/mini-test-decoder`.
fn tiny_decoder(results: &std::path::Path) {
    use datasets::mini::tokenizer::{BOS_ID, EOS_ID};
    let tok = datasets::mini::tokenizer::build();
    let config = serde_json::json!({
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": tok.get_vocab_size(true),
        "n_positions": 64, "n_embd": 32, "n_layer": 1, "n_head": 2, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID
    });
    let cfg: models::gpt2::Gpt2Config = serde_json::from_value(config.clone()).unwrap();
    let model = models::gpt2::Gpt2LmHeadModel::load(&Weights::random_init(7, 0.02), &cfg, &Device::flex()).unwrap();
    let mut out = HfTensors::default();
    model.hf_tensors(&mut out);
    let dir = results.join("models/mini-test-decoder");
    save_checkpoint(&dir, &config, &out).unwrap();
    datasets::mini::tokenizer::save(&dir).unwrap();
}

/// Causal-LM fine-tuning (E2E-like): the loss covers the target tokens, the metric is their
/// perplexity = exp(mean NLL), FFT lowers it far below the untrained model's, and LoRA on
/// `c_attn` trains exactly r·(in + out) parameters per layer and no head.
#[test]
fn a_causal_lm_cell_learns_its_targets() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_decoder(dir.path());
    let lm_cell = |method: &str, lr: f64| {
        let mut c = cell(method, 2, lr);
        c.model = "mini-test-decoder".into();
        c.dataset = "mini-data-to-text".into();
        c.hyper.target_modules = vec!["c_attn".into()];
        c.hyper.max_length = 64;
        c.hyper.chain_reset_every_epochs = None;
        c
    };
    let vocab = datasets::mini::tokenizer::build().get_vocab_size(true) as f64;
    let fft = run_to_end(&lm_cell("fft", 3e-3), &options(dir.path())).unwrap();
    assert_eq!(fft.metric, "perplexity");
    assert!(!fft.higher_is_better);
    for e in &fft.epochs {
        assert!((e.val_metric - e.val_loss.exp()).abs() <= 1e-6 * e.val_metric, "perplexity = exp(mean NLL): {e:?}");
        assert!((e.test_metric - e.test_loss.exp()).abs() <= 1e-6 * e.test_metric);
    }
    assert!(fft.epochs[1].val_loss < fft.epochs[0].val_loss, "{:?}", fft.epochs);
    // An untrained model is near-uniform over the vocabulary (perplexity ≈ vocab ≈ 470).
    let best = fft.best.as_ref().unwrap();
    assert!(best.test_metric < vocab / 20.0, "test perplexity {} vs vocabulary {vocab}", best.test_metric);
    assert_eq!(fft.reported_value(), Some(best.test_metric), "perplexity is reported as is, not × 100");

    let lora = run_to_end(&lm_cell("lora", 1e-2), &options(dir.path())).unwrap();
    let (h, r) = (32, 4);
    assert_eq!(lora.params.backbone_trainable, r * (h + 3 * h), "one c_attn [32 → 96] adapted at rank 4");
    assert_eq!(lora.params.head, 0, "the tied LM head is not trained");
    // The paper's way: the query and value thirds of c_attn, r·(h + h) each.
    let mut qv = lm_cell("lora", 1e-2);
    qv.hyper.target_modules = vec!["c_attn.q".into(), "c_attn.v".into()];
    qv.hyper.epochs = 1;
    let qv = run_to_end(&qv, &options(dir.path())).unwrap();
    assert_eq!(qv.params.backbone_trainable, 2 * r * (h + h), "the q and v thirds [32 → 32] at rank 4");
    assert_eq!(qv.adaptation.as_ref().unwrap().layers, vec![(h, h), (h, h)]);
    // Over a frozen random backbone LoRA moves slowly (measured: 239 → 237 here), but it moves
    // and stays below the uniform model's perplexity.
    assert!(lora.epochs[1].val_loss < lora.epochs[0].val_loss, "{:?}", lora.epochs);
    assert!(lora.best.as_ref().unwrap().test_metric < vocab);
}

/// On wgpu (in CI: Mesa's software Vulkan) a cell also records the device allocator's peak,
/// at least the size of the model's weights, and trains as on Flex.
#[test]
fn a_wgpu_cell_records_the_device_allocators_peak() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let mut c = cell("lora", 1, 1e-2);
    c.dataset = "mini-acceptability".into();
    c.hyper.batch_size = 64;
    let mut o = options(dir.path());
    o.device = Device::wgpu(Default::default());
    o.device_name = "wgpu".into();
    let r = run_to_end(&c, &o).unwrap();
    let weights = 4 * r.params.total as u64;
    let peak = r.cost.device_peak_bytes.expect("wgpu reports its memory pools");
    eprintln!("wgpu: device allocator peak {peak} B, weights {weights} B, process RSS {} B", r.cost.peak_rss_bytes);
    assert!(peak >= weights, "device peak {peak} B < the weights' {weights} B");
    assert_eq!(r.cost.peak_memory_bytes(), peak);
    assert!(r.best.is_some() && r.epochs[0].train_loss.is_finite());
}

/// The training loss of the model with `partial`'s weights, recomputed here: every training
/// example in evaluation mode, cross-entropy in f64 from the logits.
struct RiskOfCheckpoint<'a> {
    cell: &'a Cell,
    partial: &'a std::path::Path,
    data: &'a runner::data::EncodedData,
}

impl models::FineTuneJob for RiskOfCheckpoint<'_> {
    type Output = f64;

    fn run<M: models::FineTune>(self, model: M) -> f64 {
        let h = &self.cell.hyper;
        let targets = peft_core::TargetModules::from_list(&h.target_modules);
        let adapter = peft_core::AdapterConfig { rank: h.rank, alpha: h.alpha, seed: self.cell.seed, a_init: None };
        let (mut model, _) = model.apply_method(&targets, &self.cell.method, &adapter).unwrap();
        models::load_adapters(&self.partial.join("adapters.safetensors"), model.backbone_linears()).unwrap();
        let model = peft_core::load_trainable(&self.partial.join("trainable.safetensors"), model).unwrap();
        let valid = model.valid();
        let n = self.data.len(datasets::Split::Train);
        let all: Vec<usize> = (0..n).collect();
        let mut sum = 0.0;
        for idx in all.chunks(13) {
            let (inputs, targets) = self.data.batch(datasets::Split::Train, idx, &Device::flex());
            let logits = valid.logits(&inputs);
            let [_, k] = logits.dims();
            let values: Vec<f32> = logits.into_data().convert::<f32>().try_to_vec().unwrap();
            let runner::data::Targets::Classes(_, gold) = targets else { panic!("a classification cell") };
            for (row, &g) in values.chunks(k).zip(&gold) {
                let top = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let log_z = top + row.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln();
                sum += log_z - row[g as usize] as f64;
            }
        }
        sum / n as f64
    }
}

/// G(W) is the test loss minus the training split's loss in evaluation mode with the epoch's
/// weights (Definition 1), not minus the running mean of the batch losses: with dropout the
/// two differ, and the recorded risk equals one recomputed from the checkpointed weights.
#[test]
fn g_w_subtracts_the_evaluation_mode_training_loss() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint_with_dropout(dir.path(), "mini-dropout", 0.2);
    let mut c = cell("lora", 2, 1e-2);
    c.model = "mini-dropout".into();
    c.hyper.chain_reset_every_epochs = None;
    let mut stop = options(dir.path());
    stop.stop_after_epochs = Some(1);
    assert!(matches!(run_cell(&c, &stop).unwrap_err(), runner::RunError::Interrupted { epoch: 1 }));
    let partial = stop.partial_dir.join(c.hash());
    let progress: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(partial.join("progress.json")).unwrap()).unwrap();
    let e: ledger::EpochRecord = serde_json::from_value(progress["epochs"][0].clone()).unwrap();
    let risk = e.train_eval_loss.expect("the evaluation-mode training loss is recorded");
    assert!((e.train_loss - risk).abs() > 1e-3, "dropout 0.2: running mean {} vs evaluation-mode {risk}", e.train_loss);

    let hub = hub::Hub::from_env();
    let ckpt = runner::train::checkpoint_for(&c.model, dir.path(), &hub).unwrap();
    let info = datasets::info(&c.dataset).unwrap();
    let data = runner::data::EncodedData::encode(info, datasets::load(&c.dataset, &hub).unwrap(), &ckpt, c.hyper.max_length, None).unwrap();
    let head = models::TaskHead::Classifier(runner::data::head_outputs(&info.task).unwrap());
    let model = models::auto::load_for_finetuning(&ckpt, head, c.seed, &Device::flex().autodiff()).unwrap();
    let recomputed = model.fine_tune(RiskOfCheckpoint { cell: &c, partial: &partial, data: &data }).unwrap();
    assert!((recomputed - risk).abs() <= 1e-5 * risk.max(1.0), "recorded {risk}, recomputed {recomputed}");
    assert!((e.generalization_gap().unwrap() - (e.test_loss - recomputed)).abs() <= 1e-5);
    runner::train::discard_partial(&stop.partial_dir, &c.hash()).unwrap();
}

/// Chain resets fire inside `run_cell`, by epochs or as k chains over the run's steps
/// (Algorithm 3), and change what the cell learns; LoRA+'s B multiplier is applied: at ratio
/// 1 it is LoRA exactly, at 16 it is not.
#[test]
fn chain_resets_and_the_lora_plus_multiplier_act_inside_run_cell() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let chains = |c: &Cell| run_to_end(c, &options(dir.path())).unwrap();
    let mut by_epoch = cell("cola", 2, 1e-2);
    by_epoch.hyper.chain_reset_every_epochs = Some(1);
    let mut by_steps = by_epoch.clone();
    (by_steps.hyper.chain_reset_every_epochs, by_steps.hyper.chain_length) = (None, Some(3));
    let mut never = by_epoch.clone();
    never.hyper.chain_reset_every_epochs = None;
    let (e, s, n) = (chains(&by_epoch), chains(&by_steps), chains(&never));
    assert_eq!(e.adaptation.as_ref().unwrap().chains, 2, "one reset between the two epochs");
    assert_eq!(s.adaptation.as_ref().unwrap().chains, 3, "k = 3 chains over the run's steps");
    assert_eq!(n.adaptation.as_ref().unwrap().chains, 1);
    assert!(max_difference(&e, &n) > 1e-4 && max_difference(&s, &n) > 1e-4 && max_difference(&s, &e) > 1e-4, "resets change the training");
    // The reset drops the restarted factors' AdamW state: the checkpoint after epoch 1 (taken
    // after its reset) has moments for the head only; without resets A and B keep theirs.
    let moments_after_epoch_1 = |c: &Cell| -> std::collections::BTreeMap<String, i32> {
        let mut o = options(dir.path());
        o.stop_after_epochs = Some(1);
        assert!(matches!(run_cell(c, &o), Err(runner::RunError::Interrupted { epoch: 1 })));
        let bytes = std::fs::read(o.partial_dir.join(c.hash()).join("optimizer.safetensors")).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let steps = serde_json::from_str(&header.metadata().as_ref().unwrap()["steps"]).unwrap();
        runner::train::discard_partial(&o.partial_dir, &c.hash()).unwrap();
        steps
    };
    let (reset, kept) = (moments_after_epoch_1(&by_epoch), moments_after_epoch_1(&never));
    let factor = |k: &String| k.contains("lora_");
    assert!(kept.keys().any(factor) && !reset.keys().any(factor), "reset: {reset:?}; no reset: {kept:?}");
    assert!(reset.keys().any(|k| k.contains("classifier")) && reset.values().all(|&s| s == kept.values().copied().max().unwrap()), "the head keeps its state: {reset:?}");

    let lora = cell("lora", 1, 1e-2);
    let mut plus = lora.clone();
    plus.method = "lora-plus".into();
    plus.hyper.lr_ratio_b = Some(1.0);
    let (l, p1) = (chains(&lora), chains(&plus));
    assert!(max_difference(&l, &p1) <= 1e-6, "LoRA+ at ratio 1 is LoRA: {}", max_difference(&l, &p1));
    plus.hyper.lr_ratio_b = Some(16.0);
    assert!(max_difference(&l, &chains(&plus)) > 1e-4, "ratio 16 trains B faster");
}

/// The grid gives the PaCA family the rates that bridge it to cLA: a D-PaCA cell and a cLA
/// cell of the same grid row and seed (no weight decay, no clipping, as the bridge needs) end
/// with the same numbers; PaCA with LoRA's plain rate would not.
#[test]
fn d_paca_cells_follow_cla_cells_through_the_grid() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let file = dir.path().join("bridge.toml");
    std::fs::write(
        &file,
        "[defaults]\nmethods = [\"cla\", \"d-paca\"]\nseeds = [3]\nrank = 4\nscheduler = \"linear\"\nwarmup_ratio = 0.1\nweight_decay_lora = 0.0\n\
         [[cell]]\nmodel = \"mini-test\"\ndataset = \"mini-question-type\"\nlr_fft = 1e-3\nlr_lora = 1e-3\nlr_asym = 1e-2\nbatch_size = 32\nepochs = 2\nmax_length = 32\n",
    )
    .unwrap();
    let cells = runner::experiment::Experiment::load(&file, "mini").unwrap().cells(&runner::experiment::Filter::default()).unwrap();
    let (cla, dpaca) = (cells.iter().find(|c| c.method == "cla").unwrap(), cells.iter().find(|c| c.method == "d-paca").unwrap());
    assert!(dpaca.hyper.lr_bridge_to_cla && !cla.hyper.lr_bridge_to_cla);
    assert_eq!(dpaca.hyper.lr, cla.hyper.lr, "D-PaCA's cell rate is cLA's");
    let (a, b) = (run_to_end(cla, &options(dir.path())).unwrap(), run_to_end(dpaca, &options(dir.path())).unwrap());
    let gap = max_difference(&a, &b);
    assert!(gap <= 1e-4, "D-PaCA differs from cLA by {gap}");
    let mut plain = dpaca.clone();
    plain.hyper.lr_bridge_to_cla = false;
    assert!(max_difference(&a, &run_to_end(&plain, &options(dir.path())).unwrap()) > 1e-3, "without the bridge D-PaCA takes other steps");
}

/// A cell logs every step (learning rate per group, loss, gradient norm) and writes HF
/// Trainer's state at the end; a cell resumed after a kill logs each step once.
#[test]
fn steps_are_logged_once_even_across_a_resume() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let mut c = cell("lora-plus", 2, 1e-2);
    c.hyper.lr_ratio_b = Some(16.0);
    let logs = dir.path().join("logs");
    let mut o = options(dir.path());
    o.log_dir = Some(logs.clone());
    o.stop_after_epochs = Some(1);
    assert!(matches!(run_cell(&c, &o).unwrap_err(), runner::RunError::Interrupted { epoch: 1 }));
    o.stop_after_epochs = None;
    let r = run_cell(&c, &o).unwrap();
    let lines: Vec<ledger::StepLine> = std::fs::read_to_string(logs.join(format!("{}.steps.jsonl", c.hash()))).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let per_epoch = lines.iter().filter(|l| l.epoch == 1).count();
    assert!(per_epoch > 1 && lines.len() == 2 * per_epoch, "{} lines, {per_epoch} in epoch 1", lines.len());
    assert_eq!(lines.iter().map(|l| l.step).collect::<Vec<_>>(), (1..=lines.len()).collect::<Vec<_>>(), "each step once, in order");
    let l = &lines[per_epoch];
    assert!((l.learning_rate["B"] / l.learning_rate["A"] - 16.0).abs() < 1e-9 && l.learning_rate["head"] == l.learning_rate["A"], "{:?}", l.learning_rate);
    assert!(lines.iter().all(|l| l.grad_norm > 0.0 && l.loss.is_finite() && l.samples_per_s > 0.0));
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(logs.join(format!("{}.trainer_state.json", c.hash()))).unwrap()).unwrap();
    assert_eq!(state["global_step"], lines.len());
    assert_eq!(state["log_history"].as_array().unwrap().len(), lines.len() + 2, "every step and one evaluation per epoch");
    assert_eq!(state["best_metric"], r.best.as_ref().unwrap().val_loss);
}

/// Table 7's `image_size` is checked against the checkpoint's preprocessor (the committed
/// mini ViT makes 8 × 8 images), not read and ignored.
#[test]
fn image_size_must_be_what_the_preprocessor_makes() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/mini");
    let hub = hub::Hub::from_env();
    let ckpt = runner::train::checkpoint_for("mini-vit", &committed, &hub).unwrap();
    let info = datasets::info("mini-digits").unwrap();
    let encode = |side| runner::data::EncodedData::encode(info, datasets::load("mini-digits", &hub).unwrap(), &ckpt, 64, side);
    assert!(encode(None).is_ok() && encode(Some(8)).is_ok());
    let err = encode(Some(224)).err().expect("224 is not 8").to_string();
    assert!(err.contains("image_size is 224") && err.contains("8×8"), "{err}");
}

/// A finished cell keeps its selected epoch's model: an HF PEFT adapter (chained methods: rank
/// chains · r) or, for FFT, a transformers checkpoint, under `weights/<hash>`, named in its
/// result; nothing half-written is left beside it.
#[test]
fn a_finished_cell_keeps_its_selected_model_for_hf() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let weights = dir.path().join("weights");
    let mut o = options(dir.path());
    o.weights_dir = Some(weights.clone());
    for (method, format) in [("lora", "peft-lora"), ("cola", "peft-lora"), ("paca", "peft-lora"), ("fft", "transformers")] {
        let mut c = cell(method, 2, 1e-3);
        c.hyper.chain_reset_every_epochs = Some(1);
        let r = run_cell(&c, &o).unwrap();
        let kept = r.weights.clone().unwrap_or_else(|| panic!("{method}: no weights kept"));
        assert_eq!((kept.format.as_str(), kept.epoch, kept.dir.clone()), (format, r.best.as_ref().unwrap().epoch, format!("weights/{}", c.hash())), "{method}");
        let d = weights.join(c.hash());
        let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("beyond_lora.json")).unwrap()).unwrap();
        assert_eq!(info["epoch"], kept.epoch, "{method}");
        if format == "peft-lora" {
            let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("adapter_config.json")).unwrap()).unwrap();
            // cola reset after epoch 1: its selected epoch 2 holds two chains.
            let chains = if method == "cola" && kept.epoch == 2 { 2 } else { 1 };
            assert_eq!(cfg["r"], c.hyper.rank * chains, "{method}");
            assert_eq!(cfg["task_type"], "SEQ_CLS");
            assert!(d.join("adapter_model.safetensors").exists());
        } else {
            assert!(d.join("config.json").exists() && d.join("model.safetensors").exists());
        }
        let left: Vec<String> = std::fs::read_dir(&weights).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".best")).collect();
        assert!(left.is_empty(), "{method}: {left:?} left behind");
    }
}

/// What a cell records for the PyTorch cross-check is the run it makes: one batch and one rate
/// per logged step (the rate the step log shows), the test split's evaluation batches, and
/// its starting model as an HF PEFT adapter with B still zero and A as drawn.
#[test]
fn a_recorded_cell_holds_every_step_it_took() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let rec = dir.path().join("crosscheck");
    let logs = dir.path().join("logs");
    let mut o = options(dir.path());
    o.log_dir = Some(logs.clone());
    o.crosscheck = Some(rec.clone());
    let mut c = cell("lora-plus", 2, 1e-2);
    c.hyper.lr_ratio_b = Some(16.0);
    run_to_end(&c, &o).unwrap();
    let lines: Vec<ledger::StepLine> = std::fs::read_to_string(logs.join(format!("{}.steps.jsonl", c.hash()))).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let plan: runner::crosscheck::Plan = serde_json::from_str(&std::fs::read_to_string(rec.join("steps.json")).unwrap()).unwrap();
    assert_eq!(plan.lr.len(), lines.len());
    for (lr, line) in plan.lr.iter().zip(&lines) {
        assert_eq!(*lr, line.learning_rate["A"], "step {}", line.step);
        assert!((line.learning_rate["B"] / lr - plan.lr_multipliers["B"]).abs() < 1e-12);
    }
    assert!(plan.trains_a && plan.max_grad_norm == c.hyper.grad_clip_global_norm);
    let bytes = std::fs::read(rec.join("batches.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for i in 0..lines.len() {
        let ids = st.tensor(&format!("train.{i}.input_ids")).unwrap();
        let labels = st.tensor(&format!("train.{i}.labels")).unwrap();
        assert_eq!(ids.shape()[0], labels.shape()[0], "step {i}");
    }
    assert!(st.tensor(&format!("train.{}.input_ids", lines.len())).is_err(), "no batch beyond the last step");
    assert!(plan.test_batches >= 1 && st.tensor(&format!("test.{}.labels", plan.test_batches - 1)).is_ok());
    let adapter = std::fs::read(rec.join("initial/adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&adapter).unwrap();
    let b: Vec<String> = st.names().into_iter().filter(|k| k.ends_with("lora_B.weight")).map(String::from).collect();
    assert!(!b.is_empty());
    for k in &b {
        assert!(st.tensor(k).unwrap().data().iter().all(|&x| x == 0), "{k}: B starts at zero");
    }
    let a = st.tensor(&b[0].replace("lora_B", "lora_A")).unwrap();
    assert!(a.data().iter().any(|&x| x != 0), "A as drawn");
}

/// A target name that matches no linear layer is an error naming the model and its layers'
/// names, not a cell that trains only the head; `all-linear` adapts every linear but the head.
#[test]
fn unknown_target_modules_are_refused_and_all_linear_adapts_every_linear() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let mut c = cell("lora", 1, 1e-2);
    c.hyper.target_modules = vec!["query".into(), "valeu".into()];
    let e = run_cell(&c, &options(dir.path())).unwrap_err().to_string();
    assert!(e.contains("[\"valeu\"] match no linear layer of mini-test") && e.contains("query") && e.contains("value") && e.contains("all-linear"), "{e}");
    c.hyper.target_modules = vec!["all-linear".into()];
    let r = run_to_end(&c, &options(dir.path())).unwrap();
    // One layer, width 32, FFN 64, r = 4: q, k, v, o (32 → 32) and the FFN's two (32 ↔ 64).
    let lora = |i: usize, o: usize| 4 * (i + o);
    assert_eq!(r.params.backbone_trainable, 4 * lora(32, 32) + lora(32, 64) + lora(64, 32));
    assert_eq!(r.adaptation.as_ref().unwrap().layers.len(), 6);
}

/// The timing phase steps at learning rate 0 and restores the optimizer: a timed cell ends
/// exactly as an untimed one, with its median step and peak memory recorded.
#[test]
fn a_timed_cell_trains_exactly_as_an_untimed_one() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    for method in ["lora", "fft"] {
        let c = cell(method, 2, if method == "fft" { 2e-3 } else { 1e-2 });
        let plain = run_to_end(&c, &options(dir.path())).unwrap();
        let mut o = options(dir.path());
        o.timing = Some(runner::timing::TimingOptions { steps: 7, ..runner::timing::TimingOptions::new(dir.path()) });
        let timed = run_to_end(&c, &o).unwrap();
        assert_eq!(plain.epochs, timed.epochs, "{method}: the same training");
        assert!(plain.cost.timed.is_none());
        let t = timed.cost.timed.as_ref().expect("timed");
        assert_eq!((t.warmup_steps, t.steps, t.batch_size), (3, 7, 32));
        assert!(t.median_step_s > 0.0 && t.p10_step_s <= t.median_step_s && t.median_step_s <= t.p90_step_s, "{t:?}");
        assert!(t.peak_rss_bytes > 0 && t.peak_rss_bytes <= timed.cost.peak_rss_bytes);
    }
}
