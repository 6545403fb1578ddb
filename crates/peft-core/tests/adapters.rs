//! The adapted layer against the paper's definitions: exact identity at init, gradients
//! against finite differences, the cLA ≡ D-PaCA and sparse ≡ dense equivalences, chain resets,
//! frozen tensors after optimizer steps, save/load, and bad input.

mod common;

use burn::module::Param;
use burn::tensor::Tensor;
use common::*;
use peft_core::{
    AdaptedLinear, AdamW, AdamWConfig, AdapterConfig, ParamGroups, PeftError, REGISTRY, Trains,
    load_adapters, save_adapters,
};

fn plain_linear(x: Tensor<3>, device: &burn::tensor::Device) -> Vec<f32> {
    let (w, b) = base(device);
    values(&burn::tensor::module::linear(x, w, Some(b)))
}

#[test]
fn every_method_gives_exactly_the_base_output_at_init() {
    let device = device();
    for spec in REGISTRY {
        let layer = layer(spec.name, &device);
        let y = values(&layer.forward(input(3, &device)));
        let expected = plain_linear(input(3, &device), &device);
        assert_eq!(y, expected, "{}: output at init differs from the base layer", spec.name);
    }
}

/// The trainable tensors of a layer, by name, and a function that rebuilds the layer with one
/// of them replaced.
fn trainable_names(layer: &AdaptedLinear) -> Vec<&'static str> {
    let mut names = Vec::new();
    if layer.weight.is_require_grad() {
        names.push("weight");
    }
    if layer.bias.as_ref().is_some_and(|b| b.is_require_grad()) {
        names.push("bias");
    }
    if layer.lora_a.as_ref().is_some_and(|a| a.is_require_grad()) {
        names.push("lora_a");
    }
    if layer.lora_b.is_some() {
        names.push("lora_b");
    }
    if layer.columns.is_some() {
        names.push("columns");
    }
    names
}

fn get(layer: &AdaptedLinear, name: &str) -> Vec<f32> {
    match name {
        "weight" => values(&layer.weight.val()),
        "bias" => values(&layer.bias.as_ref().unwrap().val()),
        "lora_a" => values(&layer.lora_a.as_ref().unwrap().val()),
        "lora_b" => values(&layer.lora_b.as_ref().unwrap().val()),
        "columns" => values(&layer.columns.as_ref().unwrap().val()),
        _ => unreachable!(),
    }
}

fn grad(layer: &AdaptedLinear, name: &str, grads: &burn::tensor::Gradients) -> Vec<f32> {
    match name {
        "weight" => values(&layer.weight.val().grad(grads).unwrap()),
        "bias" => values(&layer.bias.as_ref().unwrap().val().grad(grads).unwrap()),
        "lora_a" => values(&layer.lora_a.as_ref().unwrap().val().grad(grads).unwrap()),
        "lora_b" => values(&layer.lora_b.as_ref().unwrap().val().grad(grads).unwrap()),
        "columns" => values(&layer.columns.as_ref().unwrap().val().grad(grads).unwrap()),
        _ => unreachable!(),
    }
}

fn with_value(mut layer: AdaptedLinear, name: &str, v: Vec<f32>, device: &burn::tensor::Device) -> AdaptedLinear {
    fn rep<const D: usize>(p: &Param<Tensor<D>>, v: Vec<f32>, device: &burn::tensor::Device) -> Param<Tensor<D>> {
        let t = tensor(v, p.val().dims(), device);
        Param::initialized(p.id, t).set_require_grad(p.is_require_grad())
    }
    match name {
        "weight" => layer.weight = rep(&layer.weight, v, device),
        "bias" => layer.bias = Some(rep(layer.bias.as_ref().unwrap(), v, device)),
        "lora_a" => layer.lora_a = Some(rep(layer.lora_a.as_ref().unwrap(), v, device)),
        "lora_b" => layer.lora_b = Some(rep(layer.lora_b.as_ref().unwrap(), v, device)),
        "columns" => layer.columns = Some(rep(layer.columns.as_ref().unwrap(), v, device)),
        _ => unreachable!(),
    }
    layer
}

fn scalar(t: Tensor<1>) -> f64 {
    values(&t)[0] as f64
}

