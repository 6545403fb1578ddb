//! `cargo xtask bench layers`: forward + backward + AdamW step through a stack of adapted
//! linears per method, each method in its own process so that peak memory does not mix;
//! printed and written to `results/bench/layers.json` as ratios to LoRA of the same run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::{Tensor, TensorData, activation::gelu};
use clap::{Args, Subcommand};
use peft_core::{AdamW, AdamWConfig, AdaptedLinear, AdapterConfig, ParamGroups, REGISTRY, Rng};
use serde::{Deserialize, Serialize};

use crate::bench::{median_step_seconds, methods_or, peak_rss_bytes, run_child, write_json};
use crate::device::DeviceArg;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time a stack of adapted linears per method (forward, backward, optimizer step).
    Layers(LayersArgs),
    /// One method in this process (used by `bench layers`; prints one JSON line).
    #[command(hide = true)]
    LayersOne(LayersArgs),
    /// One training step of a RoBERTa-base-shaped classifier per method (Table 15's setting).
    Step(crate::bench_step::StepArgs),
    /// `bench step` for LoRA and FFT interleaved with PyTorch + HF PEFT (bench/torch_step.py).
    Compare {
        #[command(flatten)]
        step: crate::bench_step::StepArgs,
        /// The Python that runs bench/torch_step.py (default `python3`; the script makes its own
        /// virtualenv with pinned torch, transformers and peft on first use).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// The matrix products of one RoBERTa-base layer, each timed alone (GFLOPS per shape).
    Ops(crate::bench_ops::OpsArgs),
    /// One method of `bench step` in this process (prints one JSON line).
    #[command(hide = true)]
    StepOne(crate::bench_step::StepArgs),
}

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct LayersArgs {
    /// Width of every linear (in = out).
    #[arg(long, default_value_t = 768)]
    pub dim: usize,
    /// Number of stacked adapted linears.
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    #[arg(long, default_value_t = 16)]
    pub rank: usize,
    /// Timed steps per method (after 2 warm-up steps); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Methods to run (default: all registered).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    #[serde(skip, default = "default_device")]
    pub device: DeviceArg,
    /// Where to write the JSON results.
    #[arg(long, default_value = "results/bench/layers.json")]
    pub out: PathBuf,
}

