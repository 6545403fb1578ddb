//! The site built from a hand-made ledger (tests/common): real numbers in the CSV, JSON and
//! HTML of every page.

mod common;

use common::{close, num, read_csv, row};

fn built() -> (tempfile::TempDir, Vec<std::path::PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    common::write_ledger(dir.path());
    let paper = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../experiments/paper-tables");
    let written = report::build_site(dir.path(), &paper).unwrap();
    (dir, written)
}

fn read(dir: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path().join(name)).unwrap()
}

#[test]
fn table2_means_ranks_drops_and_diverged_cells() {
    let (dir, written) = built();
    assert!(written[0].ends_with("index.html"), "{written:?}");
    for f in ["table2.html", "table2.csv", "table2.json", "table3.html", "table17.html", "table6.html", "table15.html", "ablations.html", "bench.html"] {
        assert!(written.contains(&dir.path().join(f)), "{f} not written: {written:?}");
    }
    let rows = read_csv(&dir.path().join("table2.csv"));
    let mini = |d: &str, m: &str| row(&rows, &[("suite", "mini"), ("dataset", d), ("method", m)]).clone();
    // mini-paraphrase: fft 81 ± 1 (rank 1), lora 80 ± 1 (2), cla 77 ± 1 (3, 4/81 below the best).
    let fft = mini("mini-paraphrase", "fft");
    assert!(close(num(&fft, "mean"), 81.0) && close(num(&fft, "std"), 1.0), "{fft:?}");
    assert_eq!((fft["rank"].as_str(), fft["seeds"].as_str(), fft["metric"].as_str()), ("1", "3", "accuracy"));
    assert_eq!(mini("mini-paraphrase", "lora")["rank"], "2");
    let cla = mini("mini-paraphrase", "cla");
    assert_eq!(cla["rank"], "3");
    assert!(close(num(&cla, "from_best_pct"), 4.0 / 81.0 * 100.0), "{cla:?}");
    assert_eq!(fft["from_best_pct"], "", "only the sparse variants get a drop");
    // mini-acceptability: cla's seed 2 diverged at epoch 1 with no value: mean of two seeds.
    let cla = mini("mini-acceptability", "cla");
    assert!(close(num(&cla, "mean"), 59.0) && close(num(&cla, "std"), 2f64.sqrt()), "{cla:?}");
    assert_eq!((cla["seeds"].as_str(), cla["diverged"].as_str(), cla["without_value"].as_str()), ("2", "2@1", "2"));
    assert_eq!((cla["rank"].as_str(), mini("mini-acceptability", "lora")["rank"].as_str()), ("2", "1"));
    assert!(close(num(&cla, "from_best_pct"), 3.0 / 62.0 * 100.0));
    assert_eq!(cla["paper"], "", "mini rows have no paper value");
    // The paper suite gets the paper's numbers beside ours.
    let lora = row(&rows, &[("suite", "paper"), ("method", "lora")]);
    assert!(close(num(lora, "mean"), 86.0) && close(num(lora, "paper"), 86.34), "{lora:?}");
    let html = read(&dir, "table2.html");
    assert!(html.contains("<title>Table 2 — paper and mini suites</title>"), "{html}");
    assert!(html.contains("<h2>Table 2 — mini suite</h2>") && html.contains("<h2>Table 2 — paper suite</h2>"));
    assert!(html.contains("<th title=\"cla\">cLA</th>") && html.contains("<th title=\"fft\">FFT</th>"), "paper names as headers");
    assert!(html.contains("<td class=\"best\" title=\"3 seed(s)\">81.00 ± 1.00</td>"), "{html}");
    assert!(html.contains("<td class=\"third\" title=\"3 seed(s)\">77.00 ± 1.00 <span class=\"drop\">(↓4.94%)</span></td>"), "{html}");
    assert!(html.contains("59.00 ± 1.41 <span class=\"drop\">(↓4.84%)</span><br><span class=\"diverged\">⚠ seed 2 diverged at epoch 1; seed 2 without a value (not averaged)</span>"), "{html}");
    assert!(html.contains("<td class=\"metric\">matthews_correlation ↑</td>"));
    assert!(html.contains("paper 86.34"));
    // The JSON has the same table.
    let json: serde_json::Value = serde_json::from_str(&read(&dir, "table2.json")).unwrap();
    assert_eq!(json[0]["suite"], "paper");
    assert_eq!(json[1]["suite"], "mini");
    assert_eq!(json[1]["cells"], 18);
    assert_eq!(json[1]["tables"][0]["methods"], serde_json::json!(["fft", "lora", "cla"]));
}

