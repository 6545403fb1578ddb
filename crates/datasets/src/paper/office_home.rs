//! OfficeHome (`flwrlabs/office-home`): 15,588 images of 65 office/home object classes from
//! four domains (Art, Clipart, Product, Real World) in one `train` split of sharded parquet
//! files `data/train-*.parquet` with columns `image` (HF `Image()`), `domain`, `label`.
//!
//! The shard count is not pinned here: the loader fetches `README.md` to locate the
//! repository's snapshot in the cache and reads every `data/train-*.parquet` present there,
//! so the repository must be downloaded whole once (`huggingface-cli download
//! flwrlabs/office-home --repo-type dataset`).

use crate::paper::{fetch, repo_of};
use crate::registry::{DatasetInfo, Source, Suite};
use crate::table::Table;
use crate::{DatasetError, Example, Input, Label, Metric, Result, SplitSizes, Splits, Task, rng};

pub const NUM_CLASSES: usize = 65;

pub const INFO: DatasetInfo = DatasetInfo {
    name: "office-home",
    title: "OfficeHome",
    suite: Suite::Paper,
    source: Source::Hub { repo: "flwrlabs/office-home", config: None, revision: "main", files: &["README.md"] },
    task: Task::ImageClassification { num_classes: NUM_CLASSES },
    metric: Metric::Accuracy,
    secondary_metrics: &[],
    class_names: &[
        "Alarm_Clock", "Backpack", "Batteries", "Bed", "Bike", "Bottle", "Bucket", "Calculator", "Calendar",
        "Candles", "Chair", "Clipboards", "Computer", "Couch", "Curtains", "Desk_Lamp", "Drill", "Eraser",
        "Exit_Sign", "Fan", "File_Cabinet", "Flipflops", "Flowers", "Folder", "Fork", "Glasses", "Hammer",
        "Helmet", "Kettle", "Keyboard", "Knives", "Lamp_Shade", "Laptop", "Marker", "Monitor", "Mop", "Mouse",
        "Mug", "Notebook", "Oven", "Pan", "Paper_Clip", "Pen", "Pencil", "Postit_Notes", "Printer", "Push_Pin",
        "Radio", "Refrigerator", "Ruler", "Scissors", "Screwdriver", "Shelf", "Sink", "Sneakers", "Soda",
        "Speaker", "Spoon", "TV", "Table", "Telephone", "ToothBrush", "Toys", "Trash_Can", "Webcam",
    ],
    split_protocol: "all four domains pooled (the release has one split); split 70/15/15 into train / \
         validation / test by a SplitMix64 permutation with fixed seed 0 (sizes floor(0.7n), floor(0.15n), rest)",
    expected_sizes: Some(SplitSizes { train: 10_911, validation: 2_338, test: 2_339 }),
    max_length: &[("vit", 224)],
    license: "OfficeHome (Venkateswara et al. 2017); images under a fair-use notice, research use only",
};

/// The `data/train-*.parquet` shards of the cached snapshot, sorted by name.
fn shards(hub: &hub::Hub) -> Result<Vec<std::path::PathBuf>> {
    let readme = fetch(&INFO, hub, "README.md")?;
    let snapshot = readme.parent().expect("a file in a snapshot").to_path_buf();
    let data = snapshot.join("data");
    let mut shards: Vec<_> = std::fs::read_dir(&data)
        .map_err(DatasetError::io(&data))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("train-") && name.ends_with(".parquet")
        })
        .collect();
    shards.sort();
    if shards.is_empty() {
        return Err(DatasetError::Read {
            dataset: INFO.name.into(),
            file: data,
            message: format!(
                "no data/train-*.parquet shards in the cached snapshot of {}; download the whole repository \
                 once: huggingface-cli download {} --repo-type dataset",
                repo_of(&INFO).id,
                repo_of(&INFO).id
            ),
        });
    }
    Ok(shards)
}

pub fn load(hub: &hub::Hub) -> Result<Splits<Example>> {
    let mut all = Vec::new();
    for shard in shards(hub)? {
        let t = Table::parquet(INFO.name, &shard)?;
        t.strings("domain")?; // present and non-null; the protocol pools the domains
        let images = t.image_bytes("image")?;
        let labels = t.ints("label")?;
        for (row, (bytes, l)) in images.into_iter().zip(labels).enumerate() {
            let label = Label::Class(t.class(row, "label", l, NUM_CLASSES)?);
            let image = crate::paper::checked_image(&t, row, bytes)?;
            all.push(Example { input: Input::Image(image), label, origin: t.origin(row) });
        }
    }
    let sizes = rng::sizes_for_fractions(all.len(), &[0.7, 0.15, 0.15]);
    let mut parts = rng::split_by_sizes(all, &sizes, crate::paper::SPLIT_SEED, "office-home/split").into_iter();
    Ok(Splits { train: parts.next().unwrap(), validation: parts.next().unwrap(), test: parts.next().unwrap() })
}
