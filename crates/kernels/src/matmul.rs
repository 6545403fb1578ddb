//! The 2-D product x·W of every linear layer, forward and backward, with its output written
//! straight into a fresh buffer.
//!
//! burn-flex computes the same product with the same `gemm` call, but allocates each output
//! through `FlexTensor::empty`: a zero-filled `Vec<u8>` that `Bytes::from_bytes_vec` then copies
//! into a second, 16-byte-aligned allocation. Every product thus pays a memset and a memcpy of
//! its output before `gemm` overwrites it: 4.4 % of a RoBERTa-base LoRA step's CPU samples
//! (`perf`, `cargo xtask bench step`). Here `gemm` writes the output once.
//!
//! The backward is burn's: dX = dY·Wᵀ when X is tracked, dW = Xᵀ·dY when W is; each side keeps
//! only what the other's gradient needs (a frozen W keeps no activation). Transposes are
//! stride views, never copies.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::FlexTensor;

/// `lhs`·`rhs` for [m, k]·[k, n]: the direct kernel on Flex for f32, burn's `matmul` elsewhere.
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    let direct = lhs.dtype() == DType::F32 && rhs.dtype() == DType::F32 && crate::is_flex(&lhs.device());
    if !direct {
        return lhs.matmul(rhs);
    }
    let [_, k] = lhs.dims();
    let [k2, _] = rhs.dims();
    assert_eq!(k, k2, "matmul: inner dimensions differ ({:?} · {:?})", lhs.dims(), rhs.dims());
    Tensor::from_dispatch(<burn::backend::Dispatch as MatmulKernels>::matmul_2d(lhs.into_dispatch(), rhs.into_dispatch()))
}

/// The 2-D product as a backend operation with its own backward.
#[backend_extension(Flex, Autodiff)]
pub trait MatmulKernels: Backend {
    /// [m, k]·[k, n] for f32 tensors of any strides (transposed views included).
    fn matmul_2d(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Above this many multiply-adds `gemm` splits the product over the rayon pool (burn-flex's
/// threshold, so both paths run the same products in parallel).
const PARALLEL_MACS: usize = 192 * 192 * 192;

impl MatmulKernels for Flex {
    fn matmul_2d(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
        assert!(lhs.dtype() == DType::F32 && rhs.dtype() == DType::F32, "matmul_2d takes f32 tensors");
        let (ls, rs) = (lhs.layout(), rhs.layout());
        let (m, k, n) = (ls.shape()[0], ls.shape()[1], rs.shape()[1]);
        assert_eq!(k, rs.shape()[0], "matmul_2d: inner dimensions differ");
        let (l_rs, l_cs) = (ls.strides()[0], ls.strides()[1]);
        let (r_rs, r_cs) = (rs.strides()[0], rs.strides()[1]);
        let parallelism = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MACS {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        // SAFETY: the pointers address `lhs` and `rhs` at their layouts' offsets and strides,
        // which the shapes above bound. With `read_dst = false` gemm never reads the output and
        // writes every one of its m·n elements (zeros when k = 0), so the buffer is initialised
        // before its length is set.
        unsafe {
            let lhs_ptr = lhs.storage::<f32>().as_ptr().add(ls.start_offset());
            let rhs_ptr = rhs.storage::<f32>().as_ptr().add(rs.start_offset());
            gemm::gemm(
                m, n, k,
                out.as_mut_ptr(), 1, n as isize, false,
                lhs_ptr, l_cs, l_rs,
                rhs_ptr, r_cs, r_rs,
                0.0, 1.0, false, false, false,
                parallelism,
            );
            out.set_len(m * n);
        }
        FlexTensor::from_data(TensorData::new(out, [m, n]))
    }
}

#[derive(Debug)]
struct MatmulBackward;

impl<B: Backend + MatmulKernels> Backward<B, 2> for MatmulBackward {
    /// (X when W is tracked, W when X is tracked).
    type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (lhs, rhs) = ops.state;
        let [lhs_node, rhs_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = lhs_node {
            let rhs = rhs.expect("W is kept when X is tracked");
            grads.register::<B>(node.id, B::matmul_2d(grad.clone(), B::float_transpose(rhs)));
        }
        if let Some(node) = rhs_node {
            let lhs = lhs.expect("X is kept when W is tracked");
            grads.register::<B>(node.id, B::matmul_2d(B::float_transpose(lhs), grad));
        }
    }
}

impl<B: Backend + MatmulKernels, C: CheckpointStrategy> MatmulKernels for Autodiff<B, C> {
    fn matmul_2d(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let (lhs_tracked, rhs_tracked) = (lhs.is_tracked(), rhs.is_tracked());
        match MatmulBackward.prepare::<C>([lhs.node(), rhs.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let keep_lhs = rhs_tracked.then(|| lhs.primitive().clone());
                let keep_rhs = lhs_tracked.then(|| rhs.primitive().clone());
                let out = B::matmul_2d(lhs.into_primitive(), rhs.into_primitive());
                prep.finish((keep_lhs, keep_rhs), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::matmul_2d(lhs.into_primitive(), rhs.into_primitive())),
        }
    }
}