#[test]
fn generalization_gap_and_its_ratio_to_lora() {
    let (dir, _) = built();
    let rows = read_csv(&dir.path().join("table3.csv"));
    let g = |m: &str| num(row(&rows, &[("suite", "mini"), ("dataset", "mini-paraphrase"), ("method", m)]), "mean");
    assert!(close(g("fft"), 0.30) && close(g("lora"), 0.10) && close(g("cla"), 0.05));
    // Lower is better: cla first.
    assert_eq!(row(&rows, &[("suite", "mini"), ("dataset", "mini-paraphrase"), ("method", "cla")])["rank"], "1");
    let rows = read_csv(&dir.path().join("table17.csv"));
    let r = |d: &str, m: &str| row(&rows, &[("suite", "mini"), ("dataset", d), ("method", m)]).clone();
    assert!(close(num(&r("mini-paraphrase", "fft"), "mean"), 3.0), "{:?}", r("mini-paraphrase", "fft"));
    assert!(close(num(&r("mini-paraphrase", "lora"), "mean"), 1.0));
    assert!(close(num(&r("mini-paraphrase", "cla"), "mean"), 0.5));
    assert_eq!((r("mini-paraphrase", "cla")["rank"].as_str(), r("mini-paraphrase", "fft")["rank"].as_str()), ("1", "3"));
    let html = read(&dir, "table17.html");
    assert!(html.contains("<td class=\"best\" title=\"3 seed(s)\">0.50</td>"), "{html}");
    assert!(html.contains("<svg") && html.contains("G(W) / G(LoRA)"));
    assert!(dir.path().join("plots/table17-mini-1.svg").is_file());
    assert!(read(&dir, "table3.html").contains("3.00e-1 ± 1.00e-2"), "scientific, as the paper prints G(W)");
}

/// Table 1 from the cells' recorded adaptation (24 adapted 768 × 768 linears, r = 16,
/// |N| = 3,668): LoRA's term is √(2·32·16·24·1536·ln 2 / 3668); bounds and measured G(W)
/// rank fft > lora > cla alike, so ρ = 1.
#[test]
fn table1_bounds_and_their_agreement_with_g_w() {
    let (dir, _) = built();
    let rows = read_csv(&dir.path().join("table1.csv"));
    let bound = |m: &str| num(row(&rows, &[("suite", "mini"), ("dataset", "mini-paraphrase"), ("method", m)]), "mean");
    assert!((bound("lora") - 84.45964935175239).abs() < 1e-9, "{}", bound("lora"));
    assert!((bound("cla") - 59.72199079326211).abs() < 1e-9, "{}", bound("cla"));
    assert!(bound("fft") > bound("lora"));
    let rho = num(row(&rows, &[("suite", "mini"), ("dataset", "mini-paraphrase"), ("method", "spearman-rho")]), "mean");
    assert!(close(rho, 1.0), "{rho}");
    assert!(read(&dir, "table1.html").contains("ρ(bound, G(W))"));
}

