//! Reading checkpoint weights from `model.safetensors` or a sharded
//! `model.safetensors.index.json`, memory-mapped, with bf16/f16/f64 converted to f32.
//!
//! Each tensor is converted straight into the burn tensor that keeps it, so a load never holds
//! two full copies of the weights (the mapping is file-backed). Every key read is recorded, so
//! that after building a model [`Weights::unused_keys`] lists what the file had that the model
//! did not take.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::ModelError;

/// The weights of one checkpoint, possibly spread over shards.
pub struct Weights {
    files: Vec<(PathBuf, Mmap)>,
    /// key → index into `files`.
    keys: BTreeMap<String, usize>,
    /// key → the name it is stored under, where they differ (an overlay's prefixed keys).
    stored_as: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
    /// Tensors held in memory ([`Weights::with_tensors`]): key → (shape, f32 values); they take
    /// the place of the files' tensors of the same keys.
    memory: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Freshly initialised tensors for keys the files lack (a new task head, or a whole
    /// randomly initialised model).
    init: Option<FreshInit>,
}

/// How tensors absent from the files are initialised, as transformers' `_init_weights` does
/// for these families: normal(0, `std`) for matrices and embeddings, zeros for biases, ones
/// for normalisation weights. Only keys starting with one of `prefixes` qualify (empty: all).
struct FreshInit {
    rng: RefCell<peft_core::Rng>,
    std: f64,
    prefixes: Vec<String>,
}

impl FreshInit {
    fn applies_to(&self, key: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }

    fn values(&self, key: &str, shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let last = key.rsplit('.').next().unwrap_or("");
        let is_norm = key.contains("LayerNorm") || key.contains("layernorm") || key.contains("norm.") || key.contains("ln_");
        if last == "bias" || last == "beta" {
            vec![0.0; n]
        } else if is_norm && (last == "weight" || last == "gamma") {
            vec![1.0; n]
        } else {
            let mut rng = self.rng.borrow_mut();
            (0..n).map(|_| (rng.normal() * self.std) as f32).collect()
        }
    }
}

fn weights_err(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Weights { path: path.to_path_buf(), message: message.into() }
}

impl Weights {
    /// Opens the given safetensors files (one, or all shards).
    pub fn open(paths: &[PathBuf]) -> Result<Self, ModelError> {
        let mut files = Vec::new();
        let mut keys = BTreeMap::new();
        for (i, path) in paths.iter().enumerate() {
            let file = std::fs::File::open(path).map_err(|e| weights_err(path, e.to_string()))?;
            // SAFETY: the file is opened read-only and not modified while mapped (hub cache
            // files are immutable blobs).
            let mmap = unsafe { Mmap::map(&file) }.map_err(|e| weights_err(path, e.to_string()))?;
            let st = SafeTensors::deserialize(&mmap).map_err(|e| {
                weights_err(path, format!("not a readable safetensors file (truncated or corrupt?): {e}"))
            })?;
            for name in st.names() {
                if keys.insert(name.to_string(), i).is_some() {
                    return Err(weights_err(path, format!("tensor `{name}` appears in two shards")));
                }
            }
            files.push((path.clone(), mmap));
        }
        Ok(Self { files, keys, stored_as: BTreeMap::new(), used: RefCell::new(BTreeSet::new()), memory: BTreeMap::new(), init: None })
    }

    /// Opens the weights of a checkpoint directory (or a hub snapshot): `model.safetensors`,
    /// else the shards listed in `model.safetensors.index.json`, fetched through `fetch`.
    pub fn open_checkpoint(
        mut fetch: impl FnMut(&str) -> Result<PathBuf, ModelError>,
    ) -> Result<Self, ModelError> {
        match fetch("model.safetensors") {
            Ok(path) => Self::open(&[path]),
            Err(single_err) => {
                let index = match fetch("model.safetensors.index.json") {
                    Ok(p) => p,
                    Err(_) => return Err(single_err),
                };
                let text = std::fs::read_to_string(&index).map_err(|e| weights_err(&index, e.to_string()))?;
                let json: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| weights_err(&index, format!("bad JSON: {e}")))?;
                let map = json
                    .get("weight_map")
                    .and_then(|m| m.as_object())
                    .ok_or_else(|| weights_err(&index, "no `weight_map` object"))?;
                let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
                let paths = shards.into_iter().map(&mut fetch).collect::<Result<Vec<_>, _>>()?;
                Self::open(&paths)
            }
        }
    }

