//! Every paper loader, run on tiny fixtures in the exact file layout and schema of its Hub
//! repository (made by `tests/fixtures/make_fixtures.py`), copied into a temporary hf-hub
//! cache: the real loading path (hub → polars → examples → split protocol) is what runs.


use datasets::{Example, Input, Label, SplitSizes, Task};

// The manifest directory at run time (cargo sets it for tests): a test binary reused from another
// checkout that shares the target directory must still find this checkout's files.
fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures/hub")
}

/// A temporary offline hub whose cache holds fixture directory `dir` as `repo@revision`.
fn hub_with(repos: &[(&str, &str, &str)]) -> (tempfile::TempDir, hub::Hub) {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub::Hub::offline_at(tmp.path().join("hub"));
    for (dir, repo, revision) in repos {
        let r = hub::HubRepo::dataset(repo).at(revision);
        hub.import_dir(&r, &fixtures().join(dir), "0000000000000000000000000000000000000000").unwrap();
    }
    (tmp, hub)
}

fn sizes(train: usize, validation: usize, test: usize) -> SplitSizes {
    SplitSizes { train, validation, test }
}

fn classes(examples: &[Example]) -> Vec<usize> {
    examples.iter().map(|e| e.class().unwrap()).collect()
}

#[test]
fn glue_tasks_use_train_and_halve_the_validation_set() {
    let (_t, hub) = hub_with(&[("nyu-mll--glue", "nyu-mll/glue", "main")]);
    let mrpc = datasets::load("mrpc", &hub).unwrap();
    // 6 train rows; the 5 validation rows → 2 validation + 3 test; the hidden test file is unused.
    assert_eq!(mrpc.sizes(), sizes(6, 2, 3));
    assert_eq!(classes(&mrpc.train), vec![1, 0, 1, 0, 1, 0]);
    assert_eq!(mrpc.train[0].input, Input::TextPair("The cat sat.".into(), "A cat was sitting.".into()));
    assert_eq!(mrpc.train[2].origin, "train-00000-of-00001.parquet row 2");
    let mut val_and_test: Vec<_> = mrpc.validation.iter().chain(&mrpc.test).map(|e| e.origin.clone()).collect();
    val_and_test.sort();
    assert_eq!(val_and_test, (0..5).map(|r| format!("validation-00000-of-00001.parquet row {r}")).collect::<Vec<_>>());
    // Deterministic: the same split twice.
    assert_eq!(datasets::load("mrpc", &hub).unwrap(), mrpc);

    assert_eq!(datasets::load("rte", &hub).unwrap().sizes(), sizes(6, 2, 3));
    let cola = datasets::load("cola", &hub).unwrap();
    assert_eq!(cola.sizes(), sizes(4, 2, 3));
    assert_eq!(cola.train[1].input, Input::Text("Book the read was.".into()));
    assert_eq!(classes(&cola.train), vec![1, 0, 1, 0]);
    let stsb = datasets::load("stsb", &hub).unwrap();
    assert_eq!(stsb.sizes(), sizes(4, 2, 2));
    assert_eq!(stsb.train.iter().map(|e| e.score().unwrap()).collect::<Vec<_>>(), vec![4.8, 0.4, 4.2, 1.6]);
}

#[test]
fn trec50_holds_out_a_tenth_of_train_and_uses_fine_labels() {
    let (_t, hub) = hub_with(&[("CogComp--trec", "CogComp/trec", "refs/convert/parquet")]);
    let trec = datasets::load("trec50", &hub).unwrap();
    assert_eq!(trec.sizes(), sizes(9, 1, 3));
    assert_eq!(classes(&trec.test), vec![1, 29, 40]);
    assert_eq!(datasets::info("trec50").unwrap().task.num_classes(), Some(50));
}

#[test]
fn paws_keeps_the_official_splits() {
    let (_t, hub) = hub_with(&[("google-research-datasets--paws", "google-research-datasets/paws", "main")]);
    let paws = datasets::load("paws", &hub).unwrap();
    assert_eq!(paws.sizes(), sizes(3, 3, 3));
    assert_eq!(classes(&paws.test), vec![1, 0, 1]);
}

#[test]
fn cifar10_and_office_home_images_load_and_preprocess() {
    let (_t, hub) = hub_with(&[
        ("uoft-cs--cifar10", "uoft-cs/cifar10", "main"),
        ("flwrlabs--office-home", "flwrlabs/office-home", "main"),
    ]);
    let cifar = datasets::load("cifar10", &hub).unwrap();
    assert_eq!(cifar.sizes(), sizes(19, 1, 3));
    assert_eq!(classes(&cifar.test), vec![0, 1, 2]);
    let pre = datasets::encode::ImagePreprocessor::from_config_json(
        r#"{"size": {"height": 8, "width": 8}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "rescale_factor": 0.00392156862745098}"#,
    )
    .unwrap();
    let test: Vec<&Example> = cifar.test.iter().collect();
    let pixels = pre.apply_all("cifar10", &test).unwrap();
    assert_eq!(pixels[0].len(), 3 * 8 * 8);
    // test[0] is pure red (255, 0, 0): channel 0 → (1 − 0.5)/0.5 = 1, channels 1, 2 → −1.
    assert!((pixels[0][0] - 1.0).abs() < 1e-6 && (pixels[0][64] + 1.0).abs() < 1e-6 && (pixels[0][128] + 1.0).abs() < 1e-6);

    let office = datasets::load("office-home", &hub).unwrap();
    // 2 shards × 10 rows, pooled, 70/15/15 → 14 / 3 / 3.
    assert_eq!(office.sizes(), sizes(14, 3, 3));
    assert!(office.train.iter().all(|e| matches!(e.input, Input::Image(_))));
}

