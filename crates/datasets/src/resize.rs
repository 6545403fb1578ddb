//! Pillow's bilinear resize (`Image.resize(size, BILINEAR)`: antialiased when shrinking, 8-bit
//! fixed point, horizontal pass first), reproduced exactly so that `pixel_values` match
//! transformers' image processors bit for bit (tested against the models crate's ViT fixture).

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
