//! Saving and restoring every trainable parameter of a model by its module path (the task
//! head, FFT's whole backbone, adapters), for resuming a cell mid-run. Together with the adapter
//! state ([`crate::save_adapters`], which also holds the merged base weights of chained
//! methods) and the optimizer state ([`crate::AdamW::save_state`]) this is all a resumed run
//! needs.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};

use crate::safetensors_io::{file_err, read_f32, shape_and_values, write_f32};
use crate::{ParamGroups, PeftError};

const FORMAT: &str = "beyond-lora-trainable-v1";

struct Collect<'a> {
    paths: HashMap<ParamId, &'a str>,
    out: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(path) = self.paths.get(&param.id) {
            let (dims, values) = shape_and_values(param.val().inner());
            self.out.push((path.to_string(), dims, values));
        }
    }
}

/// Writes every trainable parameter of `module` to `path` (atomically), keyed by module path.
pub fn save_trainable<M: Module>(path: &Path, module: &M) -> Result<(), PeftError> {
    let groups = ParamGroups::from_module(module, &[]);
    let paths = groups.params.iter().map(|(id, p)| (*id, p.path.as_str())).collect();
    let mut c = Collect { paths, out: Vec::new() };
    module.visit(&mut c);
    let meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
    write_f32(path, &c.out, meta)
}

struct Restore<'a> {
    paths: HashMap<ParamId, String>,
    st: &'a safetensors::SafeTensors<'a>,
    file: &'a Path,
    error: Option<PeftError>,
}

impl ModuleMapper for Restore<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(key) = self.paths.get(&param.id) else { return param };
        if self.error.is_some() {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        match read_f32(self.st, self.file, key, &dims) {
            Ok(values) => {
                let device = tensor.device();
                let require_grad = tensor.is_require_grad();
                let mut t: Tensor<D> = Tensor::from_data(TensorData::new(values, dims), &device);
                if require_grad {
                    t = t.require_grad();
                }
                Param::from_mapped_value(id, t, mapper)
            }
            Err(e) => {
                self.error = Some(e);
                Param::from_mapped_value(id, tensor, mapper)
            }
        }
    }
}

/// Restores what [`save_trainable`] wrote onto a model built the same way (same method,
/// shapes and module paths); parameter ids are kept. A missing path or a shape mismatch is an
/// error naming the file and the key.
pub fn load_trainable<M: Module>(path: &Path, module: M) -> Result<M, PeftError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e.to_string()))?;
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| file_err(path, format!("not a safetensors file: {e}")))?;
    if header.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str) != Some(FORMAT) {
        return Err(file_err(path, format!("not a {FORMAT} file (metadata `format`)")));
    }
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| file_err(path, e.to_string()))?;
    let groups = ParamGroups::from_module(&module, &[]);
    let paths = groups.params.into_iter().map(|(id, p)| (id, p.path)).collect();
    let mut r = Restore { paths, st: &st, file: path, error: None };
    let module = module.map(&mut r);
    match r.error {
        Some(e) => Err(e),
        None => Ok(module),
    }
}
