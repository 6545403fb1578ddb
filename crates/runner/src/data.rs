//! A cell's data, encoded for its model: token ids (through the checkpoint's tokenizer) or
//! pixel values (through its `preprocessor_config.json`), and turned into tensors batch by batch.

use burn::tensor::{Device, Int, Tensor, TensorData};
use datasets::batch::{PaddingSide, collate_text};
use datasets::encode::{ImagePreprocessor, Target, TextEncoding, TextFeatures, encode_text};
use datasets::{DatasetInfo, Example, Split, Splits, Task};
use models::Checkpoint;

use crate::RunError;
use models::Inputs;

/// The targets of one batch, as a tensor for the loss and as host values for the metric.
#[derive(Clone, Debug)]
pub enum Targets {
    /// `[batch, 1]` class indices.
    Classes(Tensor<2, Int>, Vec<usize>),
    /// `[batch, 1]` regression scores.
    Scores(Tensor<2>, Vec<f32>),
    /// Causal LM: the next token of every position but the last, flattened to
    /// `[batch × (seq − 1), 1]` (0 where no loss is taken), the matching 0/1 weights (1 on the
    /// target and its end-of-sequence token, as HF's `-100` labels leave them), and the
    /// next tokens on the host (`-100` where weight 0) for the metric.
    Tokens { next: Tensor<2, Int>, weight: Tensor<2>, gold: Vec<i64> },
}

/// One image, preprocessed.
#[derive(Clone, Debug)]
pub struct ImageExample {
    pub pixels: Vec<f32>,
    pub class: usize,
}

/// Every split of a data set, encoded for one model.
pub enum EncodedData {
    Text { splits: Splits<TextFeatures>, pad_id: u32, side: PaddingSide },
    Image { splits: Splits<ImageExample>, shape: [usize; 3] },
}

fn config_id(json: &serde_json::Value, key: &str) -> Option<u32> {
    json.get(key).and_then(|v| v.as_u64().or_else(|| v.as_array().and_then(|a| a.first()).and_then(|x| x.as_u64()))).map(|v| v as u32)
}

impl EncodedData {
    /// Encodes `splits` of data set `info` for the checkpoint `ckpt` (`max_length` for text;
    /// `image_size`, when given, must be the side the checkpoint's preprocessor makes).
    pub fn encode(info: &DatasetInfo, splits: Splits<Example>, ckpt: &Checkpoint, max_length: usize, image_size: Option<usize>) -> Result<Self, RunError> {
        match info.task {
            Task::ImageClassification { .. } => {
                let path = ckpt.file("preprocessor_config.json")?;
                let text = std::fs::read_to_string(&path).map_err(|e| RunError::msg(format!("{}: {e}", path.display())))?;
                let pre = ImagePreprocessor::from_config_json(&text).map_err(|e| RunError::msg(format!("{}: {e}", path.display())))?;
                if let Some(side) = image_size
                    && (pre.height as usize != side || pre.width as usize != side)
                {
                    return Err(RunError::msg(format!(
                        "the experiment's image_size is {side} but {} makes {}×{} images: fix image_size, or use a checkpoint made for {side}",
                        path.display(),
                        pre.height,
                        pre.width
                    )));
                }
                let encode = |examples: Vec<Example>| -> Result<Vec<ImageExample>, RunError> {
                    let refs: Vec<&Example> = examples.iter().collect();
                    let pixels = pre.apply_all(info.name, &refs)?;
                    Ok(pixels
                        .into_iter()
                        .zip(&examples)
                        .map(|(pixels, e)| ImageExample { pixels, class: e.class().expect("image classification labels are classes") })
                        .collect())
                };
                Ok(EncodedData::Image {
                    splits: Splits { train: encode(splits.train)?, validation: encode(splits.validation)?, test: encode(splits.test)? },
                    shape: [3, pre.height as usize, pre.width as usize],
                })
            }
            Task::TextClassification { .. } | Task::TextRegression { .. } | Task::LastTokenClassification { .. } => {
                let tokenizer = models::tokenizer::load_tokenizer(ckpt)?;
                let (_, json) = ckpt.config_json()?;
                let decoder = matches!(info.task, Task::LastTokenClassification { .. });
                let encoding = if decoder {
                    TextEncoding::DecoderClassification { bos: config_id(&json, "bos_token_id") }
                } else {
                    TextEncoding::Encoder
                };
                // Decoders pad with eos (the paper's set-up); encoders with their pad token.
                let pad_id = config_id(&json, "pad_token_id").or_else(|| config_id(&json, "eos_token_id")).unwrap_or(0);
                let side = if decoder { PaddingSide::Left } else { PaddingSide::Right };
                let enc = |examples: Vec<Example>| encode_text(info.name, &examples, &tokenizer, encoding, max_length);
                Ok(EncodedData::Text {
                    splits: Splits { train: enc(splits.train)?, validation: enc(splits.validation)?, test: enc(splits.test)? },
                    pad_id,
                    side,
                })
            }
            Task::CausalLm => {
                let tokenizer = models::tokenizer::load_tokenizer(ckpt)?;
                let (path, json) = ckpt.config_json()?;
                let eos = config_id(&json, "eos_token_id")
                    .ok_or_else(|| RunError::msg(format!("{}: a causal LM needs `eos_token_id` to end its targets", path.display())))?;
                let encoding = TextEncoding::CausalLm { bos: config_id(&json, "bos_token_id"), eos };
                // The loss never looks at padding, so any id pads; eos is what GPT-2 uses.
                let pad_id = config_id(&json, "pad_token_id").unwrap_or(eos);
                let exact = info.metric == datasets::Metric::ExactMatch;
                let enc = |examples: Vec<Example>, split: &str| {
                    let features = encode_text(info.name, &examples, &tokenizer, encoding, max_length)?;
                    some_target_is_left(info.name, split, &features, max_length)?;
                    if exact {
                        let whole = encode_text(info.name, &examples, &tokenizer, encoding, usize::MAX)?;
                        whole_targets_fit(info.name, split, &whole, max_length)?;
                    }
                    Ok::<_, RunError>(features)
                };
                Ok(EncodedData::Text {
                    splits: Splits { train: enc(splits.train, "train")?, validation: enc(splits.validation, "validation")?, test: enc(splits.test, "test")? },
                    pad_id,
                    side: PaddingSide::Right,
                })
            }
        }
    }

