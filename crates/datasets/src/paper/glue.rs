//! GLUE (`nyu-mll/glue`): one parquet per config and split. The official test labels are
//! hidden (-1), so the protocol is P1's: train = official train; the official validation set
//! is split 50/50 (seeded) into validation and test.

use crate::paper::{halve, read};
use crate::registry::{DatasetInfo, Source};
use crate::table::Table;
use crate::{Example, Input, Label, Result, Splits};

pub(crate) const PROTOCOL: &str = "train = official train; the official validation set is split 50/50 into \
     validation (first half) and test (second half) by a SplitMix64 permutation with fixed seed 0 (the \
     reference code P1's protocol; official test labels are hidden)";

pub(crate) const LICENSE: &str = "GLUE (Wang et al. 2019); per-task licenses of the original corpora";

/// How one GLUE config's rows become examples.
pub(crate) enum Columns {
    /// `sentence`, `label` (class).
    Single { num_classes: usize },
    /// `sentence1`, `sentence2`, `label` (class).
    Pair { num_classes: usize },
    /// `sentence1`, `sentence2`, `label` (float score 0–5).
    PairScore,
}

fn examples(t: &Table, columns: &Columns) -> Result<Vec<Example>> {
    let mut out = Vec::with_capacity(t.len());
    match *columns {
        Columns::Single { num_classes } => {
            let s = t.strings("sentence")?;
            let l = t.ints("label")?;
            for (row, (s, l)) in s.into_iter().zip(l).enumerate() {
                let label = Label::Class(t.class(row, "label", l, num_classes)?);
                out.push(Example { input: Input::Text(s), label, origin: t.origin(row) });
            }
        }
        Columns::Pair { num_classes } => {
            let a = t.strings("sentence1")?;
            let b = t.strings("sentence2")?;
            let l = t.ints("label")?;
            for (row, ((a, b), l)) in a.into_iter().zip(b).zip(l).enumerate() {
                let label = Label::Class(t.class(row, "label", l, num_classes)?);
                out.push(Example { input: Input::TextPair(a, b), label, origin: t.origin(row) });
            }
        }
        Columns::PairScore => {
            let a = t.strings("sentence1")?;
            let b = t.strings("sentence2")?;
            let l = t.floats("label")?;
            for (row, ((a, b), l)) in a.into_iter().zip(b).zip(l).enumerate() {
                if !(0.0..=5.0).contains(&l) {
                    return Err(t.bad(row, "label", format!("score {l} is outside [0, 5]")));
                }
                out.push(Example { input: Input::TextPair(a, b), label: Label::Score(l as f32), origin: t.origin(row) });
            }
        }
    }
    Ok(out)
}

pub(crate) fn load(info: &DatasetInfo, columns: Columns, hub: &hub::Hub) -> Result<Splits<Example>> {
    let Source::Hub { files: [train_file, validation_file], .. } = info.source else {
        unreachable!("GLUE data sets list their train and validation files")
    };
    let train = examples(&read(info, hub, train_file)?, &columns)?;
    let official_validation = examples(&read(info, hub, validation_file)?, &columns)?;
    let (validation, test) = halve(info.name, official_validation);
    Ok(Splits { train, validation, test })
}
