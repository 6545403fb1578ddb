//! Where a checkpoint's files come from (the hub cache or a local directory) and reading its
//! `config.json`.

use std::path::PathBuf;

use hub::{Hub, HubRepo};

use crate::ModelError;
use crate::weights::Weights;

/// A checkpoint: a hub repository at a revision, or a local directory in the same layout.
#[derive(Clone, Debug)]
pub enum Checkpoint {
    Hub { hub: Hub, repo: HubRepo },
    Dir(PathBuf),
}

impl Checkpoint {
    pub fn hub(hub: Hub, repo_id: &str, revision: &str) -> Self {
        Checkpoint::Hub { hub, repo: HubRepo::model(repo_id).at(revision) }
    }

    /// The local path of one file of the checkpoint.
    pub fn file(&self, name: &str) -> Result<PathBuf, ModelError> {
        match self {
            Checkpoint::Hub { hub, repo } => Ok(hub.get(repo, name)?),
            Checkpoint::Dir(dir) => {
                let p = dir.join(name);
                if p.exists() {
                    Ok(p)
                } else {
                    Err(ModelError::Config { path: p, message: "file not found in the checkpoint directory".into() })
                }
            }
        }
    }

    pub fn has_file(&self, name: &str) -> bool {
        match self {
            // Online, the Hub's file list answers without downloading (or failing to download)
            // the file itself.
            Checkpoint::Hub { hub, repo } => {
                hub.is_cached(repo, name) || (!hub.offline && hub.list_files(repo).is_ok_and(|f| f.iter().any(|f| f == name)))
            }
            Checkpoint::Dir(dir) => dir.join(name).exists(),
        }
    }

    /// `config.json` parsed, with its path for error messages.
    pub fn config_json(&self) -> Result<(PathBuf, serde_json::Value), ModelError> {
        let path = self.file("config.json")?;
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Config { path: path.clone(), message: e.to_string() })?;
        let json = serde_json::from_str(&text).map_err(|e| ModelError::Config { path: path.clone(), message: format!("bad JSON: {e}") })?;
        Ok((path, json))
    }

    /// A typed config from `config.json`.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, ModelError> {
        let (path, json) = self.config_json()?;
        serde_json::from_value(json).map_err(|e| ModelError::Config { path, message: e.to_string() })
    }

    pub fn weights(&self) -> Result<Weights, ModelError> {
        Weights::open_checkpoint(|f| self.file(f))
    }
}

/// `num_labels` as transformers derives it: from `id2label` when present, else `num_labels`,
/// else `default`.
pub fn num_labels(config: &serde_json::Value, default: usize) -> usize {
    if let Some(m) = config.get("id2label").and_then(|v| v.as_object()) {
        return m.len();
    }
    config.get("num_labels").and_then(|v| v.as_u64()).map(|n| n as usize).unwrap_or(default)
}
