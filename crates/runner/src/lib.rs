//! runner: trains and evaluates experiment cells (model, data set, method, seed,
//! hyper-parameters) and records each in the ledger (the `ledger` crate's schema and files).
//!
//! - [`experiment`]: `experiments/<suite>/*.toml` → the grid of [`ledger::Cell`]s;
//! - [`grid`]: running a grid (what is left to run, in-process or `--jobs` children under a
//!   memory guard, the first result stays, the dry-run estimate);
//! - [`train`]: [`train::run_cell`] (load, adapt, train, evaluate, select the best epoch;
//!   per-epoch checkpoints and resume) on any family through [`models::FineTune`], with
//!   [`data`] (encoding and batching);
//! - [`loss`] and [`step`]: the losses and the optimisation step both training loops share;
//! - [`schedule`] (LR schedules), [`best`] (best-epoch selection);
//! - [`mini`]: the mini suite's models, pretrained here and saved as HF checkpoints;
//! - [`timing`]: the controlled timing phase (cost figures that repeat);
//! - [`trajectory`]: recording a cell's trajectory (the geometry diagnostics' input);
//! - [`slurm`]: sbatch job-array scripts over the same ledger.
//!
//! It must not format HTML or know about report layouts.

pub mod best;
pub mod crosscheck;
pub mod data;
pub mod experiment;
pub mod grid;
pub mod loss;
pub mod mini;
pub mod schedule;
pub mod slurm;
pub mod step;
pub mod timing;
pub mod train;
pub mod trajectory;

/// Why a cell could not run (a diverged cell is not an error: it is a recorded outcome).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    #[error(transparent)]
    Peft(#[from] peft_core::PeftError),
    #[error(transparent)]
    Hub(#[from] hub::HubError),
    #[error(transparent)]
    Experiment(#[from] experiment::ExperimentError),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error("stopped after epoch {epoch} as asked (a partial checkpoint is kept for resuming)")]
    Interrupted { epoch: usize },
    #[error("stopped by a signal in epoch {epoch} (SIGTERM: a time limit, preemption or scancel); a re-run resumes from the last partial checkpoint")]
    Stopped { epoch: usize },
    #[error("partial checkpoint {path} cannot be resumed from: {message}")]
    UnusablePartial { path: std::path::PathBuf, message: String },
    #[error("{0}")]
    Message(String),
}

impl RunError {
    pub fn msg(m: impl Into<String>) -> Self {
        RunError::Message(m.into())
    }
}
