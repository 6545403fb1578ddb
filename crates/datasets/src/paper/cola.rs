//! CoLA (GLUE config `cola`).

use crate::paper::glue::{self, Columns};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::{Example, Metric, Result, SplitSizes, Splits, Task, TextInput};

const FILES: [&str; 2] = [
    concat!("cola", "/train-00000-of-00001.parquet"),
    concat!("cola", "/validation-00000-of-00001.parquet"),
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "cola",
    title: "CoLA",
    suite: Suite::Paper,
    source: Source::Hub { repo: "nyu-mll/glue", config: Some("cola"), revision: "main", files: &FILES },
    task: Task::TextClassification { num_classes: 2, input: TextInput::Single },
    metric: Metric::MatthewsCorrelation,
    secondary_metrics: &[Metric::Accuracy],
    class_names: &["unacceptable", "acceptable"],
    split_protocol: glue::PROTOCOL,
    expected_sizes: Some(SplitSizes { train: 8_551, validation: 521, test: 522 }),
    max_length: &[("roberta", 128)],
    license: glue::LICENSE,
};

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    glue::load(&INFO, Columns::Single { num_classes: 2 }, hub)
}
