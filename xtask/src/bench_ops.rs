//! `cargo xtask bench ops`: the matrix products (in GFLOPS) and the element-wise operations of
//! one RoBERTa-base layer step, each timed alone on the chosen backend. It tells whether a slow step sits in the products
//! themselves (their shapes and layouts) or around them, and gives the figures for an upstream
//! report when a shape runs far below the backend's square-matrix rate.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use peft_core::Rng;

use crate::device::DeviceArg;

#[derive(Args, Clone, Debug)]
pub struct OpsArgs {
    /// Timed repetitions per product (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 10)]
    pub reps: usize,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

fn random<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let mut rng = Rng::seed_from(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Median seconds of `f` over `reps` runs after one warm-up.
fn median_seconds<const D: usize>(reps: usize, device: &Device, f: impl Fn() -> Tensor<D>) -> f64 {
    let mut times = Vec::with_capacity(reps);
    for i in 0..=reps {
        let start = Instant::now();
        let out = f();
        let _ = out.into_data();
        device.sync().ok();
        if i > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    crate::bench::median(times)
}

pub fn run(args: OpsArgs) -> Result<()> {
    let device = args.device.device()?;
    let (b, s, h, f, heads) = (8, 128, 768, 3072, 12);
    let t = b * s;
    let x = random([t, h], 1, &device);
    let x3 = x.clone().reshape([b, s, h]);
    let w = random([h, h], 2, &device);
    let w_up = random([h, f], 3, &device);
    let x_up = random([t, f], 4, &device);
    let w_down = random([f, h], 5, &device);
    let q = random([b * heads, s, h / heads], 6, &device);
    let k = random([b * heads, s, h / heads], 7, &device);
    let p = random([b * heads, s, s], 8, &device);
    let sq = random([2048, 2048], 9, &device);
    let sq2 = random([2048, 2048], 10, &device);

    println!("bench matmul: the products of a RoBERTa-base layer at batch {b} × {s} tokens, median of {} runs", args.reps);
    println!("{:<46} {:>10} {:>9}", "product", "ms", "GFLOPS");
    let row = |name: &str, flops: f64, secs: f64| {
        println!("{name:<46} {:>10.2} {:>9.1}", secs * 1e3, flops / secs / 1e9);
    };
    let fl = |m: usize, k: usize, n: usize| 2.0 * (m * k * n) as f64;
    let reps = args.reps;

    row("x·W [1024,768]·[768,768]", fl(t, h, h), median_seconds(reps, &device, || x.clone().matmul(w.clone())));
    row(
        "x·W batched [8,128,768]·[1,768,768]",
        fl(t, h, h),
        median_seconds(reps, &device, || x3.clone().matmul(w.clone().unsqueeze::<3>())),
    );
    row("x·W, kernels crate (training's path)", fl(t, h, h), median_seconds(reps, &device, || kernels::matmul(x.clone(), w.clone())));
    row("dY·Wᵀ [1024,768]·[768,768]ᵀ", fl(t, h, h), median_seconds(reps, &device, || x.clone().matmul(w.clone().transpose())));
    row("(W·dYᵀ)ᵀ [768,768]·[1024,768]ᵀ", fl(t, h, h), median_seconds(reps, &device, || w.clone().matmul(x.clone().transpose())));
    row(
        "(W_up·dYᵀ)ᵀ [768,3072]·[1024,3072]ᵀ",
        fl(t, f, h),
        median_seconds(reps, &device, || w_up.clone().matmul(x_up.clone().transpose())),
    );
    row("xᵀ·dY [1024,768]ᵀ·[1024,768]", fl(h, t, h), median_seconds(reps, &device, || x.clone().transpose().matmul(x.clone())));
    row("x·W_up [1024,768]·[768,3072]", fl(t, h, f), median_seconds(reps, &device, || x.clone().matmul(w_up.clone())));
    row("h·W_down [1024,3072]·[3072,768]", fl(t, f, h), median_seconds(reps, &device, || x_up.clone().matmul(w_down.clone())));
    row(
        "dY·W_upᵀ [1024,3072]·[3072,768]ᵀ",
        fl(t, f, h),
        median_seconds(reps, &device, || x_up.clone().matmul(w_up.clone().transpose())),
    );
    row(
        "dY·W_upᵀ, kernels crate (training's path)",
        fl(t, f, h),
        median_seconds(reps, &device, || kernels::matmul(x_up.clone(), w_up.clone().transpose())),
    );
    row(
        "q·kᵀ [96,128,64]·[96,128,64]ᵀ",
        fl(b * heads * s, h / heads, s),
        median_seconds(reps, &device, || q.clone().matmul(k.clone().transpose())),
    );
    row("p·v [96,128,128]·[96,128,64]", fl(b * heads * s, s, h / heads), median_seconds(reps, &device, || p.clone().matmul(k.clone())));
    row("square [2048,2048]·[2048,2048]", fl(2048, 2048, 2048), median_seconds(reps, &device, || sq.clone().matmul(sq2.clone())));

    println!("\n{:<46} {:>10} {:>9}", "element-wise", "ms", "GB/s");
    let ew = |name: &str, bytes: f64, secs: f64| {
        println!("{name:<46} {:>10.2} {:>9.1}", secs * 1e3, bytes / secs / 1e9);
    };
    let big = (t * f * 4) as f64;
    let small = (t * h * 4) as f64;
    ew("gelu (erf) [1024,3072]", 2.0 * big, median_seconds(reps, &device, || burn::tensor::activation::gelu(x_up.clone())));
    ew(
        "gelu (erf), kernels crate [1024,3072]",
        2.0 * big,
        median_seconds(reps, &device, || kernels::gelu(x_up.clone(), kernels::GeluKind::Erf)),
    );
    ew(
        "dropout mask (burn Bernoulli) [1024,3072]",
        big,
        median_seconds(reps, &device, || x_up.random_like(burn::tensor::Distribution::Bernoulli(0.9))),
    );
    ew(
        "dropout, fused (kernels crate) [1024,3072]",
        2.0 * big,
        median_seconds(reps, &device, || kernels::dropout(x_up.clone().autodiff(), 0.1)),
    );
    ew("tanh [1024,3072]", 2.0 * big, median_seconds(reps, &device, || x_up.clone().tanh()));
    ew("exp [1024,3072]", 2.0 * big, median_seconds(reps, &device, || x_up.clone().exp()));
    ew("a + b [1024,3072]", 3.0 * big, median_seconds(reps, &device, || x_up.clone() + x_up.clone()));
    ew("a · b [1024,768]", 3.0 * small, median_seconds(reps, &device, || x.clone() * x.clone()));
    ew("a + bias [1024,768]+[768]", 2.0 * small, median_seconds(reps, &device, || x.clone() + w.clone().slice([0..1, 0..h])));
    ew("var_mean over 768 [1024,768]", small, median_seconds(reps, &device, || x.clone().var_mean_bias(1).0));
    ew(
        "softmax [96,128,128]",
        2.0 * (b * heads * s * s * 4) as f64,
        median_seconds(reps, &device, || burn::tensor::activation::softmax(p.clone(), 2)),
    );
    // Forward and backward under autodiff, where burn differentiates the decomposed softmax.
    let ad = device.clone().autodiff();
    let probe = random([b * heads, s, s], 11, &ad);
    let softmax_step = |f: fn(Tensor<3>) -> Tensor<3>| {
        median_seconds(reps, &ad, || {
            let x = p.clone().autodiff().require_grad();
            let grads = (f(x.clone()) * probe.clone()).sum().backward();
            x.grad(&grads).expect("the input's gradient")
        })
    };
    ew(
        "softmax forward+backward, autodiff [96,128,128]",
        4.0 * (b * heads * s * s * 4) as f64,
        softmax_step(|x| burn::tensor::activation::softmax(x, 2)),
    );
    ew(
        "the same, kernels crate (training's path)",
        4.0 * (b * heads * s * s * 4) as f64,
        softmax_step(|x| kernels::softmax(x, 2)),
    );
    ew(
        "swap heads [8,128,12,64]→[8,12,128,64]",
        2.0 * small,
        median_seconds(reps, &device, || x.clone().reshape([b, s, heads, h / heads]).swap_dims(1, 2).reshape([b * heads, s, h / heads])),
    );
    Ok(())
}
