use anyhow::Result;
use models::presets::PAPER_PRESETS;
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

pub fn run(as_json: bool) -> Result<()> {
    let mut rows: Vec<_> = PAPER_PRESETS
        .iter()
        .map(|p| {
            let labels = paper_labels(p.name);
            let (base, head) = p.arch.param_counts(labels, p.task);
            json!({
                "name": p.name,
                "hub_id": p.hub_id,
                "revision": p.revision,
                "task": p.task,
                "head_classes": labels,
                "params_base": base,
                "params_head": head,
                "params_total": base + head,
                "f32_weight_bytes": 4 * (base + head),
                "gated": p.gated,
                "arch": p.arch,
            })
        })
        .collect();
    // The mini suite's models: pretrained by `cargo xtask pretrain mini`, not downloaded.
    for &name in runner::pretrain::MINI_MODELS {
        let (arch, task) = runner::pretrain::mini_arch(name).expect("every mini model has an architecture");
        let labels = if task == "causal-lm" { 0 } else { 2 };
        let (base, head) = arch.param_counts(labels, task);
        rows.push(json!({
            "name": name,
            "hub_id": format!("(pretrained here: results/models/{name})"),
            "revision": null,
            "task": task,
            "head_classes": labels,
            "params_base": base,
            "params_head": head,
            "params_total": base + head,
            "f32_weight_bytes": 4 * (base + head),
            "gated": false,
            "arch": arch,
        }));
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
