//! SentencePiece `spm.model` files (DeBERTa-v3 ships one and no `tokenizer.json`): a small
//! reader of the protobuf `ModelProto`, and the `tokenizers::Tokenizer` that transformers'
//! `DebertaV2Converter` (convert_slow_tokenizer.py) builds from it: a Unigram model over the
//! pieces and their scores, the model's precompiled normalisation (`precompiled_charsmap`,
//! e.g. nmt_nfkc) between a whitespace strip and a collapse of repeated spaces, a Metaspace
//! pre-tokenizer, and the `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B [SEP]` template.
//!
//! Only the fields the conversion needs are read; the wire format is decoded by hand (varint,
//! length-delimited, fixed32/64) to avoid a protobuf dependency.

use std::path::Path;

use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Lowercase, NormalizerWrapper, Precompiled, Replace, Sequence, Strip};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::ModelError;

/// `SentencePiece.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_proto(v: u64) -> Option<Self> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// What `spm.model` holds that a tokenizer needs.
#[derive(Clone, Debug)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    /// `TrainerSpec.model_type`: 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    /// `TrainerSpec.unk_id`, when written.
    pub unk_id: Option<usize>,
    pub byte_fallback: bool,
    /// `NormalizerSpec.name` (e.g. `nmt_nfkc`).
    pub normalizer_name: String,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
}

/// A protobuf field: its number and value.
enum Value<'a> {
    Varint(u64),
    /// Skipped: no field the conversion reads is 64-bit fixed.
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Walks the fields of one protobuf message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let &b = self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("truncated field")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field, or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = self.varint()? as usize;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().unwrap())),
            w => return Err(format!("field {num}: unsupported wire type {w}")),
        };
        Ok(Some((num, value)))
    }
}

fn utf8(b: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

fn parse_piece(buf: &[u8]) -> Result<Piece, String> {
    // Proto2 defaults: score 0, type NORMAL.
    let mut piece = Piece { piece: String::new(), score: 0.0, kind: PieceType::Normal };
    let mut r = Reader::new(buf);
    while let Some((num, v)) = r.field()? {
        match (num, v) {
            (1, Value::Bytes(b)) => piece.piece = utf8(b, "a piece")?,
            (2, Value::Fixed32(f)) => piece.score = f32::from_bits(f),
            (3, Value::Varint(t)) => {
                piece.kind = PieceType::from_proto(t).ok_or_else(|| format!("piece type {t} unknown"))?
            }
            _ => {}
        }
    }
    Ok(piece)
}

impl SpmModel {
    /// Parses a serialized `ModelProto`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut m = SpmModel {
            pieces: Vec::new(),
            model_type: 1,
            unk_id: None,
            byte_fallback: false,
            normalizer_name: String::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
        };
        let mut r = Reader::new(bytes);
        while let Some((num, v)) = r.field()? {
            match (num, v) {
                (1, Value::Bytes(b)) => m.pieces.push(parse_piece(b)?),
                (2, Value::Bytes(b)) => {
                    // TrainerSpec: model_type = 3, byte_fallback = 35, unk_id = 40.
                    let mut t = Reader::new(b);
                    while let Some((num, v)) = t.field()? {
                        match (num, v) {
                            (3, Value::Varint(x)) => m.model_type = x,
                            (35, Value::Varint(x)) => m.byte_fallback = x != 0,
                            (40, Value::Varint(x)) => m.unk_id = Some(x as i32 as usize),
                            _ => {}
                        }
                    }
                }
                (3, Value::Bytes(b)) => {
                    // NormalizerSpec: name = 1, precompiled_charsmap = 2, add_dummy_prefix = 3,
                    // remove_extra_whitespaces = 4.
                    let mut n = Reader::new(b);
                    while let Some((num, v)) = n.field()? {
                        match (num, v) {
                            (1, Value::Bytes(s)) => m.normalizer_name = utf8(s, "the normalizer name")?,
                            (2, Value::Bytes(s)) => m.precompiled_charsmap = s.to_vec(),
                            (3, Value::Varint(x)) => m.add_dummy_prefix = x != 0,
                            (4, Value::Varint(x)) => m.remove_extra_whitespaces = x != 0,
                            _ => {}
                        }
                    }
                }
                // self_test_data, denormalizer_spec and unknown fields are not needed.
                (_, Value::Varint(_) | Value::Fixed64 | Value::Fixed32(_) | Value::Bytes(_)) => {}
            }
        }
        if m.pieces.is_empty() {
            return Err("no pieces: not a sentencepiece model".into());
        }
        Ok(m)
    }

    /// The id of the unknown piece: `TrainerSpec.unk_id` (what transformers uses), else the
    /// piece typed UNKNOWN, else 0 (the proto default).
    pub fn unk_id(&self) -> usize {
        self.unk_id
            .or_else(|| self.pieces.iter().position(|p| p.kind == PieceType::Unknown))
            .unwrap_or(0)
    }
}

