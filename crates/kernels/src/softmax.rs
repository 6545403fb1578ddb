//! Softmax over the last dimension as one operation with its own backward.
//!
//! burn-flex has a fused softmax forward, but under autodiff burn runs the decomposed default
//! (detached max, subtract, exp, sum, divide) and differentiates each step: five forward and
//! more backward passes over every attention-probability tensor, with an allocation each. Here
//! the forward is burn-flex's fused kernel and the backward one pass per row,
//! dx = y ⊙ (dy − Σ dy ⊙ y); the output y is all that is kept, as with burn's own graph (whose
//! exp output is the same size).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::{DType, Tensor, activation};
use burn_flex::FlexTensor;

/// Softmax of `x` over `dim`: the fused operation on Flex for f32 over the last dimension,
/// burn's own elsewhere.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if dim + 1 == D && x.dtype() == DType::F32 && crate::is_flex(&x.device()) {
        return Tensor::from_dispatch(<burn::backend::Dispatch as SoftmaxKernels>::softmax_last(x.into_dispatch()));
    }
    activation::softmax(x, dim)
}

/// Softmax over the last dimension as a backend operation with its own backward.
#[backend_extension(Flex, Autodiff)]
pub trait SoftmaxKernels: Backend {
    /// Softmax over the last dimension of an f32 tensor.
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The input gradient y ⊙ (dy − Σ dy ⊙ y) from the output `y` and its gradient.
    fn softmax_last_grad(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Rows of y and dy in, rows of dx out (each slice holds whole rows of `len`).
fn grad_rows(y: &[f32], dy: &[f32], dx: &mut [f32], len: usize) {
    for ((y, dy), dx) in y.chunks_exact(len).zip(dy.chunks_exact(len)).zip(dx.chunks_exact_mut(len)) {
        let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
        for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
            *dx = y * (dy - dot);
        }
    }
}

impl SoftmaxKernels for Flex {
    fn softmax_last(x: FlexTensor) -> FlexTensor {
        let last = x.layout().num_dims() - 1;
        burn_flex::ops::activation::softmax(x, last)
    }

    fn softmax_last_grad(y: FlexTensor, grad: FlexTensor) -> FlexTensor {
        assert_eq!(y.layout().shape(), grad.layout().shape(), "softmax backward: output and gradient shapes differ");
        let (y, grad) = (crate::contiguous_f32(y), crate::contiguous_f32(grad));
        let shape = y.layout().shape().clone();
        let len = shape[shape.num_dims() - 1];
        let n = shape.num_elements();
        let mut dx = crate::zeros_f32(shape);
        if n == 0 {
            return dx;
        }
        {
            let (ys, gs) = (&y.storage::<f32>()[..n], &grad.storage::<f32>()[..n]);
            let dst = &mut dx.storage_mut::<f32>()[..n];
            // Whole rows per task, about CHUNK elements each.
            let per_task = (crate::CHUNK / len).max(1) * len;
            use rayon::prelude::*;
            dst.par_chunks_mut(per_task)
                .zip(ys.par_chunks(per_task).zip(gs.par_chunks(per_task)))
                .for_each(|(d, (y, g))| grad_rows(y, g, d, len));
        }
        dx
    }
}

#[derive(Debug)]
struct SoftmaxBackward;

impl<B: Backend + SoftmaxKernels> Backward<B, 1> for SoftmaxBackward {
    /// The output y.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(parent) = parent {
            grads.register::<B>(parent.id, B::softmax_last_grad(ops.state, grad));
        }
    }
}

impl<B: Backend + SoftmaxKernels, C: CheckpointStrategy> SoftmaxKernels for Autodiff<B, C> {
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match SoftmaxBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::softmax_last(x.into_primitive());
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::softmax_last(x.into_primitive())),
        }
    }

    /// Only the backward of `softmax_last` calls this, on the inner backend; a second
    /// derivative through it is not supported (the result is a constant).
    fn softmax_last_grad(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (y, grad) = (Self::inner(y), Self::inner(grad));
        Self::from_inner(B::softmax_last_grad(y, grad))
    }
}
