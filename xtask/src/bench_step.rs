//! `cargo xtask bench step`: one training step (forward, backward, AdamW update) of a
//! RoBERTa-base-shaped sequence classifier (random init, batch 8 × 128 tokens, adapters on
//! query and value, r = 16) per method, each in its own process so that peak memory does not
//! mix; written to `results/bench/step.json`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use burn::tensor::{Int, Tensor, TensorData, activation::log_softmax};
use clap::Args;
use models::Weights;
use models::bert::{BertConfig, BertForSequenceClassification};
use ledger::StepRecord;
use peft_core::{AdamW, AdamWConfig, AdapterConfig, ParamGroupKind, ParamGroups, Rng, TargetModules};

use crate::bench::{median, median_step_seconds, methods_or, peak_rss_bytes, run_child, write_json};
use crate::device::DeviceArg;

#[derive(Args, Clone, Debug)]
pub struct StepArgs {
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    #[arg(long, default_value_t = 16)]
    pub rank: usize,
    /// Timed steps (after 2 warm-up steps); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Interleaved rounds (default: 1 for `bench step`, 3 for `bench compare`). `bench step`
    /// runs method 1, 2, …, then again; `bench compare` burn then PyTorch for LoRA and FFT. So
    /// machine noise hits everything alike; the tables show each median over the rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Encoder layers (RoBERTa-base has 12; fewer for a quick look).
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    /// Methods (default: Table 2's plus s-cla and s-r-c3la).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Gradient checkpointing (burn's balanced strategy): the backward recomputes memory-bound
    /// operations' outputs instead of keeping them; matrix products still keep theirs.
    #[arg(long)]
    pub checkpointing: bool,
    #[arg(long, default_value = "results/bench/step.json")]
    pub out: PathBuf,
}

impl StepArgs {
    /// The command line of a `bench step-one` child for `method` with these settings.
    fn child_args(&self, method: &str) -> Vec<String> {
        [
            "bench", "step-one", "--methods", method, "--device", &format!("{:?}", self.device).to_lowercase(),
            "--batch", &self.batch.to_string(), "--seq", &self.seq.to_string(), "--rank", &self.rank.to_string(),
            "--steps", &self.steps.to_string(), "--layers", &self.layers.to_string(),
        ]
        .map(String::from)
        .into_iter()
        .chain(self.checkpointing.then(|| "--checkpointing".to_string()))
        .collect()
    }
}

fn roberta_base(layers: usize) -> BertConfig {
    serde_json::from_value(serde_json::json!({
        "model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": layers,
        "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
        "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1
    }))
    .expect("a valid RoBERTa config")
}

pub fn run_one(args: &StepArgs, method: &str) -> Result<StepRecord> {
    let mut device = args.device.device()?.autodiff();
    if args.checkpointing {
        device = device.gradient_checkpointing();
    }
    let cfg = roberta_base(args.layers);
    let mut model = BertForSequenceClassification::load(&Weights::random_init(0, 0.02), &cfg, 2, &device)?;
    let targets = TargetModules::names(&["query", "value"]);
    let (encoder, _) = models::apply_method(model.encoder, |e| e.linears_mut(), &targets, method, &AdapterConfig::paper(args.rank, 0))?;
    model.encoder = encoder;
    let groups = ParamGroups::from_module(&model, &["classifier"]);
    let counts = groups.count_by_group();
    let head = counts.get(&ParamGroupKind::Head).copied().unwrap_or(0);
    let trainable: usize = counts.values().sum();
    let mut cfg_opt = AdamWConfig::default();
    if let Some(r) = peft_core::method(method)?.default_lr_ratio_b {
        cfg_opt = cfg_opt.with_lr_ratio_b(r);
    }
    let mut opt = AdamW::new(cfg_opt, groups);
    let (b, s) = (args.batch, args.seq);
    let mut rng = Rng::seed_from(1);
    let ids: Vec<i64> = (0..b * s).map(|i| if i % s == 0 { 0 } else { 3 + rng.below(50000) as i64 }).collect();
    let ids: Tensor<2, Int> = Tensor::from_data(TensorData::new(ids, [b, s]), &device);
    let mask: Tensor<2, Int> = Tensor::from_data(TensorData::new(vec![1i64; b * s], [b, s]), &device);
    let labels: Tensor<2, Int> = Tensor::from_data(TensorData::new((0..b as i64).map(|i| i % 2).collect::<Vec<_>>(), [b, 1]), &device);
    let mut model = Some(model);
    let median = median_step_seconds(args.steps, &device, || {
        let m = model.take().expect("the model is put back after each step");
        let loss = log_softmax(m.forward(ids.clone(), mask.clone()), 1).gather(1, labels.clone()).mean().neg();
        let grads = loss.backward();
        model = Some(opt.step(1e-4, m, grads)?.0);
        Ok(())
    })?;
    Ok(StepRecord {
        implementation: "burn".into(),
        method: method.into(),
        seconds_per_step: median,
        samples_per_s: b as f64 / median,
        peak_rss_bytes: peak_rss_bytes(),
        trainable_params: trainable,
        head_params: Some(head),
    })
}

