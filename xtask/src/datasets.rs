//! `cargo xtask datasets [--json]`: every registered data set with its source, task, metric,
//! split protocol and — when its files are in the Hugging Face cache (or it is embedded) —
//! the split sizes it loads to.

use anyhow::Result;

pub fn run(json: bool) -> Result<()> {
    let hub = hub::Hub::from_env();
    let mut rows = Vec::new();
    for info in ::datasets::registry() {
        let missing = info.missing_files(&hub);
        let (sizes, status) = if missing.is_empty() {
            match ::datasets::load(info.name, &hub) {
                Ok(s) => (Some(s.sizes()), "ok".to_string()),
                Err(e) => (None, format!("error: {e}")),
            }
        } else {
            (None, format!("not cached ({} file(s) missing)", missing.len()))
        };
        rows.push((info, sizes, status));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(info, sizes, status)| {
                serde_json::json!({
                    "name": info.name,
                    "title": info.title,
                    "suite": info.suite,
                    "source": info.source,
                    "source_description": info.source.describe(),
                    "task": info.task,
                    "task_description": info.task.describe(),
                    "metric": info.metric,
                    "secondary_metrics": info.secondary_metrics,
                    "split_protocol": info.split_protocol,
                    "expected_sizes": info.expected_sizes,
                    "sizes": sizes,
                    "status": status,
                    "max_length": info.max_length,
                    "license": info.license,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for (info, sizes, status) in &rows {
        println!("{} ({}) — {:?}", info.name, info.title, info.suite);
        println!("  source:   {}", info.source.describe());
        println!("  task:     {}", info.task.describe());
        let secondary: Vec<_> = info.secondary_metrics.iter().map(|m| m.name()).collect();
        if secondary.is_empty() {
            println!("  metric:   {}", info.metric);
        } else {
            println!("  metric:   {} (also {})", info.metric, secondary.join(", "));
        }
        println!("  protocol: {}", info.split_protocol);
        match sizes {
            Some(s) => println!("  sizes:    train {} / validation {} / test {}", s.train, s.validation, s.test),
            None => println!("  sizes:    {status}"),
        }
        println!("  license:  {}", info.license);
        println!();
    }
    Ok(())
}
