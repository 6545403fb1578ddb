//! What the models crate's integration tests share: the committed fixtures and transformers'
//! reference outputs recorded beside them.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use models::Checkpoint;
use safetensors::SafeTensors;

pub fn fixtures() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures")
}

/// transformers' outputs for one fixture: `reference.safetensors` and `reference.json`.
pub struct Reference {
    pub bytes: Vec<u8>,
    pub json: serde_json::Value,
}

impl Reference {
    pub fn open(family: &str) -> Self {
        Self::open_file(family, "reference.safetensors")
    }

    /// Another reference tensor file of the fixture `family` (with its `reference.json`).
    pub fn open_file(family: &str, file: &str) -> Self {
        let dir = fixtures().join(family);
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let json = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
        Self { bytes, json }
    }

    pub fn f32(&self, key: &str) -> (Vec<f32>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let v = st.tensor(key).unwrap();
        let data = v.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        (data, v.shape().to_vec())
    }

    pub fn i64s(&self, key: &str) -> (Vec<i64>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let v = st.tensor(key).unwrap();
        (v.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(), v.shape().to_vec())
    }

    pub fn ints<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D, Int> {
        let (data, shape) = self.i64s(key);
        let shape: [usize; D] = shape.try_into().unwrap();
        Tensor::from_data(TensorData::new(data, shape), device)
    }
}

/// Token ids from the checkpoint's tokenizer (tokenizer.json, or spm.model when there is none)
/// equal transformers' for every sentence.
pub fn assert_tokenizer_parity(family: &str, ckpt: &Checkpoint, reference: &Reference) {
    let tok = models::tokenizer::load_tokenizer(ckpt).unwrap();
    let sentences = reference.json["sentences"].as_array().unwrap();
    let ids = reference.json["token_ids"].as_array().unwrap();
    for (s, want) in sentences.iter().zip(ids) {
        let got = models::tokenizer::encode(&tok, s.as_str().unwrap()).unwrap();
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(got, want, "{family}: token ids of {s}");
    }
}

