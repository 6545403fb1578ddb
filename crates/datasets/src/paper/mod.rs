//! The paper's 14 data sets, one module each. Every loader reads through `hub` (the same
//! cache, token, revision and offline handling as the models) and applies the split protocol
//! documented in its `INFO.split_protocol`.

pub mod cifar10;
pub mod clutrr;
pub mod cola;
pub mod django;
pub mod e2e;
pub mod folio;
mod glue;
pub mod logiqa;
pub mod mrpc;
pub mod office_home;
pub mod openbookqa;
pub mod paws;
pub mod rte;
pub mod stsb;
pub mod trec;

use std::path::PathBuf;

use crate::registry::{DatasetInfo, Source};
use crate::table::Table;
use crate::{DatasetError, Image, Result, rng};

/// The seed of every re-split of an official release. Fixed (not the training seed), so all
/// methods and seeds are scored on the same test examples.
pub const SPLIT_SEED: u64 = 0;

pub(crate) fn repo_of(info: &DatasetInfo) -> hub::HubRepo {
    match info.source {
        Source::Hub { repo, revision, .. } => hub::HubRepo::dataset(repo).at(revision),
        Source::Embedded { .. } => unreachable!("{} is not a hub data set", info.name),
    }
}

/// The local path of `file` of `info`'s repository.
pub(crate) fn fetch(info: &DatasetInfo, hub: &hub::Hub, file: &str) -> Result<PathBuf> {
    hub.get(&repo_of(info), file).map_err(|source| DatasetError::Hub { dataset: info.name.into(), source: Box::new(source) })
}

/// Reads `file` of `info`, choosing the reader by extension.
pub(crate) fn read(info: &DatasetInfo, hub: &hub::Hub, file: &str) -> Result<Table> {
    let path = fetch(info, hub, file)?;
    if file.ends_with(".parquet") {
        Table::parquet(info.name, &path)
    } else if file.ends_with(".jsonl") || file.ends_with(".json") {
        Table::jsonl(info.name, &path)
    } else if file.ends_with(".csv") {
        Table::csv(info.name, &path)
    } else {
        Err(DatasetError::Read { dataset: info.name.into(), file: path, message: "unknown file type".into() })
    }
}

/// Splits `items` 50/50 by a seeded permutation: the first `floor(n/2)` become validation,
/// the rest test.
pub(crate) fn halve<T>(name: &str, items: Vec<T>) -> (Vec<T>, Vec<T>) {
    let sizes = rng::sizes_for_fractions(items.len(), &[0.5, 0.5]);
    let mut parts = rng::split_by_sizes(items, &sizes, SPLIT_SEED, &format!("{name}/halve")).into_iter();
    (parts.next().unwrap(), parts.next().unwrap())
}

/// Holds out `fraction` of `items` (floor) as validation by a seeded permutation; returns
/// (train, validation).
pub(crate) fn hold_out<T>(name: &str, items: Vec<T>, fraction: f64) -> (Vec<T>, Vec<T>) {
    let n = items.len();
    let val = (n as f64 * fraction).floor() as usize;
    let mut parts = rng::split_by_sizes(items, &[n - val, val], SPLIT_SEED, &format!("{name}/hold-out")).into_iter();
    (parts.next().unwrap(), parts.next().unwrap())
}

/// Checks that `bytes` holds an image the `image` crate can read (header and dimensions),
/// so a corrupt file is reported at load time with its row.
pub(crate) fn checked_image(table: &Table, row: usize, bytes: Vec<u8>) -> Result<Image> {
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| image_err(table, row, e.to_string()))?;
    if reader.format().is_none() {
        return Err(image_err(table, row, "unknown image format".into()));
    }
    reader.into_dimensions().map_err(|e| image_err(table, row, e.to_string()))?;
    Ok(Image::Encoded(bytes))
}

fn image_err(table: &Table, row: usize, message: String) -> DatasetError {
    DatasetError::Image { dataset: table.dataset.clone(), file: table.file.clone(), row, message }
}

/// `A) first B) second …` for multiple-choice prompts.
pub(crate) fn lettered_options(options: &[String]) -> String {
    options
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{}) {}", (b'A' + i as u8) as char, o))
        .collect::<Vec<_>>()
        .join(" ")
}
