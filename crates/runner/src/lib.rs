//! runner: trains and evaluates one experiment cell (model, data set, method, seed,
//! hyper-parameters) and keeps the ledger of finished cells.
//!
//! - [`experiment`]: `experiments/<suite>/*.toml` → the grid of [`cell::Cell`]s;
//! - [`train`]: `run_cell` (load, adapt, train, evaluate, select the best epoch; per-epoch
//!   checkpoints and resume), with [`data`] (encoding and batching) and [`task_model`] (the
//!   one trait the models implement);
//! - [`schedule`] (LR schedules), [`best`] (best-epoch selection);
//! - [`ledger`]: one JSON file per finished cell keyed by the hash of its full configuration,
//!   written atomically, never silently overwritten;
//! - [`pretrain`]: the mini suite's models, pretrained here and saved as HF checkpoints;
//! - [`slurm`]: sbatch job-array scripts over the same ledger.
//!
//! It must not format HTML or know about report layouts.

pub mod best;
pub mod cell;
pub mod data;
pub mod experiment;
pub mod ledger;
pub mod pretrain;
pub mod schedule;
pub mod slurm;
pub mod task_model;
pub mod train;

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
    #[error("{0}")]
    Message(String),
}

impl RunError {
    pub fn msg(m: impl Into<String>) -> Self {
        RunError::Message(m.into())
    }
}
