//! The fused AdamW step against its tensor-operation form.

/// The fused AdamW kernel (one pass per parameter, used on CPU) against the tensor-operation
/// form, over several steps, with and without weight decay, on a parameter large enough to be
/// split across threads.
#[test]
fn the_fused_adamw_update_equals_the_tensor_operation_form() {
    use burn::tensor::{Device, Distribution, Tensor};
    let device = Device::flex();
    let n = 100_003;
    for weight_decay in [0.0, 0.01] {
        let mut fused: (Tensor<1>, Tensor<1>, Tensor<1>) =
            (Tensor::random([n], Distribution::Normal(0.0, 1.0), &device), Tensor::zeros([n], &device), Tensor::zeros([n], &device));
        let mut plain = fused.clone();
        for t in 1..=5 {
            let grad: Tensor<1> = Tensor::random([n], Distribution::Normal(0.0, 0.1), &device);
            let (b1, b2) = (0.9f64, 0.999f64);
            let step = kernels::AdamWStep {
                lr: 1e-3,
                beta1: b1,
                beta2: b2,
                eps: 1e-8,
                bias_correction1: 1.0 - b1.powi(t),
                bias_correction2: 1.0 - b2.powi(t),
                weight_decay,
            };
            fused = kernels::adamw_step(fused.0, grad.clone(), fused.1, fused.2, &step);
            plain = kernels::adamw_reference(plain.0, grad, plain.1, plain.2, &step);
        }
        for (what, a, b) in [("p", &fused.0, &plain.0), ("m", &fused.1, &plain.1), ("v", &fused.2, &plain.2)] {
            let scale: f32 = b.clone().abs().max().into_scalar();
            let diff: f32 = (a.clone() - b.clone()).abs().max().into_scalar();
            assert!(diff <= 1e-6 * scale.max(1e-6), "wd {weight_decay}: {what} differs by {diff} (scale {scale})");
        }
        // The update moved the parameter (the comparison is not between two no-ops).
        assert!(fused.1.clone().abs().max().into_scalar::<f32>() > 0.0);
    }
    // Autodiff tensors take the tensor form (and still get the same update).
    let ad = Device::flex().autodiff();
    let p: Tensor<1> = Tensor::from_floats([1.0, -2.0], &ad);
    let g: Tensor<1> = Tensor::from_floats([0.5, 0.25], &ad);
    let step = kernels::AdamWStep { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, bias_correction1: 0.1, bias_correction2: 0.001, weight_decay: 0.0 };
    let (p1, _, _) = kernels::adamw_step(p, g.clone(), g.zeros_like(), g.zeros_like(), &step);
    // First step: m̂ = g, v̂ = g², so each parameter moves by lr·sign(g).
    let moved: Vec<f32> = p1.into_data().try_to_vec().unwrap();
    assert!((moved[0] - 0.9).abs() < 1e-6 && (moved[1] + 2.1).abs() < 1e-6, "{moved:?}");
}
