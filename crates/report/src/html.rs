//! Self-contained HTML and CSV for a [`Table`]: inline CSS, no network.

use crate::table::{Note, Row, Table};

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What a [`Note`] says, e.g. "seed 2 diverged at epoch 3; 1 seed without a value".
pub fn note_text(n: &Note) -> String {
    let mut parts: Vec<String> = n.diverged.iter().map(|(s, e)| format!("seed {s} diverged at epoch {e}")).collect();
    let seeds = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    if !n.not_a_number.is_empty() {
        let s = if n.not_a_number.len() == 1 { "" } else { "s" };
        parts.push(format!("seed{s} {}: NaN (not averaged)", seeds(&n.not_a_number)));
    }
    let missing: Vec<u64> = n.without_value.iter().copied().filter(|s| !n.not_a_number.contains(s)).collect();
    match missing.len() {
        0 => {}
        1 => parts.push(format!("seed {} without a value (not averaged)", missing[0])),
        k => parts.push(format!("{k} seeds without a value (not averaged)")),
    }
    parts.join("; ")
}

/// The table as an HTML fragment (a `<table>`), ranks as classes `best`, `second`, `third`
/// (green, red, blue as in the paper), the metric per row where rows have one.
pub fn table_html(t: &Table) -> String {
    let with_metric = t.rows.iter().any(|r| !r.metric.is_empty());
    let mut s = String::new();
    // A wide table scrolls inside its own box; the page body never overflows.
    s.push_str(&format!("<div class=\"scroll\"><table class=\"results\"><caption>{}</caption><thead><tr><th>Model</th><th>Data set</th>", escape(&t.title)));
    if with_metric {
        s.push_str("<th>Metric</th>");
    }
    for (m, l) in t.methods.iter().zip(&t.labels) {
        s.push_str(&format!("<th title=\"{}\">{}</th>", escape(m), escape(l)));
    }
    s.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        match t.row_link {
            Some(page) => s.push_str(&format!(
                "<tr><td><a href=\"{page}#{a}\">{}</a></td><td><a href=\"{page}#{a}\">{}</a></td>",
                escape(&r.model),
                escape(&r.dataset),
                a = escape(&crate::site::curve_anchor(&r.model, &r.dataset))
            )),
            None => s.push_str(&format!("<tr><td>{}</td><td>{}</td>", escape(&r.model), escape(&r.dataset))),
        }
        if with_metric {
            let dir = if r.higher_is_better { "↑" } else { "↓" };
            s.push_str(&format!("<td class=\"metric\">{} {dir}</td>", escape(&r.metric)));
        }
        for (c, note) in r.cells.iter().zip(&r.notes) {
            s.push_str(&cell_html(t, r, c.as_ref(), note));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    s
}

fn cell_html(t: &Table, r: &Row, c: Option<&crate::table::CellStats>, note: &Note) -> String {
    let note_html = if note.is_empty() {
        String::new()
    } else {
        format!("<br><span class=\"diverged\">⚠ {}</span>", escape(&note_text(note)))
    };
    let Some(c) = c else {
        return if note.is_empty() {
            "<td class=\"missing\">–</td>".into()
        } else if !note.not_a_number.is_empty() {
            format!("<td class=\"missing\">NaN{note_html}</td>")
        } else {
            format!("<td class=\"missing\">no value{note_html}</td>")
        };
    };
    let class = match c.rank {
        Some(1) => " class=\"best\"",
        Some(2) => " class=\"second\"",
        Some(3) => " class=\"third\"",
        _ => "",
    };
    let f = |v: f64| t.format.show(v);
    let mut cell = f(c.mean);
    if t.show_std {
        cell.push_str(&format!(" ± {}", f(c.std)));
    }
    if let Some(p) = c.from_best_pct {
        let arrow = if r.higher_is_better { "↓" } else { "↑" };
        cell.push_str(&format!(" <span class=\"drop\">({arrow}{p:.2}%)</span>"));
    }
    if let Some(x) = c.ratio {
        cell.push_str(&format!(" <span class=\"ratio\">({x:.3})</span>"));
    }
    if let Some(p) = c.paper {
        cell.push_str(&format!("<br><span class=\"paper\">paper {}", f(p)));
        if let Some(x) = c.paper_ratio {
            cell.push_str(&format!(" ({x:.3})"));
        }
        cell.push_str("</span>");
    }
    format!("<td{class} title=\"{} seed(s)\">{cell}{note_html}</td>", c.seeds)
}

/// The style every page shares.
pub const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1600px}\
    .scroll{overflow-x:auto;max-width:100%}\
    table.results{border-collapse:collapse;margin:1em 0}\
    td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top;white-space:nowrap}\
    th{background:#f4f4f4}caption{font-weight:bold;margin:0.5em;text-align:left}\
    td.best{color:#0a7a0a;font-weight:bold}td.second{color:#c0392b;font-weight:bold}td.third{color:#1f5fbf;font-weight:bold}\
    td.metric{color:#555;font-size:85%}td.missing{color:#999}\
    .drop,.ratio{font-size:80%}.paper{font-size:75%;color:#777;font-weight:normal}\
    .diverged{font-size:75%;color:#b35c00;font-weight:normal;display:inline-block;max-width:16em;white-space:normal}\
    .note{color:#555;font-size:90%}.suite-mini{border-left:4px solid #e0a000;padding-left:1em}\
    .suite-paper{border-left:4px solid #0a7a0a;padding-left:1em}\
    figure{margin:1em 0}svg{max-width:100%;height:auto}\
    .filters{margin:1em 0;line-height:2}.filters label{margin-right:0.8em;white-space:nowrap}\
    .pareto-chart{display:inline-block;vertical-align:top;margin:0.5em 1em 0.5em 0}";

/// A whole page around one or more fragments.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// One CSV field: quoted where it holds a comma, quote or newline, or starts like a formula
/// (`= + - @`), so that a spreadsheet shows it as text instead of running it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) || s.starts_with(['=', '+', '-', '@']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The header of [`tables_csv`].
pub const CSV_HEADER: &str =
    "suite,table,model,dataset,metric,method,mean,std,seeds,rank,from_best_pct,ratio,ratio_to,paper,paper_ratio,diverged,without_value\n";

/// Tables as CSV: one line per (suite, table, model, data set, method) that has a value or a
/// note; `diverged` lists `seed@epoch` separated by spaces, `without_value` the seeds.
pub fn tables_csv(tables: &[(&str, &Table)]) -> String {
    let mut s = String::from(CSV_HEADER);
    let opt = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    for (suite, t) in tables {
        for r in &t.rows {
            for ((m, c), n) in t.methods.iter().zip(&r.cells).zip(&r.notes) {
                if c.is_none() && n.is_empty() {
                    continue;
                }
                let diverged: Vec<String> = n.diverged.iter().map(|(s, e)| format!("{s}@{e}")).collect();
                let without: Vec<String> = n.without_value.iter().map(u64::to_string).collect();
                let fields = [
                    csv_field(suite),
                    csv_field(&t.title),
                    csv_field(&r.model),
                    csv_field(&r.dataset),
                    csv_field(&r.metric),
                    csv_field(m),
                    opt(c.as_ref().map(|c| c.mean)),
                    opt(c.as_ref().map(|c| c.std)),
                    c.as_ref().map(|c| c.seeds).unwrap_or(0).to_string(),
                    c.as_ref().and_then(|c| c.rank).map(|r| r.to_string()).unwrap_or_default(),
                    opt(c.as_ref().and_then(|c| c.from_best_pct)),
                    opt(c.as_ref().and_then(|c| c.ratio)),
                    t.ratio_to.clone().unwrap_or_default(),
                    opt(c.as_ref().and_then(|c| c.paper)),
                    opt(c.as_ref().and_then(|c| c.paper_ratio)),
                    diverged.join(" "),
                    without.join(" "),
                ];
                s.push_str(&fields.join(","));
                s.push('\n');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::run;
    use crate::table::{RunResult, build_table};

    #[test]
    fn html_marks_ranks_and_drops_and_escapes() {
        let runs: Vec<RunResult> =
            [("fft", 90.0), ("lora", 88.0), ("cla", 87.0), ("r-cla", 80.0)].iter().map(|(m, v)| run("m<1>", "d", m, 0, *v)).collect();
        let t = build_table("T & U", &runs, &["fft", "lora", "cla", "r-cla"], &["cla", "r-cla"], &|_, _, _| Some(1.0))
            .with_labels(|m| m.to_uppercase());
        let h = table_html(&t);
        assert!(h.contains("<td class=\"best\" title=\"1 seed(s)\">90.00 ± 0.00"), "{h}");
        assert!(h.contains("<td class=\"second\""));
        assert!(h.contains("<td class=\"third\" title=\"1 seed(s)\">87.00 ± 0.00 <span class=\"drop\">(↓3.33%)</span>"), "{h}");
        assert!(h.contains("m&lt;1&gt;") && h.contains("T &amp; U"));
        assert!(h.contains("<th title=\"r-cla\">R-CLA</th>") && h.contains("<td class=\"metric\">accuracy ↑</td>"), "{h}");
        let p = page("Table 2", &h);
        assert!(p.starts_with("<!DOCTYPE html>") && !p.contains("http"), "self-contained");
        let csv = tables_csv(&[("mini", &t)]);
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.contains("mini,T & U,m<1>,d,accuracy,r-cla,80,0,1,,11.11111111111111,,,1,,,\n"), "{csv}");
        // Text that starts like a spreadsheet formula is quoted; plain text and commas as before.
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(A1)"), "\"@SUM(A1)\"");
        assert_eq!(csv_field("-2+3"), "\"-2+3\"");
        assert_eq!(csv_field("r-cla"), "r-cla");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn diverged_cells_are_shown() {
        let runs = vec![
            RunResult { diverged_at_epoch: Some(2), value: None, ..run("m", "d", "lora", 0, 0.0) },
            RunResult { diverged_at_epoch: Some(4), ..run("m", "d", "cla", 1, 50.0) },
        ];
        let t = build_table("t, with a comma", &runs, &["lora", "cla"], &[], &|_, _, _| None);
        let h = table_html(&t);
        assert!(h.contains("<td class=\"missing\">no value<br><span class=\"diverged\">⚠ seed 0 diverged at epoch 2; seed 0 without a value (not averaged)</span></td>"), "{h}");
        assert!(h.contains("50.00 ± 0.00<br><span class=\"diverged\">⚠ seed 1 diverged at epoch 4</span>"), "{h}");
        let csv = tables_csv(&[("paper", &t)]);
        assert!(csv.contains("paper,\"t, with a comma\",m,d,accuracy,lora,,,0,,,,,,,0@2,0\n"), "{csv}");
    }

    /// A NaN metric (a perplexity of no target token) is shown as NaN, apart from missing ones.
    #[test]
    fn nan_values_are_shown_as_nan() {
        let runs = vec![
            RunResult { value: Some(f64::NAN), ..run("m", "d", "lora", 0, 0.0) },
            RunResult { value: Some(f64::NAN), ..run("m", "d", "cla", 0, 0.0) },
            run("m", "d", "cla", 1, 40.0),
            RunResult { value: None, ..run("m", "d", "cla", 2, 0.0) },
        ];
        let t = build_table("t", &runs, &["lora", "cla"], &[], &|_, _, _| None);
        let h = table_html(&t);
        assert!(h.contains("<td class=\"missing\">NaN<br><span class=\"diverged\">⚠ seed 0: NaN (not averaged)</span></td>"), "{h}");
        assert!(h.contains("40.00 ± 0.00<br><span class=\"diverged\">⚠ seed 0: NaN (not averaged); seed 2 without a value (not averaged)</span>"), "{h}");
    }
}
