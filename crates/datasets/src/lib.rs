//! datasets: the paper's 14 data sets with their splits and metrics, and the embedded
//! offline mini suite.
//!
//! Not built yet: see the issue "datasets: the paper's 14 data sets". This crate must not
//! know about models beyond their tokenizers, nor train.
