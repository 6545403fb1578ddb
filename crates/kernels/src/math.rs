//! Branch-free f32 formulas (so that the compiler vectorises the loops over slices) and the
//! slice loops, compiled per instruction set (`per_cpu_features!` in lib.rs).

use std::f32::consts::{FRAC_1_SQRT_2, LOG2_E};

/// e^v, |relative error| < 2e-7 for v in [−87, 88] (clamped outside: e^−87.3 ≈ 1e−38, the
/// smallest normal; e^88.7 would overflow). Range reduction v = n·ln 2 + r, |r| ≤ ln2/2, then
/// a degree-6 polynomial for e^r (Cephes' expf coefficients) and 2^n from the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // max/min vectorise (clamp does not); NaN is put back at the end (max/min would turn it
    // into a bound).
    #[allow(clippy::manual_clamp)]
    let v = x.max(-87.3).min(88.3);
    // round(v / ln 2) without a libm call: adding 1.5·2²³ pushes the fraction out of the mantissa.
    const ROUND: f32 = 12_582_912.0;
    let n = (v * LOG2_E + ROUND) - ROUND;
    // ln 2 split in two so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let r = v - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r
        + 0.5;
    let er = p * r2 + r + 1.0;
    let scale = f32::from_bits(((n as i32).wrapping_add(127) as u32).wrapping_shl(23));
    let y = er * scale;
    if x.is_nan() { x } else { y }
}

/// The error function, |absolute error| < 6e-7 (Abramowitz & Stegun 7.1.26 is 1.5e-7 in exact
/// arithmetic; the rest is the f32 rounding of 1 − poly·e^{−z²}; libm's erff is within 1e-7).
#[inline(always)]
pub fn erf(z: f32) -> f32 {
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(z)
}

/// tanh(u) = 1 − 2/(e^{2u} + 1); e^{2u} saturates (clamped) for |u| > 43, where tanh is ±1 in f32.
#[inline(always)]
pub fn tanh(u: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * u) + 1.0)
}

/// 1/√(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;
/// √(2/π)
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_CUBIC: f32 = 0.044_715;

/// GELU(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)).
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// GELU'(x) = Φ(x) + x·φ(x).
#[inline(always)]
pub fn gelu_erf_grad(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x)
}

/// ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), HF's `gelu_new`.
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x * x * x);
    0.5 * x * (1.0 + tanh(u))
}

/// d/dx of [`gelu_tanh`]: ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(u).
#[inline(always)]
pub fn gelu_tanh_grad(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x * x * x);
    let t = tanh(u);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_CUBIC * x * x)
}


/// Defines `$name(src, dst)`: `dst[i] = $f(src[i])`, or with a gradient slice
/// `$name(x, grad, dst)`: `dst[i] = grad[i]·$f(x[i])`, vectorised per CPU.
macro_rules! slice_kernel {
    ($name:ident, $f:path) => {
        pub fn $name(src: &[f32], dst: &mut [f32]) {
            #[inline(always)]
            fn body(src: &[f32], dst: &mut [f32]) {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = $f(s);
                }
            }
            per_cpu_features!((src: &[f32], dst: &mut [f32]) body(src, dst))
        }
    };
    (grad $name:ident, $f:path) => {
        pub fn $name(x: &[f32], grad: &[f32], dst: &mut [f32]) {
            #[inline(always)]
            fn body(x: &[f32], grad: &[f32], dst: &mut [f32]) {
                for ((d, &x), &g) in dst.iter_mut().zip(x).zip(grad) {
                    *d = g * $f(x);
                }
            }
            per_cpu_features!((x: &[f32], grad: &[f32], dst: &mut [f32]) body(x, grad, dst))
        }
    };
}

slice_kernel!(gelu_erf_slice, gelu_erf);
slice_kernel!(gelu_tanh_slice, gelu_tanh);
slice_kernel!(grad gelu_erf_grad_slice, gelu_erf_grad);
slice_kernel!(grad gelu_tanh_grad_slice, gelu_tanh_grad);
