//! FOLIO (`tasksource/folio`, v2 JSON lines): premises + a conclusion → True / False /
//! Uncertain, run as last-token classification. The release has no test split.

use crate::paper::{halve, read};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task};

const FILES: [&str; 2] = ["folio_v2_train.jsonl", "folio_v2_validation.jsonl"];
pub const LABELS: [&str; 3] = ["True", "False", "Uncertain"];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "folio",
    title: "FOLIO",
    suite: Suite::Paper,
    source: Source::Hub { repo: "tasksource/folio", config: None, revision: "main", files: &FILES },
    task: Task::LastTokenClassification { num_classes: 3 },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &LABELS,
    split_protocol: "train = the official train set; the official validation set is split 50/50 into \
         validation (first half) and test (second half) by a SplitMix64 permutation with fixed seed 0",
    expected_sizes: Some(SplitSizes { train: 1_001, validation: 101, test: 102 }),
    max_length: &[("tinyllama", 512)],
    license: "FOLIO (Han et al. 2022), CC BY-SA 4.0",
};

pub fn prompt(premises: &str, conclusion: &str) -> String {
    format!("Premises:\n{premises}\nConclusion: {conclusion}\nIs the conclusion True, False or Uncertain?\nAnswer:")
}

fn examples(t: &Table) -> Result<Vec<Example>> {
    let premises = t.strings("premises")?;
    let conclusions = t.strings("conclusion")?;
    let labels = t.strings("label")?;
    let mut out = Vec::with_capacity(t.len());
    for (row, ((p, c), l)) in premises.into_iter().zip(conclusions).zip(labels).enumerate() {
        let label = t.class_by_name(row, "label", &l, &LABELS)?;
        out.push(Example { input: Input::Text(prompt(&p, &c)), label: Label::Class(label), origin: t.origin(row) });
    }
    Ok(out)
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    let train = examples(&read(&INFO, hub, FILES[0])?)?;
    let (validation, test) = halve(INFO.name, examples(&read(&INFO, hub, FILES[1])?)?);
    Ok(Splits { train, validation, test })
}
