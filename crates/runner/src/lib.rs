//! runner: trains and evaluates one experiment cell (model, data set, method, seed,
//! hyper-parameters) and keeps the ledger of finished cells.
//!
//! What exists so far: learning-rate schedules ([`schedule`]), best-epoch selection
//! ([`best`]) and the ledger ([`ledger`]: one JSON file per finished cell keyed by the hash of
//! its full configuration, written atomically, never silently overwritten). The training loop,
//! `--jobs`, Slurm scripts and mini-model pretraining are still to come (see the runner issue).
//!
//! It must not format HTML or know about report layouts.

pub mod best;
pub mod ledger;
pub mod schedule;
pub mod cell;
