//! The paper's published numbers, `experiments/paper-tables/table*.csv` (long form:
//! `model,dataset,method,value`, Tables 14/15 also `metric` and `ratio_to_lora`; lines starting
//! with `#` are comments).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Every value of every paper table found, by (table, model, data set, metric, method); the
/// metric is empty for tables that have one value per cell.
#[derive(Clone, Debug, Default)]
pub struct PaperTables {
    values: HashMap<(String, String, String, String, String), f64>,
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

    /// Adds one table's CSV text (`table` is its number, e.g. "2").
    pub fn add(&mut self, table: &str, csv: &str) -> Result<()> {
        let mut lines = csv.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        let Some(header) = lines.next() else { return Ok(()) };
        let cols: Vec<&str> = header.split(',').collect();
        let col = |name: &str| cols.iter().position(|c| *c == name);
        let (Some(m), Some(d), Some(me), Some(v)) = (col("model"), col("dataset"), col("method"), col("value")) else {
            bail!("the header needs model, dataset, method and value: {header}");
        };
        let metric = col("metric");
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            let value: f64 = get(v).parse().with_context(|| format!("not a number in: {line}"))?;
            let metric = metric.map(get).unwrap_or("");
            self.values.insert((table.into(), get(m).into(), get(d).into(), metric.into(), get(me).into()), value);
        }
        Ok(())
    }

    /// The value of `table` (e.g. "2") for (model, data set, method).
    pub fn get(&self, table: &str, model: &str, dataset: &str, method: &str) -> Option<f64> {
        self.get_metric(table, model, dataset, "", method)
    }

    /// The value of `table` for (model, data set, metric, method), for tables with a metric column.
    pub fn get_metric(&self, table: &str, model: &str, dataset: &str, metric: &str, method: &str) -> Option<f64> {
        self.values.get(&(table.into(), model.into(), dataset.into(), metric.into(), method.into())).copied()
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
}
