//! A loss landscape f(α, β) = L(W + αδ + βη) on a grid (the paper's §E.4.1): the 3D surfaces
//! over [−2, 2]², the 2D contours over [−m, m]² with m fitted to the projected trajectory.
//! The grid is filled point by point into its record, saved every few points, so that a killed
//! run continues where it stopped.

use std::path::Path;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use datasets::Split;
use ledger::analysis::{Directions, LandscapeRecord, LandscapeSpec, Loss, write_record};

use crate::AnalysisError;
use crate::directions::{filter_normalize, pca, project, random};
use crate::params::Params;
use crate::source::{CellSource, LossOnSubset};

/// The paper's 3D grid: 51 points per axis over [−2, 2].
pub const PAPER_GRID: usize = 51;
pub const PAPER_RANGE: f64 = 2.0;

/// `grid` evenly spaced values over [−range, range].
pub fn axis(grid: usize, range: f64) -> Vec<f64> {
    if grid == 1 {
        return vec![0.0];
    }
    (0..grid).map(|i| -range + 2.0 * range * i as f64 / (grid - 1) as f64).collect()
}

/// The 2D contour's m: the projected trajectory fits with a 15 % margin.
pub fn fitted_range(trajectory: &[[f64; 2]]) -> f64 {
    let m = trajectory.iter().flat_map(|p| [p[0].abs(), p[1].abs()]).fold(0.0, f64::max);
    if m > 0.0 { 1.15 * m } else { 1.0 }
}

/// How often a partly filled record is written.
const SAVE_EVERY: Duration = Duration::from_secs(2);

/// Fills the missing values of `record` (saved at `path`) with `eval` at centre + α·δ + β·η,
/// writing the record every few seconds and at the end. `stop_after`: stop (as if killed) after
/// this many new points, for tests of resuming. `progress` is told each point done.
pub fn fill(
    record: &mut LandscapeRecord,
    path: &Path,
    centre: &Params,
    delta: &Params,
    eta: &Params,
    mut eval: impl FnMut(&Params) -> Result<f64, AnalysisError>,
    mut progress: impl FnMut(usize),
    stop_after: Option<usize>,
) -> Result<bool, AnalysisError> {
    let g = record.spec.grid;
    let mut saved = Instant::now();
    let started = Instant::now();
    let mut new = 0;
    for k in 0..g * g {
        if record.values[k].is_some() {
            continue;
        }
        if stop_after.is_some_and(|s| new >= s) {
            write_record(path, record).map_err(AnalysisError::msg)?;
            return Ok(false);
        }
        let (a, b) = (record.axis[k / g], record.axis[k % g]);
        record.values[k] = Some(Loss(eval(&Params::at(centre, a, delta, b, eta))?));
        new += 1;
        record.seconds_per_point = Some(started.elapsed().as_secs_f64() / new as f64);
        progress(k);
        if saved.elapsed() >= SAVE_EVERY {
            write_record(path, record).map_err(AnalysisError::msg)?;
            saved = Instant::now();
        }
    }
    write_record(path, record).map_err(AnalysisError::msg)?;
    Ok(true)
}

/// Bytes a landscape of `src` over `path` holds: every point of the path, the two directions,
/// the centre and a perturbed copy (f32), the tensors every point shares (FFT's whole last
/// point) twice, and the model loaded per point.
pub fn memory_needed(src: &CellSource, keys: &[String], path: &[ledger::trajectory::TrajectoryPoint]) -> Result<u64, AnalysisError> {
    let params = src.parameters(keys) as u64;
    let last = path.last().expect("a path has points");
    let fixed = if last.full { std::fs::metadata(src.dir.join(&last.file)).map(|m| m.len()).unwrap_or(0) } else { 0 };
    let model = src.ckpt.file("model.safetensors").ok().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len()).unwrap_or(0);
    Ok((path.len() as u64 + 4) * params * 4 + 2 * fixed + model)
}

/// What to draw a cell's landscape with.
#[derive(Clone, Debug)]
pub struct LandscapeOptions {
    pub directions: Directions,
    pub filter_normalized: bool,
    pub seed: u64,
    pub grid: usize,
    /// α, β over [−range, range]; `None`: fitted to the projected trajectory (the 2D contour).
    pub range: Option<f64>,
    pub split: Split,
    pub examples: usize,
    pub batch_size: usize,
    /// The centre: the trajectory point at the end of this epoch (`None`: its last point).
    pub epoch: Option<usize>,
}

