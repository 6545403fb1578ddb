//! AdamW against hand-computed steps: ε, decoupled weight decay, global-norm clipping,
//! per-group learning rates (LoRA+) and per-group state reset.

mod common;

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use common::*;
use peft_core::{AdamW, AdamWConfig, ParamGroupKind, ParamGroups};

#[derive(Module, Debug)]
struct Pair {
    p: Param<Tensor<1>>,
    head: Param<Tensor<1>>,
}

fn pair(p: Vec<f32>, head: Vec<f32>) -> Pair {
    let d = device();
    let (np, nh) = (p.len(), head.len());
    Pair {
        p: Param::from_tensor(tensor(p, [np], &d)),
        head: Param::from_tensor(tensor(head, [nh], &d)),
    }
}

/// Gradients equal to `gp` and `gh`: loss = Σ p⊙gp + Σ head⊙gh.
fn step(opt: &mut AdamW, m: Pair, lr: f64, gp: Vec<f32>, gh: Vec<f32>) -> (Pair, peft_core::StepReport) {
    let d = device();
    let (np, nh) = (gp.len(), gh.len());
    let l = (m.p.val() * tensor(gp, [np], &d)).sum() + (m.head.val() * tensor(gh, [nh], &d)).sum();
    let grads = l.backward();
    opt.step(lr, m, grads).unwrap()
}

#[test]
fn first_step_matches_the_hand_computed_adamw_update() {
    let m = pair(vec![1.0], vec![2.0]);
    let cfg = AdamWConfig { weight_decay: 0.01, ..Default::default() };
    let mut opt = AdamW::new(cfg, ParamGroups::from_module(&m, &["head"]));
    let (m, _) = step(&mut opt, m, 0.1, vec![0.5], vec![-2.0]);
    // p = 1·(1 − 0.1·0.01) − 0.1 · 0.5/(√0.25 + 1e-8) = 0.999 − 0.1
    assert!((values(&m.p.val())[0] - 0.899).abs() < 1e-6);
    // head has no `decay` exemption (not a bias): 2·0.999 + 0.1
    assert!((values(&m.head.val())[0] - 2.098).abs() < 1e-6);
    // Second step with the same gradient: m̂ = g, v̂ = g², same size of step.
    let (m, _) = step(&mut opt, m, 0.1, vec![0.5], vec![-2.0]);
    let expected = 0.899 * 0.999 - 0.1;
    assert!((values(&m.p.val())[0] as f64 - expected).abs() < 1e-6);
}

#[test]
fn epsilon_is_the_papers_1e_8() {
    // With g tiny, ε decides the step: lr·g/(|g| + ε).
    let m = pair(vec![0.0], vec![0.0]);
    let mut opt = AdamW::new(AdamWConfig::default(), ParamGroups::from_module(&m, &[]));
    let (m, _) = step(&mut opt, m, 1.0, vec![1e-8], vec![0.0]);
    // 1e-8 / (1e-8 + 1e-8) = 0.5 (burn's default ε = 1e-5 would give ~1e-3)
    assert!((values(&m.p.val())[0] + 0.5).abs() < 1e-3, "{}", values(&m.p.val())[0]);
}

#[test]
fn clipping_uses_the_global_norm_of_all_gradients() {
    // Gradients (3, 4) and (12): global norm 13. With ε = 1 the Adam step is lr·g/(|g| + 1),
    // so the clipped magnitude shows in the update.
    let m = pair(vec![0.0, 0.0], vec![0.0]);
    let cfg = AdamWConfig { eps: 1.0, max_grad_norm: Some(1.0), ..Default::default() };
    let mut opt = AdamW::new(cfg, ParamGroups::from_module(&m, &["head"]));
    let (m, report) = step(&mut opt, m, 1.0, vec![3.0, 4.0], vec![12.0]);
    assert!((report.grad_norm - 13.0).abs() < 1e-5);
    assert!(report.clipped);
    let coef = 1.0 / (13.0 + 1e-6);
    let upd = |g: f64| -(g * coef) / ((g * coef).abs() + 1.0);
    let p = values(&m.p.val());
    let h = values(&m.head.val());
    assert!((p[0] as f64 - upd(3.0)).abs() < 1e-6, "{p:?}");
    assert!((p[1] as f64 - upd(4.0)).abs() < 1e-6, "{p:?}");
    assert!((h[0] as f64 - upd(12.0)).abs() < 1e-6, "{h:?}");
}

