//! `cargo xtask report`: rebuilds every page of the report from the stored results — the
//! ledger under `results/runs/`, `results/bench/step.json` and the paper's tables — without
//! training anything.

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The results directory: the ledger is read from `<results>/runs/`, the pages written here.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The paper's published numbers, shown beside the paper suite's.
    #[arg(long, default_value = "experiments/paper-tables")]
    pub paper_tables: PathBuf,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let written = report::build_site(&args.results, &args.paper_tables)?;
    let loaded = report::cells::load(&args.results);
    for e in &loaded.experiments {
        println!("{}/{}: {} cells", e.suite, e.experiment, e.cells.len());
    }
    for (path, why) in &loaded.unreadable {
        eprintln!("warning: skipped {}: {why}", path.display());
    }
    let pages: Vec<&PathBuf> = written.iter().filter(|p| p.extension().is_some_and(|e| e == "html")).collect();
    if let Some(index) = pages.first() {
        println!("{}", index.display());
    }
    for p in pages.iter().skip(1) {
        println!("  {}", p.display());
    }
    println!("  (+ {} CSV, JSON and SVG files beside them)", written.len() - pages.len());
    Ok(())
}
