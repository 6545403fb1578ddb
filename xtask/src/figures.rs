//! `cargo xtask landscape`, `cargo xtask intruders` and `cargo xtask reproduce figures`: the
//! geometry diagnostics of finished cells (the `analysis` crate), written beside the ledger
//! (`runs/<suite>/<experiment>/analysis/`), and their figure pages.

use std::path::PathBuf;

use analysis::landscape::{LandscapeOptions, PAPER_GRID};
use analysis::source::CellSource;
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use datasets::Split;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::analysis::{Directions, FIGURES_USED, FigureFile, IntruderRecord, PanelKind, analysis_dir, write_record};
use ledger::{CellResult, Ledger};

use crate::device::DeviceArg;
use crate::reproduce::{GridArgs, Suite};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirectionsArg {
    /// The top two principal components of the trajectory's updates.
    Pca,
    /// Gaussian directions from `--direction-seed`.
    Random,
}

/// Which trajectory point is the centre / the fine-tuned W.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum At {
    /// The end of training (the trajectory's last point).
    Last,
    /// The end of the selected epoch (the kept model's).
    Best,
}

/// Which finished cells a diagnostic reads.
#[derive(Args, Clone, Debug)]
pub struct CellsArgs {
    #[arg(long, value_enum, default_value_t = Suite::Mini)]
    pub suite: Suite,
    /// The ledger experiment (`main`: Table 2's grid; `ablate-lr` …).
    #[arg(long, default_value = "main")]
    pub experiment: String,
    /// Only these models / data sets / methods (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// The seed of the cells.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = At::Last)]
    pub at: At,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

#[derive(Args, Clone, Debug)]
pub struct LandscapeArgs {
    #[command(flatten)]
    pub cells: CellsArgs,
    #[arg(long, value_enum, default_value_t = DirectionsArg::Pca)]
    pub directions: DirectionsArg,
    /// Grid points per axis (the paper's 51).
    #[arg(long, default_value_t = PAPER_GRID)]
    pub grid: usize,
    /// α and β over [−range, range] (the paper's 3D surfaces: 2). Without it, the range is fitted
    /// to the projected trajectory (the 2D contours).
    #[arg(long)]
    pub range: Option<f64>,
    /// Skip Li et al.'s filter normalisation (unit directions instead).
    #[arg(long)]
    pub no_filter_normalization: bool,
    /// The seed of random directions.
    #[arg(long, default_value_t = 0)]
    pub direction_seed: u64,
    /// The split whose first `--examples` examples the loss is measured on.
    #[arg(long, default_value = "train", value_parser = ["train", "validation", "test"])]
    pub split: String,
    #[arg(long, default_value_t = 96)]
    pub examples: usize,
    /// Mini-batch size of the loss (the paper's 12).
    #[arg(long, default_value_t = 12)]
    pub batch_size: usize,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

#[derive(Args, Clone, Debug)]
pub struct IntruderArgs {
    #[command(flatten)]
    pub cells: CellsArgs,
    /// Fine-tuned singular vectors examined per matrix.
    #[arg(long, default_value_t = analysis::intruders::DEFAULT_TOP_K)]
    pub top_k: usize,
}

fn split_of(name: &str) -> Split {
    match name {
        "validation" => Split::Validation,
        "test" => Split::Test,
        _ => Split::Train,
    }
}

/// The finished cells the filters select, each opened with its trajectory.
fn select(a: &CellsArgs) -> Result<(Ledger, Vec<CellResult>)> {
    let ledger = Ledger::of_experiment(&a.results, a.suite.name(), &a.experiment);
    let filter = runner::experiment::Filter { models: a.models.clone(), datasets: a.datasets.clone(), methods: a.methods.clone(), seeds: vec![a.seed] };
    let mut found = Vec::new();
    for hash in ledger.finished() {
        let r: CellResult = ledger.read(&hash)?;
        if filter.keeps_cell(&r.cell) {
            found.push(r);
        }
    }
    if found.is_empty() {
        bail!("no finished cell of {} matches (seed {}, models {:?}, data sets {:?}, methods {:?}): run them first (`cargo xtask reproduce table2 --suite {}`)", ledger.dir.display(), a.seed, a.models, a.datasets, a.methods, a.suite.name());
    }
    found.sort_by(|x, y| (&x.cell.model, &x.cell.dataset, &x.cell.method).cmp(&(&y.cell.model, &y.cell.dataset, &y.cell.method)));
    Ok((ledger, found))
}

fn epoch_of(r: &CellResult, at: At) -> Option<usize> {
    match at {
        At::Last => None,
        At::Best => r.best.as_ref().map(|b| b.epoch),
    }
}

fn bar(total: u64) -> ProgressBar {
    let b = ProgressBar::new(total);
    b.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} points {elapsed_precise} (eta {eta}) {msg}").expect("a valid template"));
    b
}

pub fn landscape(a: LandscapeArgs) -> Result<()> {
    let (ledger, cells) = select(&a.cells)?;
    let out = analysis_dir(&ledger.dir);
    let device = a.device.device()?;
    for r in cells {
        let src = CellSource::open(&a.cells.results, &ledger, r)?;
        let opts = LandscapeOptions {
            directions: match a.directions {
                DirectionsArg::Pca => Directions::Pca,
                DirectionsArg::Random => Directions::Random,
            },
            filter_normalized: !a.no_filter_normalization,
            seed: a.direction_seed,
            grid: a.grid,
            range: a.range,
            split: split_of(&a.split),
            examples: a.examples,
            batch_size: a.batch_size,
            epoch: epoch_of(&src.result, a.cells.at),
        };
        let b = bar((a.grid * a.grid) as u64);
        b.set_message(src.label());
        let (rec, file) = analysis::landscape::of_cell(&src, &opts, &out, device.clone(), |done, _| b.set_position(done as u64))?;
        b.finish_and_clear();
        let g = rec.axis.len();
        let centre = rec.values[(g / 2) * g + g / 2].map(|l| l.0).unwrap_or(f64::NAN);
        println!("{}: {} directions, {g}×{g} over ±{:.3}, L(W) = {centre:.4} → {}", src.label(), opts.directions.as_str(), rec.spec.range, file.display());
    }
    crate::reproduce::report_site(&a.cells.results)
}

pub fn intruders(a: IntruderArgs) -> Result<()> {
    let (ledger, cells) = select(&a.cells)?;
    let out = analysis_dir(&ledger.dir);
    let eps = analysis::intruders::default_epsilons();
    for r in cells {
        let epoch = epoch_of(&r, a.cells.at);
        let src = CellSource::open(&a.cells.results, &ledger, r)?;
        let rec = analysis::intruders::of_cell(&src, a.top_k, &eps, epoch)?;
        let file = out.join(IntruderRecord::file_name(&rec.cell, epoch));
        write_record(&file, &rec).map_err(anyhow::Error::msg)?;
        let at_half = eps.iter().position(|e| (e - 0.5).abs() < 1e-9).map(|i| rec.mean_counts[i]).unwrap_or(f64::NAN);
        println!("{}: {} matrices, mean intruders among the top {} at ε = 0.5: {at_half:.2} → {}", src.label(), rec.matrices.len(), a.top_k, file.display());
    }
    crate::reproduce::report_site(&a.cells.results)
}

/// `reproduce figures` (`only`: one figure of the file, e.g. `fig8`): runs the cells the
/// suite's figure file needs (those not finished), computes every landscape and intruder count
/// it lists that is not computed yet, and rebuilds the report. `--dry-run` lists the cells and
/// the grids with their cost, estimated from the seconds per grid point measured on the same
/// model.
pub fn reproduce_figures(args: &GridArgs, only: Option<&str>) -> Result<()> {
    let path = PathBuf::from(format!("experiments/{}/figures.toml", args.suite.name()));
    let all = FigureFile::read(&path).map_err(anyhow::Error::msg)?;
    let mut figures = all.clone();
    if let Some(name) = only {
        figures.landscape.retain(|f| f.name == name);
        figures.intruders.retain(|f| f.name == name);
        if figures.landscape.is_empty() && figures.intruders.is_empty() {
            bail!("{} has no figure `{name}`", path.display());
        }
    }
    let ledger = Ledger::of_experiment(&args.results, args.suite.name(), &figures.experiment);
    crate::reproduce::run_cells_for_figures(&figures, args)?;
    let started = std::time::Instant::now();
    let out = analysis_dir(&ledger.dir);
    if !args.dry_run {
        std::fs::create_dir_all(&out)?;
        write_record(&out.join(FIGURES_USED), &all).map_err(anyhow::Error::msg)?;
    }
    let drawn = args.experiment()?.figure_cells(&figures)?;
    let results: Vec<CellResult> = ledger.finished().iter().filter_map(|h| ledger.read::<CellResult>(h).ok()).collect();
    let find = |model: &str, dataset: &str, method: &str| -> Result<Option<&CellResult>> {
        let cell = drawn.iter().find(|c| c.model == model && c.dataset == dataset && c.method == method).expect("figure_cells has every drawn cell");
        let newest = results.iter().filter(|r| r.cell.model == model && r.cell.dataset == dataset && r.cell.method == method && r.cell.seed == cell.seed).max_by_key(|r| r.finished_at);
        match newest {
            Some(r) => Ok(Some(r)),
            None if args.dry_run => Ok(None),
            None => bail!("{}: not finished in {}", cell.label(), ledger.dir.display()),
        }
    };
    // Every (cell, landscape options) the figures draw, once.
    let mut jobs: Vec<(&CellResult, LandscapeOptions)> = Vec::new();
    let mut planned_without_cell: Vec<(String, usize)> = Vec::new();
    for fig in &figures.landscape {
        for row in &fig.rows {
            for m in &fig.methods {
                let opts = LandscapeOptions {
                    directions: row.directions,
                    filter_normalized: true,
                    seed: fig.direction_seed,
                    grid: fig.grid,
                    range: (fig.kind == PanelKind::Surface).then_some(fig.range),
                    split: split_of(&figures.split),
                    examples: figures.examples,
                    batch_size: figures.batch_size,
                    epoch: None,
                };
                let Some(r) = find(&row.model, &row.dataset, m)? else {
                    planned_without_cell.push((format!("{}/{}/{m}", row.model, row.dataset), opts.grid * opts.grid));
                    continue;
                };
                let dup = jobs.iter().any(|(j, o)| j.hash == r.hash && o.directions == opts.directions && o.grid == opts.grid && o.range == opts.range && o.seed == opts.seed);
                if !dup {
                    jobs.push((r, opts));
                }
            }
        }
    }
    if args.dry_run {
        return dry_run(&jobs, &planned_without_cell, &out);
    }
    let no_trajectory: Vec<String> = jobs.iter().filter(|(r, _)| r.weights.as_ref().is_none_or(|w| w.trajectory_points == 0)).map(|(r, _)| r.cell.label()).collect();
    if !no_trajectory.is_empty() {
        bail!(
            "{} cells the figures need were finished before trajectories were kept (e.g. {}): re-run them with `cargo xtask reproduce figures --suite {} --force` (it redoes those {} cells only; their old results are kept as superseded files)",
            no_trajectory.len(),
            no_trajectory[0],
            args.suite.name(),
            drawn.len()
        );
    }
    let device = args.device.device()?;
    let points: usize = jobs.iter().map(|(_, o)| o.grid * o.grid).sum();
    let b = bar(points as u64);
    let mut offset = 0;
    for (r, opts) in &jobs {
        let src = CellSource::open(&args.results, &ledger, (*r).clone())?;
        b.set_message(format!("{} ({})", src.label(), opts.directions.as_str()));
        analysis::landscape::of_cell(&src, opts, &out, device.clone(), |done, _| b.set_position((offset + done) as u64))?;
        offset += opts.grid * opts.grid;
        b.set_position(offset as u64);
    }
    b.finish_and_clear();
    let eps = analysis::intruders::default_epsilons();
    let mut counted = 0;
    for fig in &figures.intruders {
        for (model, dataset) in &fig.rows {
            for m in &fig.methods {
                let r = find(model, dataset, m)?.expect("finished: checked above");
                let src = CellSource::open(&args.results, &ledger, r.clone())?;
                let rec = analysis::intruders::of_cell(&src, fig.top_k, &eps, None)?;
                write_record(&out.join(IntruderRecord::file_name(&rec.cell, None)), &rec).map_err(anyhow::Error::msg)?;
                counted += 1;
            }
        }
    }
    println!("figures{}: {} landscapes ({points} grid points) and {counted} intruder counts in {:.1} s → {}", only.map(|o| format!(" ({o})")).unwrap_or_default(), jobs.len(), started.elapsed().as_secs_f64(), out.display());
    crate::reproduce::report_site(&args.results)
}

/// The landscapes a figure run would compute, with their cost: the seconds per grid point
/// measured on the same model and device (any landscape record of it), else unknown.
fn dry_run(jobs: &[(&CellResult, LandscapeOptions)], without_cell: &[(String, usize)], out: &std::path::Path) -> Result<()> {
    let records: Vec<ledger::analysis::LandscapeRecord> = ledger::analysis::read_records(out, "landscape-").map_err(anyhow::Error::msg)?;
    let rate = |model: &str| -> Option<f64> {
        let measured: Vec<f64> = records.iter().filter(|r| r.model == model).filter_map(|r| r.seconds_per_point).collect();
        (!measured.is_empty()).then(|| measured.iter().sum::<f64>() / measured.len() as f64)
    };
    println!("{:<52} {:<7} {:>6} {:>9} {:>10}", "landscape", "dirs", "grid", "to do", "estimate");
    let (mut known, mut unknown) = (0.0, 0);
    for (r, o) in jobs {
        let done = records
            .iter()
            .find(|x| x.spec.cell == r.hash && x.spec.directions == o.directions && x.spec.grid == o.grid && x.spec.seed == o.seed && (o.range.is_none() || Some(x.spec.range) == o.range))
            .map(|x| x.values.iter().filter(|v| v.is_some()).count())
            .unwrap_or(0);
        let left = o.grid * o.grid - done;
        let estimate = rate(&r.cell.model).map(|s| s * left as f64);
        match estimate {
            Some(s) => known += s,
            None if left > 0 => unknown += 1,
            None => {}
        }
        println!("{:<52} {:<7} {:>6} {:>9} {:>10}", r.cell.label(), o.directions.as_str(), format!("{}²", o.grid), left, estimate.map(|s| format!("{:.0} s", s)).unwrap_or_else(|| "?".into()));
    }
    for (label, points) in without_cell {
        unknown += 1;
        println!("{label:<52} {:<7} {:>6} {points:>9} {:>10}", "", "", "? (cell not run)");
    }
    println!(
        "landscapes: ≈ {:.1} min measured{}",
        known / 60.0,
        if unknown > 0 { format!(", {unknown} without a measured rate for their model (compute one panel first, e.g. `cargo xtask landscape --grid 3 …`, or let the run measure it)") } else { String::new() }
    );
    Ok(())
}