#[test]
fn cost_and_parameter_ratios_to_lora() {
    let (dir, _) = built();
    let rows = read_csv(&dir.path().join("table15.csv"));
    let find = |title_part: &str, m: &str| {
        rows.iter()
            .find(|r| r["suite"] == "mini" && r["dataset"] == "mini-paraphrase" && r["method"] == m && r["table"].contains(title_part))
            .unwrap_or_else(|| panic!("{title_part} {m}"))
            .clone()
    };
    assert!(close(num(&find("throughput", "fft"), "ratio"), 0.8));
    assert!(close(num(&find("throughput", "cla"), "ratio"), 1.1));
    assert!(close(num(&find("throughput", "cla"), "mean"), 110.0));
    assert_eq!(find("throughput", "cla")["ratio_to"], "lora");
    assert!(close(num(&find("wall time", "fft"), "mean"), 15.0) && close(num(&find("wall time", "fft"), "ratio"), 1.5));
    assert!(close(num(&find("peak memory", "fft"), "mean"), 2.0) && close(num(&find("peak memory", "cla"), "ratio"), 0.9));
    assert_eq!(find("throughput", "fft")["rank"], "", "cost tables are not ranked");
    // The diverged cla seed has a throughput but no comparable wall time.
    let acc = |t: &str| rows.iter().find(|r| r["dataset"] == "mini-acceptability" && r["method"] == "cla" && r["table"].contains(t)).unwrap().clone();
    assert_eq!((acc("throughput")["seeds"].as_str(), acc("wall time")["seeds"].as_str()), ("3", "2"));
    let html = read(&dir, "table15.html");
    assert!(html.contains("110.0 ± 0.0 <span class=\"ratio\">(1.100)</span>"), "{html}");
    assert_eq!(html.matches("<svg").count(), 6, "three ratio charts per suite");
    let rows = read_csv(&dir.path().join("table6.csv"));
    let p = |t: &str, m: &str| {
        rows.iter().find(|r| r["suite"] == "mini" && r["dataset"] == "mini-paraphrase" && r["method"] == m && r["table"].contains(t)).unwrap().clone()
    };
    assert!(close(num(&p("ratio to LoRA", "lora"), "mean"), 12_000.0));
    assert!(close(num(&p("ratio to LoRA", "cla"), "ratio"), 7.0 / 12.0));
    assert!(close(num(&p("% of all", "lora"), "mean"), 1.2) && close(num(&p("% of all", "fft"), "mean"), 100.0));
    assert!(read(&dir, "table6.html").contains("12.0K <span class=\"ratio\">(1.000)</span>"));
}

