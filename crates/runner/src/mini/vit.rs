//! `mini-vit`: a 2-layer ViT on 8×8 images (2×2 patches), pretrained to predict the rotation
//! (0°, 90°, 180°, 270°) of the UCI digits' training images — their labels are never used.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use datasets::encode::ImagePreprocessor;
use datasets::rng::SplitMix64;
use datasets::{Image, Input};
use models::Weights;
use models::export::{HfTensors, save_checkpoint};
use models::presets::Arch;
use models::vit::{VitArch, VitConfig, VitForImageClassification};

use super::{MiniModel, PretrainConfig, Pretrained, fit, shuffled_batches};
use crate::RunError;
use crate::loss::cross_entropy;

pub(super) const MODEL: MiniModel = MiniModel {
    name: "mini-vit",
    objective: "rotation (0/90/180/270) of mini-digits train images",
    data_fingerprint: || super::fingerprint("mini-digits"),
    epochs: 12,
    batch_size: 64,
    lr: 2e-3,
    arch,
    pretrain,
};

fn arch(c: &PretrainConfig, _vocab: usize) -> (Arch, &'static str) {
    (Arch::Vit(VitArch { hidden: c.hidden, layers: c.layers, intermediate: c.intermediate, image: VIT_SIZE, patch: 2 }), "image-classification")
}

const VIT_SIZE: usize = 8;

pub(super) fn vit_config(c: &PretrainConfig) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["ViTForImageClassification"], "model_type": "vit",
        "hidden_size": c.hidden, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
        "intermediate_size": c.intermediate, "hidden_act": "gelu", "image_size": VIT_SIZE, "patch_size": 2,
        "num_channels": 3, "layer_norm_eps": 1e-12, "qkv_bias": true, "num_labels": 4,
        "id2label": {"0": "rot0", "1": "rot90", "2": "rot180", "3": "rot270"},
        "label2id": {"rot0": 0, "rot90": 1, "rot180": 2, "rot270": 3},
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "transformers_version": "4.46.0"
    })
}

fn preprocessor_config() -> serde_json::Value {
    serde_json::json!({
        "do_normalize": true, "do_rescale": true, "do_resize": true, "image_processor_type": "ViTImageProcessor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 1.0 / 255.0,
        "size": {"height": VIT_SIZE, "width": VIT_SIZE}
    })
}

/// A square grey image turned by `quarter` × 90° counter-clockwise.
fn rotate(pixels: &[u8], n: usize, quarter: usize) -> Vec<u8> {
    let mut out = pixels.to_vec();
    for _ in 0..quarter {
        let prev = out.clone();
        for r in 0..n {
            for c in 0..n {
                out[(n - 1 - c) * n + r] = prev[r * n + c];
            }
        }
    }
    out
}

/// Every image of `split` in its four rotations, preprocessed, with the rotation as label.
fn rotations(images: &[Vec<u8>], pre: &ImagePreprocessor) -> Result<Vec<(Vec<f32>, usize)>, RunError> {
    let mut out = Vec::with_capacity(images.len() * 4);
    for img in images {
        for q in 0..4 {
            let image = Image::Raw { width: VIT_SIZE as u32, height: VIT_SIZE as u32, channels: 1, pixels: rotate(img, VIT_SIZE, q) };
            out.push((pre.apply(&image).map_err(RunError::msg)?, q));
        }
    }
    Ok(out)
}

fn pixel_batch(items: &[&(Vec<f32>, usize)], device: &Device) -> (Tensor<4>, Tensor<2, Int>) {
    let b = items.len();
    let px: Vec<f32> = items.iter().flat_map(|(p, _)| p.iter().copied()).collect();
    let y: Vec<i64> = items.iter().map(|(_, q)| *q as i64).collect();
    (
        Tensor::from_data(TensorData::new(px, [b, 3, VIT_SIZE, VIT_SIZE]), device),
        Tensor::from_data(TensorData::new(y, [b, 1]), device),
    )
}

fn pretrain(dir: &Path, c: &PretrainConfig, device: &Device, progress: Option<&indicatif::ProgressBar>) -> Result<Pretrained, RunError> {
    let splits = datasets::mini::digits::load();
    let grey = |examples: &[datasets::Example]| -> Vec<Vec<u8>> {
        examples
            .iter()
            .filter_map(|e| match &e.input {
                Input::Image(Image::Raw { pixels, .. }) => Some(pixels.clone()),
                _ => None,
            })
            .collect()
    };
    let pre = ImagePreprocessor::from_config_json(&preprocessor_config().to_string()).map_err(RunError::msg)?;
    let train = rotations(&grey(&splits.train), &pre)?;
    let val = rotations(&grey(&splits.validation), &pre)?;
    let json = vit_config(c);
    let cfg: VitConfig = serde_json::from_value(json.clone()).expect("a valid ViT config");
    let ad = device.clone().autodiff();
    let model = VitForImageClassification::load(&Weights::random_init(c.seed, 0.02), &cfg, 4, &ad)?;
    let parameters = model.num_params();
    let mut g = SplitMix64::for_stream(c.seed, "mini-vit/rotation");
    let steps = train.len().div_ceil(c.batch_size);
    let loss = |m: &VitForImageClassification, idx: &Vec<usize>| {
        let items: Vec<&(Vec<f32>, usize)> = idx.iter().map(|&i| &train[i]).collect();
        let (x, y) = pixel_batch(&items, &ad);
        cross_entropy(m.forward(x), y)
    };
    let (model, curve) = fit(model, c, steps, |_| shuffled_batches(train.len(), c.batch_size, &mut g), loss, progress)?;
    let valid = model.valid();
    let mut right = 0;
    for chunk in val.chunks(256) {
        let items: Vec<&(Vec<f32>, usize)> = chunk.iter().collect();
        let (x, _) = pixel_batch(&items, device);
        let pred: Vec<i64> = valid.forward(x).argmax(1).into_data().convert::<i64>().try_to_vec().expect("ids");
        right += pred.iter().zip(chunk).filter(|(p, (_, q))| **p == *q as i64).count();
    }
    let mut out = HfTensors::default();
    valid.hf_tensors(&mut out);
    save_checkpoint(dir, &json, &out)?;
    let pp = dir.join("preprocessor_config.json");
    std::fs::write(&pp, serde_json::to_string_pretty(&preprocessor_config()).expect("JSON")).map_err(|e| RunError::msg(format!("{}: {e}", pp.display())))?;
    Ok(Pretrained { train_loss: curve, held_out_accuracy: right as f64 / val.len().max(1) as f64, parameters })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quarter turn counter-clockwise moves the top row to the left column, bottom-up.
    #[test]
    fn rotate_turns_counter_clockwise() {
        // 2×2: [a b; c d] → [b d; a c]
        assert_eq!(rotate(&[1, 2, 3, 4], 2, 1), vec![2, 4, 1, 3]);
        assert_eq!(rotate(&[1, 2, 3, 4], 2, 4), vec![1, 2, 3, 4]);
    }
}
