//! analysis: the paper's geometry diagnostics, computed from the trajectories finished cells
//! keep ([`ledger::trajectory`]) and written as their own records ([`ledger::analysis`]) for
//! the report to draw.
//!
//! - [`landscape`]: loss landscapes f(α, β) = L(W + αδ + βη) (§E.4.1; Figs 1, 3, 8, 9, 10),
//!   resumable point by point, along [`directions`] (PCA of the trajectory, or filter-normalised
//!   random);
//! - [`intruders`]: intruder dimensions (§E.4.2, Fig 4) through faer's SVD;
//! - [`source`]: a finished cell read back — its trajectory densely, its model at any point
//!   of weight space, the loss on a fixed subset;
//! - [`params`]: points of weight space and their arithmetic.
//!
//! It must not train, and it reads the ledger without writing cells' results.

pub mod directions;
pub mod intruders;
pub mod landscape;
pub mod params;
pub mod source;

/// Why a diagnostic could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Run(#[from] runner::RunError),
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    #[error("{0}")]
    Message(String),
}

impl AnalysisError {
    pub fn msg(m: impl Into<String>) -> Self {
        AnalysisError::Message(m.into())
    }
}
