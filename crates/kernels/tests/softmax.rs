//! The softmax operation against burn's: values, the input gradient, other dimensions (which
//! take burn's path), and rows that are all equal or hold large values.

use burn::tensor::{Device, Distribution, Tensor, activation};

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn softmax_and_its_gradient_match_burns() {
    let device = Device::flex().autodiff();
    device.seed(5);
    // Attention-shaped: [batch, heads, q, k], many parallel tasks of whole rows.
    let x0: Tensor<4> = Tensor::random([2, 3, 100, 128], Distribution::Normal(0.0, 4.0), &device);
    let probe: Tensor<4> = Tensor::random([2, 3, 100, 128], Distribution::Normal(0.0, 1.0), &device);
    type Softmax = fn(Tensor<4>) -> Tensor<4>;
    let run = |f: Softmax| {
        let x = x0.clone().inner().autodiff().require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * probe.clone()).sum().backward();
        (y.inner(), x.grad(&grads).unwrap())
    };
    let (ky, kdx) = run(|x| kernels::softmax(x, 3));
    let (by, bdx) = run(|x| activation::softmax(x, 3));
    // burn-flex's fused exp and burn's decomposed one round differently: a few ulps of 1.
    let d = max_abs_diff(ky.clone(), by);
    assert!(d < 5e-6, "softmax differs by {d}");
    // Gradients reach |probe| ≈ 4; the two sum in different orders.
    let d = max_abs_diff(kdx, bdx);
    assert!(d < 5e-6, "its gradient differs by {d}");
    let row_sums = ky.sum_dim(3);
    let d = max_abs_diff(row_sums.clone(), row_sums.ones_like());
    assert!(d < 1e-5, "rows sum to 1 within {d}");
}

#[test]
fn other_dimensions_and_extreme_rows_agree_with_burn() {
    let device = Device::flex();
    device.seed(6);
    let x: Tensor<3> = Tensor::random([4, 6, 5], Distribution::Normal(0.0, 1.0), &device);
    let d = max_abs_diff(kernels::softmax(x.clone(), 1), activation::softmax(x, 1));
    assert!(d < 5e-6, "softmax over a middle dimension differs by {d}");
    // A constant row is uniform; a row with huge values does not overflow.
    let x: Tensor<2> = Tensor::from_floats([[3.0, 3.0, 3.0, 3.0], [1000.0, 0.0, -1000.0, 999.0]], &device);
    let y: Vec<f32> = kernels::softmax(x, 1).into_data().try_to_vec::<f32>().unwrap();
    let e = 1.0 / (1.0 + (-1.0f32).exp());
    let want = [0.25, 0.25, 0.25, 0.25, e, 0.0, 0.0, 1.0 - e];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{y:?} vs {want:?}");
    }
}
