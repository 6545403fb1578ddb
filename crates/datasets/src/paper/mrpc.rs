//! MRPC (GLUE config `mrpc`).

use crate::paper::glue::{self, Columns};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::{Example, Metric, Result, SplitSizes, Splits, Task, TextInput};

const FILES: [&str; 2] = [
    concat!("mrpc", "/train-00000-of-00001.parquet"),
    concat!("mrpc", "/validation-00000-of-00001.parquet"),
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "mrpc",
    title: "MRPC",
    suite: Suite::Paper,
    source: Source::Hub { repo: "nyu-mll/glue", config: Some("mrpc"), revision: "main", files: &FILES },
    task: Task::TextClassification { num_classes: 2, input: TextInput::Pair },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["not_equivalent", "equivalent"],
    split_protocol: glue::PROTOCOL,
    expected_sizes: Some(SplitSizes { train: 3_668, validation: 204, test: 204 }),
    max_length: &[("roberta", 128), ("deberta", 512)],
    license: glue::LICENSE,
};

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    glue::load(&INFO, Columns::Pair { num_classes: 2 }, hub)
}