    /// A source with no files: every tensor is freshly initialised (normal(0, `std`), zero
    /// biases, unit norms) from `seed` — a randomly initialised model of any family, read through
    /// the same `load` code as a checkpoint.
    pub fn random_init(seed: u64, std: f64) -> Self {
        Self {
            files: Vec::new(),
            keys: BTreeMap::new(),
            stored_as: BTreeMap::new(),
            used: RefCell::new(BTreeSet::new()),
            memory: BTreeMap::new(),
            init: Some(FreshInit { rng: RefCell::new(peft_core::Rng::seed_from(seed)), std, prefixes: Vec::new() }),
        }
    }

    /// Initialises tensors the files lack whose keys start with one of `prefixes` (e.g. a new
    /// classification head `classifier.` when fine-tuning a pretrained backbone), from `seed`.
    /// Any other missing key stays an error.
    pub fn init_missing(mut self, prefixes: &[&str], seed: u64, std: f64) -> Self {
        self.init = Some(FreshInit {
            rng: RefCell::new(peft_core::Rng::seed_from(seed)),
            std,
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        });
        self
    }

    /// Fine-tuning with a new task head: tensors under `replace` are freshly initialised even
    /// where the files hold some (a checkpoint's own head is for another task: ImageNet's 1000
    /// classes, a pretraining head), and tensors under `fill_missing` only where the files lack
    /// them (e.g. BERT's pooler, absent from masked-LM checkpoints). Both from `seed`, as
    /// transformers initialises a new head.
    pub fn with_new_head(mut self, replace: &[&str], fill_missing: &[&str], seed: u64, std: f64) -> Self {
        self.keys.retain(|k, _| !replace.iter().any(|p| k.starts_with(p)));
        let prefixes: Vec<&str> = replace.iter().chain(fill_missing).copied().collect();
        self.init_missing(&prefixes, seed, std)
    }

    /// Adds the tensors of `path` whose names start with `prefix` and pass `keep`, under their
    /// names without the prefix; they take the place of the same keys in the files opened
    /// before (an HF PEFT adapter's `base_model.model.classifier.weight` replaces the base
    /// checkpoint's `classifier.weight`).
    pub fn with_overlay(mut self, path: &Path, prefix: &str, keep: impl Fn(&str) -> bool) -> Result<Self, ModelError> {
        let file = std::fs::File::open(path).map_err(|e| weights_err(path, e.to_string()))?;
        // SAFETY: as in `open`: read-only, not modified while mapped.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| weights_err(path, e.to_string()))?;
        let names: Vec<String> = SafeTensors::deserialize(&mmap)
            .map_err(|e| weights_err(path, format!("not a readable safetensors file: {e}")))?
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        let i = self.files.len();
        for name in names {
            let Some(key) = name.strip_prefix(prefix) else { continue };
            if keep(key) {
                self.keys.insert(key.to_string(), i);
                self.stored_as.insert(key.to_string(), name.clone());
            }
        }
        self.files.push((path.to_path_buf(), mmap));
        Ok(self)
    }

    /// Adds tensors held in memory (checkpoint key, shape, row-major f32 values) in place of
    /// the stored ones of the same keys: a trained or perturbed model read through the
    /// family's own `load` (the loss landscape's grid points).
    pub fn with_tensors(mut self, tensors: impl IntoIterator<Item = (String, Vec<usize>, Vec<f32>)>) -> Self {
        for (key, shape, values) in tensors {
            self.memory.insert(key, (shape, values));
        }
        self
    }

