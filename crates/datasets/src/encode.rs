//! Task encodings: raw examples → token ids (encoders, decoders) or normalised pixels
//! (ViT). Text encoding runs in parallel with rayon and takes any `tokenizers::Tokenizer`
//! (a checkpoint's `tokenizer.json` or the mini one).

use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{DatasetError, Example, Image, Input, Label, Result};

/// The target of one encoded example.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Class(usize),
    Score(f32),
    /// Causal LM: the loss covers positions `prompt_len..input_ids.len()` (the target text and
    /// the end-of-sequence token).
    Lm,
}

/// One tokenized example (unpadded).
#[derive(Clone, Debug, PartialEq)]
pub struct TextFeatures {
    pub input_ids: Vec<u32>,
    /// Segment ids (0 for sentence A, 1 for B) as the tokenizer's post-processor sets them.
    pub token_type_ids: Vec<u32>,
    /// Tokens of the prompt, i.e. not scored by a causal-LM loss (0 unless `Target::Lm`).
    pub prompt_len: usize,
    pub target: Target,
}

/// How a text example becomes ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEncoding {
    /// Encoder classification / regression: the tokenizer's own template
    /// (`[CLS] a [SEP] b [SEP]`, RoBERTa's `<s> a </s></s> b </s>` …), longest-first
    /// truncation to `max_length` including the special tokens.
    Encoder,
    /// Decoder last-token classification: the prompt without the template, `bos` prepended
    /// when given; too-long prompts keep their **last** `max_length` tokens (the question and
    /// `Answer:` sit at the end).
    DecoderClassification { bos: Option<u32> },
    /// Causal LM: `bos? prompt target eos`, truncated at the right to `max_length`; the loss
    /// covers the target and `eos` only.
    CausalLm { bos: Option<u32>, eos: u32 },
}

fn tok_err(dataset: &str, origin: &str, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Tokenizer { dataset: dataset.into(), message: format!("{origin}: {e}") }
}

fn target_of(dataset: &str, e: &Example) -> Result<Target> {
    match &e.label {
        Label::Class(c) => Ok(Target::Class(*c)),
        Label::Score(s) => Ok(Target::Score(*s)),
        Label::Text(_) => Err(tok_err(dataset, &e.origin, "a text label needs TextEncoding::CausalLm")),
    }
}

/// The shortest `max_length` a text encoding accepts: room for the special tokens and at
/// least one token of each input.
pub const MIN_MAX_LENGTH: usize = 4;

/// Tokenizes `examples` in parallel; the output has the same order.
pub fn encode_text(
    dataset: &str,
    examples: &[Example],
    tokenizer: &Tokenizer,
    encoding: TextEncoding,
    max_length: usize,
) -> Result<Vec<TextFeatures>> {
    assert!(max_length >= MIN_MAX_LENGTH, "max_length {max_length} is too small (at least {MIN_MAX_LENGTH})");
    let mut tok = tokenizer.clone();
    tok.with_padding(None);
    match encoding {
        TextEncoding::Encoder => {
            tok.with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| tok_err(dataset, "truncation", e))?;
        }
        _ => {
            tok.with_truncation(None).map_err(|e| tok_err(dataset, "truncation", e))?;
        }
    }
    let tok = &tok;
    examples
        .par_iter()
        .map(|e| -> Result<TextFeatures> {
            let ids_of = |text: &str, special: bool| -> Result<tokenizers::Encoding> {
                tok.encode(text, special).map_err(|err| tok_err(dataset, &e.origin, err))
            };
            match encoding {
                TextEncoding::Encoder => {
                    let enc = match &e.input {
                        Input::Text(t) => ids_of(t, true)?,
                        Input::TextPair(a, b) => tok
                            .encode((a.as_str(), b.as_str()), true)
                            .map_err(|err| tok_err(dataset, &e.origin, err))?,
                        Input::Image(_) => return Err(tok_err(dataset, &e.origin, "an image cannot be tokenized")),
                    };
                    Ok(TextFeatures {
                        input_ids: enc.get_ids().to_vec(),
                        token_type_ids: enc.get_type_ids().to_vec(),
                        prompt_len: 0,
                        target: target_of(dataset, e)?,
                    })
                }
                TextEncoding::DecoderClassification { bos } => {
                    let Input::Text(prompt) = &e.input else {
                        return Err(tok_err(dataset, &e.origin, "decoder classification takes a text prompt"));
                    };
                    let mut ids: Vec<u32> = bos.into_iter().collect();
                    ids.extend_from_slice(ids_of(prompt, false)?.get_ids());
                    if ids.len() > max_length {
                        ids.drain(..ids.len() - max_length);
                    }
                    let n = ids.len();
                    Ok(TextFeatures { input_ids: ids, token_type_ids: vec![0; n], prompt_len: 0, target: target_of(dataset, e)? })
                }
                TextEncoding::CausalLm { bos, eos } => {
                    let (Input::Text(prompt), Label::Text(target)) = (&e.input, &e.label) else {
                        return Err(tok_err(dataset, &e.origin, "causal LM takes a text prompt and a text target"));
                    };
                    let mut ids: Vec<u32> = bos.into_iter().collect();
                    if !prompt.is_empty() {
                        ids.extend_from_slice(ids_of(prompt, false)?.get_ids());
                    }
                    let prompt_len = ids.len().min(max_length);
                    ids.extend_from_slice(ids_of(target, false)?.get_ids());
                    ids.push(eos);
                    ids.truncate(max_length);
                    let n = ids.len();
                    Ok(TextFeatures { input_ids: ids, token_type_ids: vec![0; n], prompt_len, target: Target::Lm })
                }
            }
        })
        .collect()
}

