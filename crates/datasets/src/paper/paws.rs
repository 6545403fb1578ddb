//! PAWS (`google-research-datasets/paws`, config `labeled_final`): paraphrase adversaries
//! from word scrambling; every official split is labelled.

use crate::paper::read;
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task, TextInput};

const FILES: [&str; 3] = [
    "labeled_final/train-00000-of-00001.parquet",
    "labeled_final/validation-00000-of-00001.parquet",
    "labeled_final/test-00000-of-00001.parquet",
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "paws",
    title: "PAWS",
    suite: Suite::Paper,
    source: Source::Hub { repo: "google-research-datasets/paws", config: Some("labeled_final"), revision: "main", files: &FILES },
    task: Task::TextClassification { num_classes: 2, input: TextInput::Pair },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["not_paraphrase", "paraphrase"],
    split_protocol: "the official labeled_final train / validation / test splits, unchanged",
    expected_sizes: Some(SplitSizes { train: 49_401, validation: 8_000, test: 8_000 }),
    max_length: &[("deberta", 512)],
    license: "PAWS (Zhang, Baldridge & He 2019); free to use with attribution to Google LLC",
};

fn examples(t: &Table) -> Result<Vec<Example>> {
    let a = t.strings("sentence1")?;
    let b = t.strings("sentence2")?;
    let l = t.ints("label")?;
    let mut out = Vec::with_capacity(t.len());
    for (row, ((a, b), l)) in a.into_iter().zip(b).zip(l).enumerate() {
        out.push(Example { input: Input::TextPair(a, b), label: Label::Class(t.class(row, "label", l, 2)?), origin: t.origin(row) });
    }
    Ok(out)
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    Ok(Splits {
        train: examples(&read(&INFO, hub, FILES[0])?)?,
        validation: examples(&read(&INFO, hub, FILES[1])?)?,
        test: examples(&read(&INFO, hub, FILES[2])?)?,
    })
}