/// The landscape of `src` under `opts`, filled (or resumed) into its record under `out_dir`;
/// `progress(done, total)` after each point.
pub fn of_cell(src: &CellSource, opts: &LandscapeOptions, out_dir: &Path, device: Device, mut progress: impl FnMut(usize, usize)) -> Result<(LandscapeRecord, std::path::PathBuf), AnalysisError> {
    let keys = src.keys();
    let path = src.path(opts.epoch)?;
    let need = memory_needed(src, &keys, path)?;
    let available = runner::grid::mem_available_bytes();
    if need > available {
        return Err(AnalysisError::msg(format!(
            "{}: its landscape needs about {:.1} GiB ({} trajectory points of {} parameters in f32, the directions, the model), and {:.1} GiB are available: use a machine with more memory, or a trajectory with fewer points (without `trajectory_every`)",
            src.label(),
            need as f64 / (1u64 << 30) as f64,
            path.len(),
            src.parameters(&keys),
            available as f64 / (1u64 << 30) as f64
        )));
    }
    let points: Vec<Params> = path.iter().map(|p| src.point(p, &keys)).collect::<Result<_, _>>()?;
    let centre = points.last().expect("a path has points").clone();
    let (mut delta, mut eta, explained) = match opts.directions {
        Directions::Pca => {
            let (d, e, x) = pca(&points)?;
            (d, e, Some(x))
        }
        Directions::Random => (random(&centre, seeded::mix64(opts.seed)), random(&centre, seeded::mix64(opts.seed ^ 0x9e37_79b9_7f4a_7c15)), None),
    };
    if opts.filter_normalized {
        filter_normalize(&mut delta, &centre, src.index.fan_in_fan_out);
        filter_normalize(&mut eta, &centre, src.index.fan_in_fan_out);
    }
    let trajectory: Vec<[f64; 2]> = points.iter().map(|p| project(p, &centre, &delta, &eta)).collect();
    let range = opts.range.unwrap_or_else(|| fitted_range(&trajectory));
    let cell = &src.result.cell;
    let spec = LandscapeSpec {
        cell: src.result.hash.clone(),
        directions: opts.directions,
        filter_normalized: opts.filter_normalized,
        seed: opts.seed,
        grid: opts.grid,
        range,
        split: opts.split.name().to_string(),
        examples: opts.examples,
        batch_size: opts.batch_size,
        epoch: opts.epoch,
    };
    let file = out_dir.join(LandscapeRecord::file_name(&spec));
    let earlier: Option<LandscapeRecord> = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str(&t).ok()).filter(|r: &LandscapeRecord| r.spec == spec);
    let mut record = earlier.unwrap_or_else(|| LandscapeRecord {
        spec: spec.clone(),
        label: cell.label(),
        model: cell.model.clone(),
        dataset: cell.dataset.clone(),
        method: cell.method.clone(),
        axis: axis(opts.grid, range),
        values: vec![None; opts.grid * opts.grid],
        trajectory: trajectory.clone(),
        explained,
        parameters: centre.len(),
        seconds_per_point: None,
        device: format!("{device:?}"),
    });
    if record.is_complete() {
        return Ok((record, file));
    }
    let last = path.last().expect("a path has points");
    let loss = LossOnSubset::new(src, opts.split, opts.examples, opts.batch_size, src.fixed_tensors(last, &keys)?, device)?;
    let total = opts.grid * opts.grid;
    let mut done = record.values.iter().filter(|v| v.is_some()).count();
    fill(&mut record, &file, &centre, &delta, &eta, |p| loss.loss(p), |_| {
        done += 1;
        progress(done, total)
    }, None)?;
    Ok((record, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Named;

    fn record(grid: usize) -> LandscapeRecord {
        let spec = LandscapeSpec {
            cell: "0123456789abcdef0123".into(),
            directions: Directions::Random,
            filter_normalized: true,
            seed: 1,
            grid,
            range: 2.0,
            split: "train".into(),
            examples: 12,
            batch_size: 12,
            epoch: None,
        };
        LandscapeRecord {
            spec,
            label: "t".into(),
            model: "m".into(),
            dataset: "d".into(),
            method: "lora".into(),
            axis: axis(grid, 2.0),
            values: vec![None; grid * grid],
            trajectory: vec![],
            explained: None,
            parameters: 2,
            seconds_per_point: None,
            device: String::new(),
        }
    }

    #[test]
    fn axes_and_fitted_ranges() {
        assert_eq!(axis(5, 2.0), vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
        assert_eq!(axis(51, 2.0)[25], 0.0);
        assert!((fitted_range(&[[0.5, -2.0], [0.1, 0.0]]) - 2.3).abs() < 1e-12);
    }

    /// A killed run (stopped after some points, its record re-read from disk) resumes to the
    /// grid an uninterrupted run gives.
    #[test]
    fn a_killed_landscape_run_resumes_to_the_same_grid() {
        let p = |v: Vec<f32>| Params(vec![Named { key: "w".into(), shape: vec![2], values: v }]);
        let (centre, d, e) = (p(vec![0.3, -0.1]), p(vec![1.0, 0.0]), p(vec![0.5, 1.0]));
        let f = |x: &Params| -> Result<f64, AnalysisError> {
            let v = &x.0[0].values;
            Ok((v[0] as f64).powi(2) + 3.0 * (v[1] as f64).powi(2) + (v[0] * v[1]) as f64)
        };
        let dir = tempfile::tempdir().unwrap();
        let whole_path = dir.path().join("whole.json");
        let mut whole = record(7);
        assert!(fill(&mut whole, &whole_path, &centre, &d, &e, f, |_| {}, None).unwrap());

        let path = dir.path().join("killed.json");
        let mut first = record(7);
        assert!(!fill(&mut first, &path, &centre, &d, &e, f, |_| {}, Some(20)).unwrap());
        let mut resumed: LandscapeRecord = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(resumed.values.iter().filter(|v| v.is_some()).count(), 20, "the points done are on disk");
        let mut calls = 0;
        assert!(fill(&mut resumed, &path, &centre, &d, &e, |x| { calls += 1; f(x) }, |_| {}, None).unwrap());
        assert_eq!(calls, 49 - 20, "only the missing points are evaluated");
        // Compared as stored (serde_json parses floats to within an ulp, both files alike).
        let read = |p: &std::path::Path| -> LandscapeRecord { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
        assert_eq!(read(&path).values, read(&whole_path).values);
        // The centre is f(W).
        assert_eq!(whole.values[3 * 7 + 3].unwrap().0, f(&centre).unwrap());
    }
}
