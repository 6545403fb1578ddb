//! GELU (exact, with erf) and its tanh approximation as a backend operation with its own
//! backward: the Flex kernels run `math`'s branch-free formulas over parallel chunks; autodiff
//! keeps the input, as burn's own GELU does.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::{DType, Tensor, activation};
use burn_flex::FlexTensor;

/// Which GELU: exact (`gelu` in HF configs) or the tanh approximation (`gelu_new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeluKind {
    Erf,
    Tanh,
}

/// GELU of `x`: the fast kernel on Flex for f32, burn's own composition elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>, kind: GeluKind) -> Tensor<D> {
    if x.dtype() == DType::F32 && crate::is_flex(&x.device()) {
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

/// GELU as a backend operation with its own backward.
#[backend_extension(Flex, Autodiff)]
pub trait GeluKernels: Backend {
    /// GELU (`tanh`: the tanh approximation) of an f32 tensor.
    fn gelu_fast(x: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self>;
    /// `grad · GELU'(x)`.
    fn gelu_fast_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self>;
}

fn map_binary(x: FlexTensor, grad: FlexTensor, f: fn(&[f32], &[f32], &mut [f32])) -> FlexTensor {
    assert_eq!(x.layout().shape(), grad.layout().shape(), "GELU backward: input and gradient shapes differ");
    let x = crate::contiguous_f32(x);
    let grad = crate::contiguous_f32(grad);
    let n = x.layout().num_elements();
    let mut out = crate::zeros_f32(x.layout().shape().clone());
    {
        let xs = &x.storage::<f32>()[..n];
        let gs = &grad.storage::<f32>()[..n];
        let dst = &mut out.storage_mut::<f32>()[..n];
        if n <= crate::CHUNK {
            f(xs, gs, dst);
        } else {
            use rayon::prelude::*;
            dst.par_chunks_mut(crate::CHUNK)
                .zip(xs.par_chunks(crate::CHUNK).zip(gs.par_chunks(crate::CHUNK)))
                .for_each(|(d, (x, g))| f(x, g, d));
        }
    }
    out
}

impl GeluKernels for Flex {
    fn gelu_fast(x: FlexTensor, tanh: bool) -> FlexTensor {
        let f = if tanh { crate::math::gelu_tanh_slice } else { crate::math::gelu_erf_slice };
        crate::map_f32(x, |_, src, dst| f(src, dst))
    }

    fn gelu_fast_grad(x: FlexTensor, grad: FlexTensor, tanh: bool) -> FlexTensor {
        map_binary(x, grad, if tanh { crate::math::gelu_tanh_grad_slice } else { crate::math::gelu_erf_grad_slice })
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
