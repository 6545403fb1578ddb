//! Where results live and how a result is written. The layout under the results directory:
//!
//! ```text
//! <results>/runs/<suite>/<experiment>/<config-hash>.json      one finished cell (CellResult)
//! <results>/runs/<suite>/<experiment>/<hash>.superseded-N.json  what `--force` replaced
//! <results>/runs/<suite>/<experiment>/partial/<hash>/          a running cell's checkpoint
//! <results>/runs/<suite>/<experiment>/locks/<hash>.lock         who trains a cell now
//! <results>/runs/<suite>/<experiment>/failed/<hash>.json        why a cell could not run
//! <results>/bench/step.json                                    the step benchmark
//! ```
//!
//! `<experiment>` is `main` (Tables 2, 3, 6, 15–18) or `ablate-<name>` (Tables 8–13). A cell's
//! file name is the SHA-256 of its full configuration in canonical JSON (keys sorted), so a
//! changed hyper-parameter is a new cell and an unchanged one is found again after a restart.
//!
//! Writes are atomic and durable: a temporary file in the same directory, fsynced, then linked
//! to its name (a link never replaces an existing file, so of two processes finishing the same
//! cell the first one's result stays), then the directory fsynced. A killed run leaves either
//! the whole result or none. Redoing a cell (`--force`) first renames the old file to
//! `<hash>.superseded-<n>.json`. A file that does not parse is moved aside to
//! `<hash>.json.corrupt-<n>` (never deleted) by [`Ledger::quarantine`], and the cell runs again.
//! [`Ledger::lock`] gives one process at a time the right to train a cell (`locks/<hash>.lock`,
//! an advisory lock the kernel releases when the process dies; the files stay, as removing a
//! lock file others may have opened would let two processes hold "the" lock).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("ledger {path}: not a readable result: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("ledger {path}: the cell is already finished; pass --force to redo it (the old result is kept as a superseded file)")]
    Finished { path: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError {
    let path = path.to_path_buf();
    move |source| LedgerError::Io { path, source }
}

/// Writes `bytes` to a temporary file in `dir` named after the file `name` it will become and
/// this process, fsynced, and returns its path: the first half of every write into the ledger.
fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, LedgerError> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(io_error(&tmp))?;
    Ok(tmp)
}

/// Writes a file beside the ledger (a Slurm cell list, a script) as the ledger writes its own:
/// complete and fsynced under a temporary name, renamed into place, the directory fsynced.
/// A reader never sees half of it.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = write_temp(dir, &name, bytes)?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    sync_dir(dir)
}

/// Flushes a directory's entries (a new or renamed file's name) to the disk.
fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

/// The right to train one cell, held until dropped (or the process dies).
#[derive(Debug)]
pub struct CellLock {
    _file: std::fs::File,
}

