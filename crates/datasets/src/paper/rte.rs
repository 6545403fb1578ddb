//! RTE (GLUE config `rte`).

use crate::paper::glue::{self, Columns};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::{Example, Metric, Result, SplitSizes, Splits, Task, TextInput};

const FILES: [&str; 2] = [
    concat!("rte", "/train-00000-of-00001.parquet"),
    concat!("rte", "/validation-00000-of-00001.parquet"),
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "rte",
    title: "RTE",
    suite: Suite::Paper,
    source: Source::Hub { repo: "nyu-mll/glue", config: Some("rte"), revision: "main", files: &FILES },
    task: Task::TextClassification { num_classes: 2, input: TextInput::Pair },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["entailment", "not_entailment"],
    split_protocol: glue::PROTOCOL,
    expected_sizes: Some(SplitSizes { train: 2_490, validation: 138, test: 139 }),
    max_length: &[("deberta", 512)],
    license: glue::LICENSE,
};

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    glue::load(&INFO, Columns::Pair { num_classes: 2 }, hub)
}
