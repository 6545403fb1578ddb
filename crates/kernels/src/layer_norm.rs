//! LayerNorm over the last dimension in one pass forward and one backward, with its own
//! backward step.
//!
//! burn computes LayerNorm as a chain of tensor operations (mean, centre, variance, divide,
//! scale, shift) and its autodiff keeps the intermediates of each: about three activations per
//! LayerNorm, 24 of them in a RoBERTa-base step. The fused form keeps the input and two floats
//! per row (mean and 1/σ) and recomputes x̂ in the backward.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::{DType, Shape, Tensor};
use burn_flex::FlexTensor;

/// PyTorch's LayerNorm over the last dimension: (x − mean)/√(var + ε)·γ + β with the biased
/// variance. Fused on Flex for f32; burn's composition elsewhere ([`reference_layer_norm`]).
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let fused = [x.dtype(), gamma.dtype(), beta.dtype()]
        .iter()
        .all(|d| *d == DType::F32)
        && crate::is_flex(&x.device());
    if !fused {
        return reference_layer_norm(x, gamma, beta, eps);
    }
    let (y, _stats) = <burn::backend::Dispatch as LayerNormKernels>::layer_norm_fused(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    );
    Tensor::from_dispatch(y)
}

/// burn's own LayerNorm (the form for other backends, and the tests' reference).
pub fn reference_layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    burn::tensor::module::layer_norm(x, gamma, Some(beta), eps)
}

