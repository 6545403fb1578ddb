//! What the benchmarks share: timing a step, running one method in a child process of this
//! very binary (so that each method's peak memory is its own), and writing results.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use serde::de::DeserializeOwned;

pub use runner::train::peak_rss_bytes;

/// Runs `step` 2 warm-up times and then `timed` times, waiting for the device after each so the
/// time is the step's, not the queue's; returns the median seconds of the timed ones.
pub fn median_step_seconds(timed: usize, device: &Device, mut step: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(timed);
    for i in 0..timed + 2 {
        let start = Instant::now();
        step()?;
        device.sync().ok();
        if i >= 2 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(median(times))
}

/// The median of `values` (the upper one of an even count; NaN for none).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).expect("a measurement is NaN"));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The methods to benchmark: the given ones (each checked against the registry), or `default`.
pub fn methods_or(given: &[String], default: impl IntoIterator<Item = &'static str>) -> Result<Vec<String>> {
    if given.is_empty() {
        return Ok(default.into_iter().map(str::to_string).collect());
    }
    for m in given {
        peft_core::method(m)?;
    }
    Ok(given.to_vec())
}

/// Runs this binary with `args` and reads the one JSON line it prints.
pub fn run_child<T: DeserializeOwned>(args: &[String], what: &str) -> Result<T> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe).args(args).output().with_context(|| format!("starting the benchmark process for {what}"))?;
    if !out.status.success() {
        bail!("benchmark of {what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).with_context(|| format!("reading the result of {what}: {line}"))
}

/// Writes pretty JSON atomically (a temporary file, then a rename) and says where.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(value)?)?;
    std::fs::rename(&tmp, path)?;
    println!("wrote {}", path.display());
    Ok(())
}
