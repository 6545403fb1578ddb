//! The plain-data shapes every data set produces: raw examples in three splits, and the task
//! they pose. No tensors here: the runner turns encoded examples into tensors.

use serde::Serialize;

/// Whether a text task reads one sentence or a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextInput {
    Single,
    Pair,
}

/// What a data set asks of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Task {
    /// An image → one of `num_classes` labels (ViT with a classification head).
    ImageClassification { num_classes: usize },
    /// One sentence or a sentence pair → one of `num_classes` labels (encoder + head).
    TextClassification { num_classes: usize, input: TextInput },
    /// One sentence or a pair → a real score (encoder + 1-output head, MSE).
    TextRegression { input: TextInput },
    /// Prompt → target text; loss on the target tokens only (decoder LM head).
    CausalLm,
    /// A prompt read by a decoder; the last token's hidden state → one of `num_classes`
    /// labels (left padding, pad = eos), as the reference code runs the reasoning tasks.
    LastTokenClassification { num_classes: usize },
}

impl Task {
    /// Number of classes of a classification task, `None` otherwise.
    pub fn num_classes(&self) -> Option<usize> {
        match *self {
            Task::ImageClassification { num_classes }
            | Task::TextClassification { num_classes, .. }
            | Task::LastTokenClassification { num_classes } => Some(num_classes),
            Task::TextRegression { .. } | Task::CausalLm => None,
        }
    }

    /// A short human name, e.g. "sentence-pair classification (2 classes)".
    pub fn describe(&self) -> String {
        match *self {
            Task::ImageClassification { num_classes } => format!("image classification ({num_classes} classes)"),
            Task::TextClassification { num_classes, input: TextInput::Single } => {
                format!("sentence classification ({num_classes} classes)")
            }
            Task::TextClassification { num_classes, input: TextInput::Pair } => {
                format!("sentence-pair classification ({num_classes} classes)")
            }
            Task::TextRegression { input: TextInput::Single } => "sentence regression".into(),
            Task::TextRegression { input: TextInput::Pair } => "sentence-pair regression".into(),
            Task::CausalLm => "causal LM (loss on target)".into(),
            Task::LastTokenClassification { num_classes } => {
                format!("last-token classification ({num_classes} classes)")
            }
        }
    }
}

/// An image as stored: either still encoded (PNG/JPEG bytes, decoded when encoding for a
/// model, so large data sets are not held decoded in memory) or raw pixels.
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    Encoded(Vec<u8>),
    /// Row-major, channel-last (`height × width × channels`), 1 (grey) or 3 (RGB) channels.
    Raw { width: u32, height: u32, channels: u8, pixels: Vec<u8> },
}

/// The input side of one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// One text: a sentence, or a fully formatted prompt (causal LM, last-token tasks).
    Text(String),
    /// A sentence pair (`sentence1`, `sentence2`).
    TextPair(String, String),
    Image(Image),
}

/// The target side of one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    /// A class index `0..num_classes`.
    Class(usize),
    /// A regression score (STS-B: 0–5).
    Score(f32),
    /// Target text for causal LM (E2E reference, DJANGO code line).
    Text(String),
}

/// One raw example, with where it came from (file and row, or generator and index).
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub input: Input,
    pub label: Label,
    pub origin: String,
}

impl Example {
    pub fn class(&self) -> Option<usize> {
        match self.label {
            Label::Class(c) => Some(c),
            _ => None,
        }
    }

    pub fn score(&self) -> Option<f32> {
        match self.label {
            Label::Score(s) => Some(s),
            _ => None,
        }
    }
}

/// Which split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// Train / validation / test, after the data set's split protocol has been applied.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Splits<T> {
    pub train: Vec<T>,
    pub validation: Vec<T>,
    pub test: Vec<T>,
}

/// Number of examples per split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SplitSizes {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

impl<T> Splits<T> {
    pub fn get(&self, split: Split) -> &[T] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }

    pub fn sizes(&self) -> SplitSizes {
        SplitSizes { train: self.train.len(), validation: self.validation.len(), test: self.test.len() }
    }

    /// Applies `f` to every element of every split.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Splits<U> {
        Splits {
            train: self.train.into_iter().map(&mut f).collect(),
            validation: self.validation.into_iter().map(&mut f).collect(),
            test: self.test.into_iter().map(&mut f).collect(),
        }
    }

    /// An error naming the first empty split, if any.
    pub fn ensure_non_empty(&self, dataset: &str, source_desc: &str) -> crate::Result<()> {
        for split in Split::ALL {
            if self.get(split).is_empty() {
                return Err(crate::DatasetError::EmptySplit {
                    dataset: dataset.into(),
                    split: split.name().into(),
                    source_desc: source_desc.into(),
                });
            }
        }
        Ok(())
    }
}
