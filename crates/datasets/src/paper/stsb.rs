//! STS-B (GLUE config `stsb`).

use crate::paper::glue::{self, Columns};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::{Example, Metric, Result, SplitSizes, Splits, Task, TextInput};

const FILES: [&str; 2] = [
    concat!("stsb", "/train-00000-of-00001.parquet"),
    concat!("stsb", "/validation-00000-of-00001.parquet"),
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "stsb",
    title: "STS-B",
    suite: Suite::Paper,
    source: Source::Hub { repo: "nyu-mll/glue", config: Some("stsb"), revision: "main", files: &FILES },
    task: Task::TextRegression { input: TextInput::Pair },
    metric: Metric::Pearson,
    secondary_metrics: &[Metric::Spearman],
    class_names: &[],
    split_protocol: glue::PROTOCOL,
    expected_sizes: Some(SplitSizes { train: 5_749, validation: 750, test: 750 }),
    max_length: &[("deberta", 512)],
    license: glue::LICENSE,
};

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    glue::load(&INFO, Columns::PairScore, hub)
}