/// The options `tokenizer_config.json` may set for a DeBERTa-v2/v3 tokenizer.
#[derive(Clone, Debug)]
pub struct DebertaV2TokenizerOptions {
    pub do_lower_case: bool,
    pub split_by_punct: bool,
    pub add_prefix_space: bool,
    /// `legacy: false` prepends `▁` only to the first word (transformers' `_get_prepend_scheme`).
    pub legacy: bool,
    pub cls_token: String,
    pub sep_token: String,
    pub pad_token: String,
    pub unk_token: String,
    pub mask_token: String,
}

impl Default for DebertaV2TokenizerOptions {
    fn default() -> Self {
        Self {
            do_lower_case: false,
            split_by_punct: false,
            add_prefix_space: true,
            legacy: true,
            cls_token: "[CLS]".into(),
            sep_token: "[SEP]".into(),
            pad_token: "[PAD]".into(),
            unk_token: "[UNK]".into(),
            mask_token: "[MASK]".into(),
        }
    }
}

impl DebertaV2TokenizerOptions {
    /// Reads the options from a `tokenizer_config.json` value; absent keys keep the defaults.
    /// Special tokens may be strings or `{"content": ...}` objects.
    pub fn from_config(json: &serde_json::Value) -> Self {
        let mut o = Self::default();
        let flag = |k: &str, d: bool| json.get(k).and_then(|v| v.as_bool()).unwrap_or(d);
        o.do_lower_case = flag("do_lower_case", o.do_lower_case);
        o.split_by_punct = flag("split_by_punct", o.split_by_punct);
        o.add_prefix_space = flag("add_prefix_space", o.add_prefix_space);
        o.legacy = flag("legacy", o.legacy);
        let token = |k: &str, d: &mut String| {
            let v = json.get(k);
            if let Some(s) = v.and_then(|v| v.as_str().or_else(|| v.get("content").and_then(|c| c.as_str()))) {
                *d = s.to_string();
            }
        };
        token("cls_token", &mut o.cls_token);
        token("sep_token", &mut o.sep_token);
        token("pad_token", &mut o.pad_token);
        token("unk_token", &mut o.unk_token);
        token("mask_token", &mut o.mask_token);
        o
    }
}

