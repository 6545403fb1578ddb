//! Image preprocessing as transformers' `ViTImageProcessor` does it from
//! `preprocessor_config.json`: resize to `size` with PIL's resampling (bilinear, antialiased
//! when shrinking, in 8-bit fixed point with a horizontal pass first), rescale by
//! `rescale_factor`, normalise by `image_mean` / `image_std`, channels first.
//!
//! The resize reproduces Pillow's `Resample.c` arithmetic exactly so that pixel values match
//! transformers bit for bit (tested against the ViT fixture).

use std::path::Path;

use serde::Deserialize;

use crate::ModelError;

#[derive(Clone, Debug, Deserialize)]
pub struct ImageProcessorConfig {
    #[serde(default = "yes")]
    pub do_resize: bool,
    #[serde(default = "yes")]
    pub do_rescale: bool,
    #[serde(default = "yes")]
    pub do_normalize: bool,
    /// PIL resample filter: 2 = bilinear (ViT's default), 3 = bicubic.
    #[serde(default = "bilinear")]
    pub resample: u32,
    #[serde(default = "rescale")]
    pub rescale_factor: f64,
    pub size: ImageSize,
    #[serde(default = "half")]
    pub image_mean: Vec<f64>,
    #[serde(default = "half")]
    pub image_std: Vec<f64>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub struct ImageSize {
    pub height: usize,
    pub width: usize,
}

fn yes() -> bool {
    true
}
fn bilinear() -> u32 {
    2
}
fn rescale() -> f64 {
    1.0 / 255.0
}
fn half() -> Vec<f64> {
    vec![0.5, 0.5, 0.5]
}

impl ImageProcessorConfig {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Config { path: path.into(), message: e.to_string() })?;
        let cfg: Self = serde_json::from_str(&text).map_err(|e| ModelError::Config { path: path.into(), message: e.to_string() })?;
        if cfg.resample != 2 {
            return Err(ModelError::Config {
                path: path.into(),
                message: format!("resample = {} is not supported (only 2, bilinear)", cfg.resample),
            });
        }
        Ok(cfg)
    }

    /// An RGB image, row-major [height, width, 3] uint8, to `pixel_values` [3, H, W] f32.
    pub fn preprocess(&self, rgb: &[u8], height: usize, width: usize) -> Vec<f32> {
        let (h, w) = if self.do_resize { (self.size.height, self.size.width) } else { (height, width) };
        let resized = if self.do_resize { resize_bilinear(rgb, height, width, h, w) } else { rgb.to_vec() };
        let mut out = vec![0.0f32; 3 * h * w];
        for c in 0..3 {
            for i in 0..h * w {
                let mut v = resized[i * 3 + c] as f32;
                if self.do_rescale {
                    v *= self.rescale_factor as f32;
                }
                if self.do_normalize {
                    v = (v - self.image_mean[c] as f32) / self.image_std[c] as f32;
                }
                out[c * h * w + i] = v;
            }
        }
        out
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's per-output-pixel filter windows and fixed-point weights for one axis.
fn coefficients(in_size: usize, out_size: usize) -> (Vec<(usize, usize)>, Vec<i64>, usize) {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 1.0 * filterscale; // bilinear support is 1
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut kk = vec![0i64; out_size * ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut w = vec![0.0f64; xmax];
        let mut total = 0.0;
        for (x, wx) in w.iter_mut().enumerate() {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let t = t.abs();
            *wx = if t < 1.0 { 1.0 - t } else { 0.0 };
            total += *wx;
        }
        for (x, wx) in w.iter().enumerate() {
            let v = if total != 0.0 { wx / total } else { *wx };
            let f = v * (1i64 << PRECISION_BITS) as f64;
            kk[xx * ksize + x] = if f < 0.0 { (f - 0.5) as i64 } else { (f + 0.5) as i64 };
        }
        bounds.push((xmin, xmax));
    }
    (bounds, kk, ksize)
}

fn clip8(v: i64) -> u8 {
    let v = v >> PRECISION_BITS;
    v.clamp(0, 255) as u8
}

/// PIL `Image.resize((w, h), BILINEAR)` on an RGB uint8 image.
pub fn resize_bilinear(rgb: &[u8], in_h: usize, in_w: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    // Horizontal pass (only if the width changes), then vertical.
    let tmp = if out_w != in_w {
        let (bounds, kk, ksize) = coefficients(in_w, out_w);
        let mut tmp = vec![0u8; in_h * out_w * 3];
        for y in 0..in_h {
            for (xx, &(xmin, n)) in bounds.iter().enumerate() {
                for c in 0..3 {
                    let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                    for x in 0..n {
                        ss += rgb[(y * in_w + xmin + x) * 3 + c] as i64 * kk[xx * ksize + x];
                    }
                    tmp[(y * out_w + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        tmp
    } else {
        rgb.to_vec()
    };
    if out_h == in_h {
        return tmp;
    }
    let (bounds, kk, ksize) = coefficients(in_h, out_h);
    let mut out = vec![0u8; out_h * out_w * 3];
    for (yy, &(ymin, n)) in bounds.iter().enumerate() {
        for x in 0..out_w {
            for c in 0..3 {
                let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                for y in 0..n {
                    ss += tmp[((ymin + y) * out_w + x) * 3 + c] as i64 * kk[yy * ksize + y];
                }
                out[(yy * out_w + x) * 3 + c] = clip8(ss);
            }
        }
    }
    out
}