#[test]
fn ablation_bench_and_index_pages() {
    let (dir, _) = built();
    let rows = read_csv(&dir.path().join("ablations.csv"));
    let at = |rank: &str, lr: &str| num(row(&rows, &[("experiment", "ablate-lr"), ("rank", rank), ("value", lr)]), "mean");
    assert!(close(at("4", "1e-4"), 75.0) && close(at("8", "1e-3"), 88.0), "{rows:?}");
    let html = read(&dir, "ablations.html");
    assert!(html.contains("<td class=\"best\" title=\"1 seed(s)\">88.00 ± 0.00</td>"), "{html}");
    assert!(html.contains("<svg") && html.contains(">1e-4<") && html.contains("Tables 8–9"));
    // α and chain-reset frequency: lines per rank, columns sorted by value, "never" last.
    let alpha = |a: &str| num(row(&rows, &[("experiment", "ablate-alpha"), ("value", a)]), "mean");
    assert!(close(alpha("4"), 80.0) && close(alpha("8"), 82.0) && close(alpha("16"), 81.0));
    assert!(html.contains("<th>4</th><th>8</th><th>16</th>"), "α columns in numeric order: {html}");
    assert!(html.contains("<th>1</th><th>2</th><th>never</th>"), "{html}");
    assert_eq!(row(&rows, &[("experiment", "ablate-chain"), ("value", "never")])["method"], "cola");
    assert!(html.contains("\nCoLA: accuracy by chain reset every (epochs)\n</text>"), "a line chart per grid: {html}");
    // Bench: ratios to our LoRA and to PyTorch + PEFT's.
    let rows = read_csv(&dir.path().join("bench.csv"));
    let b = |t: &str, imp: &str, m: &str| {
        rows.iter().find(|r| r["table"].starts_with(t) && r["model"] == imp && r["method"] == m).unwrap_or_else(|| panic!("{t} {imp} {m}")).clone()
    };
    assert!(close(num(&b("Seconds per step;", "burn", "fft"), "ratio"), 2.0));
    assert!(close(num(&b("Seconds per step /", "burn", "lora"), "mean"), 2.0));
    assert!(close(num(&b("Seconds per step /", "burn", "fft"), "mean"), 4.0));
    assert!(close(num(&b("Peak memory /", "burn", "lora"), "mean"), 1.0 / 3.0));
    assert_eq!(read(&dir, "bench.html").matches("<svg").count(), 4);
    // The index: one entry per table and suite, cell counts, the unreadable file.
    let index = read(&dir, "index.html");
    assert!(index.contains("<a href=\"table2.html#mini\">Table 2 — mini suite</a>"), "{index}");
    assert!(index.contains("<a href=\"table2.html#paper\">Table 2 — paper suite</a>"));
    // Provenance: the paper cells come from two code versions and two devices, and say so.
    assert!(index.contains("2 cells; mixes 2 code versions (0123456789, 0123456789+dirty); mixes 2 devices (cpu, cuda)"), "{index}");
    assert!(!index.contains("18 cells (1 diverged, 1 without a selected epoch); mixes"), "the mini cells are all of one version");
    assert!(index.contains("18 cells (1 diverged, 1 without a selected epoch)"), "{index}");
    assert!(index.contains("<a href=\"ablations.html#mini-ablate-lr\">Ablation ablate-lr — mini suite</a>"));
    assert!(index.contains("Ablation ablate-alpha — mini suite") && index.contains("Ablation ablate-chain — mini suite"));
    assert!(index.contains("<a href=\"bench.html\">Step benchmark</a>"));
    assert!(index.contains("broken.json") && !index.contains("superseded"), "{index}");
    assert!(index.contains("<h2>Failed cells</h2><p>1 cells could not run"), "{index}");
    assert!(index.contains("mini/main: mini-encoder/mini-paraphrase/lora/seed 7 — the cell's process was killed by signal 9 SIGKILL"), "{index}");
    assert!(!index.contains("an earlier failure"), "a failure of a cell finished since is not listed");
    assert!(index.find("paper suite").unwrap() < index.find("mini suite").unwrap());
    for page in ["index.html", "table2.html", "table15.html", "ablations.html", "bench.html"] {
        let p = read(&dir, page);
        assert!(!p.contains("<script") && !p.contains("http://") && !p.contains("https://") || p.contains("xmlns=\"http://www.w3.org/2000/svg\""), "{page} is self-contained");
        assert!(!p.contains("<script"), "{page} has no script");
    }
}

