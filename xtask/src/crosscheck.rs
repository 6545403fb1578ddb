//! `cargo xtask crosscheck`: the same mini cell trained here and in PyTorch + HF PEFT
//! (`bench/crosscheck.py`, bench/.venv with the pinned torch, transformers and peft) from the
//! same initial weights (exported as PEFT loads them: A, B, the head), on the same batches in
//! the same order, with the same AdamW, schedule and clipping, dropout off. Compares every
//! step's training loss and the final test accuracy; writes `results/crosscheck.json`, which
//! the report shows as `crosscheck.html` (methods without a PEFT counterpart are named there).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use ledger::{CrosscheckRecord, StepLine};
use runner::train::RunOptions;
use runner::experiment::{Experiment, Filter};

#[derive(Args, Clone, Debug)]
pub struct CrosscheckArgs {
    /// The methods (each must have a PEFT counterpart).
    #[arg(long, value_delimiter = ',', default_value = "fft,lora,lora-plus,asym-lora,cla,r-cla")]
    pub methods: Vec<String>,
    /// The mini cell's model and data set (a text classification row of the mini Table 2).
    #[arg(long, default_value = "mini-encoder")]
    pub model: String,
    /// mini-sentiment: a row whose test accuracy is far from 100 %, so that equal accuracies
    /// mean equal predictions on a task the model has not solved.
    #[arg(long, default_value = "mini-sentiment")]
    pub dataset: String,
    /// Epochs to train (default 4: well over the 100 steps the comparison needs; the
    /// experiment's own count with `--epochs 0`).
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    /// Largest relative per-step loss difference accepted.
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f64,
    /// Steps from the first that must stay within the tolerance (all of them if fewer).
    #[arg(long, default_value_t = 100)]
    pub min_steps: usize,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The Python that runs bench/crosscheck.py (it makes bench/.venv on first use).
    #[arg(long, default_value = "python3")]
    pub python: String,
}

fn cpu_name() -> String {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else { return "unknown".into() };
    let Some(name) = info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)) else { return "unknown".into() };
    let avx512 = info.contains("avx512f");
    format!("{} ({})", name.trim(), if avx512 { "AVX-512" } else { "AVX2, no AVX-512" })
}

pub fn crosscheck(args: CrosscheckArgs) -> Result<()> {
    for m in &args.methods {
        let spec = peft_core::method(m)?;
        if let Err(why) = spec.peft_counterpart() {
            bail!("`{m}` cannot be cross-checked: {why}");
        }
    }
    let info = datasets::info(&args.dataset)?;
    if info.metric.name() != "accuracy" {
        bail!("{} reports {}: the cross-check compares accuracy (a classification data set with accuracy, e.g. mini-sentiment)", args.dataset, info.metric.name());
    }
    crate::reproduce::pretrain_missing(&args.results, crate::device::DeviceArg::Cpu, false, &[args.model.clone()])?;
    let experiment = Experiment::load(std::path::Path::new("experiments/mini/table2.toml"), "mini")?;
    let filter = Filter { models: vec![args.model.clone()], datasets: vec![args.dataset.clone()], methods: args.methods.clone(), seeds: vec![0] };
    let cells = experiment.cells(&filter)?;
    let root = args.results.join("crosscheck");
    let cpu = cpu_name();
    let mut records = Vec::new();
    for method in &args.methods {
        let Some(cell) = cells.iter().find(|c| &c.method == method) else {
            bail!("experiments/mini/table2.toml has no {}/{}/{method} cell", args.model, args.dataset);
        };
        let mut cell = cell.clone();
        if args.epochs > 0 {
            cell.hyper.epochs = args.epochs;
        }
        let dir = root.join(method);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        let mut opts = RunOptions::new(&args.results, dir.join("partial"), burn::tensor::Device::flex(), "cpu");
        opts.log_dir = Some(dir.join("logs"));
        opts.crosscheck = Some(dir.clone());
        opts.checkpoint_min_epoch_s = f64::INFINITY;
        let result = runner::train::run_cell(&cell, &opts)?;
        let log = dir.join("logs").join(format!("{}.steps.jsonl", cell.hash()));
        let ours: Vec<f64> = std::fs::read_to_string(&log)
            .with_context(|| format!("reading {}", log.display()))?
            .lines()
            .map(|l| serde_json::from_str::<StepLine>(l).map(|s| s.loss))
            .collect::<Result<_, _>>()?;
        let status = Command::new(&args.python).arg("bench/crosscheck.py").arg(&dir).status().with_context(|| format!("running {} bench/crosscheck.py", args.python))?;
        if !status.success() {
            bail!("bench/crosscheck.py failed for {method} ({status})");
        }
        let torch: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("torch.json"))?)?;
        let theirs: Vec<f64> = torch["losses"].as_array().context("torch.json: losses")?.iter().filter_map(|v| v.as_f64()).collect();
        if theirs.len() != ours.len() {
            bail!("{method}: {} steps here, {} in PyTorch", ours.len(), theirs.len());
        }
        let (worst_step, worst_relative) = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1e-12))
            .enumerate()
            .fold((0, 0.0f64), |best, (i, r)| if r > best.1 { (i + 1, r) } else { best });
        let last = result.epochs.last().context("the cell finished no epoch")?;
        let torch_acc = torch["test_accuracy"].as_f64().unwrap_or(f64::NAN);
        let versions = torch["versions"].as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect()).unwrap_or_default();
        let steps_within = ours.iter().zip(&theirs).take_while(|(a, b)| (*a - *b).abs() / b.abs().max(1e-12) <= args.tolerance).count();
        let min_steps = args.min_steps.min(ours.len());
        let passed = steps_within >= min_steps && (last.test_metric - torch_acc).abs() < 1e-9;
        println!(
            "{:<10} {} steps, the first {steps_within} within {:.0e} · worst per-step loss difference {:.2e} (step {worst_step}) · test accuracy {:.4} here, {:.4} in PyTorch · {}",
            method,
            ours.len(),
            args.tolerance,
            worst_relative,
            last.test_metric,
            torch_acc,
            if passed { "ok" } else { "DIFFERS" }
        );
        records.push(CrosscheckRecord {
            method: method.clone(),
            cell: cell.label(),
            ours,
            torch: theirs,
            worst_relative,
            worst_step,
            our_test_accuracy: last.test_metric,
            torch_test_accuracy: torch_acc,
            our_test_loss: last.test_loss,
            torch_test_loss: torch["test_loss"].as_f64().unwrap_or(f64::NAN),
            tolerance: args.tolerance,
            steps_within,
            min_steps,
            passed,
            versions,
            cpu: cpu.clone(),
        });
    }
    let path = ledger::bench::crosscheck_path(&args.results);
    std::fs::write(&path, serde_json::to_string_pretty(&records)?).with_context(|| format!("writing {}", path.display()))?;
    let paper_tables = std::path::Path::new("experiments/paper-tables");
    report::build_site(&args.results, paper_tables)?;
    println!("wrote {} and {}", path.display(), args.results.join("crosscheck.html").display());
    if records.iter().any(|r| !r.passed) {
        bail!("some methods leave the tolerance before --min-steps or end with another accuracy (above)");
    }
    Ok(())
}
