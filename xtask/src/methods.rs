use anyhow::Result;
use peft_core::REGISTRY;
use serde_json::json;

pub fn run(as_json: bool) -> Result<()> {
    if as_json {
        let list: Vec<_> = REGISTRY
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "paper_name": m.paper_name,
                    "trains": m.trains.as_str(),
                    "chained": m.chained,
                    "selector": m.selector.as_str(),
                    "sparse": m.sparse,
                    "a_init": m.a_init,
                    "default_lr_ratio_b": m.default_lr_ratio_b,
                    "summary": m.summary,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<10} {:<9} {:<13} {:<8} {:<22} {:<7} summary",
        "name", "paper", "trains", "chained", "selector", "sparse"
    );
    for m in REGISTRY {
        println!(
            "{:<10} {:<9} {:<13} {:<8} {:<22} {:<7} {}",
            m.name,
            m.paper_name,
            m.trains.as_str(),
            if m.chained { "yes" } else { "no" },
            m.selector.as_str(),
            if m.sparse { "yes" } else { "no" },
            m.summary
        );
    }
    Ok(())
}
