//! Self-contained HTML and CSV for a [`Table`]: inline CSS, no script, no network.

use crate::table::Table;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The table as an HTML fragment (a `<table>`), ranks as classes `best`, `second`, `third`
/// (green, red, blue as in the paper).
pub fn table_html(t: &Table) -> String {
    let mut s = String::new();
    s.push_str(&format!("<table class=\"results\"><caption>{}</caption><thead><tr><th>Model</th><th>Dataset</th>", escape(&t.title)));
    for m in &t.methods {
        s.push_str(&format!("<th>{}</th>", escape(m)));
    }
    s.push_str("</tr></thead><tbody>");
    let arrow = if t.higher_is_better { "↓" } else { "↑" };
    for r in &t.rows {
        s.push_str(&format!("<tr><td>{}</td><td>{}</td>", escape(&r.model), escape(&r.dataset)));
        for c in &r.cells {
            match c {
                None => s.push_str("<td class=\"missing\">–</td>"),
                Some(c) => {
                    let class = match c.rank {
                        Some(1) => " class=\"best\"",
                        Some(2) => " class=\"second\"",
                        Some(3) => " class=\"third\"",
                        _ => "",
                    };
                    let mut cell = format!("{:.2} ± {:.2}", c.mean, c.std);
                    if let Some(p) = c.from_best_pct {
                        cell.push_str(&format!(" <span class=\"drop\">({arrow}{p:.2}%)</span>"));
                    }
                    if let Some(p) = c.paper {
                        cell.push_str(&format!("<br><span class=\"paper\">paper {p:.2}</span>"));
                    }
                    s.push_str(&format!("<td{class} title=\"{} seed(s)\">{cell}</td>", c.seeds));
                }
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A whole page around one or more fragments.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:2em}}table.results{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}caption{{font-weight:bold;margin:0.5em}}\
         td.best{{color:#0a7a0a;font-weight:bold}}td.second{{color:#c0392b;font-weight:bold}}td.third{{color:#1f5fbf;font-weight:bold}}\
         .drop{{font-size:80%}}.paper{{font-size:75%;color:#777}}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// The table as CSV: one line per (model, data set, method) with mean, std, seeds, rank,
/// from-best % and the paper's number.
pub fn table_csv(t: &Table) -> String {
    let mut s = String::from("model,dataset,method,mean,std,seeds,rank,from_best_pct,paper\n");
    let opt = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    for r in &t.rows {
        for (m, c) in t.methods.iter().zip(&r.cells) {
            if let Some(c) = c {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{}\n",
                    r.model,
                    r.dataset,
                    m,
                    c.mean,
                    c.std,
                    c.seeds,
                    c.rank.map(|r| r.to_string()).unwrap_or_default(),
                    opt(c.from_best_pct),
                    opt(c.paper)
                ));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{RunResult, build_table};

    #[test]
    fn html_marks_ranks_and_drops_and_escapes() {
        let runs: Vec<RunResult> = [("fft", 90.0), ("lora", 88.0), ("cla", 87.0), ("r-cla", 80.0)]
            .iter()
            .map(|(m, v)| RunResult { model: "m<1>".into(), dataset: "d".into(), method: m.to_string(), seed: 0, value: *v })
            .collect();
        let t = build_table("T & U", &runs, &["fft", "lora", "cla", "r-cla"], &["cla", "r-cla"], true, &|_, _, _| Some(1.0));
        let h = table_html(&t);
        assert!(h.contains("<td class=\"best\" title=\"1 seed(s)\">90.00 ± 0.00"), "{h}");
        assert!(h.contains("<td class=\"second\""));
        assert!(h.contains("<td class=\"third\" title=\"1 seed(s)\">87.00 ± 0.00 <span class=\"drop\">(↓3.33%)</span>"), "{h}");
        assert!(h.contains("m&lt;1&gt;") && h.contains("T &amp; U"));
        let p = page("Table 2", &h);
        assert!(p.starts_with("<!DOCTYPE html>") && !p.contains("http"), "self-contained");
        let csv = table_csv(&t);
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.contains("m<1>,d,r-cla,80,0,1,,11.11111111111111,1\n"), "{csv}");
    }
}
