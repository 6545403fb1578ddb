//! What the xtask end-to-end tests share: the built xtask binary, the repository root it runs
//! from, and mini models pretrained once per target directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn xtask() -> &'static str {
    env!("CARGO_BIN_EXE_xtask")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository root")
}

/// Runs xtask from the repository root; panics with its output when it fails.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(xtask()).args(args).current_dir(repo_root()).output().expect("xtask runs");
    assert!(out.status.success(), "xtask {args:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// A fresh results directory `<target tmp>/<name>` whose `models/` links to the mini models
/// pretrained once under `<target tmp>/mini-models` (pretraining only what is missing: the
/// first run on a machine pretrains mini-vit, about a minute on two cores).
pub fn results_with_mini_models(name: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cache = tmp.join("mini-models");
    run(&["pretrain", "mini", "--models", "mini-vit", "--results", cache.to_str().unwrap()]);
    let dir = tmp.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(cache.join("models"), dir.join("models")).unwrap();
    dir
}

/// The results of one experiment: file name → bytes (`ledger::audit::result_files`).
pub fn ledger_files(results: &Path, experiment: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    ledger::audit::result_files(&ledger::experiment_dir(results, "mini", experiment)).unwrap()
}
