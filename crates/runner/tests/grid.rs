//! The experiment files expand to the grids the paper and the mini suite need, with each
//! method's learning rate taken from its family; malformed files are errors naming the file.

use ledger::{ScheduleKind, Selection};
use methods::TABLE2_METHODS;
use runner::experiment::{Experiment, Filter};

fn repo(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../..").join(path)
}

#[test]
fn mini_table2_grid_and_method_families() {
    let exp = Experiment::load(&repo("experiments/mini/table2.toml"), "mini").unwrap();
    let cells = exp.cells(&Filter::default()).unwrap();
    let pairs = exp.pairs();
    assert!(pairs.len() >= 4, "at least four mini data sets");
    assert_eq!(cells.len(), pairs.len() * TABLE2_METHODS.len() * 3);
    let find = |m: &str| cells.iter().find(|c| c.method == m && c.dataset == "mini-digits" && c.seed == 1).unwrap();
    let (fft, lora, cla, paca, plus, cola) = (find("fft"), find("lora"), find("cla"), find("paca"), find("lora-plus"), find("cola"));
    assert_eq!(fft.hyper.lr, 1e-3);
    assert_eq!(fft.hyper.weight_decay, 0.01);
    assert_eq!(lora.hyper.lr, 5e-3);
    assert_eq!(lora.hyper.weight_decay, 0.0);
    assert_eq!(cla.hyper.lr, 5e-3);
    assert_eq!(paca.hyper.lr, cla.hyper.lr, "PaCA takes cLA's rate, bridged at training");
    assert!(paca.hyper.lr_bridge_to_cla);
    assert_eq!(plus.hyper.lr_ratio_b, Some(16.0));
    assert_eq!(lora.hyper.lr_ratio_b, None);
    assert_eq!(cola.hyper.chain_reset_every_epochs, Some(2));
    assert_eq!(lora.hyper.chain_reset_every_epochs, None, "non-chained methods never reset");
    assert_eq!((lora.hyper.rank, lora.hyper.alpha), (4, 8.0));
    assert_eq!(lora.hyper.scheduler, ScheduleKind::Linear);
    // Distinct cells hash differently; the same cell always hashes the same.
    let mut hashes: Vec<String> = cells.iter().map(|c| c.hash()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), cells.len());
    assert_eq!(find("lora").hash(), Experiment::load(&repo("experiments/mini/table2.toml"), "mini").unwrap().cells(&Filter::default()).unwrap().iter().find(|c| c.method == "lora" && c.dataset == "mini-digits" && c.seed == 1).unwrap().hash());

    // Filters.
    let f = Filter { methods: vec!["lora".into()], seeds: vec![0], ..Filter::default() };
    assert_eq!(exp.cells(&f).unwrap().len(), pairs.len());
}

/// A mini cell's hash covers what its configuration does not name — the mini model's
/// pretraining and the generated data — so changed data is a new cell, never a stale result.
#[test]
fn mini_cells_carry_a_pretraining_and_data_fingerprint() {
    let exp = Experiment::load(&repo("experiments/mini/table2.toml"), "mini").unwrap();
    let cells = exp.cells(&Filter::default()).unwrap();
    let fp = |model: &str, dataset: &str| runner::mini::cell_fingerprint(model, dataset).unwrap();
    for c in &cells {
        assert_eq!(c.fingerprint.as_deref(), Some(fp(&c.model, &c.dataset).as_str()), "{}", c.label());
    }
    // Another data set, or another pretraining, gives another fingerprint and so another hash.
    assert_ne!(fp("mini-encoder", "mini-sentiment"), fp("mini-encoder", "mini-acceptability"));
    assert_ne!(fp("mini-encoder", "mini-sentiment"), fp("mini-vit", "mini-sentiment"));
    let mut stale = cells[0].clone();
    stale.fingerprint = Some("0".repeat(64));
    assert_ne!(stale.hash(), cells[0].hash());
    // Paper cells have none (their hashes do not depend on the mini suite).
    let paper = Experiment::load(&repo("experiments/paper/table7.toml"), "paper").unwrap();
    assert!(paper.cells(&Filter::default()).unwrap().iter().all(|c| c.fingerprint.is_none()));
    // The pretraining configuration names its objective and data, so changing either
    // pretrains again.
    let enc = runner::mini::PretrainConfig::default_for("mini-encoder").unwrap();
    assert!(enc.objective.contains("masked-lm") && enc.data.len() == 64, "{enc:?}");
}