fn default_device() -> DeviceArg {
    DeviceArg::Cpu
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerBenchResult {
    pub method: String,
    pub seconds_per_step: f64,
    pub tokens_per_s: f64,
    pub peak_rss_bytes: u64,
    pub trainable_params: usize,
    pub time_vs_lora: Option<f64>,
    pub memory_vs_lora: Option<f64>,
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Layers(args) => run_all(args),
        BenchCommand::Step(args) => crate::bench_step::run_all(args),
        BenchCommand::Ops(args) => crate::bench_ops::run(args),
        BenchCommand::Compare { step, python } => crate::bench_step::compare(step, python),
        BenchCommand::StepOne(args) => {
            let method = args.methods.first().context("step-one needs --methods M")?.clone();
            let r = crate::bench_step::run_one(&args, &method)?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        BenchCommand::LayersOne(args) => {
            let method = args.methods.first().context("layers-one needs --methods M")?.clone();
            let r = run_one(&args, &method)?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
    }
}

fn random(n: usize, seed: u64, scale: f64) -> Vec<f32> {
    let mut rng = Rng::seed_from(seed);
    (0..n).map(|_| (rng.normal() * scale) as f32).collect()
}

fn run_one(args: &LayersArgs, method: &str) -> Result<LayerBenchResult> {
    let device = args.device.device()?.autodiff();
    let d = args.dim;
    let config = AdapterConfig::paper(args.rank, 0);
    let stack: Vec<AdaptedLinear> = (0..args.layers)
        .map(|i| {
            let w = Tensor::from_data(
                TensorData::new(random(d * d, i as u64, 1.0 / (d as f64).sqrt()), [d, d]),
                &device,
            );
            let b = Tensor::from_data(TensorData::new(vec![0.0f32; d], [d]), &device);
            AdaptedLinear::new(w, Some(b), method, &config, &format!("layer.{i}"))
        })
        .collect::<Result<_, _>>()?;
    let groups = ParamGroups::from_module(&stack, &[]);
    let trainable: usize = groups.params.values().map(|p| p.numel).sum();
    let mut opt = AdamW::new(AdamWConfig::default(), groups);
    let tokens = args.batch * args.seq;
    let x: Tensor<3> = Tensor::from_data(
        TensorData::new(random(tokens * d, 99, 1.0), [args.batch, args.seq, d]),
        &device,
    );
    let mut stack = Some(stack);
    let median = median_step_seconds(args.steps, &device, || {
        let layers = stack.take().expect("the stack is put back after each step");
        let mut h = x.clone();
        for layer in &layers {
            h = gelu(layer.forward(h));
        }
        let grads = h.powi_scalar(2).mean().backward();
        stack = Some(opt.step(1e-4, layers, grads)?.0);
        Ok(())
    })?;
    Ok(LayerBenchResult {
        method: method.to_string(),
        seconds_per_step: median,
        tokens_per_s: tokens as f64 / median,
        peak_rss_bytes: peak_rss_bytes(),
        trainable_params: trainable,
        time_vs_lora: None,
        memory_vs_lora: None,
    })
}

fn run_all(args: LayersArgs) -> Result<()> {
    let methods = methods_or(&args.methods, REGISTRY.iter().map(|m| m.name))?;
    let device = format!("{:?}", args.device).to_lowercase();
    println!(
        "bench layers: {} × {}×{} adapted linears, batch {}×{} tokens, r = {}, {} timed steps, device {device}",
        args.layers, args.dim, args.dim, args.batch, args.seq, args.rank, args.steps
    );
    let bar = indicatif::ProgressBar::new(methods.len() as u64);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")?);
    let mut results = Vec::new();
    for m in &methods {
        bar.set_message(m.clone());
        let child: Vec<String> = [
            "bench", "layers-one", "--methods", m, "--device", &device,
            "--dim", &args.dim.to_string(), "--layers", &args.layers.to_string(),
            "--batch", &args.batch.to_string(), "--seq", &args.seq.to_string(),
            "--rank", &args.rank.to_string(), "--steps", &args.steps.to_string(),
        ]
        .map(String::from)
        .to_vec();
        let r: LayerBenchResult = run_child(&child, m)?;
        results.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(lora) = results.iter().find(|r| r.method == "lora").cloned() {
        for r in &mut results {
            r.time_vs_lora = Some(r.seconds_per_step / lora.seconds_per_step);
            r.memory_vs_lora = Some(r.peak_rss_bytes as f64 / lora.peak_rss_bytes as f64);
        }
    }
    println!(
        "{:<10} {:>10} {:>12} {:>10} {:>12} {:>9} {:>9}",
        "method", "s/step", "tokens/s", "peak MiB", "trainable", "time/LoRA", "mem/LoRA"
    );
    for r in &results {
        println!(
            "{:<10} {:>10.4} {:>12.0} {:>10.1} {:>12} {:>9} {:>9}",
            r.method,
            r.seconds_per_step,
            r.tokens_per_s,
            r.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            r.trainable_params,
            r.time_vs_lora.map(|v| format!("{v:.3}")).unwrap_or_default(),
            r.memory_vs_lora.map(|v| format!("{v:.3}")).unwrap_or_default(),
        );
    }
    let doc = serde_json::json!({
        "benchmark": "layers",
        "config": {
            "dim": args.dim, "layers": args.layers, "batch": args.batch, "seq": args.seq,
            "rank": args.rank, "steps": args.steps, "device": device,
        },
        "results": results,
    });
    write_json(&args.out, &doc)
}