    fn stored_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.stored_as.get(key).map(String::as_str).unwrap_or(key)
    }

    /// Whether `key` can be read: stored in the files or in memory, or freshly initialised. A fully random
    /// source answers for the keys of the canonical (prefixed) layout.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains_key(key) || self.memory.contains_key(key) || self.init.as_ref().is_some_and(|i| i.applies_to(key))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let stored = self.keys.keys().filter(|k| !self.memory.contains_key(*k));
        stored.chain(self.memory.keys()).map(String::as_str)
    }

    /// The shape stored for `key`, without reading it.
    pub fn shape(&self, key: &str) -> Option<Vec<usize>> {
        if let Some((shape, _)) = self.memory.get(key) {
            return Some(shape.clone());
        }
        let &i = self.keys.get(key)?;
        let (_, mmap) = &self.files[i];
        let st = SafeTensors::deserialize(mmap).ok()?;
        st.tensor(self.stored_name(key)).ok().map(|v| v.shape().to_vec())
    }

    /// Reads `key` as f32 values, checking its shape.
    pub fn read_f32(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        if let Some((stored, values)) = self.memory.get(key) {
            if stored != shape {
                let path = self.files.first().map(|(p, _)| p.clone()).unwrap_or_default();
                return Err(weights_err(&path, format!("tensor `{key}` (in memory) has shape {stored:?}, the model expects {shape:?}")));
            }
            self.used.borrow_mut().insert(key.to_string());
            return Ok(values.clone());
        }
        let Some(&i) = self.keys.get(key) else {
            if let Some(init) = self.init.as_ref().filter(|i| i.applies_to(key)) {
                return Ok(init.values(key, shape));
            }
            let path = self.files.first().map(|(p, _)| p.clone()).unwrap_or_default();
            return Err(ModelError::MissingKeys { path, keys: vec![key.to_string()] });
        };
        let (path, mmap) = &self.files[i];
        let st = SafeTensors::deserialize(mmap).map_err(|e| weights_err(path, e.to_string()))?;
        let view = st.tensor(self.stored_name(key)).map_err(|e| weights_err(path, e.to_string()))?;
        if view.shape() != shape {
            return Err(weights_err(
                path,
                format!("tensor `{key}` has shape {:?}, the model expects {:?}", view.shape(), shape),
            ));
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                .collect(),
            other => {
                return Err(weights_err(path, format!("tensor `{key}` has dtype {other:?}; expected a float type")));
            }
        };
        self.used.borrow_mut().insert(key.to_string());
        Ok(values)
    }

    /// Reads `key` into a tensor of the given shape on `device`.
    pub fn tensor<const D: usize>(&self, key: &str, shape: [usize; D], device: &Device) -> Result<Tensor<D>, ModelError> {
        let values = self.read_f32(key, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// Reads a PyTorch `nn.Linear` weight [out, in] as burn's [in, out] (transposed on the host
    /// so the tensor is contiguous).
    pub fn linear_weight(&self, key: &str, in_features: usize, out_features: usize, device: &Device) -> Result<Tensor<2>, ModelError> {
        let v = self.read_f32(key, &[out_features, in_features])?;
        Ok(transposed(&v, out_features, in_features, device))
    }

    /// Keys present in the files that no read has taken, except those matching `ignore`
    /// (substrings, e.g. buffers such as `position_ids`).
    pub fn unused_keys(&self, ignore: &[&str]) -> Vec<String> {
        let used = self.used.borrow();
        self.keys
            .keys()
            .chain(self.memory.keys().filter(|k| !self.keys.contains_key(*k)))
            .filter(|k| !used.contains(*k) && !ignore.iter().any(|i| k.contains(i)))
            .cloned()
            .collect()
    }

    /// The file that holds `key` (or the first file), for error messages.
    pub fn path_of(&self, key: &str) -> &Path {
        let i = self.keys.get(key).copied().unwrap_or(0);
        self.files.get(i).map(|(p, _)| p.as_path()).unwrap_or(Path::new("<random init>"))
    }

    /// Fails with every unexpected key listed.
    pub fn ensure_all_used(&self, ignore: &[&str]) -> Result<(), ModelError> {
        let unused = self.unused_keys(ignore);
        if unused.is_empty() {
            Ok(())
        } else {
            Err(ModelError::UnexpectedKeys { path: self.path_of("").to_path_buf(), keys: unused })
        }
    }

    /// Dtypes found, for reports.
    pub fn dtypes(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for (_, mmap) in &self.files {
            if let Ok(st) = SafeTensors::deserialize(mmap) {
                for (_, v) in st.iter() {
                    *out.entry(format!("{:?}", v.dtype())).or_insert(0) += 1;
                }
            }
        }
        out
    }
}

/// A row-major [rows, cols] matrix as a contiguous [cols, rows] tensor: PyTorch stores linear
/// weights [out, in], burn wants [in, out], and a transposed view would make every matmul slower
/// and round differently.
pub fn transposed(values: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let mut t = vec![0.0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = values[r * cols + c];
        }
    }
    Tensor::from_data(TensorData::new(t, [cols, rows]), device)
}

/// IEEE half → single, including subnormals, infinities and NaN.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_on_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // smallest subnormal
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