/// Paper-suite ablation cells get the paper's number of Tables 8–13 where the paper has the
/// same model, data set, method, metric, rank and swept value; the mini suite gets none.
#[test]
fn ablation_page_shows_the_papers_value_beside_ours() {
    let dir = tempfile::tempdir().unwrap();
    common::write_ledger(dir.path());
    common::write_paper_ablations(dir.path());
    let paper = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../experiments/paper-tables");
    report::build_site(dir.path(), &paper).unwrap();
    let rows = read_csv(&dir.path().join("ablations.csv"));
    let at = |experiment: &str, dataset: &str, rank: &str, value: &str| {
        row(&rows, &[("suite", "paper"), ("experiment", experiment), ("dataset", dataset), ("rank", rank), ("value", value)]).clone()
    };
    // Table 8, DeBERTa v3 LoRA MRPC rank 4: 85.6 at 1e-4, 87.9 at 1e-3.5; nothing at 2e-4.
    let r = at("ablate-lr", "mrpc", "4", "1e-4");
    assert!(close(num(&r, "mean"), 85.0) && close(num(&r, "paper"), 85.6), "{r:?}");
    assert!(close(num(&at("ablate-lr", "mrpc", "4", "3.1622776601683794e-4"), "paper"), 87.9));
    assert_eq!(at("ablate-lr", "mrpc", "4", "2e-4")["paper"], "");
    assert_eq!(at("ablate-lr", "mrpc", "4", "1e-3")["paper"], "", "the paper's 1e-3 value is at α = 2r, this cell's α = r");
    // Table 11, ViT-Tiny LoRA CIFAR-10 rank 8: 95.8 at α = 2r = 16; no 4r column.
    assert!(close(num(&at("ablate-alpha", "cifar10", "8", "16"), "paper"), 95.8));
    assert_eq!(at("ablate-alpha", "cifar10", "8", "32")["paper"], "");
    // Table 12, DeBERTa v3 MRPC CoLA rank 4, reset every epoch: 88.0; none every 3 epochs; the
    // paper's CoLA (data set) rows are accuracy, our cell is MCC: none.
    let r = at("ablate-chain", "mrpc", "4", "1");
    assert!(close(num(&r, "mean"), 87.0) && close(num(&r, "paper"), 88.0), "{r:?}");
    assert_eq!(at("ablate-chain", "mrpc", "4", "3")["paper"], "");
    assert_eq!(at("ablate-chain", "cola", "4", "1")["paper"], "");
    // The mini suite: no paper values.
    assert!(rows.iter().filter(|r| r["suite"] == "mini").all(|r| r["paper"].is_empty()), "{rows:?}");
    let html = read(&dir, "ablations.html");
    assert!(html.contains("<td title=\"1 seed(s)\">85.00 ± 0.00<br><span class=\"paper\">paper 85.60</span></td>"), "{html}");
    assert!(html.contains("87.00 ± 0.00<br><span class=\"paper\">paper 88.00</span></td>"), "{html}");
    assert!(html.contains("95.00 ± 0.00<br><span class=\"paper\">paper 95.80</span></td>"), "{html}");
    assert!(html.contains("Tables 12–13 (chain-reset frequency × rank)"));
    assert_eq!(html.matches("class=\"paper\">paper ").count(), 4, "{html}");
    let json: serde_json::Value = serde_json::from_str(&read(&dir, "ablations.json")).unwrap();
    let paper_lr = json.as_array().unwrap().iter().find(|a| a["suite"] == "paper" && a["experiment"] == "ablate-lr").unwrap();
    assert_eq!(paper_lr["grids"][0]["points"][0][0]["paper"], 85.6, "{paper_lr}");
}

/// An outdated cell (same model, data set, method and seed, finished earlier) is left out of
/// the tables and listed on the index; its file stays.
#[test]
fn outdated_cells_are_left_out_and_listed() {
    let (dir, _) = built();
    let index = read(&dir, "index.html");
    assert!(index.contains("1 finished cells were left out for a newer run"), "{index}");
    assert!(index.contains("mini/main: mini-encoder/mini-paraphrase/fft/seed 0"), "{index}");
    let on_disk = ledger::Ledger::of_experiment(dir.path(), "mini", "main").finished().len();
    assert_eq!(on_disk, 20, "18 current mini main cells + the outdated one + broken.json, all kept on disk");
}

#[test]
fn an_empty_results_directory_still_gives_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let written = report::build_site(dir.path(), std::path::Path::new("/nonexistent")).unwrap();
    assert!(written[0].ends_with("index.html"));
    assert!(read(&dir, "table2.html").contains("No finished cells yet"));
    assert!(read(&dir, "ablations.html").contains("No ablation cells yet"));
    assert!(!dir.path().join("bench.html").exists());
    assert_eq!(read(&dir, "table2.csv"), report::html::CSV_HEADER);
}

