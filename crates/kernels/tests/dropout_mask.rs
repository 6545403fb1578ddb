//! The counter-based dropout masks: the right fraction and values, reproducible from the seed
//! whatever the thread count, a new mask per call.

use burn::tensor::{Device, Tensor};
use kernels::{dropout_mask, seed_dropout};

/// The generator is one per process: tests that seed it and draw take turns.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn mask(x: &Tensor<2>, keep: f64) -> Vec<f32> {
    dropout_mask(x, keep).into_data().try_to_vec().unwrap()
}

#[test]
fn masks_keep_the_right_fraction_and_repeat_from_the_seed_on_any_thread_count() {
    let _turn = GENERATOR.lock().unwrap();
    let device = Device::flex().autodiff();
    // 3.7 chunks of 32768: parallel fill with a ragged end.
    let x: Tensor<2> = Tensor::zeros([300, 404], &device);
    let keep = 0.9;
    seed_dropout(11);
    let first = mask(&x, keep);
    let second = mask(&x, keep);
    for m in [&first, &second] {
        assert!(m.iter().all(|&v| v == 0.0 || v == (1.0 / keep) as f32));
        let kept = m.iter().filter(|&&v| v != 0.0).count() as f64 / m.len() as f64;
        assert!((kept - keep).abs() < 0.003, "kept fraction {kept}");
    }
    assert_ne!(first, second, "each call draws a new mask");
    // The same seed on one thread gives the same two masks.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let (again_first, again_second) = pool.install(|| {
        seed_dropout(11);
        (mask(&x, keep), mask(&x, keep))
    });
    assert!(first == again_first && second == again_second, "one thread must draw the same masks");
    seed_dropout(12);
    assert_ne!(mask(&x, keep), first, "another seed, another mask");
    // On the plain (inference) device too; the mask does not depend on autodiff.
    seed_dropout(11);
    assert!(mask(&x.clone().inner(), keep) == first, "the inference device must draw the same mask");
}

#[test]
fn fused_dropout_applies_the_mask_its_backward_redraws() {
    let _turn = GENERATOR.lock().unwrap();
    let device = Device::flex().autodiff();
    let x: Tensor<3> = Tensor::random([3, 200, 150], burn::tensor::Distribution::Uniform(1.0, 2.0), &device).require_grad();
    let keep = 0.8;
    seed_dropout(5);
    let m: Vec<f32> = dropout_mask(&x, keep).into_data().try_to_vec().unwrap();
    seed_dropout(5);
    let y = kernels::dropout(x.clone(), 1.0 - keep);
    let xs: Vec<f32> = x.clone().into_data().try_to_vec().unwrap();
    let ys: Vec<f32> = y.clone().into_data().try_to_vec().unwrap();
    let want: Vec<f32> = xs.iter().zip(&m).map(|(a, b)| a * b).collect();
    assert!(ys == want, "the fused op is x · mask");
    let g: Vec<f32> = x.grad(&y.sum().backward()).unwrap().into_data().try_to_vec().unwrap();
    assert!(g == m, "d(Σ dropout(x))/dx is the mask");
    // A transposed input: the mask follows the logical (row-major) order.
    seed_dropout(5);
    let xt = x.clone().inner().swap_dims(1, 2).autodiff();
    let yt: Vec<f32> = kernels::dropout(xt.clone(), 1.0 - keep).into_data().try_to_vec().unwrap();
    let xts: Vec<f32> = xt.into_data().try_to_vec().unwrap();
    assert!(yt == xts.iter().zip(&m).map(|(a, b)| a * b).collect::<Vec<f32>>(), "a transposed input takes the mask in logical order");
}