    pub fn len(&self, split: Split) -> usize {
        match self {
            EncodedData::Text { splits, .. } => splits.get(split).len(),
            EncodedData::Image { splits, .. } => splits.get(split).len(),
        }
    }

    /// The examples `idx` of `split` as tensors on `device`.
    pub fn batch(&self, split: Split, idx: &[usize], device: &Device) -> (Inputs, Targets) {
        let b = idx.len();
        match self {
            EncodedData::Text { splits, pad_id, side } => {
                let rows: Vec<&TextFeatures> = idx.iter().map(|&i| &splits.get(split)[i]).collect();
                let t = collate_text(&rows, *pad_id, *side);
                let ids: Vec<i64> = t.input_ids.iter().map(|&v| i64::from(v)).collect();
                let mask: Vec<i64> = t.attention_mask.iter().map(|&v| i64::from(v)).collect();
                let ids = Tensor::from_data(TensorData::new(ids, [b, t.seq_len]), device);
                let mask = Tensor::from_data(TensorData::new(mask, [b, t.seq_len]), device);
                let types: Vec<i64> = t.token_type_ids.iter().map(|&v| i64::from(v)).collect();
                let types = Tensor::from_data(TensorData::new(types, [b, t.seq_len]), device);
                let targets = match &rows[0].target {
                    Target::Lm => lm_targets(&t.labels, b, t.seq_len, device),
                    Target::Score(_) => {
                        let s: Vec<f32> = rows.iter().map(|r| if let Target::Score(s) = r.target { s } else { f32::NAN }).collect();
                        Targets::Scores(Tensor::from_data(TensorData::new(s.clone(), [b, 1]), device), s)
                    }
                    _ => {
                        let c: Vec<usize> = rows.iter().map(|r| if let Target::Class(c) = r.target { c } else { 0 }).collect();
                        let ci: Vec<i64> = c.iter().map(|&v| v as i64).collect();
                        Targets::Classes(Tensor::from_data(TensorData::new(ci, [b, 1]), device), c)
                    }
                };
                (Inputs::Text { ids, types, mask, pad_id: i64::from(*pad_id) }, targets)
            }
            EncodedData::Image { splits, shape } => {
                let [c, h, w] = *shape;
                let mut pixels = Vec::with_capacity(b * c * h * w);
                let mut classes = Vec::with_capacity(b);
                for &i in idx {
                    let e = &splits.get(split)[i];
                    pixels.extend_from_slice(&e.pixels);
                    classes.push(e.class);
                }
                let ci: Vec<i64> = classes.iter().map(|&v| v as i64).collect();
                (
                    Inputs::Pixels(Tensor::from_data(TensorData::new(pixels, [b, c, h, w]), device)),
                    Targets::Classes(Tensor::from_data(TensorData::new(ci, [b, 1]), device), classes),
                )
            }
        }
    }
}

/// A causal LM learns and is scored on its targets only: a `max_length` that truncates every
/// example of a split to its prompt leaves nothing to train on or to score (the perplexity
/// of no token is NaN), so it is refused with the length that would leave some target.
fn some_target_is_left(dataset: &str, split: &str, features: &[TextFeatures], max_length: usize) -> Result<(), RunError> {
    if features.is_empty() || features.iter().any(|f| f.input_ids.len() > f.prompt_len) {
        return Ok(());
    }
    let shortest = features.iter().map(|f| f.prompt_len).min().unwrap_or(0);
    let prompts = if shortest >= max_length { format!("every prompt alone takes {max_length} tokens or more") } else { format!("its shortest prompt takes {shortest} tokens with BOS") };
    Err(RunError::msg(format!("max_length {max_length} cuts off every target of {dataset}'s {split} split ({prompts}): raise max_length so that the targets fit after their prompts")))
}