/// The fast tokenizer transformers' `DebertaV2Converter` makes from `model`.
pub fn deberta_v2_tokenizer(model: &SpmModel, opts: &DebertaV2TokenizerOptions) -> Result<Tokenizer, String> {
    if model.model_type != 1 {
        return Err(format!("sentencepiece model_type {} is not unigram (1)", model.model_type));
    }
    let vocab: Vec<(String, f64)> = model.pieces.iter().map(|p| (p.piece.clone(), p.score as f64)).collect();
    // byte_fallback is not carried over: the converter does not handle it for DeBERTa either.
    let unigram = Unigram::from(vocab, Some(model.unk_id()), false).map_err(|e| e.to_string())?;
    let mut tok = Tokenizer::new(unigram);

    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if opts.do_lower_case {
        norms.push(Lowercase.into());
    }
    norms.push(Strip::new(true, true).into());
    if !model.precompiled_charsmap.is_empty() {
        let pre = Precompiled::from(&model.precompiled_charsmap).map_err(|e| format!("precompiled_charsmap: {e}"))?;
        norms.push(pre.into());
    }
    norms.push(Replace::new(tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()), " ").map_err(|e| e.to_string())?.into());
    tok.with_normalizer(Some(Sequence::new(norms))).map_err(|e| e.to_string())?;

    let scheme = match (opts.add_prefix_space, opts.legacy) {
        (false, _) => PrependScheme::Never,
        (true, true) => PrependScheme::Always,
        (true, false) => PrependScheme::First,
    };
    let mut pres: Vec<PreTokenizerWrapper> = Vec::new();
    if opts.split_by_punct {
        pres.push(Punctuation::new(SplitDelimiterBehavior::Isolated).into());
    }
    pres.push(Metaspace::new('▁', scheme, true).into());
    tok.with_pre_tokenizer(Some(PreSequence::new(pres)));
    tok.with_decoder(Some(MetaspaceDecoder::new('▁', scheme, true)));

    let id = |t: &str| {
        model.pieces.iter().position(|p| p.piece == t).map(|i| i as u32).ok_or_else(|| format!("special token {t} is not a piece"))
    };
    let (cls, sep) = (opts.cls_token.as_str(), opts.sep_token.as_str());
    let template = TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .map_err(|e| e.to_string())?
        .try_pair(format!("{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1"))
        .map_err(|e| e.to_string())?
        .special_tokens(vec![(cls, id(cls)?), (sep, id(sep)?)])
        .build()
        .map_err(|e| e.to_string())?;
    tok.with_post_processor(Some(template));

    // Special tokens are matched before normalisation; one that is not a piece (DeBERTa-v3's
    // [MASK]) gets the next id after the pieces, as transformers adds it.
    let specials = [&opts.pad_token, &opts.cls_token, &opts.sep_token, &opts.unk_token, &opts.mask_token];
    tok.add_special_tokens(specials.iter().map(|t| AddedToken::from(t.as_str(), true))).map_err(|e| e.to_string())?;
    Ok(tok)
}

/// Reads `spm.model` (and `tokenizer_config.json` beside it, when given) into a tokenizer.
pub fn load_spm_tokenizer(spm_path: &Path, tokenizer_config: Option<&Path>) -> Result<Tokenizer, ModelError> {
    let err = |path: &Path, message: String| ModelError::Tokenizer { path: path.to_path_buf(), message };
    let bytes = std::fs::read(spm_path).map_err(|e| err(spm_path, e.to_string()))?;
    let model = SpmModel::parse(&bytes).map_err(|e| err(spm_path, e))?;
    let opts = match tokenizer_config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| err(p, e.to_string()))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(p, format!("bad JSON: {e}")))?;
            DebertaV2TokenizerOptions::from_config(&json)
        }
        None => DebertaV2TokenizerOptions::default(),
    };
    deberta_v2_tokenizer(&model, &opts).map_err(|e| err(spm_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wire_format() {
        // pieces { piece: "a" score: 0.5 type: NORMAL(omitted) }, pieces { "<unk>" type 2 },
        // trainer_spec { unk_id: 1 }, normalizer_spec { name: "x" add_dummy_prefix: false }
        let mut b = vec![0x0a, 8, 0x0a, 1, b'a', 0x15];
        b.extend_from_slice(&0.5f32.to_le_bytes());
        b.extend_from_slice(&[0x0a, 9, 0x0a, 5, b'<', b'u', b'n', b'k', b'>', 0x18, 2]);
        b.extend_from_slice(&[0x12, 3, 0xc0, 0x02, 1]); // field 40 varint: key = 40 << 3 = 320
        b.extend_from_slice(&[0x1a, 5, 0x0a, 1, b'x', 0x18, 0]);
        let m = SpmModel::parse(&b).unwrap();
        assert_eq!(m.pieces.len(), 2);
        assert_eq!((m.pieces[0].piece.as_str(), m.pieces[0].score, m.pieces[0].kind), ("a", 0.5, PieceType::Normal));
        assert_eq!(m.pieces[1].kind, PieceType::Unknown);
        assert_eq!(m.unk_id(), 1);
        assert_eq!(m.normalizer_name, "x");
        assert!(!m.add_dummy_prefix && m.remove_extra_whitespaces);
        assert!(SpmModel::parse(&b[..b.len() - 3]).is_err());
    }
}
