//! The step benchmark's records: `<results>/bench/step.json`, written by `cargo xtask bench
//! step|compare`, read by the report's bench page.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One measurement of `results/bench/step.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepRecord {
    /// `burn` or `pytorch-peft`.
    #[serde(rename = "impl")]
    pub implementation: String,
    pub method: String,
    pub seconds_per_step: f64,
    pub samples_per_s: f64,
    pub peak_rss_bytes: u64,
    pub trainable_params: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_params: Option<usize>,
}

/// The implementation whose LoRA is the external baseline.
pub const PYTORCH: &str = "pytorch-peft";

/// `<results>/bench/step.json`.
pub fn step_records_path(results_dir: &Path) -> PathBuf {
    results_dir.join("bench").join("step.json")
}
