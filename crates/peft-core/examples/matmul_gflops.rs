//! Measures f32 matmul throughput of the Flex backend for a few shapes (a sanity check that the
//! burn-flex features are on: `cargo build --workspace --examples && target/debug/examples/matmul_gflops`;
//! never `-p peft-core`, which resolves features per package and rebuilds burn).
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};

fn main() {
    let device = Device::flex();
    for (m, k, n, tb) in [(1024, 1024, 1024, false), (2048, 2048, 2048, false), (4096, 768, 768, false), (4096, 768, 768, true)] {
        let a: Tensor<2> = Tensor::from_data(TensorData::new(vec![0.5f32; m * k], [m, k]), &device);
        let b: Tensor<2> = if tb {
            Tensor::<2>::from_data(TensorData::new(vec![0.25f32; n * k], [n, k]), &device).transpose()
        } else {
            Tensor::from_data(TensorData::new(vec![0.25f32; k * n], [k, n]), &device)
        };
        let _ = a.clone().matmul(b.clone()).into_data();
        let reps = 5;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = a.clone().matmul(b.clone()).into_data();
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!("{m}x{k} · {k}x{n}{}: {:.1} GFLOPS", if tb { " (transposed view)" } else { "" }, 2.0 * (m * k * n) as f64 / s / 1e9);
    }
}
