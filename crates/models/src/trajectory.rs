//! A trajectory point ([`ledger::trajectory`] describes the layout) written from a model and
//! read back as dense tensors in the checkpoint's layout.
//!
//! An adapted matrix is kept as its whole update since adaptation, PEFT's factors:
//! `<prefix>.lora_A` [R, in], `<prefix>.lora_B` [out, R] and `<prefix>.lora_scale` [1], so
//! that the checkpoint's `<prefix>.weight` is W₀ + scale·B·A ([out, in], an `nn.Linear`) or
//! its transpose (GPT-2's `Conv1D`, stored [in, out]). Everything else that trains is kept
//! densely under its checkpoint key.

use std::path::Path;

use peft_core::TargetModules;
use peft_core::safetensors_io::{shape_and_values, write_f32};

use crate::ModelError;
use crate::export::HfTensors;
use crate::finetune::FineTune;
use crate::weights::Weights;

/// One point's tensors, and what they are.
pub struct PointTensors {
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// Checkpoint keys of the targeted matrices.
    pub matrices: Vec<String>,
    /// Checkpoint keys of the head's tensors.
    pub head: Vec<String>,
    pub fan_in_fan_out: bool,
}

const LORA_A: &str = ".lora_A";
const LORA_B: &str = ".lora_B";
const LORA_SCALE: &str = ".lora_scale";

/// The trained tensors of `model` now: the matrices `targets` names (adapted: as factors;
/// else densely) and the head; with `full`, every tensor of the model densely (FFT's last
/// point).
pub fn point_tensors<M: FineTune>(model: &M, targets: &TargetModules, full: bool) -> Result<PointTensors, ModelError> {
    let mut out = HfTensors::default();
    let task = model.hf_export(&mut out)?;
    let is_head = |key: &str| task.head_prefixes.iter().any(|p| key.starts_with(p) || format!("{key}.") == *p);
    let mut tensors = Vec::new();
    let mut matrices = Vec::new();
    for (prefix, f) in &out.adapters {
        let (a_dims, a) = shape_and_values(f.a.clone().transpose());
        let (b_dims, b) = shape_and_values(f.b.clone().transpose());
        tensors.push((format!("{prefix}{LORA_A}"), a_dims, a));
        tensors.push((format!("{prefix}{LORA_B}"), b_dims, b));
        tensors.push((format!("{prefix}{LORA_SCALE}"), vec![1], vec![f.scale as f32]));
        matrices.push(format!("{prefix}.weight"));
    }
    for (prefix, ours) in &out.linears {
        let key = format!("{prefix}.weight");
        if targets.matches(ours) && !is_head(prefix) && !matrices.contains(&key) {
            matrices.push(key);
        }
    }
    let head: Vec<String> = out.tensors.iter().map(|(k, _, _)| k.clone()).filter(|k| is_head(k)).collect();
    let adapted: Vec<String> = out.adapters.iter().map(|(p, _)| format!("{p}.weight")).collect();
    for (key, dims, values) in out.tensors {
        let dense_matrix = matrices.contains(&key) && !adapted.contains(&key);
        if full || dense_matrix || head.contains(&key) {
            tensors.push((key, dims, values));
        }
    }
    matrices.sort();
    Ok(PointTensors { tensors, matrices, head, fan_in_fan_out: task.fan_in_fan_out })
}

impl PointTensors {
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        Ok(write_f32(path, &self.tensors, meta)?)
    }
}

/// The tensors `keys` at the point stored in `point` (a file [`point_tensors`] wrote), densely in
/// the checkpoint's layout: a factored matrix is W₀ (read from `base`) plus its update.
pub fn read_dense(point: &Path, keys: &[String], base: &Weights, fan_in_fan_out: bool) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, ModelError> {
    let p = Weights::open(&[point.to_path_buf()])?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        if p.contains(key) {
            let shape = p.shape(key).expect("a stored key has a shape");
            let values = p.read_f32(key, &shape)?;
            out.push((key.clone(), shape, values));
            continue;
        }
        let prefix = key.strip_suffix(".weight").unwrap_or(key);
        let (ka, kb, ks) = (format!("{prefix}{LORA_A}"), format!("{prefix}{LORA_B}"), format!("{prefix}{LORA_SCALE}"));
        let (Some(a_shape), Some(b_shape)) = (p.shape(&ka), p.shape(&kb)) else {
            return Err(ModelError::MissingKeys { path: point.to_path_buf(), keys: vec![key.clone()] });
        };
        let (r, n_in, n_out) = (a_shape[0], a_shape[1], b_shape[0]);
        let a = p.read_f32(&ka, &a_shape)?;
        let b = p.read_f32(&kb, &b_shape)?;
        let scale = p.read_f32(&ks, &[1])?[0];
        let shape = if fan_in_fan_out { vec![n_in, n_out] } else { vec![n_out, n_in] };
        let mut w = base.read_f32(key, &shape)?;
        // ΔW[o, i] = scale · Σ_k B[o, k] · A[k, i]; a Conv1D stores it at [i, o].
        for o in 0..n_out {
            for k in 0..r {
                let bk = scale * b[o * r + k];
                if bk == 0.0 {
                    continue;
                }
                let a_row = &a[k * n_in..(k + 1) * n_in];
                for (i, &av) in a_row.iter().enumerate() {
                    let at = if fan_in_fan_out { i * n_out + o } else { o * n_in + i };
                    w[at] += bk * av;
                }
            }
        }
        out.push((key.clone(), shape, w));
    }
    Ok(out)
}

/// Every tensor stored in a point file that is not a factor (FFT's full last point: the
/// whole model; otherwise the head and dense matrices).
pub fn dense_keys(point: &Path) -> Result<Vec<String>, ModelError> {
    let p = Weights::open(&[point.to_path_buf()])?;
    Ok(p.keys().filter(|k| !k.ends_with(LORA_A) && !k.ends_with(LORA_B) && !k.ends_with(LORA_SCALE)).map(String::from).collect())
}
