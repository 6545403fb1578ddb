//! The geometry diagnostics end to end on the committed mini-encoder: a cell trains and keeps
//! its trajectory; read back, the trajectory starts at W₀ and ends at the trained model — the
//! loss at a landscape's centre is the loss the cell recorded — for LoRA, a chain method with
//! resets, and FFT; intruder counts come out of faer's SVDs of the adapted matrices.

use std::path::PathBuf;

use analysis::landscape::LandscapeOptions;
use analysis::source::{CellSource, LossOnSubset};
use burn::tensor::Device;
use datasets::Split;
use ledger::analysis::Directions;
use ledger::{Cell, CellResult, Ledger};
use runner::experiment::{Experiment, Filter};
use runner::train::{RunOptions, run_cell};

fn committed_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/mini"))
}

/// The mini Table 2's mini-encoder / mini-acceptability cell of `method`, seed 0, 3 epochs,
/// chains reset every epoch.
fn cell(method: &str) -> Cell {
    let exp = Experiment::load(&committed_root().join("table2.toml"), "mini").unwrap();
    let filter = Filter { models: vec!["mini-encoder".into()], datasets: vec!["mini-acceptability".into()], methods: vec![method.into()], seeds: vec![0] };
    let mut c = exp.cells(&filter).unwrap().remove(0);
    c.hyper.epochs = 3;
    c.hyper.chain_reset_every_epochs = Some(1);
    c
}

fn train(ledger: &Ledger, c: &Cell) -> CellResult {
    let mut o = RunOptions::new(committed_root(), ledger.partial_dir(), Device::flex(), "cpu");
    o.weights_dir = Some(ledger.weights_dir());
    o.eval_batch_size = 64;
    let r = run_cell(c, &o).unwrap();
    ledger.record(&r.hash, &r, false).unwrap();
    r
}

