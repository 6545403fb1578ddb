//! The pages as a browser shows them: headless Chromium renders the site built from the
//! hand-made ledger (tests/common), takes screenshots, and dumps the DOM, which must hold the
//! tables and the SVG plots. Without Chromium the test is skipped, except under CI (`CI` set),
//! where `.ci/run` installs it and its absence is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `url` with `mode` (`--screenshot=…` or `--dump-dom`); returns
/// its stdout. Killed after 30 s.
fn run_chromium(bin: &Path, profile: &Path, mode: &str, url: &str, out: &Path) -> String {
    run_chromium_at(bin, profile, "1280,2000", mode, url, out)
}

fn run_chromium_at(bin: &Path, profile: &Path, window: &str, mode: &str, url: &str, out: &Path) -> String {
    let stdout = std::fs::File::create(out).unwrap();
    let mut child = Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={window}"))
        .args([mode, url])
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {mode} {url}: {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium {mode} {url} took more than 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(out).unwrap()
}

/// Pixels of the screenshot that are clearly of `want` (the green of a best cell, the blue
/// of the first bar series …).
fn pixels_like(png: &Path, want: [u8; 3]) -> usize {
    let img = image::open(png).unwrap().to_rgb8();
    img.pixels().filter(|p| p.0.iter().zip(want).all(|(a, b)| (*a as i32 - b as i32).abs() <= 12)).count()
}

#[test]
fn pages_render_in_headless_chromium_with_tables_and_plots() {
    let Some(bin) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("Chromium not found under CI: .ci/run installs it (apt-get install chromium)");
        }
        eprintln!("skipped: no chromium on PATH (apt-get install --no-install-recommends chromium, or set CHROMIUM)");
        return;
    };
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("results");
    common::write_ledger(&site);
    common::write_figures(&site);
    report::build_site(&site, &std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../experiments/paper-tables")).unwrap();
    let profile = dir.path().join("chromium-profile");
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let url = |page: &str| format!("file://{}", site.join(page).display());
    let scratch = dir.path().join("stdout.txt");

    // What each page's rendered DOM must hold.
    let pages: [(&str, &[&str]); 7] = [
        ("index.html", &["<a href=\"table2.html#mini\">Table 2 — mini suite</a>", "18 cells (1 diverged, 1 without a selected epoch)"]),
        ("table2.html", &["<table class=\"results\">", "<td class=\"best\" title=\"3 seed(s)\">81.00 ± 1.00</td>", "⚠ seed 2 diverged at epoch 1"]),
        ("table17.html", &["<table class=\"results\">", "<svg", "G(W) / G(LoRA)"]),
        ("table15.html", &["<table class=\"results\">", "<svg", "<span class=\"ratio\">(1.100)</span>"]),
        ("ablations.html", &["<table class=\"results\">", "<svg", "learning rate"]),
        ("fig3.html", &["<figure class=\"panel\" data-method=\"lora\"><svg", "G(W) 0.100 · matthews_correlation 0.600 · L(W) 0.500", "not computed yet"]),
        ("fig4.html", &["<svg", "Intruders at ε = 0.5", "<td>5.00</td>"]),
    ];
    for (page, must) in pages {
        let dom = run_chromium(&bin, &profile, "--dump-dom", &url(page), &scratch);
        for m in must {
            assert!(dom.contains(m), "{page}: rendered DOM lacks {m:?}");
        }
        if page != "index.html" {
            assert!(dom.contains("<svg") || page == "table2.html", "{page}: no plot in the DOM");
        }
        let png = shots.join(page.replace(".html", ".png"));
        run_chromium(&bin, &profile, &format!("--screenshot={}", png.display()), &url(page), &scratch);
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{page}: screenshot of {} bytes", bytes.len());
    }
    // The colours came out: the best cells' green on Table 2, the bars' blue on Table 17.
    assert!(pixels_like(&shots.join("table2.png"), [10, 122, 10]) > 50, "no green best cells in the Table 2 screenshot");
    assert!(pixels_like(&shots.join("table17.png"), [31, 119, 180]) > 500, "no bars in the Table 17 screenshot");
    // The surfaces are drawn: the ramp's low end (the bowl's floor) and high end (its rim).
    assert!(pixels_like(&shots.join("fig3.png"), [68, 1, 84]) > 20, "no valley colour in the Fig 3 screenshot");
    assert!(pixels_like(&shots.join("fig3.png"), [253, 231, 37]) > 20, "no rim colour in the Fig 3 screenshot");
    // The Pareto page draws its charts in the browser: one per (model, data set), the frontier
    // the same as report::pareto's (pareto.json), dominated methods grey; the filters in the
    // address recompute it (without LoRA, cLA alone beats FFT on mini-acceptability).
    let groups: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(site.join("pareto.json")).unwrap()).unwrap();
    let dom = run_chromium(&bin, &profile, "--dump-dom", &url("pareto.html"), &scratch);
    let groups = groups.as_array().unwrap();
    assert_eq!(dom.matches("<figure class=\"pareto-chart\"").count(), groups.len(), "a chart per (model, data set)");
    for g in groups {
        let key = format!("{}/{}/{}", g["suite"].as_str().unwrap(), g["model"].as_str().unwrap(), g["dataset"].as_str().unwrap());
        let want: Vec<&str> = g["frontier"]["memory"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        let chart = format!("data-group=\"{key}\" data-axis=\"memory\" data-frontier=\"{}\"", want.join(","));
        assert!(dom.contains(&chart), "the page's frontier for {key} differs from pareto.json's {want:?}");
    }
    assert!(dom.contains("<g class=\"point dominated\" data-method=\"fft\">"), "FFT greyed on mini-acceptability");
    assert!(dom.contains("<polyline class=\"frontier-line\""), "the frontier drawn");
    assert!(dom.contains("<input type=\"checkbox\" name=\"method\" value=\"lora\" checked=\"\">"), "method filters");
    let filtered = run_chromium(&bin, &profile, "--dump-dom", &format!("{}#axis=params&dataset=mini-acceptability&hide=lora", url("pareto.html")), &scratch);
    assert_eq!(filtered.matches("<figure class=\"pareto-chart\"").count(), 1, "only mini-acceptability");
    assert!(filtered.contains("data-group=\"mini/mini-encoder/mini-acceptability\" data-axis=\"params\" data-frontier=\"cla\""), "without LoRA the frontier is cLA alone");
    assert!(filtered.contains("<input type=\"checkbox\" name=\"method\" value=\"lora\">"), "LoRA unticked");
    let png = shots.join("pareto.png");
    run_chromium_at(&bin, &profile, "1280,800", &format!("--screenshot={}", png.display()), &url("pareto.html"), &scratch);
    assert!(pixels_like(&png, [31, 119, 180]) > 50, "the first method's colour on the frontier in the Pareto screenshot");
    // A table wider than a 1280 × 800 window scrolls inside its own box: the page body does
    // not overflow (a probe script in a copy of the page reports the widths it laid out).
    let methods: Vec<&str> = methods::REGISTRY.iter().map(|m| m.name).collect();
    let runs: Vec<report::table::RunResult> = methods
        .iter()
        .map(|m| report::table::RunResult {
            model: "a-model-with-a-long-name".into(),
            dataset: "a-data-set-with-a-long-name".into(),
            method: m.to_string(),
            seed: 0,
            value: Some(12.345),
            metric: "accuracy".into(),
            higher_is_better: true,
            diverged_at_epoch: None,
        })
        .collect();
    let wide = report::table::build_table("every method", &runs, &methods, &[], &|_, _, _| None);
    let probe = "<script>document.body.insertAdjacentHTML('beforeend', '<p id=\"probe\">' + document.documentElement.scrollWidth + '/' + document.documentElement.clientWidth + '/' + document.querySelector('table').scrollWidth + '</p>');</script>";
    std::fs::write(site.join("wide.html"), report::html::page("wide", &(report::html::table_html(&wide) + probe))).unwrap();
    let dom = run_chromium_at(&bin, &profile, "1280,800", "--dump-dom", &url("wide.html"), &scratch);
    let widths = dom.rsplit("<p id=\"probe\">").next().and_then(|r| r.split('<').next()).unwrap_or_default();
    let parsed: Vec<u32> = widths.split('/').filter_map(|v| v.trim().parse().ok()).collect();
    let [page_w, window_w, table_w]: [u32; 3] = parsed.try_into().unwrap_or_else(|_| panic!("no widths from the probe: {widths:?} in …{}", &dom[dom.len().saturating_sub(400)..]));
    assert!(table_w > window_w, "the test table is wider than the window ({table_w} vs {window_w})");
    assert!(page_w <= window_w, "the page body overflows a 1280-px window: {page_w} > {window_w}");
    // Keep the screenshots where a person can look at them.
    let keep = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../results/screenshots");
    if std::fs::create_dir_all(&keep).is_ok() {
        for e in std::fs::read_dir(&shots).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), keep.join(e.file_name())).ok();
        }
    }
    eprintln!("rendered 8 pages in {:.1} s; screenshots in {}", start.elapsed().as_secs_f64(), keep.display());
}