#[test]
fn gradients_match_finite_differences() {
    let device = device();
    let eps = 0.25f32;
    for spec in REGISTRY {
        let layer = perturb(layer(spec.name, &device), 21, &device);
        let x = input(4, &device).require_grad();
        let l = loss(&layer, x.clone(), &device);
        let grads = l.backward();
        let names = trainable_names(&layer);
        assert!(!names.is_empty(), "{}: nothing trains", spec.name);
        for name in names {
            let analytic = grad(&layer, name, &grads);
            let v0 = get(&layer, name);
            for i in 0..v0.len() {
                let mut plus = v0.clone();
                plus[i] += eps;
                let mut minus = v0.clone();
                minus[i] -= eps;
                let lp = scalar(loss(&with_value(layer.clone(), name, plus, &device), input(4, &device), &device));
                let lm = scalar(loss(&with_value(layer.clone(), name, minus, &device), input(4, &device), &device));
                let numeric = ((lp - lm) / (2.0 * eps as f64)) as f32;
                assert!(
                    (numeric - analytic[i]).abs() <= 1e-4 * (1.0 + numeric.abs()),
                    "{} d/d{name}[{i}]: autodiff {} vs finite difference {numeric}",
                    spec.name,
                    analytic[i]
                );
            }
        }
        // The input gradient too (it flows through the gather of the sparse forms).
        let gx = values(&x.grad(&grads).unwrap());
        let xv = values(&input(4, &device));
        for i in (0..xv.len()).step_by(5) {
            let mut plus = xv.clone();
            plus[i] += eps;
            let mut minus = xv.clone();
            minus[i] -= eps;
            let lp = scalar(loss(&layer, tensor(plus, [2, 3, IN], &device), &device));
            let lm = scalar(loss(&layer, tensor(minus, [2, 3, IN], &device), &device));
            let numeric = ((lp - lm) / (2.0 * eps as f64)) as f32;
            assert!(
                (numeric - gx[i]).abs() <= 1e-4 * (1.0 + numeric.abs()),
                "{} d/dx[{i}]: autodiff {} vs finite difference {numeric}",
                spec.name,
                gx[i]
            );
        }
    }
}

fn train_steps(mut layer: AdaptedLinear, config: AdamWConfig, lr: f64, steps: usize) -> AdaptedLinear {
    let device = device();
    let groups = ParamGroups::from_module(&layer, &[]);
    let mut opt = AdamW::new(config, groups);
    for s in 0..steps {
        let l = loss(&layer, input(100 + s as u64, &device), &device);
        let grads = l.backward();
        layer = opt.step(lr, layer, grads).unwrap().0;
    }
    layer
}

#[test]
fn cla_and_d_paca_reach_the_same_weight() {
    // With α = r the cLA update (α/r)·B and D-PaCA's column update see the same gradient, so
    // AdamW moves them identically.
    let cfg = AdapterConfig { rank: RANK, alpha: RANK as f64, seed: 0, a_init: None };
    let adam = AdamWConfig::default();
    let cla = train_steps(layer_with("cla", &cfg, &device()), adam.clone(), 1e-2, 4);
    let dpaca = train_steps(layer_with("d-paca", &cfg, &device()), adam.clone(), 1e-2, 4);
    let (wc, wd) = (values(&cla.effective_weight()), values(&dpaca.effective_weight()));
    assert!(max_abs_diff(&wc, &wd) <= 1e-5, "{wc:?}\n{wd:?}");
    // The update really happened, and only in the first r rows (input coordinates).
    let (w0, _) = base(&device());
    let w0 = values(&w0);
    for (i, (a, b)) in wc.iter().zip(&w0).enumerate() {
        let row = i / OUT;
        if row < RANK {
            assert!((a - b).abs() > 1e-4, "row {row} should have moved");
        } else {
            assert_eq!(a, b, "row {row} is outside the selected columns");
        }
    }
    // With α = 2r the scale s = α/r = 2 is absorbed by lr' = s·lr and ε' = ε/s.
    let cfg2 = AdapterConfig { rank: RANK, alpha: 2.0 * RANK as f64, seed: 0, a_init: None };
    let cla = train_steps(layer_with("cla", &cfg2, &device()), adam.clone(), 1e-2, 4);
    let adam2 = AdamWConfig { eps: adam.eps / 2.0, ..adam };
    let dpaca = train_steps(layer_with("d-paca", &cfg2, &device()), adam2, 2e-2, 4);
    let d = max_abs_diff(&values(&cla.effective_weight()), &values(&dpaca.effective_weight()));
    assert!(d <= 1e-5, "{d}");
}

