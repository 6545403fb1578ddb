//! report: builds the paper's tables from finished cells — laid out as in the paper (model ×
//! data set rows, method columns), mean ± std over seeds, the best / second / third marked
//! green / red / blue, the sparse variants with their drop from the best, and the paper's
//! number beside ours — as self-contained HTML and as CSV/JSON.
//!
//! What exists so far: the table model and its ranking ([`table`]) and rendering ([`html`]).
//! Plots, the index page and the per-table pages come with the runner issue.
//!
//! It must never train or read checkpoints: its input is the ledger and the paper's tables.

pub mod html;
pub mod table;
