//! TREC-50: question classification with the 50 fine labels (`CogComp/trec`). The main
//! branch holds only a loading script, so the files are the Hub's parquet conversion on the
//! `refs/convert/parquet` revision.

use crate::paper::{hold_out, read};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task, TextInput};

pub const NUM_CLASSES: usize = 50;

pub const INFO: DatasetInfo = DatasetInfo {
    name: "trec50",
    title: "TREC-50",
    suite: Suite::Paper,
    source: Source::Hub {
        repo: "CogComp/trec",
        config: Some("default"),
        revision: "refs/convert/parquet",
        files: &["default/train/0000.parquet", "default/test/0000.parquet"],
    },
    task: Task::TextClassification { num_classes: NUM_CLASSES, input: TextInput::Single },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &[
        "ABBR:abb", "ABBR:exp", "ENTY:animal", "ENTY:body", "ENTY:color", "ENTY:cremat", "ENTY:currency",
        "ENTY:dismed", "ENTY:event", "ENTY:food", "ENTY:instru", "ENTY:lang", "ENTY:letter", "ENTY:other",
        "ENTY:plant", "ENTY:product", "ENTY:religion", "ENTY:sport", "ENTY:substance", "ENTY:symbol",
        "ENTY:techmeth", "ENTY:termeq", "ENTY:veh", "ENTY:word", "DESC:def", "DESC:desc", "DESC:manner",
        "DESC:reason", "HUM:gr", "HUM:ind", "HUM:title", "HUM:desc", "LOC:city", "LOC:country", "LOC:mount",
        "LOC:other", "LOC:state", "NUM:code", "NUM:count", "NUM:date", "NUM:dist", "NUM:money", "NUM:ord",
        "NUM:other", "NUM:period", "NUM:perc", "NUM:speed", "NUM:temp", "NUM:volsize", "NUM:weight",
    ],
    split_protocol: "the official train set (5,452) is split 90/10 into train/validation by a SplitMix64 \
         permutation with fixed seed 0; test = the official test set (500); label = `fine_label` (50 classes)",
    expected_sizes: Some(SplitSizes { train: 4_907, validation: 545, test: 500 }),
    max_length: &[("deberta", 512)],
    license: "TREC question classification (Li & Roth 2002); license unknown (research use)",
};

fn examples(t: &Table) -> Result<Vec<Example>> {
    let text = t.strings("text")?;
    let fine = t.ints("fine_label")?;
    text.into_iter()
        .zip(fine)
        .enumerate()
        .map(|(row, (text, l))| {
            Ok(Example { input: Input::Text(text), label: Label::Class(t.class(row, "fine_label", l, NUM_CLASSES)?), origin: t.origin(row) })
        })
        .collect()
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    let official_train = examples(&read(&INFO, hub, "default/train/0000.parquet")?)?;
    let test = examples(&read(&INFO, hub, "default/test/0000.parquet")?)?;
    let (train, validation) = hold_out(INFO.name, official_train, 0.1);
    Ok(Splits { train, validation, test })
}
