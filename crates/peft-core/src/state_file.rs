//! Saving and loading adapter state in safetensors, enough to resume a run exactly.
//!
//! Tensors use HF PEFT's names and orientation (`<layer>.lora_A.weight` [r, in],
//! `<layer>.lora_B.weight` [out, r]); PaCA's trained columns are `<layer>.paca.columns`
//! [out, r] with their starting value `<layer>.paca.columns_start`. Chained methods and FFT
//! change the base weight, so theirs is saved too (`<layer>.base_layer.weight` [out, in]).
//! The non-tensor state (method, rank, α, chain index, selected columns, the column pool, the
//! RNG state) is JSON in the file's metadata under the layer's name.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::layer::leaf;
use crate::{AdaptedLinear, AdapterState, PeftError, Trains};

const FORMAT_KEY: &str = "format";
const FORMAT: &str = "beyond-lora-adapter-v1";

fn to_bytes<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<u8>) {
    let dims = t.dims().to_vec();
    let values: Vec<f32> = t.into_data().convert::<f32>().try_to_vec().expect("f32 data");
    (dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn file_err(path: &Path, message: impl Into<String>) -> PeftError {
    PeftError::StateFile { path: path.to_path_buf(), message: message.into() }
}

/// Writes the state of `layers` to `path` (atomically: a temporary file, then a rename).
pub fn save_adapters(path: &Path, layers: &[&AdaptedLinear]) -> Result<(), PeftError> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert(FORMAT_KEY.into(), FORMAT.into());
    for layer in layers {
        let name = &layer.state.name;
        let spec = layer.spec();
        let mut push = |key: &str, (dims, bytes): (Vec<usize>, Vec<u8>)| {
            tensors.push((format!("{name}.{key}"), dims, bytes));
        };
        if let Some(a) = &layer.lora_a {
            push("lora_A.weight", to_bytes(a.val().inner().transpose()));
        }
        if let Some(b) = &layer.lora_b {
            push("lora_B.weight", to_bytes(b.val().inner().transpose()));
        }
        if let Some(c) = &layer.columns {
            push("paca.columns", to_bytes(c.val().inner().transpose()));
        }
        if let Some(c0) = &layer.columns_start {
            push("paca.columns_start", to_bytes(c0.clone().inner().transpose()));
        }
        if spec.chained || spec.trains == Trains::BaseWeight {
            push("base_layer.weight", to_bytes(layer.weight.val().inner().transpose()));
            if let Some(b) = &layer.bias {
                push("base_layer.bias", to_bytes(b.val().inner()));
            }
        }
        let json = serde_json::to_string(&layer.state).expect("state serialises");
        if meta.insert(name.clone(), json).is_some() {
            return Err(file_err(path, format!("two layers are named `{name}`")));
        }
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, dims, bytes)| {
            (k.clone(), TensorView::new(Dtype::F32, dims.clone(), bytes).expect("consistent view"))
        })
        .collect();
    let tmp = path.with_extension("safetensors.tmp");
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| file_err(path, e.to_string()))?;
    }
    safetensors::serialize_to_file(views, Some(meta), &tmp)
        .map_err(|e| file_err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e.to_string()))?;
    Ok(())
}

fn read_tensor<const D: usize>(
    st: &SafeTensors<'_>,
    path: &Path,
    key: &str,
    expect: [usize; D],
    device: &Device,
) -> Result<Tensor<D>, PeftError> {
    let view = st
        .tensor(key)
        .map_err(|_| file_err(path, format!("missing tensor `{key}`")))?;
    if view.dtype() != Dtype::F32 {
        return Err(file_err(path, format!("tensor `{key}` is {:?}, expected F32", view.dtype())));
    }
    if view.shape() != expect {
        return Err(file_err(
            path,
            format!("tensor `{key}` has shape {:?}, the layer expects {:?}", view.shape(), expect),
        ));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Tensor::from_data(TensorData::new(values, expect), &device.clone().inner()))
}

/// A saved [a, b] matrix (HF orientation) as the layer's [b, a] leaf, transposed on the host so
/// that the tensor is contiguous (a strided view would round differently in matmuls).
fn read_transposed(
    st: &SafeTensors<'_>,
    path: &Path,
    key: &str,
    expect: [usize; 2],
    device: &Device,
) -> Result<Tensor<2>, PeftError> {
    let t = read_tensor(st, path, key, expect, device)?;
    let v: Vec<f32> = t.into_data().try_to_vec().expect("f32 data");
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
        if spec.chained || spec.trains == Trains::BaseWeight {
            let w = read_transposed(&st, path, &format!("{name}.base_layer.weight"), [n_out, n_in], &device)?;
            layer.weight = replace(&layer.weight, w);
            if let Some(b) = &layer.bias {
                let t = read_tensor(&st, path, &format!("{name}.base_layer.bias"), [n_out], &device)?;
                layer.bias = Some(replace(b, leaf(t, &device)));
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