/// A suite with Table 15's own grid (ledger experiment `table15`) shows those cells on the
/// Table 15 page, not the main grid's; a suite without one shows the main grid's.
#[test]
fn table15_reads_its_own_grid_where_a_suite_has_one() {
    let dir = tempfile::tempdir().unwrap();
    common::write_ledger(dir.path());
    for (method, wall) in [("lora", 100.0), ("s-cla", 80.0)] {
        let mut c = common::cell("paper", "vit-tiny", "cifar10", method, 0, common::hyper(16, 1e-3), Some(0.9), 0.1, None);
        c.cost.wall_s = wall;
        common::record(dir.path(), ledger::TABLE15_EXPERIMENT, &c);
    }
    let paper = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments/paper-tables");
    report::build_site(dir.path(), &paper).unwrap();
    let rows = read_csv(&dir.path().join("table15.csv"));
    let wall = |suite: &str, dataset: &str, m: &str| rows.iter().find(|r| r["suite"] == suite && r["dataset"] == dataset && r["method"] == m && r["table"].contains("wall time")).map(|r| num(r, "ratio"));
    assert!(close(wall("paper", "cifar10", "s-cla").unwrap(), 0.8), "the paper suite's own grid");
    assert!(rows.iter().all(|r| !(r["suite"] == "paper" && r["dataset"] != "cifar10")), "and none of its main grid");
    assert!(wall("mini", "mini-paraphrase", "lora").is_some(), "the mini suite keeps its main grid");
    let ablations = std::fs::read_to_string(dir.path().join("ablations.html")).unwrap();
    assert!(!ablations.contains("table15"), "a table's grid is not an ablation");
}

/// The curves page: per (model, data set) the methods' losses per epoch with each method's
/// selected epoch in the legend, linked from Table 2's rows.
#[test]
fn training_curves_are_linked_from_table2() {
    let (dir, _) = built();
    let curves = read(&dir, "curves.html");
    assert!(curves.contains("id=\"mini-encoder--mini-paraphrase\""), "an anchor per row");
    assert!(curves.contains("validation loss") && curves.contains("training loss (evaluation mode)"));
    assert!(curves.contains("LoRA (selected: epoch 2)"), "the selected epoch in the legend");
    assert!(dir.path().join("plots/curves-mini-mini-encoder-mini-paraphrase-1.svg").is_file());
    assert!(read(&dir, "table2.html").contains("<a href=\"curves.html#mini-encoder--mini-paraphrase\">mini-encoder</a>"));
    assert!(read(&dir, "index.html").contains("curves.html#mini"));
}

/// Table 2 has a plot per row: each method's mean with its seed spread.
#[test]
fn table2_plots_means_with_their_spread() {
    let (dir, _) = built();
    let html = read(&dir, "table2.html");
    assert!(html.contains("mean ± std over seeds") && html.contains("mini-encoder / mini-paraphrase"), "a plot per row");
    assert!(dir.path().join("plots/table2-mini-1.svg").is_file());
}

