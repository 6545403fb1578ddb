//! Dropout masks from a counter-based generator, filled on all cores.
//!
//! burn-flex draws Bernoulli samples one at a time from one generator behind a lock: 38 ms per
//! [1024, 3072] mask on 2 cores (`cargo xtask bench ops`), about 0.45 s of a RoBERTa-base step
//! with transformers' dropout (three masks per layer). Here element i of the k-th mask since
//! [`seed_dropout`] is a hash of (seed, k, i): filled in parallel, vectorised, and the same
//! whatever the number of threads.
//!
//! [`dropout`] applies the mask in one pass without materialising it, and its backward draws
//! the same mask again from the key instead of keeping it: nothing of a dropout layer stays in
//! memory for the backward (burn's `x * mask` keeps an f32 mask, 4 bytes per element; PyTorch
//! keeps a byte mask).

use std::sync::Mutex;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::{DType, Distribution, Tensor};
use burn_flex::FlexTensor;
use seeded::{GOLDEN_GAMMA, mix64};

/// (seed, masks drawn since seeding).
static STATE: Mutex<(u64, u64)> = Mutex::new((0, 0));

/// Restarts the mask sequence from `seed`: the masks drawn after it depend on (seed, order of
/// the calls, shapes) only. The generator is one per process: models trained on several
/// threads of one process at once would draw in thread order (xtask runs one cell per process).
pub fn seed_dropout(seed: u64) {
    *STATE.lock().expect("dropout generator lock") = (seed, 0);
}

/// The key of the next mask.
fn next_key() -> u64 {
    let mut state = STATE.lock().expect("dropout generator lock");
    let (seed, calls) = *state;
    state.1 += 1;
    mix64(seed ^ mix64(calls.wrapping_add(GOLDEN_GAMMA)))
}

/// The mask value of element `i` under `key`: `scale` when its 24-bit uniform falls below
/// `threshold`, else 0.
#[inline(always)]
fn mask_value(key: u64, i: u64, threshold: u32, scale: f32) -> f32 {
    let z = mix64(key.wrapping_add(i.wrapping_mul(GOLDEN_GAMMA)));
    if ((z >> 40) as u32) < threshold { scale } else { 0.0 }
}

/// `out[j] = x[j] · mask(start + j)`.
#[inline(always)]
fn apply(x: &[f32], out: &mut [f32], start: u64, key: u64, threshold: u32, scale: f32) {
    for (j, (o, &v)) in out.iter_mut().zip(x).enumerate() {
        *o = v * mask_value(key, start + j as u64, threshold, scale);
    }
}

fn apply_dispatch(x: &[f32], out: &mut [f32], start: u64, key: u64, threshold: u32, scale: f32) {
    per_cpu_features!((x: &[f32], out: &mut [f32], start: u64, key: u64, threshold: u32, scale: f32)
        apply(x, out, start, key, threshold, scale))
}

/// (threshold, scale) of a keep probability.
fn threshold_scale(keep: f64) -> (u32, f32) {
    ((keep * (1u64 << 24) as f64).round() as u32, (1.0 / keep) as f32)
}

/// A dropout mask shaped like `x`, on its device: 1/keep with probability `keep` (to 2⁻²⁴),
/// else 0. On Flex (with or without autodiff) from the generator above; on other backends from
/// burn's Bernoulli sampler (seed those with `Device::seed`).
pub fn dropout_mask<const D: usize>(x: &Tensor<D>, keep: f64) -> Tensor<D> {
    let device = x.device();
    if !(x.dtype() == DType::F32 && crate::is_flex(&device)) {
        return x.random_like(Distribution::Bernoulli(keep)).mul_scalar(1.0 / keep);
    }
    // The fused op applied to ones is the mask itself.
    let ones = Tensor::<D>::ones(x.shape(), &device);
    Tensor::from_dispatch(<burn::backend::Dispatch as DropoutKernels>::dropout_fused(ones.into_dispatch(), keep, next_key()))
}

/// Dropout while training: x · mask / keep with the next mask of the generator, on an autodiff
/// device only (elsewhere, and at `prob` 0, x itself). On Flex in one fused pass whose backward
/// redraws the mask; on other backends burn's `x * mask`.
pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    if prob <= 0.0 || !x.device().is_autodiff() {
        return x;
    }
    let keep = 1.0 - prob;
    if x.dtype() == DType::F32 && crate::is_flex(&x.device()) {
        let key = next_key();
        return Tensor::from_dispatch(<burn::backend::Dispatch as DropoutKernels>::dropout_fused(x.into_dispatch(), keep, key));
    }
    let mask = dropout_mask(&x, keep);
    x * mask
}

/// x · mask(key) / keep as a backend operation whose backward applies the same mask to the
/// gradient.
#[backend_extension(Flex, Autodiff)]
pub trait DropoutKernels: Backend {
    fn dropout_fused(x: FloatTensor<Self>, keep: f64, key: u64) -> FloatTensor<Self>;
}

impl DropoutKernels for Flex {
    fn dropout_fused(x: FlexTensor, keep: f64, key: u64) -> FlexTensor {
        let (threshold, scale) = threshold_scale(keep);
        crate::map_f32(x, |start, src, dst| apply_dispatch(src, dst, start as u64, key, threshold, scale))
    }
}

#[derive(Debug)]
struct DropoutBackward;

impl<B: Backend + DropoutKernels> Backward<B, 1> for DropoutBackward {
    /// (keep, key): enough to draw the mask again.
    type State = (f64, u64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(parent) = parent {
            let (keep, key) = ops.state;
            grads.register::<B>(parent.id, B::dropout_fused(grad, keep, key));
        }
    }
}

impl<B: Backend + DropoutKernels, C: CheckpointStrategy> DropoutKernels for Autodiff<B, C> {
    fn dropout_fused(x: FloatTensor<Self>, keep: f64, key: u64) -> FloatTensor<Self> {
        match DropoutBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::dropout_fused(x.primitive().clone(), keep, key);
                prep.finish((keep, key), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dropout_fused(x.into_primitive(), keep, key)),
        }
    }
}
