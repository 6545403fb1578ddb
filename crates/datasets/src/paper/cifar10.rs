//! CIFAR-10 (`uoft-cs/cifar10`, config `plain_text`): 32×32 RGB PNGs in an HF `Image()`
//! column `img`, labels 0–9.

use crate::paper::{checked_image, hold_out, read};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{Example, Input, Label, Metric, Result, SplitSizes, Splits, Task};

const FILES: [&str; 2] = ["plain_text/train-00000-of-00001.parquet", "plain_text/test-00000-of-00001.parquet"];

pub const INFO: DatasetInfo = DatasetInfo {
    name: "cifar10",
    title: "CIFAR-10",
    suite: Suite::Paper,
    source: Source::Hub { repo: "uoft-cs/cifar10", config: Some("plain_text"), revision: "main", files: &FILES },
    task: Task::ImageClassification { num_classes: 10 },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    split_protocol: "the official train set is split 95/5 into train/validation by a SplitMix64 permutation \
         with fixed seed 0; test = the full official test set (10,000; the reference code P1 scores only 1,280)",
    expected_sizes: Some(SplitSizes { train: 47_500, validation: 2_500, test: 10_000 }),
    max_length: &[("vit", 224)],
    license: "CIFAR-10 (Krizhevsky 2009); no explicit license, research use",
};

pub(crate) fn examples(t: &Table, num_classes: usize) -> Result<Vec<Example>> {
    let images = t.image_bytes("img")?;
    let labels = t.ints("label")?;
    let mut out = Vec::with_capacity(t.len());
    for (row, (bytes, l)) in images.into_iter().zip(labels).enumerate() {
        let label = Label::Class(t.class(row, "label", l, num_classes)?);
        out.push(Example { input: Input::Image(checked_image(t, row, bytes)?), label, origin: t.origin(row) });
    }
    Ok(out)
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    let official_train = examples(&read(&INFO, hub, FILES[0])?, 10)?;
    let test = examples(&read(&INFO, hub, FILES[1])?, 10)?;
    let (train, validation) = hold_out(INFO.name, official_train, 0.05);
    Ok(Splits { train, validation, test })
}
