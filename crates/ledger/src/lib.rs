//! ledger: what a finished experiment cell is and where it is kept — the schema both the
//! runner (which writes it) and the report (which reads it) share.
//!
//! - [`cell`]: a [`Cell`] (model, data set, method, seed and every hyper-parameter that can
//!   change its result) and its [`CellResult`] with the per-epoch [`EpochRecord`]s, outcome,
//!   parameter counts and cost;
//! - [`store`]: the path layout under the results directory ([`experiment_dir`]) and the
//!   [`Ledger`] of one experiment: one JSON file per cell, keyed by the SHA-256 of the cell's
//!   canonical JSON ([`config_hash`]), written atomically and never silently overwritten;
//! - [`log`]: a cell's per-step training log ([`StepLine`]) and HF Trainer's state file;
//! - [`bench`]: the step benchmark's records ([`StepRecord`]) and the cross-check's ([`CrosscheckRecord`]), and their files;
//! - [`trajectory`]: a cell's kept trajectory (its trained tensors per epoch end and every N
//!   steps): the index and file layout;
//! - [`analysis`]: the geometry diagnostics' records (loss landscapes, intruder dimensions);
//! - [`audit`]: checks from outside that a ledger under kills loses, rewrites and corrupts
//!   nothing ([`audit::Audit`]), and how far two runs' numbers of a cell differ.
//!
//! It must not depend on tensors, models or data sets: a reader of results needs serde only.

pub mod analysis;
pub mod audit;
pub mod bench;
pub mod cell;
pub mod log;
pub mod store;
pub mod trajectory;

pub use bench::{CrosscheckRecord, StepRecord};
pub use log::{StepLine, TrainerState};
pub use cell::{ADAM_BETAS, ADAM_EPS, Adaptation, Cell, CellResult, CodeVersion, Cost, EpochRecord, FailedCell, Hyper, KeptWeights, Outcome, ParamCounts, ScheduleKind, Selection, TimedCost, unix_now};
pub use store::{Ledger, LedgerError, TABLE15_EXPERIMENT, config_hash, experiment_dir, runs_dir, write_durably};
