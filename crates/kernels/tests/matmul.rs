//! The direct linear-layer product against burn's `matmul`: values on strided (transposed,
//! sliced) operands, and gradients with either side frozen or both trained.

use burn::tensor::{Device, Distribution, Tensor};

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn the_direct_product_matches_burns_matmul_on_any_strides() {
    let device = Device::flex();
    device.seed(3);
    // 300×200·200×170 is above gemm's parallel threshold; 5×7·7×3 below it.
    for (m, k, n) in [(300, 200, 170), (5, 7, 3), (1, 64, 1), (4, 0, 6)] {
        let x: Tensor<2> = Tensor::random([m, k], Distribution::Normal(0.0, 1.0), &device);
        let w: Tensor<2> = Tensor::random([k, n], Distribution::Normal(0.0, 1.0), &device);
        let d = max_abs_diff(kernels::matmul(x.clone(), w.clone()), x.clone().matmul(w.clone()));
        assert!(d < 1e-4, "{m}×{k}·{k}×{n}: differs by {d}");
        // Transposed views of stored transposes, as the backward passes them.
        let (xt, wt) = (x.clone().transpose().transpose(), w.clone().transpose());
        let wt_back = wt.clone().transpose();
        let d = max_abs_diff(kernels::matmul(xt, wt_back), x.clone().matmul(w.clone()));
        assert!(d < 1e-4, "transposed operands: differs by {d}");
        if k == 0 {
            let y = kernels::matmul(x, w);
            assert_eq!(y.dims(), [m, n]);
            assert_eq!(y.abs().max().into_scalar::<f32>(), 0.0, "an empty inner dimension gives zeros");
        }
    }
    // A column slice: a row stride larger than the row.
    let x: Tensor<2> = Tensor::random([40, 90], Distribution::Normal(0.0, 1.0), &device);
    let w: Tensor<2> = Tensor::random([30, 20], Distribution::Normal(0.0, 1.0), &device);
    let xs = x.slice([0..40, 10..40]);
    let d = max_abs_diff(kernels::matmul(xs.clone(), w.clone()), xs.matmul(w));
    assert!(d < 1e-4, "sliced operand: differs by {d}");
}

#[test]
fn gradients_match_burns_matmul_with_either_side_frozen() {
    let device = Device::flex().autodiff();
    device.seed(4);
    let x0: Tensor<2> = Tensor::random([64, 48], Distribution::Normal(0.0, 1.0), &device);
    let w0: Tensor<2> = Tensor::random([48, 40], Distribution::Normal(0.0, 1.0), &device);
    let probe: Tensor<2> = Tensor::random([64, 40], Distribution::Normal(0.0, 1.0), &device);
    type Product = fn(Tensor<2>, Tensor<2>) -> Tensor<2>;
    for (train_x, train_w) in [(true, true), (true, false), (false, true)] {
        let grads_of = |f: Product| {
            let mut x = x0.clone().inner().autodiff();
            let mut w = w0.clone().inner().autodiff();
            if train_x {
                x = x.require_grad();
            }
            if train_w {
                w = w.require_grad();
            }
            let grads = (f(x.clone(), w.clone()) * probe.clone()).sum().backward();
            (x.grad(&grads), w.grad(&grads))
        };
        let (kx, kw) = grads_of(kernels::matmul);
        let (bx, bw) = grads_of(|a, b| a.matmul(b));
        assert_eq!(kx.is_some(), train_x, "dX exists exactly when X trains");
        assert_eq!(kw.is_some(), train_w, "dW exists exactly when W trains");
        if let (Some(k), Some(b)) = (kx, bx) {
            let d = max_abs_diff(k, b);
            assert!(d < 1e-4, "dX differs by {d}");
        }
        if let (Some(k), Some(b)) = (kw, bw) {
            let d = max_abs_diff(k, b);
            assert!(d < 1e-4, "dW differs by {d}");
        }
    }
}
