//! Fast CPU paths that burn-flex lacks.
//!
//! - Element-wise kernels for GELU (exact, with erf) and its tanh approximation, forward and
//!   backward. burn-flex computes them with one scalar libm call per element on one core: 29 ms
//!   per [1024, 3072] activation in a RoBERTa-base step on 2 cores, about as much again in the
//!   backward, ×12 layers (`cargo xtask bench ops`). Here each runs on all cores in a branch-free
//!   polynomial form that the compiler vectorises (AVX-512 or AVX2 picked at run time).
//!   They are burn backend extensions: [`GeluKernels`] is implemented for Flex (the kernels) and
//!   for `Autodiff<B>` with a hand-written backward. Other backends (wgpu, CUDA) and dtypes take
//!   burn's own composition in [`gelu`].
//! - Dropout from a counter-based generator, fused into one pass, whose backward redraws the
//!   mask instead of keeping it ([`dropout`]).
//! - LayerNorm fused forward and backward, keeping the input and two floats per row
//!   ([`layer_norm`]).
//! - AdamW's update in one pass per parameter ([`adamw_step`]).
//! - [`allocator`] keeps freed memory for reuse across training steps.
//!
//! What this crate must not do: change results beyond float rounding (tests compare with f64
//! references and with burn's own GELU, forward and gradient).

/// The body of a hot loop function, compiled for AVX-512 (with DQ, for 64-bit integer
/// multiplies), for AVX2 + FMA, and for the baseline target, run with the best the CPU has.
/// Use it as the whole body of `fn name(args…)`; `$body` calls an `#[inline(always)]` loop with
/// those arguments, so the compiler vectorises the loop once per instruction set. No fused
/// multiply-adds are written, so every variant computes bit-identical results.
macro_rules! per_cpu_features {
    (($($arg:ident: $ty:ty),* $(,)?) $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                $body
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $body
            }
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512dq")
            {
                // SAFETY: the features were detected on this CPU.
                return unsafe { avx512($($arg),*) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: as above.
                return unsafe { avx2($($arg),*) };
            }
        }
        $body
    }};
}

mod adamw;
pub mod allocator;
mod dropout;
mod layer_norm;
mod math;

pub use adamw::{AdamWKernels, AdamWStep, adamw_reference, adamw_step};
pub use layer_norm::{LayerNormKernels, layer_norm, reference_layer_norm};
pub use dropout::{DropoutKernels, dropout, dropout_mask, seed_dropout};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, DispatchDevice, Flex, backend_extension};
use burn::tensor::{DType, Tensor, activation};
use burn_flex::FlexTensor;

pub use math::{erf, exp, gelu_erf, gelu_erf_grad, gelu_tanh, gelu_tanh_grad, tanh};

/// Which GELU: exact (`gelu` in HF configs) or the tanh approximation (`gelu_new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeluKind {
    Erf,
    Tanh,
}

/// GELU of `x`: the fast kernel on Flex for f32, burn's own composition elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>, kind: GeluKind) -> Tensor<D> {
    if x.dtype() == DType::F32 && is_flex(&x.device()) {
        let tanh = kind == GeluKind::Tanh;
        return Tensor::from_dispatch(<burn::backend::Dispatch as GeluKernels>::gelu_fast(x.into_dispatch(), tanh));
    }
    reference_gelu(x, kind)
}

/// burn's GELU ops: the reference the kernels are tested against, and the path for every
/// backend other than Flex.
pub fn reference_gelu<const D: usize>(x: Tensor<D>, kind: GeluKind) -> Tensor<D> {
    match kind {
        GeluKind::Erf => activation::gelu(x),
        GeluKind::Tanh => {
            // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let inner = (x.clone() + x.clone().powi_scalar(3).mul_scalar(0.044715)).mul_scalar(c);
            x.mul_scalar(0.5) * inner.tanh().add_scalar(1.0)
        }
    }
}