/// Exact match scores a whole target: one cut by `max_length` would be judged on what is left
/// of it (a target cut to nothing would count as matched), so the cell is refused with the
/// length every target needs. `whole` is the split encoded without a length limit.
fn whole_targets_fit(dataset: &str, split: &str, whole: &[TextFeatures], max_length: usize) -> Result<(), RunError> {
    let cut = whole.iter().filter(|f| f.input_ids.len() > max_length).count();
    if cut == 0 {
        return Ok(());
    }
    let need = whole.iter().map(|f| f.input_ids.len()).max().unwrap_or(0);
    Err(RunError::msg(format!(
        "max_length {max_length} cuts the targets of {cut} of {} examples of {dataset}'s {split} split, and exact match needs whole targets: give max_length ≥ {need}",
        whole.len()
    )))
}

/// Shifts causal-LM labels (`[batch, seq]`, unshifted, `-100` = no loss) to next-token targets.
fn lm_targets(labels: &datasets::batch::BatchLabels, b: usize, seq: usize, device: &Device) -> Targets {
    let datasets::batch::BatchLabels::Lm(labels) = labels else { unreachable!("an LM batch has LM labels") };
    let n = seq.saturating_sub(1);
    let mut gold = Vec::with_capacity(b * n);
    for row in labels.chunks(seq) {
        gold.extend_from_slice(&row[1..]);
    }
    let ignore = datasets::batch::IGNORE_INDEX;
    let next: Vec<i64> = gold.iter().map(|&g| if g == ignore { 0 } else { g }).collect();
    let weight: Vec<f32> = gold.iter().map(|&g| if g == ignore { 0.0 } else { 1.0 }).collect();
    Targets::Tokens {
        next: Tensor::from_data(TensorData::new(next, [b * n, 1]), device),
        weight: Tensor::from_data(TensorData::new(weight, [b * n, 1]), device),
        gold,
    }
}

/// The number of outputs a task's head needs (1 for regression).
pub fn head_outputs(task: &Task) -> Result<usize, RunError> {
    match *task {
        Task::TextRegression { .. } => Ok(1),
        other => other.num_classes().ok_or_else(|| RunError::msg(format!("task {} has no classification head", other.describe()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_max_length_that_cuts_every_target_is_refused() {
        let row = |ids: usize, prompt_len: usize| TextFeatures { input_ids: vec![1; ids], token_type_ids: vec![0; ids], prompt_len, target: Target::Lm };
        assert!(some_target_is_left("mini-data-to-text", "test", &[row(4, 4), row(6, 5)], 6).is_ok(), "one target token is enough");
        let err = some_target_is_left("mini-data-to-text", "test", &[row(4, 4), row(4, 4)], 4).unwrap_err().to_string();
        assert!(err.contains("max_length 4 cuts off every target of mini-data-to-text's test split") && err.contains("every prompt alone takes 4 tokens or more"), "{err}");
        let err = some_target_is_left("d", "train", &[row(3, 3)], 8).unwrap_err().to_string();
        assert!(err.contains("shortest prompt takes 3 tokens"), "{err}");
        // Exact match: every whole target must fit.
        assert!(whole_targets_fit("django", "test", &[row(6, 3), row(8, 2)], 8).is_ok());
        let err = whole_targets_fit("django", "test", &[row(6, 3), row(9, 2), row(12, 4)], 8).unwrap_err().to_string();
        assert!(err.contains("cuts the targets of 2 of 3 examples of django's test split") && err.contains("max_length ≥ 12"), "{err}");
    }

    /// Position t is trained to predict token t + 1; prompt and padding carry no loss.
    #[test]
    fn lm_labels_shift_to_next_token_targets() {
        let device = Device::flex();
        let ignore = datasets::batch::IGNORE_INDEX;
        // Two rows of length 4: [bos prompt | target eos] and [bos | target eos pad].
        let labels = datasets::batch::BatchLabels::Lm(vec![ignore, ignore, 11, 6, ignore, 12, 6, ignore]);
        let Targets::Tokens { next, weight, gold } = lm_targets(&labels, 2, 4, &device) else { panic!() };
        assert_eq!(gold, vec![ignore, 11, 6, 12, 6, ignore]);
        assert_eq!(next.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![0, 11, 6, 12, 6, 0]);
        assert_eq!(weight.into_data().convert::<f32>().try_to_vec::<f32>().unwrap(), vec![0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
    }
}
