//! The fused LayerNorm against burn's composition: values and the gradients of x, γ and β,
//! with frozen or trained γ/β, on any layout and thread count.

use burn::tensor::{Device, Distribution, Tensor};
use kernels::{layer_norm, reference_layer_norm};

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn the_fused_layer_norm_matches_burns_composition() {
    let device = Device::flex();
    // 200 rows: several tasks of 64 rows and a ragged last one.
    let x: Tensor<3> = Tensor::random([4, 50, 768], Distribution::Normal(0.5, 2.0), &device);
    let gamma: Tensor<1> = Tensor::random([768], Distribution::Normal(1.0, 0.2), &device);
    let beta: Tensor<1> = Tensor::random([768], Distribution::Normal(0.0, 0.2), &device);
    let d = max_abs_diff(
        layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5),
        reference_layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5),
    );
    assert!(d < 2e-5, "forward differs by {d}");
    // A permuted (non-contiguous) input of the same logical shape.
    let xp: Tensor<3> = x
        .clone()
        .swap_dims(0, 1)
        .reshape([50, 4, 768])
        .swap_dims(0, 1);
    let d = max_abs_diff(
        layer_norm(xp.clone(), gamma.clone(), beta.clone(), 1e-12),
        reference_layer_norm(xp, gamma, beta, 1e-12),
    );
    assert!(d < 2e-5, "permuted input: forward differs by {d}");
}

#[test]
fn gradients_of_x_gamma_and_beta_match_burns_composition() {
    let device = Device::flex().autodiff();
    let x0: Tensor<3> = Tensor::random([3, 70, 96], Distribution::Normal(0.0, 3.0), &device);
    let w: Tensor<3> = Tensor::random([3, 70, 96], Distribution::Normal(0.0, 1.0), &device);
    let g0: Tensor<1> = Tensor::random([96], Distribution::Normal(1.0, 0.3), &device);
    let b0: Tensor<1> = Tensor::random([96], Distribution::Normal(0.0, 0.3), &device);
    type Ln = fn(Tensor<3>, Tensor<1>, Tensor<1>, f64) -> Tensor<3>;
    for trained_affine in [true, false] {
        let grads_of = |f: Ln| {
            let x = x0.clone().inner().autodiff().require_grad();
            let (mut g, mut b) = (g0.clone().inner().autodiff(), b0.clone().inner().autodiff());
            if trained_affine {
                g = g.require_grad();
                b = b.require_grad();
            }
            let grads = (f(x.clone(), g.clone(), b.clone(), 1e-5) * w.clone())
                .sum()
                .backward();
            (x.grad(&grads).unwrap(), g.grad(&grads), b.grad(&grads))
        };
        let (fx, fg, fb) = grads_of(layer_norm);
        let (rx, rg, rb) = grads_of(reference_layer_norm);
        let d = max_abs_diff(fx, rx);
        assert!(d < 2e-5, "dx differs by {d}");
        if trained_affine {
            let (dg, db) = (
                max_abs_diff(fg.unwrap(), rg.unwrap()),
                max_abs_diff(fb.unwrap(), rb.unwrap()),
            );
            assert!(dg < 5e-5 && db < 5e-5, "dγ differs by {dg}, dβ by {db}");
        } else {
            assert!(fg.is_none() && fb.is_none(), "frozen γ/β get no gradient");
        }
    }
}

#[test]
fn the_backward_sums_are_the_same_on_one_thread() {
    let device = Device::flex().autodiff();
    let x0: Tensor<2> = Tensor::random([300, 64], Distribution::Normal(0.0, 1.0), &device);
    let run = || {
        let x = x0.clone().inner().autodiff().require_grad();
        let g = Tensor::<1>::ones([64], &device).require_grad();
        let b = Tensor::<1>::zeros([64], &device).require_grad();
        let y = layer_norm(x.clone(), g.clone(), b.clone(), 1e-5);
        let grads = (y.clone() * y).sum().backward();
        let v = |t: Tensor<1>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
        (v(g.grad(&grads).unwrap()), v(b.grad(&grads).unwrap()))
    };
    let many = run();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    assert!(many == one, "dγ/dβ depend on the thread count");
}
