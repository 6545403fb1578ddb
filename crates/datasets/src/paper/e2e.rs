//! E2E NLG (`GEM/e2e_nlg`): restaurant meaning representations → one-sentence descriptions.
//! GPT-2 is fine-tuned as a causal LM on `<meaning_representation> ||` → ` <target>`, loss on
//! the target only; the test metric is perplexity of the target tokens.
//!
//! The repository's main branch holds a loading script; the files are the Hub's parquet
//! conversion (`refs/convert/parquet`, config directory `e2e_nlg`).

use crate::paper::read;
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task};

const FILES: [&str; 3] = ["e2e_nlg/train/0000.parquet", "e2e_nlg/validation/0000.parquet", "e2e_nlg/test/0000.parquet"];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "e2e",
    title: "E2E",
    suite: Suite::Paper,
    source: Source::Hub { repo: "GEM/e2e_nlg", config: Some("e2e_nlg"), revision: "refs/convert/parquet", files: &FILES },
    task: Task::CausalLm,
    metric: Metric::Perplexity,
    secondary_metrics: &[Metric::TokenAccuracy],
    class_names: &[],
    split_protocol: "the official GEM train / validation / test splits, unchanged; one example per \
         (meaning representation, target) row; the prompt is `<meaning_representation> ||` and the target \
         ` <target>` (+ EOS)",
    expected_sizes: Some(SplitSizes { train: 33_525, validation: 4_299, test: 4_693 }),
    max_length: &[("gpt2", 64)],
    license: "E2E NLG (Novikova, Dušek & Rieser 2017), CC BY-SA 4.0",
};

/// The causal-LM prompt for one meaning representation.
pub fn prompt(meaning_representation: &str) -> String {
    format!("{meaning_representation} ||")
}

fn examples(t: &Table) -> Result<Vec<Example>> {
    let mr = t.strings("meaning_representation")?;
    let target = t.strings("target")?;
    Ok(mr
        .into_iter()
        .zip(target)
        .enumerate()
        .map(|(row, (mr, target))| Example {
            input: Input::Text(prompt(&mr)),
            label: Label::Text(format!(" {target}")),
            origin: t.origin(row),
        })
        .collect())
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    Ok(Splits {
        train: examples(&read(&INFO, hub, FILES[0])?)?,
        validation: examples(&read(&INFO, hub, FILES[1])?)?,
        test: examples(&read(&INFO, hub, FILES[2])?)?,
    })
}
