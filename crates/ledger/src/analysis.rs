//! The records of the geometry diagnostics (the `analysis` crate writes them from kept
//! trajectories; the report reads them): a loss landscape's grid and an intruder-dimension
//! count, one JSON file each under the experiment's `analysis/` directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directory of an experiment's analysis records.
pub fn analysis_dir(experiment_dir: &Path) -> PathBuf {
    experiment_dir.join("analysis")
}

/// How a landscape's two directions are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Directions {
    /// The top two principal components of [W₀ − W_T, …, W_{T−1} − W_T] over the trajectory.
    Pca,
    /// Gaussian, from a seed.
    Random,
}

impl Directions {
    pub fn as_str(self) -> &'static str {
        match self {
            Directions::Pca => "pca",
            Directions::Random => "random",
        }
    }
}

/// Everything that decides a landscape's values: a record resumes only into the same spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LandscapeSpec {
    /// The cell's hash (its ledger entry and trajectory).
    pub cell: String,
    pub directions: Directions,
    /// Li et al.'s filter normalisation of both directions (each row of a matrix scaled to the
    /// norm of the weight's row; bias and normalisation entries zeroed), else unit directions.
    pub filter_normalized: bool,
    /// The random directions' seed.
    pub seed: u64,
    /// Grid points per axis.
    pub grid: usize,
    /// α and β both run over [−range, range].
    pub range: f64,
    /// The split the loss is measured on and its first `examples` examples, in mini-batches of
    /// `batch_size`.
    pub split: String,
    pub examples: usize,
    pub batch_size: usize,
    /// The trajectory point at the centre: the end of this epoch (`None`: the last point).
    pub epoch: Option<usize>,
}

/// A loss that may not be finite (a far grid point can overflow), written as a JSON number or
/// the string `"inf"` / `"nan"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss(pub f64);

impl Serialize for Loss {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else if self.0.is_nan() {
            s.serialize_str("nan")
        } else {
            s.serialize_str(if self.0 > 0.0 { "inf" } else { "-inf" })
        }
    }
}

impl<'de> Deserialize<'de> for Loss {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        Ok(Loss(match Raw::deserialize(d)? {
            Raw::Number(v) => v,
            Raw::Text(t) => match t.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => f64::NAN,
            },
        }))
    }
}

/// A loss landscape f(α, β) = L(W + αδ + βη) on a grid, filled point by point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LandscapeRecord {
    pub spec: LandscapeSpec,
    /// e.g. `mini-encoder/mini-acceptability/lora/seed 0`.
    pub label: String,
    pub model: String,
    pub dataset: String,
    pub method: String,
    /// The axis values (the same for α and β).
    pub axis: Vec<f64>,
    /// f at (axis[i], axis[j]) at index i · grid + j; `None`: not evaluated yet.
    pub values: Vec<Option<Loss>>,
    /// The trajectory's points projected onto (δ, η), relative to the centre, in step order.
    pub trajectory: Vec<[f64; 2]>,
    /// PCA: the share of the trajectory's variance each direction explains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explained: Option<[f64; 2]>,
    /// Parameters the directions span (the trajectory's tensors).
    pub parameters: usize,
    /// Measured: seconds per grid point (a model load and the loss), on `device` — what a
    /// `--dry-run` estimates other grids of the model from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_per_point: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
}

impl LandscapeRecord {
    /// The record's file name: one per spec (the cell, its directions and the spec's hash), so
    /// that a resumed run finds it and another spec never overwrites it.
    pub fn file_name(spec: &LandscapeSpec) -> String {
        let hash = crate::config_hash(spec);
        format!("landscape-{}-{}-{}.json", &spec.cell[..spec.cell.len().min(16)], spec.directions.as_str(), &hash[..12])
    }

    pub fn is_complete(&self) -> bool {
        self.values.iter().all(Option::is_some)
    }
}

/// Intruder dimensions of one cell (Shuttleworth et al. 2024; the paper's §E.4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntruderRecord {
    pub cell: String,
    pub label: String,
    pub model: String,
    pub dataset: String,
    pub method: String,
    /// How many of the fine-tuned matrix's top singular vectors are examined.
    pub top_k: usize,
    /// The thresholds ε swept.
    pub epsilons: Vec<f64>,
    /// The mean over matrices of the intruder count at each ε.
    pub mean_counts: Vec<f64>,
    /// Each matrix's counts (checkpoint key, count at each ε).
    pub matrices: Vec<(String, Vec<usize>)>,
    /// The trajectory point compared with W₀: the end of this epoch.
    pub epoch: usize,
    /// That point is the trajectory's last (the end of training), as Fig 4 draws.
    pub last_point: bool,
}

impl IntruderRecord {
    pub fn file_name(cell: &str, epoch: Option<usize>) -> String {
        let at = epoch.map(|e| format!("-epoch{e}")).unwrap_or_default();
        format!("intruders-{}{at}.json", &cell[..cell.len().min(16)])
    }
}

