//! Reading and writing f32 tensors in safetensors files, shared by the adapter state
//! (`state_file`), the optimizer state (`optim`), trainable parameters (`trainable_io`) and
//! the models crate's checkpoint export.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Tensor;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::PeftError;

pub(crate) fn file_err(path: &Path, message: impl Into<String>) -> PeftError {
    PeftError::StateFile { path: path.to_path_buf(), message: message.into() }
}

/// A tensor's shape and its values in logical (row-major) order.
pub fn shape_and_values<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    (dims, t.into_data().convert::<f32>().try_to_vec().expect("f32 data"))
}

/// Writes named f32 tensors and string metadata to `path`, atomically (a temporary file in the
/// same directory, then a rename).
pub fn write_f32(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    meta: HashMap<String, String>,
) -> Result<(), PeftError> {
    write(path, tensors, &[], Some(meta))
}

/// Writes named f32 and i64 tensors to `path` (PyTorch's `format: pt`), atomically.
pub fn write_tensors(path: &Path, floats: &[(String, Vec<usize>, Vec<f32>)], longs: &[(String, Vec<usize>, Vec<i64>)]) -> Result<(), PeftError> {
    write(path, floats, longs, Some(HashMap::from([("format".to_string(), "pt".to_string())])))
}

fn write(
    path: &Path,
    floats: &[(String, Vec<usize>, Vec<f32>)],
    longs: &[(String, Vec<usize>, Vec<i64>)],
    meta: Option<HashMap<String, String>>,
) -> Result<(), PeftError> {
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> =
        floats.iter().map(|(k, d, v)| (k.clone(), Dtype::F32, d.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    entries.extend(longs.iter().map(|(k, d, v)| (k.clone(), Dtype::I64, d.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect())));
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .map(|(k, dtype, dims, b)| (k.clone(), TensorView::new(*dtype, dims.clone(), b).expect("consistent view")))
        .collect();
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| file_err(path, e.to_string()))?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(views, meta, &tmp).map_err(|e| file_err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e.to_string()))
}

/// The values of the f32 tensor `key`, which must have exactly `shape`.
pub(crate) fn read_f32(st: &SafeTensors<'_>, path: &Path, key: &str, shape: &[usize]) -> Result<Vec<f32>, PeftError> {
    let view = st.tensor(key).map_err(|_| file_err(path, format!("missing tensor `{key}`")))?;
    if view.dtype() != Dtype::F32 {
        return Err(file_err(path, format!("tensor `{key}` is {:?}, expected F32", view.dtype())));
    }
    if view.shape() != shape {
        return Err(file_err(path, format!("tensor `{key}` has shape {:?}, expected {:?}", view.shape(), shape)));
    }
    Ok(view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}
