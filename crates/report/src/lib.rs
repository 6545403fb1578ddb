//! report: builds the paper's tables, plots and pages from the ledger of finished cells
//! (`results/runs/<suite>/<experiment>/*.json`) and the paper's published numbers
//! (`experiments/paper-tables/*.csv`) — laid out as in the paper (model × data set rows, method
//! columns), mean ± std over seeds, the best / second / third marked green / red / blue, the
//! sparse variants with their drop from the best, the paper's number beside ours — as
//! self-contained HTML (inline CSS and SVG, no network) with CSV and JSON beside each page.
//! Only the Pareto page has a script (inline, its data embedded: it redraws for its filters).
//!
//! - [`table`]: the table model (aggregation over seeds, ranks, drops, ratios) and [`html`] its
//!   rendering; [`plot`]: SVG plots through plotters.
//! - [`cells`] reads the ledger's cells, [`paper`] the published numbers; [`pages`] builds Tables 2,
//!   3/16, 17, 6 and 15, [`ablation`] Tables 8–13, [`pareto`] the metric-against-cost view,
//!   [`bench`] the step-benchmark page, [`figures`] the geometry figures (loss landscapes,
//!   intruder dimensions) from the analysis records;
//!   [`site::build_site`] writes everything (`cargo xtask report`).
//!
//! It must never train or read checkpoints: its input is the ledger (with the analysis
//! records beside it), the paper's tables and `results/bench/step.json`.

pub mod ablation;
pub mod bench;
pub mod cells;
pub mod figures;
pub mod html;
pub mod pages;
pub mod paper;
pub mod pareto;
pub mod plot;
pub mod site;
pub mod table;

pub use site::build_site;
