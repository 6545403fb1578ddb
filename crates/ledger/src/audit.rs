//! What a ledger must never do, checked from outside while it is being written: lose a
//! result, rewrite one, or hold one that does not parse. `cargo xtask chaos` audits the ledger
//! after every kill; [`metric_difference`] compares a cell's numbers with another run's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cell::{CellResult, EpochRecord};

/// Every result file seen so far (name → bytes) and what went wrong since the audit began.
#[derive(Debug, Default)]
pub struct Audit {
    dir: PathBuf,
    seen: BTreeMap<String, Vec<u8>>,
    /// Results that were there and are gone.
    pub lost: Vec<String>,
    /// Results whose bytes changed (or that were superseded).
    pub rewritten: Vec<String>,
    /// Results that do not parse, or were moved aside as unreadable (`.corrupt-<n>`).
    pub unreadable: Vec<String>,
}

impl Audit {
    /// An audit of the ledger directory `dir` (a `Ledger`'s `dir`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Audit { dir: dir.into(), ..Audit::default() }
    }

    /// Looks at the ledger now: every result seen before is still there with the same bytes,
    /// every result parses, no result was quarantined or superseded. Returns the number of
    /// results.
    pub fn check(&mut self) -> std::io::Result<usize> {
        let now = result_files(&self.dir)?;
        for (name, bytes) in &self.seen {
            match now.get(name) {
                None => push_once(&mut self.lost, name),
                Some(b) if b != bytes => push_once(&mut self.rewritten, name),
                Some(_) => {}
            }
        }
        let mut results = 0;
        for (name, bytes) in &now {
            if name.contains(".corrupt-") {
                push_once(&mut self.unreadable, name);
            } else if name.contains(".superseded") {
                push_once(&mut self.rewritten, name);
            } else if name.ends_with(".json") {
                results += 1;
                if serde_json::from_slice::<CellResult>(bytes).is_err() {
                    push_once(&mut self.unreadable, name);
                }
                self.seen.entry(name.clone()).or_insert_with(|| bytes.clone());
            }
        }
        Ok(results)
    }

    /// Nothing lost, rewritten or unreadable.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty() && self.rewritten.is_empty() && self.unreadable.is_empty()
    }
}

fn push_once(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// The plain files at the top of a ledger directory (not its `partial/`, `locks/`, `failed/`,
/// `logs/`), name → bytes, without the temporary files of writes under way; none when the
/// directory does not exist yet.
pub fn result_files(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        match std::fs::read(entry.path()) {
            Ok(bytes) => {
                files.insert(name, bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(files)
}

/// The largest absolute difference between two runs' numbers of one cell (every epoch's losses
/// and metrics, and the selected epoch), or `None` when they do not even have the same epochs,
/// outcome or selected epoch. NaN equals NaN here (a diverged epoch in both).
pub fn metric_difference(a: &CellResult, b: &CellResult) -> Option<f64> {
    if a.outcome != b.outcome || a.epochs.len() != b.epochs.len() || a.best.as_ref().map(|e| e.epoch) != b.best.as_ref().map(|e| e.epoch) {
        return None;
    }
    let numbers = |e: &EpochRecord| [e.train_loss, e.val_loss, e.val_metric, e.test_loss, e.test_metric];
    let mut worst: f64 = 0.0;
    for (x, y) in a.epochs.iter().chain(&a.best).zip(b.epochs.iter().chain(&b.best)) {
        for (p, q) in numbers(x).into_iter().zip(numbers(y)) {
            if p.is_nan() && q.is_nan() {
                continue;
            }
            let d = (p - q).abs();
            if d.is_nan() {
                return None;
            }
            worst = worst.max(d);
        }
    }
    Some(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(test_metric: f64) -> CellResult {
        serde_json::from_value(serde_json::json!({
            "cell": {"suite": "mini", "model": "m", "dataset": "d", "method": "lora", "seed": 0, "hyper": {
                "lr": 1e-3, "lr_ratio_b": null, "scheduler": "linear", "warmup_init_lr": 1e-6, "warmup_ratio": 0.1,
                "weight_decay": 0.0, "batch_size": 8, "epochs": 1, "rank": 4, "alpha": 8.0, "target_modules": ["query"],
                "chain_reset_every_epochs": null, "grad_clip_global_norm": 1.0, "max_length": 16, "best_epoch": "lowest-val-loss"}},
            "hash": "h", "outcome": {"status": "finished"}, "metric": "accuracy", "higher_is_better": true,
            "epochs": [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.5, "val_metric": 60.0, "test_loss": 0.6, "test_metric": test_metric}],
            "best": {"epoch": 1, "train_loss": 1.0, "val_loss": 0.5, "val_metric": 60.0, "test_loss": 0.6, "test_metric": test_metric},
            "params": {"backbone_trainable": 1, "head": 1, "total": 2},
            "cost": {"train_samples_per_s": 1.0, "wall_s": 1.0, "train_s": 1.0, "peak_rss_bytes": 1, "device": "cpu"},
            "finished_at": 0, "harness_version": "0"
        }))
        .unwrap()
    }

    #[test]
    fn an_audit_sees_lost_rewritten_and_unreadable_results() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let good = serde_json::to_vec(&result(61.0)).unwrap();
        std::fs::write(d.join("a.json"), &good).unwrap();
        std::fs::write(d.join("b.json"), &good).unwrap();
        std::fs::write(d.join(".c.json.tmp-1"), b"half").unwrap();
        let mut audit = Audit::new(d);
        assert_eq!(audit.check().unwrap(), 2);
        assert!(audit.is_clean(), "{audit:?}");
        std::fs::remove_file(d.join("a.json")).unwrap();
        std::fs::write(d.join("b.json"), serde_json::to_vec(&result(62.0)).unwrap()).unwrap();
        std::fs::write(d.join("c.json"), b"{\"cut").unwrap();
        std::fs::write(d.join("e.json.corrupt-1"), b"x").unwrap();
        audit.check().unwrap();
        assert_eq!(audit.lost, ["a.json"]);
        assert_eq!(audit.rewritten, ["b.json"]);
        assert_eq!(audit.unreadable, ["c.json", "e.json.corrupt-1"]);
        assert!(!audit.is_clean());
    }

    #[test]
    fn metric_differences_between_runs() {
        assert_eq!(metric_difference(&result(61.0), &result(61.0)), Some(0.0));
        assert_eq!(metric_difference(&result(61.0), &result(61.5)), Some(0.5));
        assert_eq!(metric_difference(&result(f64::NAN), &result(f64::NAN)), Some(0.0));
        assert_eq!(metric_difference(&result(f64::NAN), &result(61.0)), None);
        let mut longer = result(61.0);
        longer.epochs.push(longer.epochs[0].clone());
        assert_eq!(metric_difference(&result(61.0), &longer), None);
    }
}