fn assert_same_forward_and_grads(dense: &AdaptedLinear, sparse: &AdaptedLinear, what: &str) {
    let device = device();
    let xd = input(7, &device).require_grad();
    let xs = input(7, &device).require_grad();
    let (ld, ls) = (loss(dense, xd.clone(), &device), loss(sparse, xs.clone(), &device));
    let yd = values(&dense.forward(input(7, &device)));
    let ys = values(&sparse.forward(input(7, &device)));
    assert!(max_abs_diff(&yd, &ys) <= 1e-5, "{what}: outputs differ");
    let (gd, gs) = (ld.backward(), ls.backward());
    let bd = grad(dense, "lora_b", &gd);
    let bs = grad(sparse, "lora_b", &gs);
    assert!(max_abs_diff(&bd, &bs) <= 1e-5, "{what}: dL/dB differs");
    let xgd = values(&xd.grad(&gd).unwrap());
    let xgs = values(&xs.grad(&gs).unwrap());
    assert!(max_abs_diff(&xgd, &xgs) <= 1e-5, "{what}: dL/dx differs");
}

#[test]
fn sparse_variants_equal_their_dense_twins() {
    let device = device();
    for (s, d) in [("s-cla", "cla"), ("s-r-c3la", "r-c3la")] {
        let mut dense = perturb(layer(d, &device), 5, &device);
        let mut sparse = perturb(layer(s, &device), 5, &device);
        assert_eq!(dense.state.columns, sparse.state.columns, "{s} and {d} select the same columns");
        assert!(sparse.lora_a.is_none(), "{s} holds no A matrix");
        assert_same_forward_and_grads(&dense, &sparse, &format!("{s} vs {d}"));
        // After chain resets (s-r-c3la / r-c3la) they still agree.
        for k in 0..3 {
            dense = perturb(dense.reset_chain(), 30 + k, &device);
            sparse = perturb(sparse.reset_chain(), 30 + k, &device);
            assert_eq!(dense.state.columns, sparse.state.columns);
            assert_same_forward_and_grads(&dense, &sparse, &format!("{s} vs {d}, chain {}", k + 1));
        }
    }
}

#[test]
fn a_chain_reset_keeps_the_function_and_restarts_the_adapter() {
    let device = device();
    for spec in REGISTRY.iter().filter(|m| m.chained) {
        let layer = perturb(layer(spec.name, &device), 8, &device);
        let before = values(&layer.forward(input(9, &device)));
        let a_before = layer.lora_a.as_ref().map(|a| values(&a.val()));
        let ids = layer.adapter_param_ids();
        let reset = layer.reset_chain();
        let after = values(&reset.forward(input(9, &device)));
        assert!(max_abs_diff(&before, &after) <= 1e-5, "{}: reset changed the function", spec.name);
        assert_eq!(reset.state.chain, 1);
        assert_eq!(reset.adapter_param_ids(), ids, "{}: parameter ids are kept", spec.name);
        if let Some(b) = &reset.lora_b {
            assert!(values(&b.val()).iter().all(|v| *v == 0.0), "{}: B is zero after reset", spec.name);
        }
        if let (Some(a0), Some(a1)) = (a_before, reset.lora_a.as_ref()) {
            assert_ne!(a0, values(&a1.val()), "{}: a new A is drawn", spec.name);
        }
        if spec.trains == Trains::BaseColumns {
            let c = values(&reset.columns.as_ref().unwrap().val());
            let c0 = values(reset.columns_start.as_ref().unwrap());
            assert_eq!(c, c0, "{}: new columns start at W's values", spec.name);
        }
    }
}