#[test]
fn trajectories_start_at_w0_and_end_at_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("runs/mini/main"));
    for method in ["lora", "cola", "fft"] {
        // CoLA records every 5 steps as well (its chain resets between the points).
        let every = (method == "cola").then_some(5);
        let mut c = cell(method);
        c.hyper.trajectory_every = every;
        let result = train(&ledger, &c);
        let kept = result.weights.as_ref().expect("weights kept");
        let src = CellSource::open(&committed_root(), &ledger, result.clone()).unwrap();
        let ends: Vec<usize> = src.index.points.iter().filter(|p| p.epoch_end).map(|p| p.step).collect();
        let s = ends[1];
        assert_eq!(ends, vec![0, s, 2 * s, 3 * s], "{method}: step 0 and three epoch ends");
        let extra = every.map(|n| (1..=3 * s).filter(|k| k % n == 0 && k % s != 0).count()).unwrap_or(0);
        assert_eq!(kept.trajectory_points, 4 + extra, "{method}: every {every:?} steps besides");
        for p in src.index.points.iter().filter(|p| !p.epoch_end) {
            assert!(p.step % 5 == 0 && p.epoch == p.step / s, "{method}: {p:?}");
        }
        assert!(src.index.points.windows(2).all(|w| w[0].step < w[1].step));
        assert_eq!(src.index.matrices.len(), 4, "{method}: query and value of 2 layers: {:?}", src.index.matrices);
        assert!(!src.index.head.is_empty());
        let keys = src.keys();
        let path = src.path(None).unwrap();
        assert_eq!(path.last().unwrap().full, method == "fft", "FFT's last point holds the whole model");

        // Step 0 is W₀ for every adapted matrix (B = 0; FFT untrained).
        let start = src.point(&path[0], &src.index.matrices).unwrap();
        let w0 = src.base_tensors(&src.index.matrices).unwrap();
        assert!(start.minus(&w0).norm() < 1e-6, "{method}: step 0 differs from W₀ by {}", start.minus(&w0).norm());
        let end = src.point(path.last().unwrap(), &keys).unwrap();
        let moved = src.point(path.last().unwrap(), &src.index.matrices).unwrap().minus(&w0).norm();
        assert!(moved > 1e-4, "{method}: the matrices moved ({moved})");

        // The landscape's centre: the model at the last point, evaluated on the whole training
        // split in mini-batches of 12, is the loss the cell recorded for its last epoch.
        let fixed = src.fixed_tensors(path.last().unwrap(), &keys).unwrap();
        let n = usize::MAX;
        let loss = LossOnSubset::new(&src, Split::Train, n, 12, fixed, Device::flex()).unwrap();
        let recorded = result.epochs.last().unwrap().train_eval_loss.unwrap();
        let here = loss.loss(&end).unwrap();
        assert!((here - recorded).abs() <= 1e-4 * recorded.abs().max(1.0), "{method}: L(W_T) = {here}, the cell recorded {recorded}");

        // Intruder counts: one per ε, never decreasing in ε, at most k.
        let eps = analysis::intruders::default_epsilons();
        let rec = analysis::intruders::of_cell(&src, 10, &eps, None).unwrap();
        assert_eq!(rec.matrices.len(), 4);
        assert!(rec.mean_counts.windows(2).all(|w| w[0] <= w[1]), "{method}: {:?}", rec.mean_counts);
        assert!(rec.mean_counts.iter().all(|c| *c <= 10.0));
    }

    // A small PCA landscape of the LoRA cell: its centre is L(W_T) on the subset, its record
    // resumable (a second call finds it complete and evaluates nothing).
    let lora = ledger.finished().into_iter().map(|h| ledger.read::<CellResult>(&h).unwrap()).find(|r| r.cell.method == "lora").unwrap();
    let mut without = lora.clone();
    without.weights = None;
    let err = CellSource::open(&committed_root(), &ledger, without).err().expect("no trajectory, no source").to_string();
    assert!(err.contains("mini-encoder/mini-acceptability/lora/seed 0") && err.contains("`--force`"), "{err}");
    let src = CellSource::open(&committed_root(), &ledger, lora).unwrap();
    let opts = LandscapeOptions {
        directions: Directions::Pca,
        filter_normalized: true,
        seed: 0,
        grid: 3,
        range: Some(1.0),
        split: Split::Train,
        examples: 24,
        batch_size: 12,
        epoch: None,
    };
    let out = dir.path().join("analysis");
    let (rec, file) = analysis::landscape::of_cell(&src, &opts, &out, Device::flex(), |_, _| {}).unwrap();
    assert!(rec.is_complete() && file.is_file());
    let keys = src.keys();
    let end = src.point(src.path(None).unwrap().last().unwrap(), &keys).unwrap();
    let on_subset = LossOnSubset::new(&src, Split::Train, 24, 12, Vec::new(), Device::flex()).unwrap().loss(&end).unwrap();
    assert!((rec.values[4].unwrap().0 - on_subset).abs() < 1e-6, "centre {:?} vs {on_subset}", rec.values[4]);
    assert_eq!(rec.trajectory.len(), 4);
    assert!(rec.trajectory.last().unwrap().iter().all(|c| c.abs() < 1e-9), "the centre projects to (0, 0)");
    let mut calls = 0;
    let (again, _) = analysis::landscape::of_cell(&src, &opts, &out, Device::flex(), |_, _| calls += 1).unwrap();
    assert_eq!((again.values, calls), (rec.values, 0));
}

/// Every cell the suites' figure files draw is a cell of their main grid (at the file's seed).
#[test]
fn the_figure_files_name_cells_of_their_grids() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments"));
    for (suite, grid) in [("mini", "table2.toml"), ("paper", "table7.toml")] {
        let figures = ledger::analysis::FigureFile::read(&root.join(suite).join("figures.toml")).unwrap();
        let exp = Experiment::load(&root.join(suite).join(grid), suite).unwrap();
        let needed = figures.cells_needed();
        let cells = exp.figure_cells(&figures).unwrap();
        assert_eq!(cells.len(), needed.iter().map(|(_, _, m)| m.len()).sum::<usize>(), "{suite}: one cell per (row, method)");
        for (model, dataset, methods) in needed {
            for m in &methods {
                let drawn: Vec<u64> = cells.iter().filter(|c| c.model == model && c.dataset == dataset && c.method == *m).map(|c| c.seed).collect();
                assert_eq!(drawn.len(), 1, "{suite}: {model}/{dataset}/{m}");
            }
        }
        let names: Vec<&str> = figures.landscape.iter().map(|f| f.name.as_str()).chain(figures.intruders.iter().map(|f| f.name.as_str())).collect();
        assert_eq!(names, ["fig8", "fig3", "fig9", "fig10", "fig4"], "{suite}");
    }
}