#[test]
fn ablation_grids() {
    let exp = Experiment::load(&repo("experiments/mini/table2.toml"), "mini").unwrap();
    let lr = exp.ablation_cells("lr", &Filter::default()).unwrap();
    assert_eq!(lr.len(), 2 * 4 * 6 * 4, "2 cells × 4 methods × 6 rates × 4 ranks × 1 seed");
    assert!(lr.iter().all(|c| c.hyper.alpha == 2.0 * c.hyper.rank as f64), "α = 2r as the rank moves");
    let alpha = exp.ablation_cells("alpha", &Filter::default()).unwrap();
    assert!(alpha.iter().any(|c| c.hyper.alpha == 0.5 * c.hyper.rank as f64));
    let chain = exp.ablation_cells("chain", &Filter::default()).unwrap();
    let mut freqs: Vec<usize> = chain.iter().filter_map(|c| c.hyper.chain_reset_every_epochs).collect();
    freqs.sort();
    freqs.dedup();
    assert_eq!(freqs, vec![1, 2, 3, 6]);
    let err = exp.ablation_cells("nope", &Filter::default()).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("chain"), "{err}");
}

#[test]
fn paper_table7_grid() {
    let exp = Experiment::load(&repo("experiments/paper/table7.toml"), "paper").unwrap();
    let cells = exp.cells(&Filter::default()).unwrap();
    assert_eq!(exp.pairs().len(), 24);
    assert_eq!(cells.len(), 24 * TABLE2_METHODS.len() * 3);
    let c = cells.iter().find(|c| c.model == "roberta-base" && c.dataset == "cola" && c.method == "cla").unwrap();
    assert_eq!(c.hyper.best_epoch, Selection::HighestValMetric, "CoLA selects on validation MCC");
    assert_eq!(c.hyper.grad_clip_global_norm, Some(1.0));
    assert_eq!(c.hyper.lr, 3e-4);
    assert_eq!(c.hyper.warmup_init_lr, 1e-6);
    assert_eq!(c.seed, 12);
}

#[test]
fn malformed_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cell = "[[cell]]\nmodel = \"m\"\ndataset = \"d\"\nlr_fft = 1e-3\nlr_lora = 1e-3\nlr_asym = 1e-3\nbatch_size = 8\nepochs = 1\n";
    let p = write("typo.toml", &format!("{cell}learning_rate = 3\n"));
    let e = Experiment::load(&p, "mini").unwrap_err().to_string();
    assert!(e.contains("typo.toml") && e.contains("learning_rate"), "{e}");
    let p = write("method.toml", &format!("[defaults]\nmethods = [\"lora\", \"dora\"]\n{cell}"));
    let e = Experiment::load(&p, "mini").unwrap_err().to_string();
    assert!(e.contains("method.toml") && e.contains("dora"), "{e}");
    let p = write("nolr.toml", "[[cell]]\nmodel = \"m\"\ndataset = \"d\"\nbatch_size = 8\nepochs = 1\nlr_fft = 1e-3\n");
    let e = Experiment::load(&p, "mini").unwrap_err().to_string();
    assert!(e.contains("lr_lora"), "{e}");
    let e = Experiment::load(&dir.path().join("absent.toml"), "mini").unwrap_err().to_string();
    assert!(e.contains("absent.toml"), "{e}");
}

