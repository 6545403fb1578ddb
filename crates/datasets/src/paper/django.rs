//! DJANGO (`AhmedSSoliman/DJANGO`): pseudo-code descriptions → one line of Python from the
//! Django code base, as three CSV files with columns `nl` and `code`. DeepSeek-Coder is
//! fine-tuned as a causal LM, loss on the code only; the paper reports exact match.

use crate::paper::read;
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task};

const FILES: [&str; 3] = ["train.csv", "validation.csv", "test.csv"];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "django",
    title: "DJANGO",
    suite: Suite::Paper,
    source: Source::Hub { repo: "AhmedSSoliman/DJANGO", config: None, revision: "main", files: &FILES },
    task: Task::CausalLm,
    metric: Metric::ExactMatch,
    secondary_metrics: &[Metric::TokenAccuracy],
    class_names: &[],
    split_protocol: "the official train / validation / test CSV files, unchanged; prompt \
         `\"\"\"Task: <nl>\"\"\"\\n# Solution\\n`, target = the code line (+ EOS); exact match of the greedy \
         generation (the paper's metric), token accuracy second (the reference code P2's metric)",
    expected_sizes: Some(SplitSizes { train: 16_000, validation: 1_000, test: 1_805 }),
    max_length: &[("deepseek", 512)],
    license: "DJANGO (Oda et al. 2015), from the Django code base (BSD-3-Clause)",
};

/// The causal-LM prompt for one description.
pub fn prompt(nl: &str) -> String {
    format!("\"\"\"Task: {nl}\"\"\"\n# Solution\n")
}

fn examples(t: &Table) -> Result<Vec<Example>> {
    let nl = t.strings("nl")?;
    let code = t.strings("code")?;
    Ok(nl
        .into_iter()
        .zip(code)
        .enumerate()
        .map(|(row, (nl, code))| Example { input: Input::Text(prompt(&nl)), label: Label::Text(code), origin: t.origin(row) })
        .collect())
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    Ok(Splits {
        train: examples(&read(&INFO, hub, FILES[0])?)?,
        validation: examples(&read(&INFO, hub, FILES[1])?)?,
        test: examples(&read(&INFO, hub, FILES[2])?)?,
    })
}
