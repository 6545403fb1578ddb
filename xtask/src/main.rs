//! `cargo xtask …`: the project's command line. It parses arguments, shows progress and
//! prints; the work itself lives in the library crates, where the tests exercise it.

mod bench;
mod bench_layers;
mod bench_step;
mod datasets;
mod device;
mod methods;
mod models_cmd;
mod report_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "beyond-lora: reproduce 'Beyond LoRA: Is Sparsity-Induced Adaptation Better?'")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered fine-tuning methods.
    Methods {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the model presets (the paper's ten checkpoints) with parameter counts.
    Models {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List every data set: source, task, metric, split protocol, split sizes when cached.
    Datasets {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild every report page (results/index.html, one page per table, CSV/JSON/SVG beside
    /// them) from the stored results, without training.
    Report(report_cmd::ReportArgs),
    /// Benchmarks (not tests): `bench layers` times adapted linear stacks per method.
    Bench {
        #[command(subcommand)]
        which: bench_layers::BenchCommand,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Methods { json } => methods::run(json),
        Command::Models { json } => models_cmd::run(json),
        Command::Datasets { json } => datasets::run(json),
        Command::Bench { which } => bench_layers::run(which),
        Command::Report(args) => report_cmd::run(args),
    }
}