/// LoRA, LoRA+ and CoLA start A as the paper says unless the file asks for HF PEFT's
/// Kaiming-uniform; the methods without a trained dense A keep no `a_init` (and their hashes).
/// Table 7's optimizer keys are honoured or refused, never silently dropped.
#[test]
fn a_init_and_optimizer_keys_are_honoured_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cell = "[[cell]]\nmodel = \"mini-encoder\"\ndataset = \"mini-sentiment\"\nlr_fft = 1e-3\nlr_lora = 1e-3\nlr_asym = 1e-3\nbatch_size = 8\nepochs = 1\n";
    let cells = |text: &str| Experiment::load(&write("e.toml", text), "mini").map(|e| e.cells(&Filter::default()).unwrap());
    let by = |cells: &[ledger::Cell], m: &str| cells.iter().find(|c| c.method == m && c.seed == 0).unwrap().clone();
    let plain = cells(cell).unwrap();
    for m in ["lora", "lora-plus", "cola"] {
        assert_eq!(by(&plain, m).hyper.a_init.as_deref(), Some("normal-0.02"), "{m}");
    }
    for m in ["fft", "asym-lora", "cla", "paca"] {
        assert_eq!(by(&plain, m).hyper.a_init, None, "{m}");
    }
    let kaiming = cells(&format!("[defaults]\na_init = \"kaiming-uniform\"\n{cell}")).unwrap();
    assert_eq!(by(&kaiming, "lora").hyper.a_init.as_deref(), Some("kaiming-uniform"));
    assert_ne!(by(&kaiming, "lora").hash(), by(&plain, "lora").hash());
    assert_eq!(by(&kaiming, "cla").hash(), by(&plain, "cla").hash(), "a_init does not touch cLA");
    let e = cells(&format!("[defaults]\na_init = \"gaussian\"\n{cell}")).unwrap_err().to_string();
    assert!(e.contains("normal-0.02") && e.contains("kaiming-uniform"), "{e}");

    // Stating AdamW's defaults names the same cells; other values are kept; others refused.
    let stated = cells(&format!("[defaults]\nadam_betas = [0.9, 0.999]\nadam_eps = 1e-8\noptimizer = \"adam\"\n{cell}")).unwrap();
    assert_eq!(by(&stated, "lora").hash(), by(&plain, "lora").hash());
    let other = cells(&format!("[defaults]\nadam_betas = [0.8, 0.99]\nadam_eps = 1e-6\n{cell}")).unwrap();
    assert_eq!((by(&other, "lora").hyper.adam_betas, by(&other, "lora").hyper.adam_eps), (Some([0.8, 0.99]), Some(1e-6)));
    let e = cells(&format!("[defaults]\noptimizer = \"sgd\"\n{cell}")).unwrap_err().to_string();
    assert!(e.contains("optimizer `sgd` is not implemented"), "{e}");
    let e = cells(&format!("[defaults]\nadam_betas = [0.9]\n{cell}")).unwrap_err().to_string();
    assert!(e.contains("adam_betas"), "{e}");
}

/// A chained method resets by epochs or as k chains over the run's steps, never both: a cell's
/// own choice replaces the defaults' other one, both in one table is an error, and k = 0 is
/// refused before anything runs.
#[test]
fn chain_length_or_reset_frequency() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("e.toml");
    let base = "[defaults]\nchain_reset_every_epochs = 2\n[[cell]]\nmodel = \"mini-encoder\"\ndataset = \"mini-sentiment\"\nlr_fft = 1e-3\nlr_lora = 1e-3\nlr_asym = 1e-3\nbatch_size = 8\nepochs = 4\nmethods = [\"cola\", \"lora\"]\n";
    let load = |extra: &str| {
        std::fs::write(&p, format!("{base}{extra}")).unwrap();
        Experiment::load(&p, "mini").map(|e| e.cells(&Filter::default()).unwrap())
    };
    let cells = load("").unwrap();
    let cola = cells.iter().find(|c| c.method == "cola").unwrap();
    assert_eq!((cola.hyper.chain_reset_every_epochs, cola.hyper.chain_length), (Some(2), None));
    let cells = load("chain_length = 3\n").unwrap();
    let cola = cells.iter().find(|c| c.method == "cola").unwrap();
    assert_eq!((cola.hyper.chain_reset_every_epochs, cola.hyper.chain_length), (None, Some(3)));
    let lora = cells.iter().find(|c| c.method == "lora").unwrap();
    assert_eq!((lora.hyper.chain_reset_every_epochs, lora.hyper.chain_length), (None, None), "LoRA never chains");
    let e = load("chain_length = 3\nchain_reset_every_epochs = 1\n").unwrap_err().to_string();
    assert!(e.contains("not both"), "{e}");
    let zero = load("chain_length = 0\n").unwrap();
    let e = runner::grid::validate(zero).unwrap_err().to_string();
    assert!(e.contains("chain_length is 0"), "{e}");
}

