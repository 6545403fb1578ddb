//! CLUTRR (`CLUTRR/v1`, config `gen_train234_test2to10`): a family story and a query pair of
//! names → one of 21 kinship relations (`target`), run as last-token classification over
//! `Story: ..\nQuery: ..\nRelation:`. Files: the Hub's parquet conversion
//! (`refs/convert/parquet`).

use crate::paper::read;
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, Splits, Task};

pub const NUM_CLASSES: usize = 21;

const FILES: [&str; 3] = [
    "gen_train234_test2to10/train/0000.parquet",
    "gen_train234_test2to10/validation/0000.parquet",
    "gen_train234_test2to10/test/0000.parquet",
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "clutrr",
    title: "CLUTRR",
    suite: Suite::Paper,
    source: Source::Hub {
        repo: "CLUTRR/v1",
        config: Some("gen_train234_test2to10"),
        revision: "refs/convert/parquet",
        files: &FILES,
    },
    task: Task::LastTokenClassification { num_classes: NUM_CLASSES },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &[],
    split_protocol: "the official gen_train234_test2to10 train / validation / test splits, unchanged; \
         label = `target` (0–20)",
    expected_sizes: None,
    max_length: &[("tinyllama", 512), ("llama-3", 384), ("llama3", 384)],
    license: "CLUTRR (Sinha et al. 2019), CC BY-NC 4.0",
};

pub fn prompt(story: &str, query: &str) -> String {
    format!("Story: {story}\nQuery: {query}\nRelation:")
}

fn examples(t: &Table) -> Result<Vec<Example>> {
    let story = t.strings("story")?;
    let query = t.strings("query")?;
    let target = t.ints("target")?;
    let mut out = Vec::with_capacity(t.len());
    for (row, ((s, q), l)) in story.into_iter().zip(query).zip(target).enumerate() {
        let label = Label::Class(t.class(row, "target", l, NUM_CLASSES)?);
        out.push(Example { input: Input::Text(prompt(&s, &q)), label, origin: t.origin(row) });
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
