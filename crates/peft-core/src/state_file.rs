//! Saving and loading adapter state in safetensors, enough to resume a run exactly.
//!
//! Tensors use HF PEFT's names and orientation (`<layer>.lora_A.weight` [r, in],
//! `<layer>.lora_B.weight` [out, r]); PaCA's trained columns are `<layer>.paca.columns`
//! [out, r] with their starting value `<layer>.paca.columns_start`. Chained methods and FFT
//! change the base weight, so theirs is saved too (`<layer>.base_layer.weight` [out, in]),
//! with the factors of the chains merged so far (`<layer>.merged.lora_A.weight` [K·r, in],
//! `<layer>.merged.lora_B.weight` [out, K·r]).
//! The non-tensor state (method, rank, α, chain index, selected columns, the column pool, the
//! RNG state) is JSON in the file's metadata under the layer's name.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

use crate::safetensors_io::{file_err, read_f32, shape_and_values, write_f32};
use crate::{AdaptedLinear, AdapterState, PeftError, Trains};

const FORMAT_KEY: &str = "format";
const FORMAT: &str = "beyond-lora-adapter-v1";

/// Writes the state of `layers` to `path` (atomically: a temporary file, then a rename).
pub fn save_adapters(path: &Path, layers: &[&AdaptedLinear]) -> Result<(), PeftError> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert(FORMAT_KEY.into(), FORMAT.into());
    for layer in layers {
        let name = &layer.state.name;
        let spec = layer.spec();
        let mut push = |key: &str, (dims, values): (Vec<usize>, Vec<f32>)| {
            tensors.push((format!("{name}.{key}"), dims, values));
        };
        if let Some(a) = &layer.lora_a {
            push("lora_A.weight", shape_and_values(a.val().inner().transpose()));
        }
        if let Some(b) = &layer.lora_b {
            push("lora_B.weight", shape_and_values(b.val().inner().transpose()));
        }
        if let Some(c) = &layer.columns {
            push("paca.columns", shape_and_values(c.val().inner().transpose()));
        }
        if let Some(c0) = &layer.columns_start {
            push("paca.columns_start", shape_and_values(c0.clone().inner().transpose()));
        }
        if let (Some(a), Some(b)) = (&layer.merged_a, &layer.merged_b) {
            push("merged.lora_A.weight", shape_and_values(a.clone().transpose()));
            push("merged.lora_B.weight", shape_and_values(b.clone().transpose()));
        }
        if spec.chained || spec.trains == Trains::BaseWeight {
            push("base_layer.weight", shape_and_values(layer.weight.val().inner().transpose()));
            if let Some(b) = &layer.bias {
                push("base_layer.bias", shape_and_values(b.val().inner()));
            }
        }
        let json = serde_json::to_string(&layer.state).expect("state serialises");
        if meta.insert(name.clone(), json).is_some() {
            return Err(file_err(path, format!("two layers are named `{name}`")));
        }
    }
    write_f32(path, &tensors, meta)
}

fn read_tensor<const D: usize>(
    st: &SafeTensors<'_>,
    path: &Path,
    key: &str,
    expect: [usize; D],
    device: &Device,
) -> Result<Tensor<D>, PeftError> {
    let values = read_f32(st, path, key, &expect)?;
    Ok(Tensor::from_data(TensorData::new(values, expect), device))
}

/// A saved [a, b] matrix (HF orientation) as the layer's [b, a] tensor, transposed on the host
/// so that it is contiguous (a strided view would round differently in matmuls).
fn read_transposed(
    st: &SafeTensors<'_>,
    path: &Path,
    key: &str,
    expect: [usize; 2],
    device: &Device,
) -> Result<Tensor<2>, PeftError> {
    let v = read_f32(st, path, key, &expect)?;
    let [a, b] = expect;
    let mut out = vec![0.0f32; a * b];
    for i in 0..a {
        for j in 0..b {
            out[j * a + i] = v[i * b + j];
        }
    }
    Ok(Tensor::from_data(TensorData::new(out, [b, a]), device))
}