pub fn run_all(args: StepArgs) -> Result<()> {
    let methods = methods_or(&args.methods, methods::bench_methods())?;
    let device = format!("{:?}", args.device).to_lowercase();
    let rounds = args.rounds.unwrap_or(1).max(1);
    println!(
        "bench step: RoBERTa-base-shaped classifier ({} layers), batch {}×{}, r = {}, adapters on query+value, {} timed steps, \
         {rounds} round(s), device {device}{}",
        args.layers,
        args.batch,
        args.seq,
        args.rank,
        args.steps,
        if args.checkpointing { ", gradient checkpointing" } else { "" }
    );
    let bar = indicatif::ProgressBar::new((methods.len() * rounds) as u64);
    let mut results: Vec<StepRecord> = Vec::new();
    for round in 0..rounds {
        for m in &methods {
            bar.set_message(format!("round {}: {m}", round + 1));
            results.push(run_child(&args.child_args(m), m)?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let lora = (median_of(&results, "lora", |r| r.seconds_per_step), median_of(&results, "lora", |r| r.peak_rss_bytes as f64));
    println!("{:<10} {:>9} {:>10} {:>10} {:>11} {:>9} {:>9}", "method", "s/step", "samples/s", "peak MiB", "trainable", "t/LoRA", "mem/LoRA");
    for m in &methods {
        let (t, mem) = (median_of(&results, m, |r| r.seconds_per_step), median_of(&results, m, |r| r.peak_rss_bytes as f64));
        let trainable = results.iter().find(|r| &r.method == m).map_or(0, |r| r.trainable_params);
        println!(
            "{m:<10} {t:>9.3} {:>10.2} {:>10.1} {trainable:>11} {:>9.3} {:>9.3}",
            args.batch as f64 / t,
            mem / 1048576.0,
            t / lora.0,
            mem / lora.1
        );
    }
    write_json(&args.out, &results)
}

/// The median of `value` over `method`'s burn measurements (NaN when there are none).
fn median_of(results: &[StepRecord], method: &str, value: impl Fn(&StepRecord) -> f64) -> f64 {
    median_by(results, "burn", method, &value)
}

fn median_by(results: &[StepRecord], implementation: &str, method: &str, value: &dyn Fn(&StepRecord) -> f64) -> f64 {
    median(results.iter().filter(|r| r.implementation == implementation && r.method == method).map(value).collect())
}

/// `cargo xtask bench compare`: burn and PyTorch+PEFT (bench/torch_step.py, its own venv),
/// interleaved (burn, torch, burn, torch …) for LoRA and FFT so that machine noise hits both
/// alike, `rounds` times each; the other methods run on burn once. Writes every measurement to
/// `results/bench/step.json`.
pub fn compare(args: StepArgs, python: Option<PathBuf>) -> Result<()> {
    let rounds = args.rounds.unwrap_or(3).max(1);
    if args.checkpointing {
        bail!("bench compare runs PyTorch without gradient checkpointing; compare with `bench step --checkpointing` instead");
    }
    let script = PathBuf::from("bench/torch_step.py");
    if !script.exists() {
        bail!("{} not found: run `cargo xtask bench compare` from the repository root", script.display());
    }
    let python = python.unwrap_or_else(|| PathBuf::from("python3"));
    let burn_one = |m: &str| -> Result<StepRecord> { run_child(&args.child_args(m), m) };
    let torch_one = |m: &str| -> Result<StepRecord> {
        let out = Command::new(&python)
            .arg(&script)
            .args(["--method", m, "--steps", &args.steps.to_string(), "--layers", &args.layers.to_string()])
            .args(["--batch", &args.batch.to_string(), "--seq", &args.seq.to_string(), "--rank", &args.rank.to_string()])
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        if !out.status.success() {
            bail!("PyTorch step for {m} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let last = line.lines().last().unwrap_or("");
        serde_json::from_str(last).with_context(|| format!("reading the PyTorch result: {line}"))
    };
    let mut results = Vec::new();
    for round in 0..rounds {
        for m in ["lora", "fft"] {
            eprintln!("round {}: {m} (burn, then PyTorch+PEFT)", round + 1);
            results.push(burn_one(m)?);
            results.push(torch_one(m)?);
        }
    }
    for m in methods::bench_methods().filter(|m| !["lora", "fft"].contains(m)) {
        eprintln!("burn: {m}");
        results.push(burn_one(m)?);
    }
    let median = |imp: &str, m: &str, f: &dyn Fn(&StepRecord) -> f64| median_by(&results, imp, m, f);
    println!("{:<8} {:>14} {:>14} {:>8} {:>16} {:>16} {:>8}", "method", "burn s/step", "torch s/step", "ratio", "burn peak MiB", "torch peak MiB", "ratio");
    for m in ["lora", "fft"] {
        let (bt, tt) = (median("burn", m, &|r| r.seconds_per_step), median("pytorch-peft", m, &|r| r.seconds_per_step));
        let (bm, tm) = (median("burn", m, &|r| r.peak_rss_bytes as f64), median("pytorch-peft", m, &|r| r.peak_rss_bytes as f64));
        println!("{m:<8} {bt:>14.3} {tt:>14.3} {:>8.3} {:>16.1} {:>16.1} {:>8.3}", bt / tt, bm / 1048576.0, tm / 1048576.0, bm / tm);
    }
    write_json(&args.out, &results)
}