/// The Pareto view: a point per method and (model, data set) with Table 2's mean and the
/// cells' mean cost; on mini-acceptability FFT (52, 2 GiB) is beaten by LoRA (62, 1 GiB) on
/// both, while cLA (59, 0.9 GiB) is cheaper than LoRA: the frontier is cLA, LoRA.
#[test]
fn pareto_points_and_frontiers() {
    let (dir, written) = built();
    assert!(written.iter().any(|p| p.ends_with("pareto.html")));
    let rows = read_csv(&dir.path().join("pareto.csv"));
    let acc = |method: &str| row(&rows, &[("suite", "mini"), ("dataset", "mini-acceptability"), ("method", method)]).clone();
    let (fft, lora, cla) = (acc("fft"), acc("lora"), acc("cla"));
    assert!(close(num(&lora, "mean"), 62.0));
    assert!(close(num(&lora, "std"), 2.0));
    assert!(close(num(&cla, "mean"), 59.0));
    assert_eq!(cla["seeds"], "2", "the diverged seed has no value");
    assert!(close(num(&fft, "peak_memory_bytes"), (2u64 << 30) as f64));
    assert!(close(num(&fft, "trainable_params"), 1_000_000.0));
    assert_eq!(cla["wall_s"], "540", "the diverged seed's wall time is left out, as on Table 15");
    for axis in ["frontier_memory", "frontier_time", "frontier_params"] {
        assert_eq!((fft[axis].as_str(), lora[axis].as_str(), cla[axis].as_str()), ("false", "true", "true"), "{axis}");
    }
    // mini-paraphrase rises with cost (cLA 77, LoRA 80, FFT 81): all three on the frontier.
    let para = |m: &str| row(&rows, &[("suite", "mini"), ("dataset", "mini-paraphrase"), ("method", m)])["frontier_memory"].clone();
    assert_eq!([para("fft"), para("lora"), para("cla")], ["true", "true", "true"]);
    let json: serde_json::Value = serde_json::from_str(&read(&dir, "pareto.json")).unwrap();
    let g = json.as_array().unwrap().iter().find(|g| g["dataset"] == "mini-acceptability").unwrap();
    assert_eq!(g["frontier"]["memory"], serde_json::json!(["cla", "lora"]), "by increasing cost");
    let html = read(&dir, "pareto.html");
    assert!(html.contains("<script type=\"application/json\" id=\"pareto-data\">") && !html.contains("src=\""), "data and script inline");
    assert!(html.contains("<td data-axis=\"memory\">1.0 GiB ★</td>"), "LoRA's memory, on the frontier");
    assert!(read(&dir, "index.html").contains("<a href=\"pareto.html#suite=mini\">Pareto view — mini suite</a>"));
}

/// The cross-check page, from `results/crosscheck.json`: each method's worst per-step
/// difference and accuracies, its verdict, a plot, and the methods HF PEFT cannot train.
#[test]
fn crosscheck_page_shows_each_methods_worst_step_and_the_methods_without_peft() {
    let dir = tempfile::tempdir().unwrap();
    common::write_ledger(dir.path());
    let record = |method: &str, ours: Vec<f64>, torch: Vec<f64>, passed: bool| ledger::CrosscheckRecord {
        method: method.into(),
        cell: format!("mini-encoder/mini-question-type/{method}/seed 0"),
        worst_relative: ours.iter().zip(&torch).map(|(a, b)| (a - b).abs() / b).fold(0.0, f64::max),
        worst_step: 2,
        ours,
        torch,
        our_test_accuracy: 0.75,
        torch_test_accuracy: if passed { 0.75 } else { 0.7 },
        our_test_loss: 0.5,
        torch_test_loss: 0.5,
        tolerance: 1e-4,
        steps_within: if passed { 2 } else { 1 },
        min_steps: 2,
        passed,
        versions: [("torch".to_string(), "2.15.0".to_string())].into(),
        cpu: "a test CPU".into(),
    };
    let records = vec![record("lora", vec![2.0, 1.0], vec![2.0, 1.00001], true), record("cla", vec![2.0, 1.0], vec![2.0, 1.1], false)];
    std::fs::write(ledger::bench::crosscheck_path(dir.path()), serde_json::to_string(&records).unwrap()).unwrap();
    let paper = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments/paper-tables");
    report::build_site(dir.path(), &paper).unwrap();
    let html = read(&dir, "crosscheck.html");
    assert!(html.contains("<td>LoRA</td><td>mini-encoder/mini-question-type/lora/seed 0</td><td>2</td><td>2 (≥ 2 needed)</td><td>1.00e-5 (2)</td>"), "{html}");
    assert!(html.contains("equal within 1e-4") && html.contains(">differs<"));
    assert!(html.contains("<svg") && html.contains("a test CPU; torch 2.15.0"));
    assert!(html.contains("<li>CoLA: HF PEFT has no chain resets"), "chained methods are named");
    assert!(html.contains("<li>PaCA: HF PEFT has no PaCA"));
    assert!(read(&dir, "index.html").contains("1 of 2 methods equal"));
}