fn replace<const D: usize>(p: &Param<Tensor<D>>, value: Tensor<D>) -> Param<Tensor<D>> {
    let trainable = p.is_require_grad();
    Param::initialized(p.id, value).set_require_grad(trainable)
}

/// Restores the state saved by [`save_adapters`] into `layers` (built with the same method,
/// shapes and names); parameter ids are kept. A layer absent from the file, a different
/// method or rank, or a tensor of the wrong shape is an error naming the file and the key.
pub fn load_adapters(
    path: &Path,
    layers: Vec<AdaptedLinear>,
) -> Result<Vec<AdaptedLinear>, PeftError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| file_err(path, format!("not a safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
        return Err(file_err(path, format!("not a {FORMAT} file (metadata `{FORMAT_KEY}`)")));
    }
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_err(path, format!("unreadable safetensors: {e}")))?;
    let mut out = Vec::with_capacity(layers.len());
    for mut layer in layers {
        let name = layer.state.name.clone();
        let json = meta
            .get(&name)
            .ok_or_else(|| file_err(path, format!("no state for layer `{name}`")))?;
        let state: AdapterState = serde_json::from_str(json)
            .map_err(|e| file_err(path, format!("layer `{name}`: bad state JSON: {e}")))?;
        let want = &layer.state;
        if state.method != want.method
            || state.config.rank != want.config.rank
            || state.in_features != want.in_features
            || state.out_features != want.out_features
        {
            return Err(file_err(
                path,
                format!(
                    "layer `{name}` was saved as {} r={} [{}→{}], the model has {} r={} [{}→{}]",
                    state.method,
                    state.config.rank,
                    state.in_features,
                    state.out_features,
                    want.method,
                    want.config.rank,
                    want.in_features,
                    want.out_features
                ),
            ));
        }
        let device = layer.weight.val().device();
        let (n_in, n_out, r) = (state.in_features, state.out_features, state.config.rank);
        let spec = layer.spec();
        if let Some(a) = &layer.lora_a {
            let t = read_transposed(&st, path, &format!("{name}.lora_A.weight"), [r, n_in], &device)?;
            layer.lora_a = Some(replace(a, t));
        }
        if let Some(b) = &layer.lora_b {
            let t = read_transposed(&st, path, &format!("{name}.lora_B.weight"), [n_out, r], &device)?;
            layer.lora_b = Some(replace(b, t));
        }
        if let Some(c) = &layer.columns {
            let t = read_transposed(&st, path, &format!("{name}.paca.columns"), [n_out, r], &device)?;
            layer.columns = Some(replace(c, t));
            let t0 =
                read_transposed(&st, path, &format!("{name}.paca.columns_start"), [n_out, r], &device)?;
            layer.columns_start = Some(t0);
        }
        if spec.chained && spec.has_adapter() && state.chain > 0 {
            let merged = state.chain * r;
            layer.merged_a = Some(read_transposed(&st, path, &format!("{name}.merged.lora_A.weight"), [merged, n_in], &device)?.inner());
            layer.merged_b = Some(read_transposed(&st, path, &format!("{name}.merged.lora_B.weight"), [n_out, merged], &device)?.inner());
        }
        if spec.chained || spec.trains == Trains::BaseWeight {
            let w = read_transposed(&st, path, &format!("{name}.base_layer.weight"), [n_out, n_in], &device)?;
            layer.weight = replace(&layer.weight, w);
            if let Some(b) = &layer.bias {
                let t = read_tensor(&st, path, &format!("{name}.base_layer.bias"), [n_out], &device)?;
                layer.bias = Some(replace(b, t));
            }
        }
        if layer.column_index.is_some() {
            layer.column_index = Some(crate::layer::index_tensor(&state.columns, &device));
        }
        layer.state = state;
        out.push(layer);
    }
    Ok(out)
}
