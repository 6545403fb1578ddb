//! One cell end to end on a tiny random BERT saved as a mini checkpoint: training learns, an
//! interrupted cell resumes to exactly the uninterrupted result (adapters, chain state, head,
//! optimizer), a diverging cell is recorded as such, and the ledger keeps finished results.

use burn::tensor::Device;
use models::Weights;
use models::bert::{BertConfig, BertModel};
use models::export::{HfTensors, save_checkpoint};
use runner::best::Selection;
use runner::cell::{Cell, Hyper, Outcome};
use runner::schedule::ScheduleKind;
use runner::train::{RunOptions, run_cell};

/// A 1-layer, 32-wide BERT over the mini vocabulary, saved as `results/models/mini-test`.
fn tiny_checkpoint(results: &std::path::Path) {
    let tok = datasets::mini::tokenizer::build();
    let config = serde_json::json!({
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": tok.get_vocab_size(true),
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0
    });
    let cfg: BertConfig = serde_json::from_value(config.clone()).unwrap();
    let model = BertModel::load(&Weights::random_init(7, 0.02), &cfg, &Device::flex()).unwrap();
    let mut out = HfTensors::default();
    model.hf_tensors("", &mut out);
    let dir = results.join("models/mini-test");
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
            chain_reset_every_epochs: Some(1),
            grad_clip_global_norm: Some(1.0),
            best_epoch: Selection::LowestValLoss,
        },
        fingerprint: None,
    }
}

fn options(results: &std::path::Path) -> RunOptions {
    let mut o = RunOptions::new(results, results.join("runs/mini/main/partial"), Device::flex(), "cpu");
    o.checkpoint_min_epoch_s = 0.0;
    o.eval_batch_size = 256;
    o
}

#[test]
fn interrupted_cells_resume_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    for method in ["r-c3la", "fft"] {
        let c = cell(method, 3, if method == "fft" { 2e-3 } else { 1e-2 });
        let whole = run_cell(&c, &options(dir.path())).unwrap();
        assert_eq!(whole.outcome, Outcome::Finished);
        assert_eq!(whole.epochs.len(), 3);
        // 14 classes: chance is 1/14; a few epochs of the tiny model must do better.
        let best = whole.best.as_ref().unwrap();
        assert!(best.test_metric > 0.2, "{method}: test accuracy {}", best.test_metric);
        assert!(whole.epochs[2].train_loss < whole.epochs[0].train_loss, "{method}: the training loss falls");
        assert!(whole.params.head > 0 && whole.params.total > whole.params.backbone_trainable);

        let mut stop = options(dir.path());
        stop.stop_after_epochs = Some(2);
        let err = run_cell(&c, &stop).unwrap_err();
        assert!(matches!(err, runner::RunError::Interrupted { epoch: 2 }), "{err}");
        let partial = dir.path().join("runs/mini/main/partial").join(c.hash());
        assert!(partial.join("progress.json").is_file(), "a partial checkpoint is kept");
        let resumed = run_cell(&c, &options(dir.path())).unwrap();
        assert!(!partial.exists(), "the partial checkpoint is removed once the cell finishes");
        for (a, b) in whole.epochs.iter().zip(&resumed.epochs) {
            for (x, y) in [(a.train_loss, b.train_loss), (a.val_loss, b.val_loss), (a.test_loss, b.test_loss), (a.test_metric, b.test_metric)] {
                assert!((x - y).abs() <= 1e-5, "{method} epoch {}: {x} vs {y}", a.epoch);
            }
        }
    }
}

#[test]
fn a_diverging_cell_is_recorded_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let mut c = cell("lora", 2, 1e30);
    c.hyper.grad_clip_global_norm = None;
    c.hyper.scheduler = ScheduleKind::Constant;
    c.hyper.warmup_ratio = 0.0;
    let r = run_cell(&c, &options(dir.path())).unwrap();
    assert!(matches!(r.outcome, Outcome::Diverged { .. }), "{:?}", r.outcome);
    assert!(r.epochs.len() < 2);
}

#[test]
fn a_missing_mini_model_says_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cell("lora", 1, 1e-3);
    c.model = "mini-encoder".into();
    let e = run_cell(&c, &options(dir.path())).unwrap_err().to_string();
    assert!(e.contains("cargo xtask pretrain mini"), "{e}");
}
