//! The on-disk cache of tokenized splits, so a second run does not tokenize again. A cache
//! entry is keyed by a SHA-256 of (data set, split protocol, tokenizer file hash, encoding,
//! max length, format version) and written atomically (temp file + rename); a corrupt or
//! truncated entry is treated as a miss and rewritten. Images are not cached: they are
//! decoded and resized per batch, in parallel (an encoded 224×224 CIFAR-10 would be ~36 GB).

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::encode::{Target, TextEncoding, TextFeatures};
use crate::{DatasetError, Result, Splits};

const MAGIC: &[u8; 8] = b"BLDSTOK1";

/// SHA-256 (hex) of a file's bytes, e.g. a `tokenizer.json`.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(DatasetError::io(path))?;
    Ok(crate::mini::hex(&Sha256::digest(bytes)))
}

/// What a cache entry depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheKey<'a> {
    pub dataset: &'a str,
    pub split_protocol: &'a str,
    /// SHA-256 of the tokenizer file (see [`file_sha256`]).
    pub tokenizer_sha256: &'a str,
    pub encoding: TextEncoding,
    pub max_length: usize,
}

impl CacheKey<'_> {
    pub fn digest(&self) -> String {
        let text = format!(
            "v1\n{}\n{}\n{}\n{:?}\n{}",
            self.dataset, self.split_protocol, self.tokenizer_sha256, self.encoding, self.max_length
        );
        crate::mini::hex(&Sha256::digest(text.as_bytes()))
    }

    /// `<dir>/<dataset>-<digest16>.tok`
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}-{}.tok", self.dataset, &self.digest()[..16]))
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(DatasetError::io(dir))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp).map_err(DatasetError::io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(DatasetError::io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(DatasetError::io(path))
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn serialize(splits: &Splits<TextFeatures>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for split in [&splits.train, &splits.validation, &splits.test] {
        put_u32(&mut out, split.len() as u32);
        for f in split {
            put_u32(&mut out, f.input_ids.len() as u32);
            for &id in &f.input_ids {
                put_u32(&mut out, id);
            }
            for &t in &f.token_type_ids {
                put_u32(&mut out, t);
            }
            put_u32(&mut out, f.prompt_len as u32);
            match f.target {
                Target::Class(c) => {
                    out.push(0);
                    put_u32(&mut out, c as u32);
                }
                Target::Score(s) => {
                    out.push(1);
                    put_u32(&mut out, s.to_bits());
                }
                Target::Lm => {
                    out.push(2);
                    put_u32(&mut out, 0);
                }
            }
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    fn u32(&mut self) -> Option<u32> {
        let v = u32::from_le_bytes(self.bytes.get(self.at..self.at + 4)?.try_into().ok()?);
        self.at += 4;
        Some(v)
    }
}

fn deserialize(bytes: &[u8]) -> Option<Splits<TextFeatures>> {
    if bytes.get(..MAGIC.len())? != MAGIC {
        return None;
    }
    let mut r = Reader { bytes, at: MAGIC.len() };
    let mut splits: [Vec<TextFeatures>; 3] = Default::default();
    for split in &mut splits {
        let n = r.u32()? as usize;
        for _ in 0..n {
            let len = r.u32()? as usize;
            let input_ids = (0..len).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
            let token_type_ids = (0..len).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
            let prompt_len = r.u32()? as usize;
            let tag = r.u8()?;
            let payload = r.u32()?;
            let target = match tag {
                0 => Target::Class(payload as usize),
                1 => Target::Score(f32::from_bits(payload)),
                2 => Target::Lm,
                _ => return None,
            };
            split.push(TextFeatures { input_ids, token_type_ids, prompt_len, target });
        }
    }
    if r.at != bytes.len() {
        return None;
    }
    let [train, validation, test] = splits;
    Some(Splits { train, validation, test })
}

/// The cached encoding of `key` in `dir`, or `encode()` (then written to the cache).
/// Returns the splits and whether they came from the cache.
pub fn load_or_encode(
    dir: &Path,
    key: &CacheKey<'_>,
    encode: impl FnOnce() -> Result<Splits<TextFeatures>>,
) -> Result<(Splits<TextFeatures>, bool)> {
    let path = key.path_in(dir);
    if let Some(splits) = std::fs::read(&path).ok().and_then(|bytes| deserialize(&bytes)) {
        return Ok((splits, true));
    }
    let splits = encode()?;
    write_atomic(&path, &serialize(&splits))?;
    Ok((splits, false))
}
