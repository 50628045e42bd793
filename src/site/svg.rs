//! Charts and lineage graphs as inline SVG, drawn at build time: deterministic bytes, no chart
//! library in the browser, nothing that a Content-Security-Policy without inline scripts and
//! styles would block (colors come from CSS classes).

use std::fmt::Write as _;

/// Escape text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of a chart: a label (the dataset) and a value per x position.
pub struct Series {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// A line chart of one metric across versions; `highlight` marks one version.
pub fn metric_chart(
    id: &str,
    metric: &str,
    versions: &[String],
    series: &[Series],
    highlight: Option<usize>,
) -> String {
    let (w, h) = (640.0, 240.0);
    let (left, right, top, bottom) = (56.0, 16.0, 28.0, 36.0);
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .collect();
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if values.is_empty() {
        (lo, hi) = (0.0, 1.0);
    }
    if (hi - lo).abs() < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let pad = (hi - lo) * 0.1;
    let (lo, hi) = (lo - pad, hi + pad);
    let n = versions.len().max(1);
    let x = |i: usize| -> f64 {
        if n == 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (w - left - right) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| -> f64 { top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo)) };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t"><title id="{id}-t">{} by version</title>"#,
        esc(metric)
    );
    let _ = write!(
        s,
        r#"<text class="chart-title" x="{left}" y="18">{}</text>"#,
        esc(metric)
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            w - right,
            y(v),
            y(v),
            left - 6.0,
            y(v) + 4.0,
            fmt_value(v)
        );
    }
    for (i, v) in versions.iter().enumerate() {
        let class = if Some(i) == highlight {
            "tick current"
        } else {
            "tick"
        };
        let _ = write!(
            s,
            r#"<text class="{class}" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            h - bottom + 18.0,
            esc(v)
        );
    }
    for (k, line) in series.iter().enumerate() {
        let class = format!("series s{}", k % 6);
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, s: &mut String| {
            if run.len() > 1 {
                let _ = write!(
                    s,
                    r#"<polyline class="{class}" points="{}"/>"#,
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (i, value) in line.values.iter().enumerate() {
            match value {
                Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(*v))),
                None => flush(&mut run, &mut s),
            }
        }
        flush(&mut run, &mut s);
        for (i, value) in line.values.iter().enumerate() {
            if let Some(v) = value {
                let _ = write!(
                    s,
                    r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="4"><title>{} on {}: {}</title></circle>"#,
                    x(i),
                    y(*v),
                    esc(&versions[i]),
                    esc(&line.label),
                    fmt_value(*v)
                );
            }
        }
        let ly = 8 + 14 * k;
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{:.1}" y="{ly}" width="10" height="10"/><text class="legend" x="{:.1}" y="{}">{}</text>"#,
            w - right - 220.0,
            w - right - 206.0,
            ly + 9,
            esc(&line.label)
        );
    }
    s.push_str("</svg>");
    s
}

/// Numbers on axes and in tooltips: up to four significant decimals, no trailing zeros.
pub fn fmt_value(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A box in a lineage graph.
pub struct GraphNode {
    pub label: String,
    pub detail: String,
    pub href: Option<String>,
    pub class: &'static str,
}

/// Data and models → job (component, environment) → this version, left to right.
pub fn lineage_graph(
    inputs: &[GraphNode],
    job: Option<&GraphNode>,
    environment: Option<&GraphNode>,
    this: &GraphNode,
) -> String {
    let (bw, bh, gap) = (200.0, 44.0, 16.0);
    let cols = [16.0, 16.0 + bw + 60.0, 16.0 + 2.0 * (bw + 60.0)];
    let left_count = inputs.len().max(1) as f64;
    let mid_count = if environment.is_some() { 2.0 } else { 1.0 };
    let height = (left_count.max(mid_count) * (bh + gap) + gap).max(bh + 2.0 * gap);
    let width = cols[2] + bw + 16.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="lineage" viewBox="0 0 {width} {height}" role="img" aria-labelledby="lineage-t"><title id="lineage-t">Lineage of {}</title>"#,
        esc(&this.label)
    );
    let center = |count: f64, i: usize| -> f64 {
        (height - count * (bh + gap) + gap) / 2.0 + i as f64 * (bh + gap)
    };
    let target_y = center(1.0, 0);
    let (job_x, job_y) = (cols[1], center(mid_count, 0));
    let into = if job.is_some() {
        (job_x, job_y)
    } else {
        (cols[2], target_y)
    };
    for (i, n) in inputs.iter().enumerate() {
        let y = center(left_count, i);
        edge(
            &mut s,
            cols[0] + bw,
            y + bh / 2.0,
            into.0,
            into.1 + bh / 2.0,
        );
        node(&mut s, cols[0], y, bw, bh, n);
    }
    if let Some(j) = job {
        edge(
            &mut s,
            job_x + bw,
            job_y + bh / 2.0,
            cols[2],
            target_y + bh / 2.0,
        );
        node(&mut s, job_x, job_y, bw, bh, j);
        if let Some(e) = environment {
            let ey = job_y + bh + gap;
            edge(&mut s, job_x + bw / 2.0, ey, job_x + bw / 2.0, job_y + bh);
            node(&mut s, job_x, ey, bw, bh, e);
        }
    } else if let Some(e) = environment {
        let ey = target_y + bh + gap;
        node(&mut s, cols[1], ey, bw, bh, e);
    }
    node(&mut s, cols[2], target_y, bw, bh, this);
    s.push_str("</svg>");
    s
}

fn edge(s: &mut String, x1: f64, y1: f64, x2: f64, y2: f64) {
    let mx = (x1 + x2) / 2.0;
    let _ = write!(
        s,
        r#"<path class="edge" d="M{x1:.1} {y1:.1} C{mx:.1} {y1:.1} {mx:.1} {y2:.1} {x2:.1} {y2:.1}"/>"#
    );
}

fn node(s: &mut String, x: f64, y: f64, w: f64, h: f64, n: &GraphNode) {
    let shorten = |t: &str, max: usize| -> String {
        if t.chars().count() <= max {
            t.to_string()
        } else {
            t.chars().take(max - 1).collect::<String>() + "…"
        }
    };
    let body = format!(
        r#"<rect class="node {}" x="{x:.1}" y="{y:.1}" width="{w}" height="{h}" rx="6"/><text class="node-label" x="{:.1}" y="{:.1}">{}</text><text class="node-detail" x="{:.1}" y="{:.1}">{}</text><title>{} {}</title>"#,
        n.class,
        x + 10.0,
        y + 18.0,
        esc(&shorten(&n.label, 28)),
        x + 10.0,
        y + 35.0,
        esc(&shorten(&n.detail, 30)),
        esc(&n.label),
        esc(&n.detail)
    );
    match &n.href {
        Some(href) => {
            let _ = write!(s, r#"<a href="{}">{body}</a>"#, esc(href));
        }
        None => s.push_str(&body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_output_is_stable() {
        let series = [Series {
            label: "<script>".into(),
            values: vec![Some(0.8), None, Some(0.9)],
        }];
        let v: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
        let a = metric_chart("c", "auc", &v, &series, Some(2));
        assert!(!a.contains("<script>") && a.contains("&lt;script&gt;"));
        assert_eq!(a, metric_chart("c", "auc", &v, &series, Some(2)));
        assert_eq!(a.matches("<circle").count(), 2);
        assert_eq!(fmt_value(0.80000), "0.8");
        assert_eq!(fmt_value(-0.00001), "0");
    }
}