/// Reads every record of type `T` whose file name starts with `prefix` in `dir` (none: empty).
pub fn read_records<T: serde::de::DeserializeOwned>(dir: &Path, prefix: &str) -> Result<Vec<T>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json")))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

/// Writes `record` to `path` as the ledger writes its own files ([`crate::write_durably`]).
pub fn write_record<T: Serialize>(path: &Path, record: &T) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    crate::write_durably(path, serde_json::to_string(record).expect("JSON").as_bytes()).map_err(|e| e.to_string())
}

/// The copy of the figure file a run used, in the analysis directory (what the report draws).
pub const FIGURES_USED: &str = "figures.json";

/// The geometry figures of a suite, as data (`experiments/<suite>/figures.toml`): which cells'
/// landscapes and intruder counts each of the paper's figures shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureFile {
    /// The ledger experiment whose cells the figures draw (`main`: Table 2's grid).
    #[serde(default = "main_experiment")]
    pub experiment: String,
    /// The seed of the cells drawn (`None`: each row's lowest seed in the grid — the paper's
    /// rows have seeds of their own).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The loss's subset: the first `examples` of `split`, in mini-batches of `batch_size`
    /// (the paper's 12).
    pub split: String,
    pub examples: usize,
    pub batch_size: usize,
    #[serde(default)]
    pub landscape: Vec<LandscapeFigure>,
    #[serde(default)]
    pub intruders: Vec<IntruderFigure>,
}

fn main_experiment() -> String {
    "main".into()
}

/// One landscape figure: a row of panels per (model, data set), one panel per method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandscapeFigure {
    /// The page's name (`fig1` → `fig1.html`).
    pub name: String,
    /// What it reproduces, e.g. "Figures 1 and 8".
    pub paper: String,
    pub caption: String,
    pub rows: Vec<FigureRow>,
    pub methods: Vec<String>,
    /// `surface` (3D, over [−range, range]²) or `contour` (2D, over the range the trajectory
    /// needs, with the trajectory drawn).
    pub kind: PanelKind,
    pub grid: usize,
    /// The surfaces' range (the paper's 2); contours fit theirs.
    #[serde(default = "paper_range")]
    pub range: f64,
    #[serde(default = "random_seed")]
    pub direction_seed: u64,
}

fn paper_range() -> f64 {
    2.0
}

fn random_seed() -> u64 {
    0
}

/// A (model, data set) row and the directions its panels use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureRow {
    pub model: String,
    pub dataset: String,
    pub directions: Directions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanelKind {
    Surface,
    Contour,
}

/// Fig 4: intruder counts against ε, one plot per (model, data set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntruderFigure {
    pub name: String,
    pub paper: String,
    pub caption: String,
    pub rows: Vec<(String, String)>,
    pub methods: Vec<String>,
    #[serde(default = "top_k")]
    pub top_k: usize,
}

fn top_k() -> usize {
    10
}

impl FigureFile {
    /// Reads and checks `experiments/<suite>/figures.toml`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let f: FigureFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for l in &f.landscape {
            if l.grid < 2 || l.rows.is_empty() || l.methods.is_empty() {
                return Err(format!("{}: figure `{}` needs grid ≥ 2, rows and methods", path.display(), l.name));
            }
        }
        if f.examples == 0 || f.batch_size == 0 {
            return Err(format!("{}: `examples` and `batch_size` must be positive", path.display()));
        }
        Ok(f)
    }

    /// Reads the copy a run wrote ([`FIGURES_USED`]).
    pub fn read_json(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The (model, data set) pairs whose cells some figure draws, with the methods drawn.
    pub fn cells_needed(&self) -> Vec<(String, String, Vec<String>)> {
        let mut out: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut add = |m: &str, d: &str, methods: &[String]| match out.iter_mut().find(|(om, od, _)| om == m && od == d) {
            Some((_, _, ms)) => ms.extend(methods.iter().filter(|x| !ms.contains(x)).cloned().collect::<Vec<_>>()),
            None => out.push((m.to_string(), d.to_string(), methods.to_vec())),
        };
        for f in &self.landscape {
            for r in &f.rows {
                add(&r.model, &r.dataset, &f.methods);
            }
        }
        for f in &self.intruders {
            for (m, d) in &f.rows {
                add(m, d, &f.methods);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_that_are_not_finite_survive_json() {
        let v = vec![Some(Loss(0.5)), Some(Loss(f64::INFINITY)), None, Some(Loss(f64::NAN))];
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"[0.5,"inf",null,"nan"]"#);
        let back: Vec<Option<Loss>> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0], Some(Loss(0.5)));
        assert_eq!(back[1], Some(Loss(f64::INFINITY)));
        assert_eq!(back[2], None);
        assert!(back[3].unwrap().0.is_nan());
    }
}