/// JSON with every object's keys sorted, whatever serde_json's map order is.
fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", serde_json::to_string(k).unwrap(), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The hex SHA-256 of a configuration's canonical JSON.
pub fn config_hash<C: Serialize>(config: &C) -> String {
    let v = serde_json::to_value(config).expect("a cell configuration serialises");
    let digest = Sha256::digest(canonical(&v).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<results>/runs`: the ledgers of every suite and experiment.
pub fn runs_dir(results_dir: &Path) -> PathBuf {
    results_dir.join("runs")
}

/// The experiment of a table with its own grid (`[grid.table15]` of an experiment file): its
/// cells are kept apart from `main`'s, whose rows they would otherwise mix with.
pub const TABLE15_EXPERIMENT: &str = "table15";

/// `<results>/runs/<suite>/<experiment>`: the ledger directory of one experiment.
pub fn experiment_dir(results_dir: &Path, suite: &str, experiment: &str) -> PathBuf {
    runs_dir(results_dir).join(suite).join(experiment)
}

/// The finished cells of one experiment: a directory of `<hash>.json` files.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub dir: PathBuf,
}

impl Ledger {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The ledger of (suite, experiment) under a results directory.
    pub fn of_experiment(results_dir: &Path, suite: &str, experiment: &str) -> Self {
        Self::new(experiment_dir(results_dir, suite, experiment))
    }

    /// Where the partial (per-epoch) checkpoints of this ledger's running cells go.
    pub fn partial_dir(&self) -> PathBuf {
        self.dir.join("partial")
    }

    /// Where each cell's training log goes: `<hash>.steps.jsonl` (one [`crate::StepLine`] per
    /// step) and `<hash>.trainer_state.json` (HF Trainer's layout), written by the run that
    /// trains it (a `--force` re-run replaces them).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Where each finished cell's trained model goes: `weights/<hash>/` (an HF PEFT adapter or
    /// a transformers checkpoint of the selected epoch; see `CellResult::weights`).
    pub fn weights_dir(&self) -> PathBuf {
        self.dir.join("weights")
    }

    pub fn path_of(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.json"))
    }

    pub fn is_finished(&self, hash: &str) -> bool {
        self.path_of(hash).is_file()
    }

    /// A name beside `<hash>.json` that is not taken yet: `<hash><infix><n><suffix>`, n ≥ 1.
    fn free_name(&self, hash: &str, infix: &str, suffix: &str) -> PathBuf {
        (1..).map(|n| self.dir.join(format!("{hash}{infix}{n}{suffix}"))).find(|p| !p.exists()).expect("a free name")
    }

    /// Records a finished cell. Refuses to replace a finished one unless `force`, in which case
    /// the old file is kept under a superseded name.
    pub fn record<R: Serialize>(&self, hash: &str, result: &R, force: bool) -> Result<PathBuf, LedgerError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.path_of(hash);
        if path.exists() {
            if !force {
                return Err(LedgerError::Finished { path });
            }
            let old = self.free_name(hash, ".superseded-", ".json");
            std::fs::rename(&path, &old).map_err(io_error(&path))?;
        }
        let tmp = write_temp(&self.dir, &format!("{hash}.json"), serde_json::to_string_pretty(result).expect("a result serialises").as_bytes())?;
        // A hard link fails where the name exists: whoever links first has recorded the cell.
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(LedgerError::Finished { path }),
            Err(e) => return Err(io_error(&path)(e)),
        }
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// Moves an unreadable result aside (`<hash>.json.corrupt-<n>`, kept for inspection) so that
    /// its cell runs again. Returns where it went.
    pub fn quarantine(&self, hash: &str) -> Result<PathBuf, LedgerError> {
        let path = self.path_of(hash);
        let aside = self.free_name(hash, ".json.corrupt-", "");
        std::fs::rename(&path, &aside).map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        Ok(aside)
    }

    fn failed_path(&self, hash: &str) -> PathBuf {
        self.dir.join("failed").join(format!("{hash}.json"))
    }

    /// Records why cell `hash` could not run (replacing an earlier failure of it: only the
    /// last one is kept). Not a result: the cell stays unfinished.
    pub fn record_failure<R: Serialize>(&self, hash: &str, failure: &R) -> Result<(), LedgerError> {
        let path = self.failed_path(hash);
        let dir = path.parent().expect("failed/ has a parent");
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        write_durably(&path, serde_json::to_string_pretty(failure).expect("a failure serialises").as_bytes())
    }

    /// Forgets the failure of cell `hash` (once it has finished).
    pub fn clear_failure(&self, hash: &str) -> Result<(), LedgerError> {
        match std::fs::remove_file(self.failed_path(hash)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&self.failed_path(hash))(e)),
            _ => Ok(()),
        }
    }

    /// The recorded failure of cell `hash`, if there is one and it parses as `R`.
    pub fn failure<R: DeserializeOwned>(&self, hash: &str) -> Option<R> {
        std::fs::read_to_string(self.failed_path(hash)).ok().and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Every recorded failure that parses as `R`, sorted by file name.
    pub fn failures<R: DeserializeOwned>(&self) -> Vec<R> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("failed")) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        paths.sort();
        paths.iter().filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()).collect()
    }

    /// Takes the lock of cell `hash` if no other process holds it (`None` if one does). Hold the
    /// returned value while the cell trains and is recorded.
    pub fn lock(&self, hash: &str) -> Result<Option<CellLock>, LedgerError> {
        let dir = self.dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = dir.join(format!("{hash}.lock"));
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(CellLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(&path)(e)),
        }
    }

    /// One finished result.
    pub fn read<R: DeserializeOwned>(&self, hash: &str) -> Result<R, LedgerError> {
        let path = self.path_of(hash);
        let text = std::fs::read_to_string(&path).map_err(|source| LedgerError::Io { path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| LedgerError::Parse { path, source })
    }

    /// Hashes of every finished cell (superseded and temporary files excluded), sorted.
    pub fn finished(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && !n.contains(".superseded-"))
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_is_canonical_and_changes_with_the_config() {
        let a = json!({"model": "roberta-base", "method": "lora", "lr": 3e-4, "seed": 0});
        let b = json!({"seed": 0, "lr": 3e-4, "method": "lora", "model": "roberta-base"});
        assert_eq!(config_hash(&a), config_hash(&b));
        let c = json!({"seed": 0, "lr": 1e-4, "method": "lora", "model": "roberta-base"});
        assert_ne!(config_hash(&a), config_hash(&c));
        assert_eq!(config_hash(&a).len(), 64);
    }

    #[test]
    fn record_resume_and_force_never_lose_a_result() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        assert_eq!(ledger.dir, dir.path().join("runs/mini/main"));
        let h = config_hash(&json!({"cell": 1}));
        assert!(!ledger.is_finished(&h));
        ledger.record(&h, &json!({"test_metric": 0.8}), false).unwrap();
        assert!(ledger.is_finished(&h));
        // A restarted run finds it and does not redo it.
        assert_eq!(ledger.finished(), vec![h.clone()]);
        let err = ledger.record(&h, &json!({"test_metric": 0.1}), false).unwrap_err();
        assert!(matches!(err, LedgerError::Finished { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        let kept: serde_json::Value = ledger.read(&h).unwrap();
        assert_eq!(kept["test_metric"], 0.8);
        // --force keeps the old result as a superseded file.
        ledger.record(&h, &json!({"test_metric": 0.9}), true).unwrap();
        let now: serde_json::Value = ledger.read(&h).unwrap();
        assert_eq!(now["test_metric"], 0.9);
        let old: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(ledger.dir.join(format!("{h}.superseded-1.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(old["test_metric"], 0.8);
        assert_eq!(ledger.finished(), vec![h.clone()], "superseded and temp files are not cells");
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(&ledger.dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    }

    /// An unreadable result is moved aside, never deleted, and its cell is no longer finished.
    #[test]
    fn an_unreadable_result_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        let h = config_hash(&json!({"cell": 2}));
        std::fs::create_dir_all(&ledger.dir).unwrap();
        std::fs::write(ledger.path_of(&h), "{ cut off").unwrap();
        assert!(matches!(ledger.read::<serde_json::Value>(&h), Err(LedgerError::Parse { .. })));
        let aside = ledger.quarantine(&h).unwrap();
        assert_eq!(aside, ledger.dir.join(format!("{h}.json.corrupt-1")));
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{ cut off");
        assert!(!ledger.is_finished(&h));
        assert!(ledger.finished().is_empty(), "a moved-aside file is not a cell");
        ledger.record(&h, &json!({"test_metric": 0.5}), false).unwrap();
        assert_eq!(ledger.finished(), vec![h]);
    }

    /// One process at a time holds a cell's lock; dropping it (or dying) releases it.
    #[test]
    fn a_cell_lock_is_exclusive_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        let first = ledger.lock("abc").unwrap();
        assert!(first.is_some());
        assert!(ledger.lock("abc").unwrap().is_none(), "held: a second taker is refused");
        assert!(ledger.lock("def").unwrap().is_some(), "other cells are free");
        drop(first);
        assert!(ledger.lock("abc").unwrap().is_some(), "released");
        assert!(ledger.finished().is_empty(), "lock files are not cells");
    }

    /// A failure is kept beside the results (not as one), replaced by the next, cleared on success.
    #[test]
    fn failures_are_recorded_apart_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::of_experiment(dir.path(), "mini", "main");
        ledger.record_failure("abc", &json!({"reason": "first"})).unwrap();
        ledger.record_failure("abc", &json!({"reason": "second"})).unwrap();
        ledger.record_failure("def", &json!({"reason": "other"})).unwrap();
        let all: Vec<serde_json::Value> = ledger.failures();
        assert_eq!(all.iter().map(|f| f["reason"].as_str().unwrap()).collect::<Vec<_>>(), ["second", "other"]);
        assert!(ledger.finished().is_empty(), "a failure is not a result");
        ledger.clear_failure("abc").unwrap();
        ledger.clear_failure("abc").unwrap();
        assert_eq!(ledger.failures::<serde_json::Value>().len(), 1);
    }
}
