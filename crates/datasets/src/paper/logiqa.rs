//! LogiQA 2.0, from the parquet mirror `baber/logiqa2` (config `logiqa2`; the parquet files
//! live on the `refs/convert/parquet`-style PR branch `refs/pr/6`, "Convert dataset to
//! Parquet"): context + question + 4 options → the answer index, run as last-token
//! classification over `Context: ..\nQuestion: ..\nOptions: A) .. D) ..\nAnswer:`.

use crate::paper::{lettered_options, read};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task};

const FILES: [&str; 3] = [
    "logiqa2/train-00000-of-00001.parquet",
    "logiqa2/validation-00000-of-00001.parquet",
    "logiqa2/test-00000-of-00001.parquet",
];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "logiqa2",
    title: "LogiQA 2.0",
    suite: Suite::Paper,
    source: Source::Hub { repo: "baber/logiqa2", config: Some("logiqa2"), revision: "refs/pr/6", files: &FILES },
    task: Task::LastTokenClassification { num_classes: 4 },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["A", "B", "C", "D"],
    split_protocol: "the official train / validation / test splits, unchanged; label = `answer` (0–3)",
    expected_sizes: Some(SplitSizes { train: 12_567, validation: 1_569, test: 1_572 }),
    max_length: &[("tinyllama", 512)],
    license: "LogiQA 2.0 (Liu et al. 2023), CC BY-NC-SA 4.0",
};

pub fn prompt(context: &str, question: &str, options: &[String]) -> String {
    format!("Context: {context}\nQuestion: {question}\nOptions: {}\nAnswer:", lettered_options(options))
}

fn examples(t: &Table) -> Result<Vec<Example>> {
    let text = t.strings("text")?;
    let question = t.strings("question")?;
    let options = t.string_lists("options")?;
    let answer = t.ints("answer")?;
    let mut out = Vec::with_capacity(t.len());
    for (row, (((c, q), o), a)) in text.into_iter().zip(question).zip(options).zip(answer).enumerate() {
        if o.len() != 4 {
            return Err(t.bad(row, "options", format!("expected 4 options, found {}", o.len())));
        }
        let label = Label::Class(t.class(row, "answer", a, 4)?);
        out.push(Example { input: Input::Text(prompt(&c, &q, &o)), label, origin: t.origin(row) });
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
