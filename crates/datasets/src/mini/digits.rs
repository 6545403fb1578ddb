//! `mini-digits`: the UCI optical digits (8×8, 1,797 images, 10 classes; CC BY 4.0,
//! Alpaydin & Kaynak — see `data/NOTICE.md`), embedded in the crate.

use std::io::Read;

use crate::registry::{DatasetInfo, Source, Suite};
use crate::{Example, Image, Input, Label, Metric, SplitSizes, Splits, Task, rng};

const DIGITS_CSV_GZ: &[u8] = include_bytes!("data/digits.csv.gz");

pub const INFO: DatasetInfo = DatasetInfo {
    name: "mini-digits",
    title: "mini digits (UCI 8×8)",
    suite: Suite::Mini,
    source: Source::Embedded { generator: "UCI optical digits, embedded (src/mini/data/digits.csv.gz)" },
    task: Task::ImageClassification { num_classes: 10 },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    split_protocol: "all 1,797 images split 70/15/15 into train / validation / test (1,257 / 269 / 271) by \
         a SplitMix64 permutation (stream `mini-digits/split`, seed 20260601); pixels 0..16 scaled to 0..255",
    expected_sizes: Some(SplitSizes { train: 1_257, validation: 269, test: 271 }),
    max_length: &[],
    license: "UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998), CC BY 4.0",
};

/// All 1,797 digits in file order.
pub fn all() -> Vec<Example> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .expect("the embedded digits file is valid gzip");
    text.lines()
        .enumerate()
        .map(|(row, line)| {
            let values: Vec<u8> = line.split(',').map(|v| v.trim().parse().expect("embedded digits are integers")).collect();
            assert_eq!(values.len(), 65, "row {row} of the embedded digits");
            let pixels = values[..64].iter().map(|&v| ((u32::from(v) * 255 + 8) / 16) as u8).collect();
            Example {
                input: Input::Image(Image::Raw { width: 8, height: 8, channels: 1, pixels }),
                label: Label::Class(usize::from(values[64])),
                origin: format!("digits.csv.gz row {row}"),
            }
        })
        .collect()
}

pub fn load() -> Splits<Example> {
    let all = all();
    let sizes = rng::sizes_for_fractions(all.len(), &[0.7, 0.15, 0.15]);
    let mut parts = rng::split_by_sizes(all, &sizes, super::MINI_SEED, "mini-digits/split").into_iter();
    Splits { train: parts.next().unwrap(), validation: parts.next().unwrap(), test: parts.next().unwrap() }
}
