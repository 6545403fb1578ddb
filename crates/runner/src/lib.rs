//! runner: trains and evaluates one experiment cell and keeps the ledger of finished cells.
//!
//! Not built yet: see the issue "runner, xtask and report". It must not format HTML.
