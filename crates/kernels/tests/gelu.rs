//! The GELU kernels against f64 references (accuracy over the whole f32 range that matters) and
//! against burn's own GELU ops (values and autodiff gradients), on contiguous, transposed and
//! multi-chunk tensors.

use burn::tensor::{Device, Distribution, Tensor};
use kernels::{GeluKind, erf, exp, gelu, gelu_erf, gelu_erf_grad, gelu_tanh, gelu_tanh_grad, reference_gelu, tanh};

/// Points from −lim to lim every `step`, plus a few awkward ones.
fn grid(lim: f32, step: f32) -> Vec<f32> {
    let n = (2.0 * lim / step) as i32;
    let mut v: Vec<f32> = (0..=n).map(|i| -lim + i as f32 * step).collect();
    v.extend([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, f32::MIN_POSITIVE]);
    v
}

fn erf64(x: f64) -> f64 {
    libm::erf(x)
}

#[test]
fn exp_is_within_2e7_relative_of_f64() {
    let mut worst = 0.0f64;
    for v in grid(87.0, 1e-3) {
        let want = (v as f64).exp();
        let rel = ((exp(v) as f64 - want) / want).abs();
        worst = worst.max(rel);
    }
    assert!(worst < 2e-7, "exp: worst relative error {worst:e}");
    // Clamped, not overflowing or flushing to zero.
    assert!(exp(200.0).is_finite() && exp(-200.0) > 0.0);
}

#[test]
fn erf_and_tanh_are_within_7e7_of_f64() {
    let (mut worst_erf, mut worst_tanh) = (0.0f64, 0.0f64);
    for z in grid(6.0, 1e-4) {
        worst_erf = worst_erf.max((erf(z) as f64 - erf64(z as f64)).abs());
        worst_tanh = worst_tanh.max((tanh(z) as f64 - (z as f64).tanh()).abs());
    }
    assert!(worst_erf < 7e-7, "erf: worst absolute error {worst_erf:e}");
    assert!(worst_tanh < 7e-7, "tanh: worst absolute error {worst_tanh:e}");
    assert_eq!((erf(50.0), erf(-50.0), tanh(100.0), tanh(-100.0)), (1.0, -1.0, 1.0, -1.0));
    assert!(erf(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
}

#[test]
fn gelu_and_its_derivative_match_f64_formulas() {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let mut worst = [0.0f64; 4];
    for x in grid(12.0, 1e-4) {
        let xd = x as f64;
        let scale = xd.abs().max(1.0);
        let phi = (-0.5 * xd * xd).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let cdf = 0.5 * (1.0 + erf64(xd / 2f64.sqrt()));
        let u = c * (xd + 0.044715 * xd.powi(3));
        let t = u.tanh();
        let want = [
            xd * cdf,
            cdf + xd * phi,
            0.5 * xd * (1.0 + t),
            0.5 * (1.0 + t) + 0.5 * xd * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * xd * xd),
        ];
        let got = [gelu_erf(x), gelu_erf_grad(x), gelu_tanh(x), gelu_tanh_grad(x)];
        for i in 0..4 {
            worst[i] = worst[i].max((got[i] as f64 - want[i]).abs() / scale);
        }
    }
    for (name, w) in ["gelu", "gelu'", "gelu_tanh", "gelu_tanh'"].iter().zip(worst) {
        assert!(w < 4e-7, "{name}: worst error {w:e} (relative to max(1, |x|))");
    }
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn the_flex_kernel_matches_burns_gelu_on_tensors_of_any_layout() {
    let device = Device::flex();
    // 3 × 40 000 elements: several parallel chunks and a ragged last one.
    let x: Tensor<2> = Tensor::random([300, 400], Distribution::Normal(0.0, 3.0), &device);
    for kind in [GeluKind::Erf, GeluKind::Tanh] {
        let d = max_abs_diff(gelu(x.clone(), kind), reference_gelu(x.clone(), kind));
        assert!(d < 2e-6, "{kind:?}: max abs difference {d:e}");
        // A transposed (non-contiguous) view keeps its logical layout.
        let xt = x.clone().transpose();
        let d = max_abs_diff(gelu(xt.clone(), kind), reference_gelu(xt, kind));
        assert!(d < 2e-6, "{kind:?} transposed: max abs difference {d:e}");
    }
    // A small tensor (one chunk) gives exactly the scalar formula.
    let small: Tensor<1> = Tensor::from_floats([-3.0, -0.5, 0.0, 0.5, 3.0], &device);
    let got: Vec<f32> = gelu(small, GeluKind::Erf).into_data().try_to_vec::<f32>().unwrap();
    let want: Vec<f32> = [-3.0f32, -0.5, 0.0, 0.5, 3.0].iter().map(|&x| gelu_erf(x)).collect();
    assert_eq!(got, want);
}

#[test]
fn autodiff_gradients_match_burns_gelu() {
    let device = Device::flex().autodiff();
    let x0: Tensor<3> = Tensor::random([4, 50, 300], Distribution::Normal(0.0, 2.0), &device);
    let w: Tensor<3> = Tensor::random([4, 50, 300], Distribution::Normal(0.0, 1.0), &device);
    for kind in [GeluKind::Erf, GeluKind::Tanh] {
        let grad_of = |f: fn(Tensor<3>, GeluKind) -> Tensor<3>| {
            let x = x0.clone().inner().autodiff().require_grad();
            let loss = (f(x.clone(), kind) * w.clone()).sum();
            let grads = loss.backward();
            x.grad(&grads).expect("x has a gradient")
        };
        // burn's tanh GELU is a composition of f32 ops whose own rounding reaches ~5e-6 here
        // (measured); the kernel itself is checked against f64 above.
        let d = max_abs_diff(grad_of(gelu), grad_of(reference_gelu));
        assert!(d < 1e-5, "{kind:?}: max abs gradient difference {d:e}");
    }
    // Without require_grad the op runs untracked on the autodiff device.
    let y = gelu(x0.clone(), GeluKind::Erf);
    assert!(max_abs_diff(y, reference_gelu(x0, GeluKind::Erf)) < 2e-6);
}