/// Image preprocessing of a ViT checkpoint (`preprocessor_config.json`): resize to `height ×
/// width` (Pillow's bilinear, bit-exact), scale by `rescale_factor`, normalise per channel with `image_mean` /
/// `image_std`. Grey images are repeated to three channels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePreprocessor {
    pub height: u32,
    pub width: u32,
    pub rescale_factor: f32,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
}

#[derive(Deserialize)]
struct PreprocessorConfig {
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    rescale_factor: Option<f32>,
    #[serde(default)]
    image_mean: Option<Vec<f32>>,
    #[serde(default)]
    image_std: Option<Vec<f32>>,
}

impl ImagePreprocessor {
    /// From the text of a `preprocessor_config.json`; `size` may be `{"height": h, "width": w}`,
    /// `{"shortest_edge": s}` (square) or a plain integer.
    pub fn from_config_json(text: &str) -> std::result::Result<Self, String> {
        let c: PreprocessorConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let (height, width) = match c.size {
            Some(serde_json::Value::Number(n)) => {
                let s = n.as_u64().ok_or("size is not an integer")? as u32;
                (s, s)
            }
            Some(serde_json::Value::Object(m)) => {
                let get = |k: &str| m.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
                match (get("height"), get("width"), get("shortest_edge")) {
                    (Some(h), Some(w), _) => (h, w),
                    (_, _, Some(s)) => (s, s),
                    _ => return Err(format!("unsupported size {m:?}")),
                }
            }
            None => (224, 224),
            Some(other) => return Err(format!("unsupported size {other}")),
        };
        let three = |v: Option<Vec<f32>>, default: [f32; 3]| -> std::result::Result<[f32; 3], String> {
            match v {
                None => Ok(default),
                Some(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
                Some(v) => Err(format!("expected 3 channel values, got {v:?}")),
            }
        };
        Ok(Self {
            height,
            width,
            rescale_factor: c.rescale_factor.unwrap_or(1.0 / 255.0),
            image_mean: three(c.image_mean, [0.5; 3])?,
            image_std: three(c.image_std, [0.5; 3])?,
        })
    }

    /// `pixel_values` of one image: `3 × height × width`, channel-first, normalised.
    pub fn apply(&self, image: &Image) -> std::result::Result<Vec<f32>, String> {
        let rgb: image::RgbImage = match image {
            Image::Encoded(bytes) => image::load_from_memory(bytes).map_err(|e| e.to_string())?.to_rgb8(),
            Image::Raw { width, height, channels: 1, pixels } => {
                let grey = image::GrayImage::from_raw(*width, *height, pixels.clone()).ok_or("pixel count mismatch")?;
                image::DynamicImage::ImageLuma8(grey).to_rgb8()
            }
            Image::Raw { width, height, channels: 3, pixels } => {
                image::RgbImage::from_raw(*width, *height, pixels.clone()).ok_or("pixel count mismatch")?
            }
            Image::Raw { channels, .. } => return Err(format!("unsupported channel count {channels}")),
        };
        let (in_w, in_h) = rgb.dimensions();
        let (w, h) = (self.width as usize, self.height as usize);
        // Pillow's bilinear resize, as transformers' image processors use it.
        let resized = crate::resize::resize_bilinear(rgb.as_raw(), in_h as usize, in_w as usize, h, w);
        let mut out = vec![0f32; 3 * h * w];
        for i in 0..h * w {
            for c in 0..3 {
                let v = f32::from(resized[i * 3 + c]) * self.rescale_factor;
                out[c * h * w + i] = (v - self.image_mean[c]) / self.image_std[c];
            }
        }
        Ok(out)
    }

    /// Preprocesses `examples` in parallel; returns `pixel_values` per example (same order).
    pub fn apply_all(&self, dataset: &str, examples: &[&Example]) -> Result<Vec<Vec<f32>>> {
        examples
            .par_iter()
            .map(|e| match &e.input {
                Input::Image(img) => self.apply(img).map_err(|message| DatasetError::Image {
                    dataset: dataset.into(),
                    file: e.origin.clone().into(),
                    row: 0,
                    message,
                }),
                _ => Err(DatasetError::Image {
                    dataset: dataset.into(),
                    file: e.origin.clone().into(),
                    row: 0,
                    message: "not an image example".into(),
                }),
            })
            .collect()
    }
}