/// The geometry figures from hand-made analysis records: a surface and a contour panel per
/// method with its cell's G(W) and metric, a "not computed" panel where a record is missing,
/// and Fig 4's lines (a chain method dashed in its counterpart's colour).
#[test]
fn figure_pages_draw_each_panel_beside_its_cells_g_w() {
    let dir = tempfile::tempdir().unwrap();
    common::write_ledger(dir.path());
    common::write_figures(dir.path());
    let paper = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments/paper-tables");
    report::build_site(dir.path(), &paper).unwrap();

    let fig3 = read(&dir, "fig3.html");
    assert_eq!(fig3.matches("<figure class=\"panel\"").count(), 2, "fft and lora drawn");
    assert_eq!(fig3.matches("panel missing").count(), 1, "cla not computed yet");
    // lora's seed-0 cell: G(W) 0.10, MCC 0.60; fft's: G(W) 0.30, MCC 0.50; the bowl's centre 0.5.
    assert!(fig3.contains("G(W) 0.100 · matthews_correlation 0.600 · L(W) 0.500"), "{fig3}");
    assert!(fig3.contains("G(W) 0.300 · matthews_correlation 0.500"));
    assert!(fig3.contains("<polygon") || fig3.contains("<path"), "the surface is drawn");
    let fig10 = read(&dir, "fig10.html");
    assert_eq!(fig10.matches("<figure class=\"panel\"").count(), 1);
    assert!(fig10.contains("range ±1.150") && fig10.contains("PCA explains 80 % + 15 %"), "{fig10}");
    let fig4 = read(&dir, "fig4.html");
    assert!(fig4.contains("LoRA") && fig4.contains("FFT"), "{fig4}");
    // Intruders at ε = 0.5: ⌊10 · 0.5⌋ = 5.
    assert!(fig4.contains("<td>5.00</td>"), "{fig4}");
    let index = read(&dir, "index.html");
    assert!(index.contains("fig3.html") && index.contains("2 panels, 1 not computed yet"), "{index}");
}

/// Tables 4 and 14 show their own grids only (a suite without one has no section, not a copy
/// of its main grid), with the ratio to LoRA and the paper's number beside ours.
#[test]
fn tables_4_and_14_show_their_own_grids_with_ratios_and_the_papers_numbers() {
    let dir = tempfile::tempdir().unwrap();
    common::write_ledger(dir.path());
    let mut h = common::hyper(16, 1e-3);
    h.target_modules = vec!["all-linear".into()];
    for (method, acc) in [("lora", 0.91), ("cla", 0.89)] {
        let c = common::cell("paper", "roberta-base", "mrpc", method, 0, h.clone(), Some(acc), 0.1, None);
        common::record(dir.path(), "table4", &c);
        common::record(dir.path(), "table14", &c);
    }
    let paper = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments/paper-tables");
    report::build_site(dir.path(), &paper).unwrap();
    let rows = read_csv(&dir.path().join("table4.csv"));
    assert!(rows.iter().all(|r| r["suite"] == "paper"), "the mini suite has no Table 4 grid");
    let cla = row(&rows, &[("dataset", "mrpc"), ("method", "cla")]);
    assert!(close(num(cla, "mean"), 89.0) && close(num(cla, "ratio"), 0.89 / 0.91), "{cla:?}");
    // The paper's Table 4: RoBERTa-Base MRPC cLA 89.3.
    assert!(close(num(cla, "paper"), 89.3), "{cla:?}");
    let cost = read_csv(&dir.path().join("table14.csv"));
    let params = cost.iter().find(|r| r["method"] == "lora" && r["table"].contains("trainable parameters")).expect("Table 14 has the trainable parameters");
    // The paper's Table 14: RoBERTa-Base MRPC LoRA, 3.2e6 trainable.
    assert!(num(params, "paper") > 3.0e6 && num(params, "paper") < 3.4e6, "{params:?}");
    assert!(std::fs::read_to_string(dir.path().join("table5.html")).unwrap().contains("No finished cells yet: run <code>cargo xtask reproduce table5 --suite paper</code>"));
}
