//! What an adapted layer keeps alive for its backward pass, counted byte by byte with a
//! counting global allocator (this test binary's own, so it holds a single test).
//!
//! The sparse methods (s-cLA, s-r-c3LA, PaCA) need only x[..., cols] for their weight
//! gradient. burn's autodiff already keeps no more than that for them: `select` saves its
//! indices and the input's shape, not the input; the frozen base `linear` saves its input only
//! when the weight is tracked; the adapter's `linear` saves its (gathered, [N, r]) input. LoRA
//! keeps all of x for A's gradient. This test pins both facts down, so that a change to the
//! forward that makes a sparse layer hold x again fails here.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::{Device, Tensor, TensorData};
use common::random_vec as random;
use peft_core::{AdaptedLinear, AdapterConfig};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::SeqCst)
}

const N: usize = 4096;
const IN: usize = 512;
const OUT: usize = 256;
const R: usize = 8;
const F32: usize = 4;

/// Bytes that stay allocated after `y = layer.forward(x)` once the caller has dropped x:
/// what the autodiff graph keeps for the backward pass, less y itself.
fn retained_by_forward(method: &str, device: &Device) -> usize {
    let w = Tensor::<2>::from_data(TensorData::new(random(IN * OUT, 1), [IN, OUT]), device);
    let b = Tensor::<1>::from_data(TensorData::new(random(OUT, 2), [OUT]), device);
    let config = AdapterConfig { rank: R, alpha: 2.0 * R as f64, seed: 3, a_init: None };
    let layer = AdaptedLinear::new(w, Some(b), method, &config, "encoder.layer.0.query").unwrap();
    let before = live();
    // x is an interior activation in a model: tracked, as the output of earlier adapters is.
    let x = Tensor::<2>::from_data(TensorData::new(random(N * IN, 4), [N, IN]), device).require_grad();
    let y = layer.forward(x);
    let kept = live().saturating_sub(before + N * OUT * F32);
    // The graph is sound: the backward still runs (and frees what it kept).
    drop(y.sum().backward());
    kept
}

#[test]
fn sparse_layers_keep_only_the_gathered_columns_for_the_backward() {
    let device = Device::flex().autodiff();
    let x_bytes = N * IN * F32;
    let gathered = N * R * F32;
    // Warm up thread pools and lazily allocated statics so that they do not count.
    retained_by_forward("lora", &device);
    let lora = retained_by_forward("lora", &device);
    eprintln!("x = {x_bytes} B, x[:, cols] = {gathered} B; kept by the forward: lora {lora} B");
    assert!(lora >= x_bytes, "LoRA keeps x for A's gradient ({lora} B kept, x is {x_bytes} B)");
    // The gathered and base-column methods; cLA and Asym (a frozen dense A) keep no more either:
    // what spares x is that nothing trained multiplies it, not the gather.
    for method in ["s-cla", "s-r-c3la", "paca", "c-paca", "d-paca", "cla", "asym-lora"] {
        let kept = retained_by_forward(method, &device);
        eprintln!("{method}: {kept} B");
        // x[:, cols] (scaled for s-*), PaCA's C − C₀ [r, out], and graph bookkeeping.
        let bound = gathered + R * OUT * F32 + 64 * 1024;
        assert!(
            kept <= bound,
            "{method} keeps {kept} B for the backward, more than x[:, cols] and its factors ({bound} B); x is {x_bytes} B"
        );
    }
}