#[test]
fn group_learning_rates_and_group_reset() {
    // The first Adam step is lr·sign(g): a ×16 multiplier on one group shows directly.
    let m = pair(vec![0.0], vec![0.0]);
    let groups = ParamGroups::from_module(&m, &["head"]);
    assert_eq!(groups.count_by_group()[&ParamGroupKind::Head], 1);
    assert_eq!(groups.count_by_group()[&ParamGroupKind::Base], 1);
    let mut cfg = AdamWConfig::default();
    cfg.lr_multipliers.insert(ParamGroupKind::Head, 16.0);
    let mut opt = AdamW::new(cfg, groups);
    let (m, _) = step(&mut opt, m, 0.01, vec![1.0], vec![1.0]);
    assert!((values(&m.p.val())[0] + 0.01).abs() < 1e-7);
    assert!((values(&m.head.val())[0] + 0.16).abs() < 1e-6);
    assert_eq!(opt.step_count(&m.head.id), 1);
    // Reset the head group: its next step is again a first step (full lr·sign(g)) although
    // the gradient flipped; p keeps its momentum.
    opt.reset_group(ParamGroupKind::Head);
    assert_eq!(opt.step_count(&m.head.id), 0);
    assert_eq!(opt.step_count(&m.p.id), 1);
    let (m, _) = step(&mut opt, m, 0.01, vec![-1.0], vec![-1.0]);
    assert!((values(&m.head.val())[0] - (-0.16 + 0.16)).abs() < 1e-6);
    // p: m = 0.9·0.1 − 0.1 = −0.01 → m̂ = −0.01/0.19; v̂ = 1 → step ≈ +0.01·0.0526
    let m_hat = (0.9 * 0.1 - 0.1) / (1.0 - 0.81);
    let expected = -0.01 - 0.01 * m_hat;
    assert!((values(&m.p.val())[0] as f64 - expected).abs() < 1e-6, "{}", values(&m.p.val())[0]);
}

#[test]
fn optimizer_state_round_trips_for_an_exact_resume() {
    // Two steps, save, a third step; a fresh optimizer restored from the file makes the very same
    // third step.
    let m = pair(vec![0.3, -0.2], vec![1.0]);
    let groups = ParamGroups::from_module(&m, &["head"]);
    let mut opt = AdamW::new(AdamWConfig { weight_decay: 0.01, ..Default::default() }, groups);
    let (m, _) = step(&mut opt, m, 0.1, vec![0.5, -1.0], vec![2.0]);
    let (m, _) = step(&mut opt, m, 0.1, vec![0.25, 0.5], vec![-1.0]);
    let dir = std::env::temp_dir().join(format!("adamw-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("optim.safetensors");
    opt.save_state(&path).unwrap();
    let snapshot = (values(&m.p.val()), values(&m.head.val()));
    let (a, _) = step(&mut opt, m, 0.1, vec![1.0, 1.0], vec![1.0]);

    let resumed = pair(snapshot.0, snapshot.1);
    let mut fresh = AdamW::new(AdamWConfig { weight_decay: 0.01, ..Default::default() }, ParamGroups::from_module(&resumed, &["head"]));
    fresh.load_state(&path, &device()).unwrap();
    assert_eq!(fresh.step_count(&resumed.p.id), 2);
    let (b, _) = step(&mut fresh, resumed, 0.1, vec![1.0, 1.0], vec![1.0]);
    assert_eq!(values(&a.p.val()), values(&b.p.val()));
    assert_eq!(values(&a.head.val()), values(&b.head.val()));
    std::fs::remove_dir_all(dir).ok();
}

#[derive(Module, Debug)]
struct Three {
    big: Param<Tensor<1>>,
    a: Param<Tensor<1>>,
    b: Param<Tensor<1>>,
}

/// The global norm is summed in the module's order, so every optimizer over the same model and
/// gradients reports the same norm to the last bit (it used to follow a hash map's order, which
/// differs per map: FFT runs then drifted apart by 5e-4 in an epoch through the clipping).
/// In f32, (1e8 + 3) + 3 = 1e8 but (3 + 3) + 1e8 = 1e8 + 8: only the module order gives 10⁴.
#[test]
fn the_global_norm_is_summed_in_module_order() {
    let d = device();
    let s3 = 3f32.sqrt();
    for _ in 0..20 {
        let m = Three {
            big: Param::from_tensor(tensor(vec![0.0], [1], &d)),
            a: Param::from_tensor(tensor(vec![0.0], [1], &d)),
            b: Param::from_tensor(tensor(vec![0.0], [1], &d)),
        };
        let mut opt = AdamW::new(AdamWConfig::default(), ParamGroups::from_module(&m, &[]));
        let l = (m.big.val() * tensor(vec![1e4], [1], &d)).sum() + (m.a.val() * tensor(vec![s3], [1], &d)).sum() + (m.b.val() * tensor(vec![s3], [1], &d)).sum();
        let (_, report) = opt.step(1e-3, m, l.backward()).unwrap();
        assert_eq!(report.grad_norm, 10_000.0, "summed out of the module's order");
    }
}
