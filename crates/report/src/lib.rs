//! report: builds the paper's tables and plots from the ledger, as self-contained HTML.
//!
//! Not built yet: see the issue "runner, xtask and report". It must never train.
