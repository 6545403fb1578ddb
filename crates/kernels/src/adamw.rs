//! AdamW's update in one pass over each parameter.
//!
//! Written as tensor operations the update reads and writes each parameter's values about a
//! dozen times (moments, bias corrections, square root, division, decay): for full fine-tuning
//! of RoBERTa-base that is 125 M parameters × ~12 passes per step. Fused, each element of the
//! parameter, gradient and both moments is read once and written once, on all cores.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

/// One AdamW step's scalars, as PyTorch's AdamW uses them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// 1 − β₁ᵗ and 1 − β₂ᵗ for this step t.
    pub bias_correction1: f64,
    pub bias_correction2: f64,
    /// Decoupled weight decay (0: none).
    pub weight_decay: f64,
}

/// (p, m, v) after one AdamW step: fused in one pass when all four are f32 tensors on Flex
/// (updating in place the tensors this call holds the only reference to), else
/// [`adamw_reference`].
pub fn adamw_step(p: Tensor<1>, grad: Tensor<1>, m: Tensor<1>, v: Tensor<1>, step: &AdamWStep) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let all_flex_f32 =
        [&p, &grad, &m, &v].iter().all(|t| t.dtype() == DType::F32 && !t.is_autodiff() && crate::is_flex(&t.device()));
    if !all_flex_f32 {
        return adamw_reference(p, grad, m, v, step);
    }
    let (p, m, v) = <burn::backend::Dispatch as AdamWKernels>::adamw_step(
        p.into_dispatch(),
        grad.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        *step,
    );
    (Tensor::from_dispatch(p), Tensor::from_dispatch(m), Tensor::from_dispatch(v))
}

/// One AdamW step as tensor operations: p ← p·(1 − lr·wd) − lr · m̂ / (√v̂ + ε) with
/// m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g² (PyTorch's AdamW). The form for every backend
/// other than Flex, and the reference the fused kernel is tested against. Returns (p, m, v).
pub fn adamw_reference(p: Tensor<1>, grad: Tensor<1>, m: Tensor<1>, v: Tensor<1>, s: &AdamWStep) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let m = m.mul_scalar(s.beta1) + grad.clone().mul_scalar(1.0 - s.beta1);
    let v = v.mul_scalar(s.beta2) + grad.powi_scalar(2).mul_scalar(1.0 - s.beta2);
    let p = if s.weight_decay != 0.0 { p.mul_scalar(1.0 - s.lr * s.weight_decay) } else { p };
    let denom = v.clone().div_scalar(s.bias_correction2).sqrt().add_scalar(s.eps);
    let update = m.clone().div_scalar(s.bias_correction1).div(denom).mul_scalar(s.lr);
    (p - update, m, v)
}

#[backend_extension(Flex)]
pub trait AdamWKernels: Backend {
    fn adamw_step(
        p: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamWStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The per-element constants, rounded to f32 as burn rounds a scalar operand.
#[derive(Clone, Copy)]
struct Consts {
    b1: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    bc1: f32,
    bc2: f32,
    eps: f32,
    lr: f32,
    decay: f32,
    has_decay: bool,
}

#[inline(always)]
fn update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Consts) {
    for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        let m1 = *m * c.b1 + g * c.one_minus_b1;
        let v1 = *v * c.b2 + g * g * c.one_minus_b2;
        let p0 = if c.has_decay { *p * c.decay } else { *p };
        let denom = (v1 / c.bc2).sqrt() + c.eps;
        *p = p0 - (m1 / c.bc1) / denom * c.lr;
        *m = m1;
        *v = v1;
    }
}

fn update_dispatch(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Consts) {
    per_cpu_features!((p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Consts) update(p, m, v, g, c))
}

impl AdamWKernels for Flex {
    fn adamw_step(p: FlexTensor, grad: FlexTensor, m: FlexTensor, v: FlexTensor, s: AdamWStep) -> (FlexTensor, FlexTensor, FlexTensor) {
        let c = Consts {
            b1: s.beta1 as f32,
            one_minus_b1: (1.0 - s.beta1) as f32,
            b2: s.beta2 as f32,
            one_minus_b2: (1.0 - s.beta2) as f32,
            bc1: s.bias_correction1 as f32,
            bc2: s.bias_correction2 as f32,
            eps: s.eps as f32,
            lr: s.lr as f32,
            decay: (1.0 - s.lr * s.weight_decay) as f32,
            has_decay: s.weight_decay != 0.0,
        };
        // Each is written in place when this step holds its only reference (the moments always;
        // the parameter once the model has let go of it), and copied first otherwise.
        let (mut p, grad, mut m, mut v) =
            (crate::contiguous_f32(p), crate::contiguous_f32(grad), crate::contiguous_f32(m), crate::contiguous_f32(v));
        let n = p.layout().num_elements();
        for (what, t) in [("gradient", &grad), ("first moment", &m), ("second moment", &v)] {
            assert_eq!(t.layout().num_elements(), n, "AdamW: the {what} has another size than its parameter");
        }
        {
            let ps = &mut p.storage_mut::<f32>()[..n];
            let ms = &mut m.storage_mut::<f32>()[..n];
            let vs = &mut v.storage_mut::<f32>()[..n];
            let gs = &grad.storage::<f32>()[..n];
            if n <= crate::CHUNK {
                update_dispatch(ps, ms, vs, gs, c);
            } else {
                use rayon::prelude::*;
                let k = crate::CHUNK;
                ps.par_chunks_mut(k)
                    .zip(ms.par_chunks_mut(k))
                    .zip(vs.par_chunks_mut(k))
                    .zip(gs.par_chunks(k))
                    .for_each(|(((p, m), v), g)| update_dispatch(p, m, v, g, c));
            }
        }
        (p, m, v)
    }
}
