//! The same adapted layers on wgpu (in CI: Mesa's software Vulkan) and on Flex give the same
//! outputs and gradients.

mod common;

use burn::tensor::Device;
use common::*;

fn run(method: &str, device: &Device) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let layer = perturb(layer(method, device), 17, device);
    let x = tensor(random_vec(2 * 3 * IN, 5), [2, 3, IN], device).require_grad();
    let y = values(&layer.forward(x.clone()));
    let grads = loss(&layer, x.clone(), device).backward();
    let gb = values(&layer.lora_b.as_ref().unwrap().val().grad(&grads).unwrap());
    let gx = values(&x.grad(&grads).unwrap());
    (y, gb, gx)
}

#[test]
fn wgpu_matches_flex_forward_and_backward() {
    let flex = Device::flex().autodiff();
    let wgpu = Device::wgpu(Default::default()).autodiff();
    for method in ["lora", "s-r-c3la"] {
        let (y0, b0, x0) = run(method, &flex);
        let (y1, b1, x1) = run(method, &wgpu);
        assert!(max_abs_diff(&y0, &y1) <= 1e-4, "{method}: outputs differ");
        assert!(max_abs_diff(&b0, &b1) <= 1e-4, "{method}: dL/dB differs");
        assert!(max_abs_diff(&x0, &x1) <= 1e-4, "{method}: dL/dx differs");
    }
}
