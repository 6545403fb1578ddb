//! The paper's published numbers, `experiments/paper-tables/table*.csv`, in long form: one value
//! per line, `model,dataset,method,value` plus whichever of the [`KEY_COLUMNS`] tell the table's
//! values apart (`metric` for Tables 14/15, `rank` and `lr` / `alpha_over_r` /
//! `reset_every_epochs` for the ablations, Tables 8–13); any other column (`ratio_to_lora`,
//! `lr_printed`, …) is for the reader. Lines starting with `#` are comments.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The columns that, besides model, data set and method, identify a value, and whether each is
/// numeric. This is the one place that knows them: a table's key is the subset its header has.
pub const KEY_COLUMNS: &[(&str, bool)] =
    &[("metric", false), ("rank", true), ("lr", true), ("alpha_over_r", true), ("reset_every_epochs", true)];

/// (table, model, data set, method, the table's key columns in [`KEY_COLUMNS`] order with their
/// normalised values).
type Key = (String, String, String, String, Vec<(&'static str, String)>);

/// Every value of every paper table found.
#[derive(Clone, Debug, Default)]
pub struct PaperTables {
    values: HashMap<Key, f64>,
}

/// A key column's value as stored and looked up: numbers to ten significant digits, so that
/// `1e-4`, `0.0001` and 10^-3.5 written by different hands (3.1622776601683794e-4,
/// 3.162277660168379e-04) meet.
fn normalise(numeric: bool, raw: &str) -> Result<String> {
    if !numeric {
        return Ok(raw.to_string());
    }
    let v: f64 = raw.parse().with_context(|| format!("not a number: {raw:?}"))?;
    Ok(number_key(v))
}

fn number_key(v: f64) -> String {
    format!("{v:.9e}")
}

impl PaperTables {
    /// Reads every `table*.csv` of `dir`; a missing directory gives no numbers.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut out = Self::default();
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
        for e in entries {
            let path = e?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(table) = name.strip_prefix("table").and_then(|n| n.strip_suffix(".csv")) else { continue };
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            out.add(table, &text).with_context(|| format!("parsing {}", path.display()))?;
        }
        Ok(out)
    }

    /// Adds one table's CSV text (`table` is its number, e.g. "2"). Two lines with the same key
    /// are an error (a key column missing from [`KEY_COLUMNS`] would otherwise lose values).
    pub fn add(&mut self, table: &str, csv: &str) -> Result<()> {
        let mut lines = csv.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        let Some(header) = lines.next() else { return Ok(()) };
        let cols: Vec<&str> = header.split(',').collect();
        let col = |name: &str| cols.iter().position(|c| *c == name);
        let (Some(m), Some(d), Some(me), Some(v)) = (col("model"), col("dataset"), col("method"), col("value")) else {
            bail!("the header needs model, dataset, method and value: {header}");
        };
        let keys: Vec<(&'static str, bool, usize)> =
            KEY_COLUMNS.iter().filter_map(|&(name, numeric)| col(name).map(|i| (name, numeric, i))).collect();
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            let value: f64 = get(v).parse().with_context(|| format!("not a number in: {line}"))?;
            let at = keys
                .iter()
                .map(|&(name, numeric, i)| Ok((name, normalise(numeric, get(i)).with_context(|| format!("column {name} of: {line}"))?)))
                .collect::<Result<Vec<_>>>()?;
            let key = (table.to_string(), get(m).to_string(), get(d).to_string(), get(me).to_string(), at);
            if self.values.insert(key, value).is_some() {
                bail!("two values for the same key: {line}");
            }
        }
        Ok(())
    }

    /// The value of `table` (e.g. "2") for (model, data set, method).
    pub fn get(&self, table: &str, model: &str, dataset: &str, method: &str) -> Option<f64> {
        self.get_at(table, model, dataset, "", method, &[])
    }

    /// The value of `table` for (model, data set, metric, method), for tables with a metric column.
    pub fn get_metric(&self, table: &str, model: &str, dataset: &str, metric: &str, method: &str) -> Option<f64> {
        self.get_at(table, model, dataset, metric, method, &[])
    }

    /// The value of `table` for (model, data set, metric, method) at the numeric key columns
    /// `at`, e.g. `[("rank", 4.0), ("lr", 1e-4)]`. `metric` is ignored by tables without a
    /// metric column; `at` must name every numeric key column the table has, in any order.
    pub fn get_at(&self, table: &str, model: &str, dataset: &str, metric: &str, method: &str, at: &[(&str, f64)]) -> Option<f64> {
        let mut key_at = Vec::new();
        for &(name, numeric) in KEY_COLUMNS {
            if !numeric {
                key_at.push((name, metric.to_string()));
            } else if let Some(&(_, v)) = at.iter().find(|(n, _)| *n == name) {
                key_at.push((name, number_key(v)));
            }
        }
        let mut key = (table.to_string(), model.to_string(), dataset.to_string(), method.to_string(), key_at);
        if let Some(v) = self.values.get(&key) {
            return Some(*v);
        }
        // The table has no metric column.
        key.4.retain(|(name, _)| *name != "metric");
        self.values.get(&key).copied()
    }

    /// How many values `table` holds.
    pub fn count(&self, table: &str) -> usize {
        self.values.keys().filter(|k| k.0 == table).count()
    }

    /// Models in the order the given table first lists them (the paper's row order).
    pub fn model_order(&self, table: &str) -> Vec<String> {
        // HashMap order is arbitrary: rebuild the order from the paper's own order of models.
        const PAPER_ORDER: &[&str] = &[
            "vit-tiny", "vit-base", "deberta-v2-xxlarge", "deberta-v3-base", "roberta-base", "roberta-large", "tinyllama",
            "llama-3-8b", "deepseek-coder-1.3b", "gpt2",
        ];
        let mut out: Vec<String> = PAPER_ORDER.iter().map(|s| s.to_string()).collect();
        let mut extra: Vec<String> =
            self.values.keys().filter(|k| k.0 == table && !out.contains(&k.1)).map(|k| k.1.clone()).collect();
        extra.sort();
        extra.dedup();
        out.extend(extra);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_long_form_tables_with_and_without_metric() {
        let mut p = PaperTables::default();
        p.add("2", "# comment\nmodel,dataset,method,value\nvit-tiny,office-home,lora,80.13\n").unwrap();
        p.add("15", "# c\nmodel,dataset,metric,method,value,ratio_to_lora\nvit-tiny,cifar10,runtime_minutes,fft,50.6,0.989\n").unwrap();
        assert_eq!(p.get("2", "vit-tiny", "office-home", "lora"), Some(80.13));
        assert_eq!(p.get("2", "vit-tiny", "office-home", "fft"), None);
        assert_eq!(p.get_metric("15", "vit-tiny", "cifar10", "runtime_minutes", "fft"), Some(50.6));
        assert!(p.add("3", "model,method,value\nx,y,1\n").is_err());
        // The committed tables all parse.
        let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let all = PaperTables::load(&dir.join("../../experiments/paper-tables")).unwrap();
        assert_eq!(all.get("2", "gpt2", "e2e", "fft"), Some(2.98));
        assert_eq!(all.get("17", "vit-tiny", "office-home", "fft"), Some(6.97));
        assert_eq!(all.get_metric("15", "vit-tiny", "office-home", "trainable_params", "lora"), Some(3.4e5));
    }

    fn committed() -> PaperTables {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        PaperTables::load(&dir.join("../../experiments/paper-tables")).unwrap()
    }

    #[test]
    fn ablation_tables_read_back_by_rank_and_swept_value() {
        let p = committed();
        // Every value of Tables 8–13: blocks × ranks × columns.
        let counts: Vec<usize> = ["8", "9", "10", "11", "12", "13"].iter().map(|t| p.count(t)).collect();
        assert_eq!(counts, [18 * 7 * 9, 12 * 7 * 9, 12 * 3 * 5, 12 * 3 * 4, 4 * 3 * 3 * 6, 2 * 3 * 3 * 6]);
        let acc = |t: &str, m: &str, d: &str, me: &str, at: &[(&str, f64)]| p.get_at(t, m, d, "accuracy", me, at);
        // Table 8, DeBERTa v3 LoRA MRPC: rank 2 at 1e-3 = 88.1; rank 128 at 1e-3.5 = 87.6 (10^-3.5
        // written by hand with a different last digit still meets the table's).
        assert_eq!(acc("8", "deberta-v3-base", "mrpc", "lora", &[("rank", 2.0), ("lr", 1e-3)]), Some(88.1));
        assert_eq!(acc("8", "deberta-v3-base", "mrpc", "lora", &[("lr", 3.1622776601683794e-4), ("rank", 128.0)]), Some(87.6));
        assert_eq!(acc("8", "deberta-v3-base", "trec50", "cla", &[("rank", 8.0), ("lr", 1e-6)]), Some(0.4));
        assert_eq!(acc("8", "deberta-v3-base", "paws", "c3la", &[("rank", 64.0), ("lr", 1e-6)]), Some(91.3));
        // Table 9 (two decimals): ViT-Tiny c3LA OfficeHome rank 128 at 1e-3 = 78.45.
        assert_eq!(acc("9", "vit-tiny", "office-home", "c3la", &[("rank", 128.0), ("lr", 1e-3)]), Some(78.45));
        assert_eq!(acc("9", "vit-tiny", "cifar10", "lora", &[("rank", 2.0), ("lr", 1e-5)]), Some(89.08));
        // Tables 10–11: α as a multiple of the rank; Table 11 has no 4r column.
        assert_eq!(acc("10", "deberta-v3-base", "mrpc", "lora", &[("rank", 16.0), ("alpha_over_r", 2.0)]), Some(66.5));
        assert_eq!(acc("10", "deberta-v3-base", "trec50", "rac-lora", &[("rank", 4.0), ("alpha_over_r", 0.25)]), Some(60.1));
        assert_eq!(acc("11", "vit-tiny", "cifar10", "asym-lora", &[("rank", 16.0), ("alpha_over_r", 0.5)]), Some(94.0));
        assert_eq!(acc("11", "vit-tiny", "office-home", "c3la", &[("rank", 16.0), ("alpha_over_r", 2.0)]), Some(78.5));
        assert_eq!(acc("11", "vit-tiny", "office-home", "lora", &[("rank", 4.0), ("alpha_over_r", 4.0)]), None);
        // Tables 12–13: chain reset every N epochs.
        assert_eq!(acc("12", "deberta-v3-base", "mrpc", "cola", &[("rank", 4.0), ("reset_every_epochs", 1.0)]), Some(88.0));
        assert_eq!(acc("12", "deberta-v3-base", "cola", "cola", &[("rank", 16.0), ("reset_every_epochs", 20.0)]), Some(69.1));
        assert_eq!(acc("12", "deberta-v3-base", "rte", "c3la", &[("rank", 16.0), ("reset_every_epochs", 15.0)]), Some(82.9));
        assert_eq!(acc("13", "vit-tiny", "cifar10", "rac-lora", &[("rank", 8.0), ("reset_every_epochs", 5.0)]), Some(94.5));
        // The ablation tables are accuracy: an MCC lookup finds nothing; a missing key column neither.
        assert_eq!(p.get_at("12", "deberta-v3-base", "cola", "matthews_correlation", "cola", &[("rank", 4.0), ("reset_every_epochs", 1.0)]), None);
        assert_eq!(acc("12", "deberta-v3-base", "mrpc", "cola", &[("rank", 4.0)]), None);
        // Table 2 holds all of Table 18 (24 model/data-set rows × 10 methods).
        assert_eq!(p.count("2"), 240);
    }

    /// Tables 4 and 5 (B.1) as transcribed: 8 rows × 12 methods each, and every value over its
    /// row's LoRA value is the ratio the paper prints beside it (within the values' rounding).
    #[test]
    fn tables_4_and_5_agree_with_their_printed_ratios() {
        let p = committed();
        let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        for t in ["4", "5"] {
            assert_eq!(p.count(t), 96, "table {t}");
            let text = std::fs::read_to_string(dir.join(format!("../../experiments/paper-tables/table{t}.csv"))).unwrap();
            for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                let (value, ratio): (f64, f64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
                let lora = p.get(t, f[0], f[1], "lora").unwrap();
                assert!((value / lora - ratio).abs() < 0.004, "table {t}: {line}: {value} / {lora} = {:.4}", value / lora);
            }
        }
        assert_eq!(p.get("4", "roberta-base", "cola", "cola"), Some(65.1));
        assert_eq!(p.get("5", "vit-base", "cifar10", "d-paca"), Some(98.8));
    }

    #[test]
    fn numeric_keys_meet_across_spellings_and_duplicates_are_refused() {
        let mut p = PaperTables::default();
        p.add("8", "model,dataset,metric,method,rank,lr,lr_printed,value\nm,d,accuracy,lora,4,0.0001,1e-4,85.6\n").unwrap();
        assert_eq!(p.get_at("8", "m", "d", "accuracy", "lora", &[("rank", 4.0), ("lr", 1e-4)]), Some(85.6));
        assert_eq!(p.get_at("8", "m", "d", "accuracy", "lora", &[("rank", 4.0), ("lr", 1.0001e-4)]), None);
        let dup = "model,dataset,method,rank,value\nm,d,lora,4,1\nm,d,lora,4.0,2\n";
        assert!(PaperTables::default().add("9", dup).is_err());
        assert!(PaperTables::default().add("9", "model,dataset,method,rank,value\nm,d,lora,four,1\n").is_err());
    }
}
