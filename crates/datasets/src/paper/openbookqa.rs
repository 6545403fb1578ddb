//! OpenBookQA (`allenai/openbookqa`, config `main`): elementary-science multiple choice with
//! four options, run as last-token classification over the prompt
//! `Question: <stem>\nOptions: A) .. B) .. C) .. D) ..\nAnswer:`.

use crate::paper::{lettered_options, read};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task};

const FILES: [&str; 3] = [
    "main/train-00000-of-00001.parquet",
    "main/validation-00000-of-00001.parquet",
    "main/test-00000-of-00001.parquet",
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "openbookqa",
    title: "OpenBookQA",
    suite: Suite::Paper,
    source: Source::Hub { repo: "allenai/openbookqa", config: Some("main"), revision: "main", files: &FILES },
    task: Task::LastTokenClassification { num_classes: 4 },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["A", "B", "C", "D"],
    split_protocol: "the official main train / validation / test splits, unchanged; label = the index of \
         `answerKey` in `choices.label`",
    expected_sizes: Some(SplitSizes { train: 4_957, validation: 500, test: 500 }),
    max_length: &[("tinyllama", 512), ("llama-3", 384), ("llama3", 384)],
    license: "OpenBookQA (Mihaylov et al. 2018), Apache-2.0",
};

pub fn prompt(stem: &str, options: &[String]) -> String {
    format!("Question: {stem}\nOptions: {}\nAnswer:", lettered_options(options))
}

fn examples(t: &Table) -> Result<Vec<Example>> {
    let stems = t.strings("question_stem")?;
    let texts = t.struct_string_lists("choices", "text")?;
    let letters = t.struct_string_lists("choices", "label")?;
    let keys = t.strings("answerKey")?;
    let mut out = Vec::with_capacity(t.len());
    for (row, (((stem, texts), letters), key)) in stems.into_iter().zip(texts).zip(letters).zip(keys).enumerate() {
        if texts.len() != 4 || letters.len() != 4 {
            return Err(t.bad(row, "choices", format!("expected 4 options, found {}", texts.len())));
        }
        let label = letters
            .iter()
            .position(|l| *l == key)
            .ok_or_else(|| t.bad(row, "answerKey", format!("{key:?} is not one of {letters:?}")))?;
        out.push(Example { input: Input::Text(prompt(&stem, &texts)), label: Label::Class(label), origin: t.origin(row) });
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