pub(crate) fn is_flex(device: &burn::tensor::Device) -> bool {
    matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

/// GELU as a backend operation with its own backward.
#[backend_extension(Flex, Autodiff)]
pub trait GeluKernels: Backend {
    /// GELU (`tanh`: the tanh approximation) of an f32 tensor.
    fn gelu_fast(x: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self>;
    /// `grad · GELU'(x)`.
    fn gelu_fast_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self>;
}

/// Elements per parallel task: large enough that rayon's overhead is noise, small enough to
/// split a [1024, 768] activation over many cores.
pub(crate) const CHUNK: usize = 1 << 15;

/// `x` as a contiguous f32 tensor starting at offset 0.
pub(crate) fn contiguous_f32(x: FlexTensor) -> FlexTensor {
    assert_eq!(x.dtype(), DType::F32, "the GELU kernel takes f32 tensors (kernels::gelu routes others to burn)");
    if x.is_contiguous() && x.layout().start_offset() == 0 { x } else { x.to_contiguous() }
}

fn map_unary(x: FlexTensor, f: fn(&[f32], &mut [f32])) -> FlexTensor {
    let x = contiguous_f32(x);
    let n = x.layout().num_elements();
    let mut out = FlexTensor::empty(x.layout().shape().clone(), DType::F32);
    {
        let src = &x.storage::<f32>()[..n];
        let dst = &mut out.storage_mut::<f32>()[..n];
        if n <= CHUNK {
            f(src, dst);
        } else {
            use rayon::prelude::*;
            dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(d, s)| f(s, d));
        }
    }
    out
}

fn map_binary(x: FlexTensor, grad: FlexTensor, f: fn(&[f32], &[f32], &mut [f32])) -> FlexTensor {
    assert_eq!(x.layout().shape(), grad.layout().shape(), "GELU backward: input and gradient shapes differ");
    let x = contiguous_f32(x);
    let grad = contiguous_f32(grad);
    let n = x.layout().num_elements();
    let mut out = FlexTensor::empty(x.layout().shape().clone(), DType::F32);
    {
        let xs = &x.storage::<f32>()[..n];
        let gs = &grad.storage::<f32>()[..n];
        let dst = &mut out.storage_mut::<f32>()[..n];
        if n <= CHUNK {
            f(xs, gs, dst);
        } else {
            use rayon::prelude::*;
            dst.par_chunks_mut(CHUNK)
                .zip(xs.par_chunks(CHUNK).zip(gs.par_chunks(CHUNK)))
                .for_each(|(d, (x, g))| f(x, g, d));
        }
    }
    out
}

impl GeluKernels for Flex {
    fn gelu_fast(x: FlexTensor, tanh: bool) -> FlexTensor {
        map_unary(x, if tanh { math::gelu_tanh_slice } else { math::gelu_erf_slice })
    }

    fn gelu_fast_grad(x: FlexTensor, grad: FlexTensor, tanh: bool) -> FlexTensor {
        map_binary(x, grad, if tanh { math::gelu_tanh_grad_slice } else { math::gelu_erf_grad_slice })
    }
}

#[derive(Debug)]
struct GeluBackward {
    tanh: bool,
}

impl<B: Backend + GeluKernels> Backward<B, 1> for GeluBackward {
    /// The input x: GELU's derivative needs it (burn's own GELU keeps it too).
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(parent) = parent {
            grads.register::<B>(parent.id, B::gelu_fast_grad(ops.state, grad, self.tanh));
        }
    }
}

impl<B: Backend + GeluKernels, C: CheckpointStrategy> GeluKernels for Autodiff<B, C> {
    fn gelu_fast(x: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self> {
        match (GeluBackward { tanh }).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let output = B::gelu_fast(input.clone(), tanh);
                prep.finish(input, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gelu_fast(x.into_primitive(), tanh)),
        }
    }

    /// Only the backward of `gelu_fast` calls this, on the inner backend; a second derivative
    /// through it is not supported (the result is a constant).
    fn gelu_fast_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self> {
        let (x, grad) = (Self::inner(x), Self::inner(grad));
        Self::from_inner(B::gelu_fast_grad(x, grad, tanh))
    }
}
