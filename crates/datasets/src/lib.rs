//! datasets: the paper's 14 data sets (OfficeHome, CIFAR-10, MRPC, CoLA, STS-B, RTE,
//! TREC-50, PAWS, E2E, DJANGO, OpenBookQA, FOLIO, LogiQA 2.0, CLUTRR) with their split
//! protocols, task encodings and metrics, and the embedded offline mini suite (UCI digits,
//! four generated text tasks, a pretraining corpus and its word-level tokenizer).
//!
//! It owns: reading the data files (through the `hub` crate, with polars and `image`);
//! turning rows into plain [`Example`]s with a documented [`DatasetInfo::split_protocol`];
//! tokenizing them for a model's `tokenizers::Tokenizer` ([`encode`]) or preprocessing images
//! ([`encode::ImagePreprocessor`]); caching tokenized splits on disk ([`cache`]);
//! deterministic (seed, epoch) batching ([`batch`]); and the [`metrics`].
//!
//! It must not: depend on `burn` or know about tensors, models or training (batches are
//! plain `Vec`s the runner turns into tensors); fetch files any way other than `hub`; or drop
//! rows silently — bad input is an error naming the data set, the file and the row.

pub mod batch;
pub mod cache;
pub mod encode;
mod error;
pub mod metrics;
pub mod mini;
pub mod paper;
mod registry;
pub mod resize;
pub mod rng;
mod table;
mod types;

pub use error::{DatasetError, Result};
pub use metrics::Metric;
pub use registry::{DatasetInfo, Source, Suite, info, load, registry};
pub use types::{Example, Image, Input, Label, Split, SplitSizes, Splits, Task, TextInput};
