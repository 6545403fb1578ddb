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
//! - Softmax over the last dimension with a one-pass backward ([`softmax`]); under autodiff burn
//!   differentiates its decomposed form.
//! - The linear layers' 2-D product, written straight into its output ([`matmul`]); burn-flex
//!   zero-fills and then copies every product's output buffer.
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
mod gelu;
mod layer_norm;
mod math;
mod matmul;
mod softmax;

pub use adamw::{AdamWKernels, AdamWStep, adamw_reference, adamw_step};
pub use layer_norm::{LayerNormKernels, layer_norm, reference_layer_norm};
pub use gelu::{GeluKernels, GeluKind, gelu, reference_gelu};
pub use math::{erf, exp, gelu_erf, gelu_erf_grad, gelu_tanh, gelu_tanh_grad, tanh};
pub use dropout::{DropoutKernels, dropout, dropout_mask, seed_dropout};
pub use matmul::{MatmulKernels, matmul};
pub use softmax::{SoftmaxKernels, softmax};

use burn::backend::DispatchDevice;
use burn::tensor::{DType, Shape, TensorData};
use burn_flex::FlexTensor;

/// Elements per parallel task: large enough that rayon's overhead is noise, small enough to
/// split a [1024, 768] activation over many cores.
pub(crate) const CHUNK: usize = 1 << 15;

/// `x` as a contiguous f32 tensor starting at offset 0.
pub(crate) fn contiguous_f32(x: FlexTensor) -> FlexTensor {
    assert_eq!(x.dtype(), DType::F32, "the CPU kernels take f32 tensors (their wrappers route other dtypes to burn)");
    if x.is_contiguous() && x.layout().start_offset() == 0 { x } else { x.to_contiguous() }
}

/// Whether `device` is Flex, with or without autodiff: where the kernels apply.
pub(crate) fn is_flex(device: &burn::tensor::Device) -> bool {
    matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

/// A new zero-filled f32 tensor. burn-flex's `FlexTensor::empty` zero-fills a byte vector and
/// then copies it into an aligned allocation; an f32 vector is aligned for f32 already, so this
/// is one zeroing pass and no copy.
pub(crate) fn zeros_f32(shape: Shape) -> FlexTensor {
    let n = shape.num_elements();
    FlexTensor::from_data(TensorData::new(vec![0.0f32; n], shape))
}

/// A new f32 tensor shaped like `x` with `f(start, src, dst)` applied to each parallel chunk
/// (`start`: the chunk's first element index, for position-dependent kernels such as dropout).
pub(crate) fn map_f32(x: FlexTensor, f: impl Fn(usize, &[f32], &mut [f32]) + Sync) -> FlexTensor {
    let x = contiguous_f32(x);
    let n = x.layout().num_elements();
    let mut out = zeros_f32(x.layout().shape().clone());
    {
        let src = &x.storage::<f32>()[..n];
        let dst = &mut out.storage_mut::<f32>()[..n];
        if n <= CHUNK {
            f(0, src, dst);
        } else {
            use rayon::prelude::*;
            dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).enumerate().for_each(|(c, (d, s))| f(c * CHUNK, s, d));
        }
    }
    out
}
