use anyhow::Result;
use models::presets::{Arch, PAPER_PRESETS};
use serde_json::json;

/// Classes of the head each preset gets in the paper's runs (for the parameter count; the mini
/// classifiers are counted with 2).
fn paper_labels(name: &str) -> usize {
    match name {
        "vit-tiny" | "vit-base" => 10, // CIFAR-10
        "tinyllama" | "llama-3-8b" => 4, // OpenBookQA
        "gpt2" | "deepseek-coder-1.3b" => 0,
        _ => 2,
    }
}

/// One row of the listing: the preset's identity and the counts its architecture implies.
fn row(name: &str, hub_id: &str, revision: Option<&str>, task: &str, labels: usize, arch: Arch, gated: bool) -> serde_json::Value {
    let (base, head) = arch.param_counts(labels, task);
    json!({
        "name": name,
        "hub_id": hub_id,
        "revision": revision,
        "task": task,
        "head_classes": labels,
        "params_base": base,
        "params_head": head,
        "params_total": base + head,
        "f32_weight_bytes": 4 * (base + head),
        "gated": gated,
        "arch": arch,
    })
}

pub fn run(as_json: bool) -> Result<()> {
    let mut rows: Vec<_> =
        PAPER_PRESETS.iter().map(|p| row(p.name, p.hub_id, Some(p.revision), p.task, paper_labels(p.name), p.arch, p.gated)).collect();
    // The mini suite's models: pretrained by `cargo xtask pretrain mini`, not downloaded.
    for name in runner::mini::names() {
        let (arch, task) = runner::mini::arch(name).expect("every mini model has an architecture");
        let labels = if task == "causal-lm" { 0 } else { 2 };
        rows.push(row(name, &format!("(pretrained here: results/models/{name})"), None, task, labels, arch, false));
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<20} {:<52} {:<24} {:>12} {:>10} {:>9}", "preset", "hub id", "task", "params", "f32 GiB", "gated");
    for r in &rows {
        println!(
            "{:<20} {:<52} {:<24} {:>12} {:>10.2} {:>9}",
            r["name"].as_str().unwrap(),
            r["hub_id"].as_str().unwrap(),
            r["task"].as_str().unwrap(),
            r["params_total"].as_u64().unwrap(),
            r["f32_weight_bytes"].as_u64().unwrap() as f64 / (1u64 << 30) as f64,
            if r["gated"].as_bool().unwrap() { "HF_TOKEN" } else { "" },
        );
    }
    Ok(())
}