#[backend_extension(Flex, Autodiff)]
pub trait LayerNormKernels: Backend {
    /// (y, stats): stats is [rows, 2] = (mean, 1/√(var + ε)) of each row.
    fn layer_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// (dx, dγ, dβ) from the input, γ, the forward's stats and dy.
    fn layer_norm_fused_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Rows per parallel task (and per partial sum of dγ, dβ: a fixed split, so the sums are the
/// same whatever the thread count).
const ROWS: usize = 64;

/// Σ of a slice in 16 lanes (vectorisable; the lane order is fixed, so results are too).
#[inline(always)]
fn lane_sum(v: impl Iterator<Item = f32>) -> f32 {
    let mut acc = [0.0f32; 16];
    for (i, x) in v.enumerate() {
        acc[i % 16] += x;
    }
    acc.iter().sum()
}

fn forward_rows(
    x: &[f32],
    y: &mut [f32],
    stats: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    d: usize,
    eps: f32,
) {
    for ((xr, yr), st) in x.chunks(d).zip(y.chunks_mut(d)).zip(stats.chunks_mut(2)) {
        let mean = lane_sum(xr.iter().copied()) / d as f32;
        let var = lane_sum(xr.iter().map(|&v| (v - mean) * (v - mean))) / d as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        for (((o, &v), &g), &b) in yr.iter_mut().zip(xr).zip(gamma).zip(beta) {
            *o = (v - mean) * rstd * g + b;
        }
        st[0] = mean;
        st[1] = rstd;
    }
}

/// dx for the rows of one task, and this task's partial dγ, dβ.
fn backward_rows(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    stats: &[f32],
    gamma: &[f32],
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut dgamma = vec![0.0f32; d];
    let mut dbeta = vec![0.0f32; d];
    for (((xr, dyr), dxr), st) in x
        .chunks(d)
        .zip(dy.chunks(d))
        .zip(dx.chunks_mut(d))
        .zip(stats.chunks(2))
    {
        let (mean, rstd) = (st[0], st[1]);
        // dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)) with g = dy · γ.
        let mean_g = lane_sum(dyr.iter().zip(gamma).map(|(&a, &b)| a * b)) / d as f32;
        let mean_gx = lane_sum(
            dyr.iter()
                .zip(gamma)
                .zip(xr)
                .map(|((&a, &b), &v)| a * b * ((v - mean) * rstd)),
        ) / d as f32;
        for ((((o, &v), &dyv), &g), (dg, db)) in dxr
            .iter_mut()
            .zip(xr)
            .zip(dyr)
            .zip(gamma)
            .zip(dgamma.iter_mut().zip(dbeta.iter_mut()))
        {
            let xhat = (v - mean) * rstd;
            *o = rstd * (dyv * g - mean_g - xhat * mean_gx);
            *dg += dyv * xhat;
            *db += dyv;
        }
    }
    (dgamma, dbeta)
}

impl LayerNormKernels for Flex {
    fn layer_norm_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        eps: f64,
    ) -> (FlexTensor, FlexTensor) {
        let (x, gamma, beta) = (
            crate::contiguous_f32(x),
            crate::contiguous_f32(gamma),
            crate::contiguous_f32(beta),
        );
        let shape = x.layout().shape().clone();
        let d = shape[shape.num_dims() - 1];
        let n = shape.num_elements();
        let rows = n / d.max(1);
        assert!(
            gamma.layout().num_elements() == d && beta.layout().num_elements() == d,
            "LayerNorm: γ and β must have the last dimension's size {d}"
        );
        let mut y = crate::zeros_f32(shape);
        let mut stats = crate::zeros_f32(Shape::new([rows, 2]));
        {
            let (xs, g, b) = (
                &x.storage::<f32>()[..n],
                &gamma.storage::<f32>()[..d],
                &beta.storage::<f32>()[..d],
            );
            let ys = &mut y.storage_mut::<f32>()[..n];
            let ss = &mut stats.storage_mut::<f32>()[..2 * rows];
            use rayon::prelude::*;
            ys.par_chunks_mut(ROWS * d)
                .zip(ss.par_chunks_mut(ROWS * 2))
                .zip(xs.par_chunks(ROWS * d))
                .for_each(|((y, s), x)| forward_rows(x, y, s, g, b, d, eps as f32));
        }
        (y, stats)
    }

    fn layer_norm_fused_grad(
        x: FlexTensor,
        gamma: FlexTensor,
        stats: FlexTensor,
        dy: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, gamma, stats, dy) = (
            crate::contiguous_f32(x),
            crate::contiguous_f32(gamma),
            crate::contiguous_f32(stats),
            crate::contiguous_f32(dy),
        );
        let shape = x.layout().shape().clone();
        let d = shape[shape.num_dims() - 1];
        let n = shape.num_elements();
        let rows = n / d.max(1);
        let mut dx = crate::zeros_f32(shape);
        let partials: Vec<(Vec<f32>, Vec<f32>)> = {
            let (xs, g, ss, dys) = (
                &x.storage::<f32>()[..n],
                &gamma.storage::<f32>()[..d],
                &stats.storage::<f32>()[..2 * rows],
                &dy.storage::<f32>()[..n],
            );
            let dxs = &mut dx.storage_mut::<f32>()[..n];
            use rayon::prelude::*;
            dxs.par_chunks_mut(ROWS * d)
                .zip(xs.par_chunks(ROWS * d))
                .zip(dys.par_chunks(ROWS * d))
                .zip(ss.par_chunks(ROWS * 2))
                .map(|(((dx, x), dy), s)| backward_rows(x, dy, dx, s, g, d))
                .collect()
        };
        // The partial sums in task order: the same result on any number of threads.
        let mut dgamma = vec![0.0f32; d];
        let mut dbeta = vec![0.0f32; d];
        for (pg, pb) in partials {
            for (a, b) in dgamma.iter_mut().zip(pg) {
                *a += b;
            }
            for (a, b) in dbeta.iter_mut().zip(pb) {
                *a += b;
            }
        }
        let vec1 = |v: Vec<f32>| FlexTensor::from_data(burn::tensor::TensorData::new(v, [d]));
        (dx, vec1(dgamma), vec1(dbeta))
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl<B: Backend + LayerNormKernels> Backward<B, 3> for LayerNormBackward {
    /// (x, γ, stats).
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, gamma, stats) = ops.state;
        let (dx, dgamma, dbeta) = B::layer_norm_fused_grad(x, gamma, stats, dy);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, dgamma);
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, dbeta);
        }
    }
}

impl<B: Backend + LayerNormKernels, C: CheckpointStrategy> LayerNormKernels for Autodiff<B, C> {
    fn layer_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let prep = LayerNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let (xp, gp) = (x.primitive().clone(), gamma.primitive().clone());
                let (y, stats) =
                    B::layer_norm_fused(xp.clone(), gp.clone(), beta.into_primitive(), eps);
                let y = prep.finish((xp, gp, stats.clone()), y);
                (y, Self::from_inner(stats))
            }
            OpsKind::UnTracked(prep) => {
                let (y, stats) = B::layer_norm_fused(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    eps,
                );
                (prep.finish(y), Self::from_inner(stats))
            }
        }
    }

    /// Only the backward of `layer_norm_fused` calls this, on the inner backend; a second
    /// derivative through it is not supported (the results are constants).
    fn layer_norm_fused_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dg, db) = B::layer_norm_fused_grad(
            Self::inner(x),
            Self::inner(gamma),
            Self::inner(stats),
            Self::inner(dy),
        );
        (
            Self::from_inner(dx),
            Self::from_inner(dg),
            Self::from_inner(db),
        )
    }
}