/// Table 15 has its own grid in the paper's file (E.3.2: r = 16, 30 epochs, seeds 0–2, its
/// eight rows and ten columns), apart from Table 7's; a grid naming a row the file lacks is an
/// error naming it.
#[test]
fn table15_has_its_own_grid() {
    let exp = Experiment::load(&repo("experiments/paper/table7.toml"), "paper").unwrap();
    let cells = exp.grid_cells(ledger::TABLE15_EXPERIMENT, &Filter::default()).unwrap().expect("a [grid.table15]");
    assert_eq!(cells.len(), 8 * 10 * 3);
    assert!(cells.iter().all(|c| c.hyper.epochs == 30 && c.hyper.rank == 16 && c.seed <= 2));
    assert!(cells.iter().any(|c| c.method == "s-r-c3la") && cells.iter().any(|c| c.method == "c-paca"));
    assert!(!cells.iter().any(|c| c.model == "gpt2"), "Table 15 has no GPT-2 row");
    let main: Vec<String> = exp.cells(&Filter::default()).unwrap().iter().map(|c| c.hash()).collect();
    assert!(cells.iter().all(|c| !main.contains(&c.hash())), "its cells are not Table 7's");
    assert!(Experiment::load(&repo("experiments/mini/table2.toml"), "mini").unwrap().grid_cells(ledger::TABLE15_EXPERIMENT, &Filter::default()).unwrap().is_none());

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(&p, "[[cell]]\nmodel = \"m\"\ndataset = \"d\"\nlr_fft = 1e-3\nlr_lora = 1e-3\nlr_asym = 1e-3\nbatch_size = 8\nepochs = 1\n[grid.table15]\ncells = [\"m/nosuch\"]\n").unwrap();
    let e = Experiment::load(&p, "paper").unwrap_err().to_string();
    assert!(e.contains("`m/nosuch` is not a [[cell]]"), "{e}");
}

/// The paper suite's ablation grids are exactly the points of the paper's Tables 8–13 (the
/// committed CSVs of its numbers): every (model, data set, method, rank, swept value) once, no
/// other; 30 epochs; DeBERTa v3 base / CoLA (Table 12 only) stays out of the main grid.
#[test]
fn paper_ablations_are_exactly_the_papers_tables() {
    let exp = runner::experiment::Experiment::load(&repo("experiments/paper/table7.toml"), "paper").unwrap();
    let csv_keys = |table: &str, swept: &str| -> std::collections::BTreeSet<String> {
        let text = std::fs::read_to_string(repo(&format!("experiments/paper-tables/table{table}.csv"))).unwrap();
        let mut lines = text.lines().filter(|l| !l.starts_with('#'));
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("table{table}: no column {name}"));
        let (m, d, meth, r, v) = (col("model"), col("dataset"), col("method"), col("rank"), col(swept));
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let value: f64 = f[v].parse().unwrap();
                format!("{}/{}/{}/r{}/{value:e}", f[m], f[d], f[meth], f[r])
            })
            .collect()
    };
    let grid_keys = |name: &str, value: &dyn Fn(&ledger::Cell) -> f64| -> (std::collections::BTreeSet<String>, usize) {
        let cells = exp.ablation_cells(name, &runner::experiment::Filter::default()).unwrap();
        assert!(cells.iter().all(|c| c.hyper.epochs == 30), "{name}: 30 epochs (E.2)");
        let keys = cells.iter().map(|c| format!("{}/{}/{}/r{}/{:e}", c.model, c.dataset, c.method, c.hyper.rank, value(c))).collect();
        (keys, cells.len())
    };
    let union = |a: std::collections::BTreeSet<String>, b: std::collections::BTreeSet<String>| a.union(&b).cloned().collect::<std::collections::BTreeSet<_>>();
    for (name, tables, swept, value) in [
        ("lr", ["8", "9"], "lr", &(|c: &ledger::Cell| c.hyper.lr) as &dyn Fn(&ledger::Cell) -> f64),
        ("alpha", ["10", "11"], "alpha_over_r", &|c: &ledger::Cell| c.hyper.alpha / c.hyper.rank as f64),
        ("chain", ["12", "13"], "reset_every_epochs", &|c: &ledger::Cell| c.hyper.chain_reset_every_epochs.unwrap() as f64),
    ] {
        let want = union(csv_keys(tables[0], swept), csv_keys(tables[1], swept));
        let (got, n) = grid_keys(name, value);
        assert_eq!(n, got.len(), "{name}: every point once");
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&want).take(5).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{name}: not in our grid {missing:?}; not in the paper's tables {extra:?}");
    }
    // The lr grid keeps α = 2r.
    let lr = exp.ablation_cells("lr", &runner::experiment::Filter::default()).unwrap();
    assert!(lr.iter().all(|c| c.hyper.alpha == 2.0 * c.hyper.rank as f64));
    let main = exp.cells(&runner::experiment::Filter::default()).unwrap();
    assert!(!main.iter().any(|c| c.model == "deberta-v3-base" && c.dataset == "cola"), "an ablation-only row is not in Table 2's grid");
}