/// Every adapter method's whole update, across chain resets, is the low-rank product
/// `lora_factors` gives (the PEFT export relies on it): W_eff − W₀ = scale · A·B with
/// R = chains · r, and the factors survive a save / load.
#[test]
fn the_update_since_adaptation_is_one_low_rank_product() {
    let device = device();
    let (w0, _) = base(&device);
    let w0 = values(&w0);
    let dir = std::env::temp_dir().join(format!("peft-core-factors-{}", std::process::id()));
    for spec in REGISTRY.iter().filter(|m| m.has_adapter()) {
        let mut l = perturb(layer(spec.name, &device), 21, &device);
        for chain in 1..=3 {
            l = perturb(l.reset_chain(), 21 + chain, &device);
        }
        let f = l.lora_factors().unwrap();
        let chains = if spec.chained { 4 } else { 1 };
        assert_eq!(f.a.dims(), [IN, chains * RANK], "{}", spec.name);
        assert_eq!(f.b.dims(), [chains * RANK, OUT], "{}", spec.name);
        let delta = values(&f.a.clone().matmul(f.b.clone()).mul_scalar(f.scale));
        let eff = values(&l.effective_weight());
        let rebuilt: Vec<f32> = w0.iter().zip(&delta).map(|(w, d)| w + d).collect();
        assert!(max_abs_diff(&rebuilt, &eff) <= 1e-5, "{}: W₀ + scale·A·B ≠ W_eff ({})", spec.name, max_abs_diff(&rebuilt, &eff));
        let want_scale = if spec.trains == Trains::BaseColumns { 1.0 } else { 2.0 };
        assert_eq!(f.scale, want_scale, "{}", spec.name);
        let path = dir.join(format!("{}.safetensors", spec.name));
        save_adapters(&path, &[&l]).unwrap();
        let fresh = layer_with(spec.name, &AdapterConfig { rank: RANK, alpha: 2.0 * RANK as f64, seed: 77, a_init: None }, &device);
        let restored = load_adapters(&path, vec![fresh]).unwrap().pop().unwrap().lora_factors().unwrap();
        assert_eq!((values(&restored.a), values(&restored.b)), (values(&f.a), values(&f.b)), "{}: factors after a load", spec.name);
    }
    assert!(layer("fft", &device).lora_factors().is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn non_chained_methods_ignore_resets() {
    let device = device();
    let layer = perturb(layer("cla", &device), 8, &device);
    let b = values(&layer.lora_b.as_ref().unwrap().val());
    let reset = layer.reset_chain();
    assert_eq!(reset.state.chain, 0);
    assert_eq!(values(&reset.lora_b.as_ref().unwrap().val()), b);
}

#[test]
fn c3la_shifts_its_identity_block_by_r_columns() {
    let device = device();
    let mut layer = layer("c3la", &device);
    let expected = [vec![0, 1, 2], vec![3, 4, 5], vec![6, 0, 1], vec![2, 3, 4]];
    for (k, cols) in expected.iter().enumerate() {
        assert_eq!(&layer.state.columns, cols, "chain {k}");
        // A is the one-hot selector of those columns: A[cols[j], j] = 1.
        let a = values(&layer.lora_a.as_ref().unwrap().val());
        for row in 0..IN {
            for j in 0..RANK {
                let want = if cols[j] == row { 1.0 } else { 0.0 };
                assert_eq!(a[row * RANK + j], want, "chain {k} A[{row},{j}]");
            }
        }
        layer = perturb(layer, k as u64, &device).reset_chain();
    }
}

#[test]
fn r_c3la_uses_every_column_before_reusing_one() {
    let device = device();
    // IN = 7, r = 3: chains 0 and 1 take 6 distinct columns, chain 2 must take the 7th.
    for name in ["r-c3la", "s-r-c3la", "c-paca"] {
        let mut layer = layer(name, &device);
        let mut seen: Vec<usize> = Vec::new();
        for _ in 0..2 {
            for c in &layer.state.columns {
                assert!(!seen.contains(c), "{name}: column {c} reused early");
            }
            seen.extend(layer.state.columns.clone());
            layer = perturb(layer, 1, &device).reset_chain();
        }
        let last = (0..IN).find(|c| !seen.contains(c)).unwrap();
        assert!(layer.state.columns.contains(&last), "{name}: {:?} lacks {last}", layer.state.columns);
    }
}

#[test]
fn an_optimizer_step_moves_every_trainable_tensor_and_no_frozen_one() {
    let device = device();
    for spec in REGISTRY {
        let layer = perturb(layer(spec.name, &device), 3, &device);
        let before: Vec<(&str, Vec<f32>)> = [
            ("weight", Some(values(&layer.weight.val()))),
            ("bias", layer.bias.as_ref().map(|p| values(&p.val()))),
            ("lora_a", layer.lora_a.as_ref().map(|p| values(&p.val()))),
            ("lora_b", layer.lora_b.as_ref().map(|p| values(&p.val()))),
            ("columns", layer.columns.as_ref().map(|p| values(&p.val()))),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
        let trainable = trainable_names(&layer);
        let after = train_steps(layer, AdamWConfig { weight_decay: 0.01, ..Default::default() }, 1e-2, 1);
        for (name, v0) in before {
            let v1 = get(&after, name);
            if trainable.contains(&name) {
                assert!(v0.iter().zip(&v1).all(|(a, b)| a != b), "{}: trainable {name} did not move everywhere", spec.name);
            } else {
                assert_eq!(v0, v1, "{}: frozen {name} changed", spec.name);
            }
        }
    }
}

#[test]
fn adapter_state_round_trips_through_safetensors() {
    let device = device();
    let dir = std::env::temp_dir().join(format!("peft-core-state-{}", std::process::id()));
    for spec in REGISTRY {
        let trained = perturb(layer(spec.name, &device), 4, &device).reset_chain();
        let trained = perturb(trained, 5, &device);
        let path = dir.join(format!("{}.safetensors", spec.name));
        save_adapters(&path, &[&trained]).unwrap();
        // A fresh layer of another seed, restored from the file.
        let fresh = layer_with(spec.name, &AdapterConfig { rank: RANK, alpha: 2.0 * RANK as f64, seed: 77, a_init: None }, &device);
        let restored = load_adapters(&path, vec![fresh]).unwrap().pop().unwrap();
        assert_eq!(restored.state, trained.state, "{}", spec.name);
        let (y0, y1) = (values(&trained.forward(input(2, &device))), values(&restored.forward(input(2, &device))));
        assert_eq!(y0, y1, "{}: restored layer computes differently", spec.name);
        // The restored RNG draws what the original would have drawn next.
        let (n0, n1) = (trained.reset_chain(), restored.reset_chain());
        assert_eq!(n0.state.columns, n1.state.columns, "{}", spec.name);
        assert_eq!(values(&n0.forward(input(2, &device))), values(&n1.forward(input(2, &device))), "{}", spec.name);
    }
    // Bad input: a layer saved as another method, and a missing file.
    let path = dir.join("cla.safetensors");
    let err = load_adapters(&path, vec![layer("lora", &device)]).unwrap_err().to_string();
    assert!(err.contains("cla.safetensors") && err.contains("saved as cla"), "{err}");
    let err = load_adapters(&dir.join("nope.safetensors"), vec![layer("lora", &device)]).unwrap_err().to_string();
    assert!(err.contains("nope.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_rank_shape_and_method_are_clear_errors() {
    let device = device();
    let (w, b) = base(&device);
    let cfg = |rank| AdapterConfig { rank, alpha: 16.0, seed: 0, a_init: None };
    let err = AdaptedLinear::new(w.clone(), Some(b.clone()), "lora", &cfg(0), "q").unwrap_err();
    assert!(matches!(err, PeftError::InvalidRank { rank: 0, .. }), "{err}");
    let err = AdaptedLinear::new(w.clone(), Some(b.clone()), "cla", &cfg(IN + 1), "q").unwrap_err();
    assert!(err.to_string().contains("1 <= r <= 7"), "{err}");
    let bad_bias = tensor(vec![0.0; OUT + 1], [OUT + 1], &device);
    let err = AdaptedLinear::new(w.clone(), Some(bad_bias), "lora", &cfg(2), "q").unwrap_err();
    assert!(err.to_string().contains("bias has 6 elements"), "{err}");
    let err = AdaptedLinear::new(w, Some(b), "qlora", &cfg(2), "q").unwrap_err();
    assert!(err.to_string().contains("unknown method `qlora`") && err.to_string().contains("c-paca"), "{err}");
}

/// `forward` folds [batch, seq, in] into [batch·seq, in] rows before its products (one gemm,
/// W packed once: `cargo xtask bench step` went from 9.1 to 5.9 s for FFT). The plain form runs
/// each batch row through the 2-D path; outputs and every gradient must agree.
#[test]
fn the_row_folded_forward_equals_the_plain_per_row_one() {
    let device = device();
    let r = tensor(random_vec(2 * 3 * OUT, 99), [2, 3, OUT], &device);
    for spec in REGISTRY {
        let layer = perturb(layer(spec.name, &device), 41, &device);
        let x_folded = input(8, &device).require_grad();
        let x_plain = input(8, &device).require_grad();
        let folded = layer.forward(x_folded.clone());
        let plain = Tensor::stack::<3>(
            (0..2).map(|b| layer.forward(x_plain.clone().narrow(0, b, 1).reshape([3, IN]))).collect(),
            0,
        );
        let d = max_abs_diff(&values(&folded), &values(&plain));
        assert!(d <= 1e-6, "{}: outputs differ by {d}", spec.name);
        let g_folded = (folded * r.clone()).sum().backward();
        let g_plain = (plain * r.clone()).sum().backward();
        for name in trainable_names(&layer) {
            let d = max_abs_diff(&grad(&layer, name, &g_folded), &grad(&layer, name, &g_plain));
            assert!(d <= 1e-6, "{}: d/d{name} differs by {d}", spec.name);
        }
        let d = max_abs_diff(&values(&x_folded.grad(&g_folded).unwrap()), &values(&x_plain.grad(&g_plain).unwrap()));
        assert!(d <= 1e-6, "{}: dL/dx differs by {d}", spec.name);
    }
}

/// burn's gradient checkpointing (`Device::gradient_checkpointing`, the balanced strategy)
/// tags every tensor with its strategy, and an operation mixing two strategies panics. The
/// adapter's computed leaves (merged weights, PaCA's start columns) and the optimizer's updated
/// parameters must keep the device's strategy: every method, through optimizer steps and a
/// chain reset, gives the same outputs and gradients with checkpointing as without.
#[test]
fn gradient_checkpointing_gives_the_same_outputs_gradients_and_updates() {
    let run = |device: &burn::tensor::Device| {
        let r = tensor(random_vec(2 * 3 * OUT, 98), [2, 3, OUT], device);
        let mut out = Vec::new();
        for spec in REGISTRY {
            let mut layer = perturb(layer(spec.name, device), 43, device);
            let mut opt = AdamW::new(AdamWConfig::default(), ParamGroups::from_module(&layer, &[]));
            for step in 0..3 {
                let x = input(9 + step, device).require_grad();
                // tanh: a memory-bound operation that the balanced strategy recomputes.
                let y = layer.forward(x.clone()).tanh();
                out.push((spec.name, "output", values(&y)));
                let grads = (y * r.clone()).sum().backward();
                out.push((spec.name, "dL/dx", values(&x.grad(&grads).unwrap())));
                for name in trainable_names(&layer) {
                    out.push((spec.name, name, grad(&layer, name, &grads)));
                }
                layer = opt.step(1e-2, layer, grads).unwrap().0;
                if step == 1 {
                    layer = layer.reset_chain();
                }
            }
            out.push((spec.name, "merged weight", values(&layer.effective_weight())));
        }
        out
    };
    let plain = run(&device());
    let checkpointed = run(&device().gradient_checkpointing());
    assert_eq!(plain.len(), checkpointed.len());
    for ((method, what, a), (_, _, b)) in plain.iter().zip(&checkpointed) {
        let d = max_abs_diff(a, b);
        assert!(d <= 1e-6, "{method}: {what} differs by {d} with gradient checkpointing");
    }
}

/// LoRA's A starts as the paper says, N(0, 0.02²) (§2.1), for LoRA, LoRA+ and CoLA; HF PEFT's
/// Kaiming-uniform U(−1/√in, 1/√in) is the `a_init` option. Measured on a 256 × 64 A.
#[test]
fn lora_a_starts_as_the_paper_says_and_kaiming_is_an_option() {
    let device = device();
    let (n_in, r) = (256, 64);
    let w = tensor(random_vec(n_in * 4, 5), [n_in, 4], &device);
    let a_of = |method: &str, a_init: Option<peft_core::AInit>| {
        let cfg = AdapterConfig { rank: r, alpha: 2.0 * r as f64, seed: 9, a_init };
        let l = AdaptedLinear::new(w.clone(), None, method, &cfg, "layer").unwrap();
        values(&l.lora_a.as_ref().unwrap().val())
    };
    let stats = |v: &[f32]| {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let std = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        let max = v.iter().map(|x| x.abs()).fold(0.0f32, f32::max) as f64;
        (mean, std, max)
    };
    for m in ["lora", "lora-plus", "cola"] {
        let (mean, std, _) = stats(&a_of(m, None));
        assert!(mean.abs() < 0.001 && (std - 0.02).abs() < 0.001, "{m}: mean {mean}, std {std}");
    }
    let bound = 1.0 / (n_in as f64).sqrt();
    let (mean, std, max) = stats(&a_of("lora", Some(peft_core::AInit::KaimingUniform)));
    assert!(max <= bound && mean.abs() < 0.002, "{max} {mean}");
    assert!((std - bound / 3f64.sqrt()).abs() < 0.002, "U(−b, b) has std b/√3: {std}");
    // The frozen A of Asym LoRA keeps its own N(0, 1/in).
    let (_, std, _) = stats(&a_of("asym-lora", None));
    assert!((std - bound).abs() < 0.003, "{std}");
}
