//! Helpers shared by peft-core's integration tests: tiny deterministic layers and inputs.
#![allow(dead_code)]

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use peft_core::{AdaptedLinear, AdapterConfig, Rng};

pub const IN: usize = 7;
pub const OUT: usize = 5;
pub const RANK: usize = 3;

pub fn device() -> Device {
    Device::flex().autodiff()
}

pub fn random_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from(seed);
    (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
}

pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone().inner().into_data().convert::<f32>().try_to_vec().unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A base layer W [IN, OUT], b [OUT] with fixed random values.
pub fn base(device: &Device) -> (Tensor<2>, Tensor<1>) {
    (
        tensor(random_vec(IN * OUT, 11), [IN, OUT], device),
        tensor(random_vec(OUT, 12), [OUT], device),
    )
}

pub fn layer_with(method: &str, config: &AdapterConfig, device: &Device) -> AdaptedLinear {
    let (w, b) = base(device);
    AdaptedLinear::new(w, Some(b), method, config, "encoder.layer.0.query").unwrap()
}

pub fn layer(method: &str, device: &Device) -> AdaptedLinear {
    layer_with(method, &AdapterConfig { rank: RANK, alpha: 2.0 * RANK as f64, seed: 1, a_init: None }, device)
}

/// An input batch [2, 3, IN].
pub fn input(seed: u64, device: &Device) -> Tensor<3> {
    tensor(random_vec(2 * 3 * IN, seed), [2, 3, IN], device)
}

fn replace<const D: usize>(p: &Param<Tensor<D>>, values: Vec<f32>, device: &Device) -> Param<Tensor<D>> {
    let dims = p.val().dims();
    let t: Tensor<D> = tensor(values, dims, device);
    Param::initialized(p.id, t).set_require_grad(p.is_require_grad())
}

/// Moves the adapter away from its zero start (B, or PaCA's columns) so that its output and
/// every gradient are non-trivial.
pub fn perturb(mut layer: AdaptedLinear, seed: u64, device: &Device) -> AdaptedLinear {
    if let Some(b) = &layer.lora_b {
        let n = b.val().shape().num_elements();
        layer.lora_b = Some(replace(b, random_vec(n, seed), device));
    }
    if let Some(c) = &layer.columns {
        let n = c.val().shape().num_elements();
        layer.columns = Some(replace(c, random_vec(n, seed + 1), device));
    }
    layer
}

/// loss = Σ y ⊙ R for a fixed R: linear in every single parameter entry, so a central
/// difference is exact up to rounding.
pub fn loss(layer: &AdaptedLinear, x: Tensor<3>, device: &Device) -> Tensor<1> {
    let y = layer.forward(x);
    let r = tensor(random_vec(2 * 3 * OUT, 99), [2, 3, OUT], device);
    (y * r).sum()
}