/// Tables 4, 5 and 14 are grids of their own in the paper's experiment file: the (model, data
/// set, method) rows of the committed paper tables exactly, r = 16, 30 epochs, seeds 0–2;
/// Table 4 and 14 adapt every linear (`all-linear`), Table 5 query and value.
#[test]
fn tables_4_5_and_14_are_the_papers_grids() {
    let exp = runner::experiment::Experiment::load(&repo("experiments/paper/table7.toml"), "paper").unwrap();
    for (name, targets) in [("table4", vec!["all-linear"]), ("table5", vec!["query", "value"]), ("table14", vec!["all-linear"])] {
        let cells = exp.grid_cells(name, &runner::experiment::Filter::default()).unwrap().unwrap_or_else(|| panic!("no [grid.{name}]"));
        assert!(cells.iter().all(|c| c.hyper.rank == 16 && c.hyper.epochs == 30 && c.hyper.target_modules == targets), "{name}");
        let seeds: std::collections::BTreeSet<u64> = cells.iter().map(|c| c.seed).collect();
        assert_eq!(seeds.into_iter().collect::<Vec<_>>(), vec![0, 1, 2], "{name}");
        let grid: std::collections::BTreeSet<String> = cells.iter().map(|c| format!("{}/{}/{}", c.model, c.dataset, c.method)).collect();
        let number = name.trim_start_matches("table");
        let text = std::fs::read_to_string(repo(&format!("experiments/paper-tables/table{number}.csv"))).unwrap();
        let mut lines = text.lines().filter(|l| !l.starts_with('#'));
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
        let paper: std::collections::BTreeSet<String> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                format!("{}/{}/{}", f[col("model")], f[col("dataset")], f[col("method")])
            })
            .collect();
        assert_eq!(grid, paper, "{name}: the grid's rows are the paper table's");
        assert_eq!(cells.len(), paper.len() * 3);
    }
    // A target list that is neither names nor "all-linear" is refused by name.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(&p, "[[cell]]\nmodel = \"m\"\ndataset = \"d\"\nlr_fft = 1e-3\nlr_lora = 1e-3\nlr_asym = 1e-3\nbatch_size = 8\nepochs = 1\ntarget_modules = \"every-linear\"\n").unwrap();
    let e = Experiment::load(&p, "paper").and_then(|x| x.cells(&runner::experiment::Filter::default())).unwrap_err().to_string();
    assert!(e.contains("target_modules = \"every-linear\"") && e.contains("\"all-linear\""), "{e}");
}
