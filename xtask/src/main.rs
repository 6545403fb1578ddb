//! `cargo xtask …`: the project's command line. It parses arguments, shows progress and
//! prints; the work itself lives in the library crates, where the tests exercise it.

mod bench;
mod bench_layers;
mod bench_ops;
mod bench_step;
mod chaos;
mod check_peft;
mod crosscheck;
mod datasets;
mod device;
mod figures;
mod methods;
mod models_cmd;
mod report_cmd;
mod reproduce;
mod test_cmd;

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
    /// Pretrain the mini suite's models (a tiny ViT, BERT and GPT-2) into results/models/.
    Pretrain {
        /// Which suite (only `mini` has models to pretrain).
        #[arg(value_parser = ["mini"])]
        suite: String,
        /// Only these mini models (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Pretrain again even if the checkpoints exist.
        #[arg(long)]
        force: bool,
        #[arg(long, value_enum, default_value_t = device::DeviceArg::Cpu)]
        device: device::DeviceArg,
        #[arg(long, default_value = "results")]
        results: std::path::PathBuf,
    },
    /// Run the cells behind a paper table (skipping finished ones) and rebuild the report.
    Reproduce {
        #[arg(value_enum)]
        table: reproduce::Table,
        #[command(flatten)]
        grid: reproduce::GridArgs,
    },
    /// Run an ablation grid (Tables 8–13) and rebuild the report.
    Ablate {
        #[arg(value_enum)]
        which: reproduce::Ablation,
        #[command(flatten)]
        grid: reproduce::GridArgs,
    },
    /// Provide what the tests need (Debian packages as root, a one-node Slurm, the real MiniLM
    /// checkpoint in .venv/) and run `cargo test --workspace`: the README's test command.
    Test(test_cmd::TestArgs),
    /// Checks against the reference implementations: `check peft` loads the models finished
    /// cells kept with HF PEFT / transformers and compares their logits with ours.
    Check {
        #[command(subcommand)]
        which: CheckCommand,
    },
    /// Train a mini cell here and in PyTorch + HF PEFT from the same weights and batches and
    /// compare every step's loss and the final accuracy (results/crosscheck.json, crosscheck.html).
    Crosscheck(crosscheck::CrosscheckArgs),
    /// Kill a small mini grid at random moments and check that no result is lost, rewritten or
    /// unreadable and that every cell ends as an uninterrupted run's.
    Chaos(chaos::ChaosArgs),
    /// Run one cell given as JSON and record it (used by --jobs and Slurm array tasks).
    #[command(hide = true)]
    Cell(reproduce::CellArgs),
    /// A loss landscape f(α, β) = L(W + αδ + βη) of finished cells (§E.4.1): PCA or random
    /// directions, a resumable grid, into runs/<suite>/<experiment>/analysis/; then the report.
    Landscape(figures::LandscapeArgs),
    /// Intruder dimensions of finished cells (§E.4.2, Fig 4): SVDs of W₀ and W₀ + ΔW of every
    /// adapted matrix, the count among the top k below each ε ∈ (0, 1]; then the report.
    Intruders(figures::IntruderArgs),
    /// Rebuild every report page (results/index.html, one page per table, CSV/JSON/SVG beside
    /// them) from the stored results, without training.
    Report(report_cmd::ReportArgs),
    /// Benchmarks (not tests): `bench layers` times adapted linear stacks per method.
    Bench {
        #[command(subcommand)]
        which: bench_layers::BenchCommand,
    },
}

#[derive(clap::Subcommand)]
enum CheckCommand {
    /// Load every kept model (weights/<hash>/: PEFT adapters, FFT checkpoints) with HF PEFT /
    /// transformers (bench/.venv, pinned) and compare the logits on the cell's first test
    /// examples with the harness's.
    Peft(check_peft::CheckPeftArgs),
}

fn main() -> Result<()> {
    kernels::allocator::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Methods { json } => methods::run(json),
        Command::Models { json } => models_cmd::run(json),
        Command::Datasets { json } => datasets::run(json),
        Command::Bench { which } => bench_layers::run(which),
        Command::Report(args) => report_cmd::run(args),
        Command::Landscape(args) => figures::landscape(args),
        Command::Intruders(args) => figures::intruders(args),
        Command::Pretrain { suite: _, models, force, device, results } => reproduce::pretrain_missing(&results, device, force, &models),
        Command::Reproduce { table, grid } => reproduce::reproduce(table, grid),
        Command::Ablate { which, grid } => reproduce::ablate(which, grid),
        Command::Cell(args) => reproduce::cell(args),
        Command::Chaos(args) => chaos::chaos(args),
        Command::Crosscheck(args) => crosscheck::crosscheck(args),
        Command::Check { which: CheckCommand::Peft(args) } => check_peft::check_peft(args),
        Command::Test(args) => test_cmd::test(args),
    }
}
