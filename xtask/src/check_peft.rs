//! `cargo xtask check peft`: loads the models finished cells kept (`weights/<hash>/`) with HF
//! PEFT / transformers, as a user would, and compares their logits on the cell's first test
//! examples with the harness's (`bench/peft_check.py`, in bench/.venv with the pinned torch,
//! transformers and peft).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use ledger::{CellResult, Ledger};

#[derive(Args, Clone, Debug)]
pub struct CheckPeftArgs {
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, default_value = "mini")]
    pub suite: String,
    /// The ledger experiment (`main` is Table 2's grid).
    #[arg(long, default_value = "main")]
    pub experiment: String,
    /// Only these methods (comma-separated; default: every kept model).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Largest absolute logit difference accepted.
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f64,
    /// The Python that runs bench/peft_check.py (it makes bench/.venv on first use).
    #[arg(long, default_value = "python3")]
    pub python: String,
}

pub fn check_peft(args: CheckPeftArgs) -> Result<()> {
    let ledger = Ledger::of_experiment(&args.results, &args.suite, &args.experiment);
    let mut dirs = Vec::new();
    let mut without = 0;
    for hash in ledger.finished() {
        let r: CellResult = ledger.read(&hash).with_context(|| format!("reading {}", ledger.path_of(&hash).display()))?;
        if !args.methods.is_empty() && !args.methods.contains(&r.cell.method) {
            continue;
        }
        match &r.weights {
            Some(w) => dirs.push(ledger.dir.join(&w.dir)),
            None => without += 1,
        }
    }
    if dirs.is_empty() {
        bail!(
            "no kept models under {} ({without} finished cells without one): run `cargo xtask reproduce table2 --suite {}` first",
            ledger.dir.display(),
            args.suite
        );
    }
    println!("checking {} kept models with HF PEFT / transformers ({without} cells kept none)", dirs.len());
    let status = Command::new(&args.python)
        .arg("bench/peft_check.py")
        .arg(format!("--tolerance={}", args.tolerance))
        .args(&dirs)
        .status()
        .with_context(|| format!("running {} bench/peft_check.py", args.python))?;
    if !status.success() {
        bail!("some kept models do not load in HF PEFT / transformers to the harness's logits (the lines with \"ok\": false above)");
    }
    println!("all {} load in HF PEFT / transformers to the harness's logits (≤ {})", dirs.len(), args.tolerance);
    Ok(())
}