#[test]
fn e2e_and_django_are_causal_lm_prompts_with_text_targets() {
    let (_t, hub) = hub_with(&[
        ("GEM--e2e_nlg", "GEM/e2e_nlg", "refs/convert/parquet"),
        ("AhmedSSoliman--DJANGO", "AhmedSSoliman/DJANGO", "main"),
    ]);
    let e2e = datasets::load("e2e", &hub).unwrap();
    assert_eq!(e2e.sizes(), sizes(3, 3, 3));
    assert_eq!(e2e.test[0].input, Input::Text("name[The Eagle], food[French] ||".into()));
    assert_eq!(e2e.test[0].label, Label::Text(" The Eagle serves French food .".into()));
    let django = datasets::load("django", &hub).unwrap();
    assert_eq!(django.sizes(), sizes(3, 3, 3));
    assert_eq!(django.train[0].input, Input::Text("\"\"\"Task: define the function f with an argument x.\"\"\"\n# Solution\n".into()));
    assert_eq!(django.train[0].label, Label::Text("def f(x):".into()));
}

#[test]
fn reasoning_sets_become_last_token_classification_prompts() {
    let (_t, hub) = hub_with(&[
        ("allenai--openbookqa", "allenai/openbookqa", "main"),
        ("tasksource--folio", "tasksource/folio", "main"),
        ("baber--logiqa2", "baber/logiqa2", "refs/pr/6"),
        ("CLUTRR--v1", "CLUTRR/v1", "refs/convert/parquet"),
    ]);
    let obqa = datasets::load("openbookqa", &hub).unwrap();
    assert_eq!(obqa.sizes(), sizes(2, 2, 2));
    assert_eq!(classes(&obqa.test), vec![3, 1]);
    assert_eq!(
        obqa.test[0].input,
        Input::Text(
            "Question: The sun is responsible for\nOptions: A) puppies learning new tricks B) children growing up \
             C) flowers wilting D) plants sprouting\nAnswer:"
                .into()
        )
    );
    let folio = datasets::load("folio", &hub).unwrap();
    // Train = 4 rows; the 4 validation rows are halved into 2 + 2.
    assert_eq!(folio.sizes(), sizes(4, 2, 2));
    assert_eq!(classes(&folio.train), vec![0, 1, 2, 0]);
    let logiqa = datasets::load("logiqa2", &hub).unwrap();
    assert_eq!(logiqa.sizes(), sizes(2, 2, 2));
    assert_eq!(classes(&logiqa.test), vec![2, 0]);
    let clutrr = datasets::load("clutrr", &hub).unwrap();
    assert_eq!(clutrr.sizes(), sizes(2, 2, 2));
    assert_eq!(classes(&clutrr.test), vec![6, 8]);
    assert_eq!(datasets::info("clutrr").unwrap().task, Task::LastTokenClassification { num_classes: 21 });
}

#[test]
fn bad_inputs_are_errors_naming_data_set_file_and_row() {
    let err = |dir: &str, repo: &str, name: &str| {
        let (_t, hub) = hub_with(&[(dir, repo, "main")]);
        datasets::load(name, &hub).unwrap_err().to_string()
    };
    let e = err("bad--glue-missing-column", "nyu-mll/glue", "mrpc");
    assert!(e.contains("data set mrpc") && e.contains("train-00000-of-00001.parquet") && e.contains("no column `sentence2`"), "{e}");
    let e = err("bad--glue-label", "nyu-mll/glue", "mrpc");
    assert!(e.contains("row 3, column `label`: label 7 is outside 0..2"), "{e}");
    let e = err("bad--glue-empty", "nyu-mll/glue", "mrpc");
    assert!(e.contains("data set mrpc: split `validation` is empty"), "{e}");
    let e = err("bad--cifar10-image", "uoft-cs/cifar10", "cifar10");
    assert!(e.contains("data set cifar10") && e.contains("row 1: unreadable image"), "{e}");
    // Nothing cached at all: the hub error, with the data set's name in front.
    let (_t, hub) = hub_with(&[]);
    let e = datasets::load("paws", &hub).unwrap_err().to_string();
    assert!(e.starts_with("data set paws:") && e.contains("HF_HUB_OFFLINE"), "{e}");
}
