//! The step benchmark page, from `results/bench/step.json` (written by `cargo xtask bench
//! step|compare`): seconds per step and peak memory per method, as ratios to our LoRA and to
//! PyTorch + HF PEFT's LoRA (Table 15's form).

use crate::pages::{bars, method_order, paper_name};
use crate::table::{Format, RunResult, Table, build_table};

pub use ledger::bench::PYTORCH;
use ledger::StepRecord;

fn table(records: &[StepRecord], title: &str, value: &dyn Fn(&StepRecord) -> f64) -> Table {
    let mut runs: Vec<RunResult> = records
        .iter()
        .enumerate()
        .map(|(i, r)| RunResult {
            model: r.implementation.clone(),
            dataset: "step".into(),
            method: r.method.clone(),
            seed: i as u64,
            value: Some(value(r)),
            metric: String::new(),
            higher_is_better: false,
            diverged_at_epoch: None,
        })
        .collect();
    runs.sort_by_key(|r| (r.model != "burn", r.model.clone()));
    let methods = method_order(records.iter().map(|r| r.method.as_str()));
    let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
    build_table(title, &runs, &methods, &[], &|_, _, _| None).with_labels(paper_name).unranked()
}

/// The page body: tables (mean ± std over repeated measurements) and bar charts of the ratios.
pub fn body(records: &[StepRecord]) -> (String, Vec<Table>) {
    let mut html = String::from(
        "<p class=\"note\">One training step of a RoBERTa-base-shaped classifier per method (see <code>cargo xtask bench step</code> \
         and <code>bench compare</code>); each cell is the mean ± std over the repeated measurements. Ratios in parentheses are to \
         the same implementation's LoRA; the second table of each pair divides by PyTorch + PEFT's LoRA.</p>",
    );
    let to_torch = |t: &Table, title: &str| {
        t.ratio_table(title, &|t, _| t.rows.iter().find(|r| r.model == PYTORCH).and_then(|r| t.mean_of(r, "lora")), &|_, _, _| None)
    };
    let step = table(records, "Seconds per step; ratio to the same implementation's LoRA", &|r| r.seconds_per_step)
        .with_format(Format::Fixed(3), true)
        .with_ratios_to("lora");
    let step_torch = to_torch(&step, "Seconds per step / PyTorch + PEFT LoRA's");
    let mem = table(records, "Peak memory (GiB, process RSS); ratio to the same implementation's LoRA", &|r| {
        r.peak_rss_bytes as f64 / (1u64 << 30) as f64
    })
    .with_format(Format::Fixed(2), true)
    .with_ratios_to("lora");
    let mem_torch = to_torch(&mem, "Peak memory / PyTorch + PEFT LoRA's");
    let samples = table(records, "Samples per second", &|r| r.samples_per_s).with_format(Format::Fixed(2), true);
    let params = table(records, "Trainable parameters (adapter or backbone + head)", &|r| r.trainable_params as f64)
        .with_format(Format::Count, false);
    let ratio = |c: &crate::table::CellStats| c.ratio;
    let mean = |c: &crate::table::CellStats| Some(c.mean);
    let figures = [
        bars(&step, "Seconds per step / our LoRA", "ratio", &ratio, Some(1.0)),
        bars(&step_torch, "Seconds per step / PyTorch + PEFT LoRA", "ratio", &mean, Some(1.0)),
        bars(&mem, "Peak memory / our LoRA", "ratio", &ratio, Some(1.0)),
        bars(&mem_torch, "Peak memory / PyTorch + PEFT LoRA", "ratio", &mean, Some(1.0)),
    ];
    let tables = vec![step, step_torch, mem, mem_torch, samples, params];
    for t in &tables {
        html.push_str(&crate::html::table_html(t));
    }
    for f in figures {
        html.push_str(&format!("<figure>{f}</figure>"));
    }
    (html, tables)
}
