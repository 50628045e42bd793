//! Charts and lineage graphs as inline SVG, drawn at build time: deterministic bytes, no chart
//! library in the browser, nothing that a Content-Security-Policy without inline scripts and
//! styles would block (colors come from CSS classes).

use std::fmt::{self, Write as _};

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

/// `value` with `decimals` decimals, exactly as `{:.N}` writes it. The formatter's exact path
/// works in big integers for most chart coordinates (3% of a cold build); this scales and
/// rounds in `f64` instead, and leaves to the formatter a value it could round otherwise: one
/// within a hair of a tie (`0.25` is written `0.2`, ties go to even), or too large for that
/// hair to hold.
struct Fixed(f64, u32);

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(value, decimals) = *self;
        let scale = 10u64.pow(decimals);
        let scaled = value * scale as f64;
        let fraction = scaled - scaled.floor();
        // Below 1e9 the product is off by under 2e-7 from the exact one, so a fraction 1e-6
        // away from a half rounds the way the exact value does.
        if !scaled.is_finite() || scaled.abs() >= 1e9 || (fraction - 0.5).abs() < 1e-6 {
            return write!(f, "{value:.*}", decimals as usize);
        }
        let n = scaled.round().abs() as u64;
        // As `{:.1}` does, a negative value that rounds to zero keeps its sign (`-0.0`).
        let sign = if value.is_sign_negative() { "-" } else { "" };
        let width = decimals as usize;
        write!(f, "{sign}{}.{:0width$}", n / scale, n % scale)
    }
}

/// A coordinate in a chart or graph: one decimal.
fn d1(value: f64) -> Fixed {
    Fixed(value, 1)
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
            r#"<line class="grid" x1="{left}" x2="{}" y1="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            d1(w - right),
            d1(y(v)),
            d1(y(v)),
            d1(left - 6.0),
            d1(y(v) + 4.0),
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
            r#"<text class="{class}" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            d1(x(i)),
            d1(h - bottom + 18.0),
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
                Some(v) => run.push(format!("{},{}", d1(x(i)), d1(y(*v)))),
                None => flush(&mut run, &mut s),
            }
        }
        flush(&mut run, &mut s);
        for (i, value) in line.values.iter().enumerate() {
            if let Some(v) = value {
                let _ = write!(
                    s,
                    r#"<circle class="{class}" cx="{}" cy="{}" r="4"><title>{} on {}: {}</title></circle>"#,
                    d1(x(i)),
                    d1(y(*v)),
                    esc(&versions[i]),
                    esc(&line.label),
                    fmt_value(*v)
                );
            }
        }
        let ly = 8 + 14 * k;
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{}" y="{ly}" width="10" height="10"/><text class="legend" x="{}" y="{}">{}</text>"#,
            d1(w - right - 220.0),
            d1(w - right - 206.0),
            ly + 9,
            esc(&line.label)
        );
    }
    s.push_str("</svg>");
    s
}

/// Numbers on axes and in tooltips: up to four significant decimals, no trailing zeros.
pub fn fmt_value(v: f64) -> String {
    let s = Fixed(v, 4).to_string();
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
    let mx = d1((x1 + x2) / 2.0);
    let (x1, y1, x2, y2) = (d1(x1), d1(y1), d1(x2), d1(y2));
    let _ = write!(
        s,
        r#"<path class="edge" d="M{x1} {y1} C{mx} {y1} {mx} {y2} {x2} {y2}"/>"#
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
        r#"<rect class="node {}" x="{}" y="{}" width="{w}" height="{h}" rx="6"/><text class="node-label" x="{}" y="{}">{}</text><text class="node-detail" x="{}" y="{}">{}</text><title>{} {}</title>"#,
        n.class,
        d1(x),
        d1(y),
        d1(x + 10.0),
        d1(y + 18.0),
        esc(&shorten(&n.label, 28)),
        d1(x + 10.0),
        d1(y + 35.0),
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

    #[test]
    fn fixed_writes_what_the_formatter_writes() {
        let mut values = vec![
            0.0,
            -0.0,
            0.25,
            -0.25,
            0.05,
            0.15,
            2.45,
            -2.45,
            1e-300,
            -1e-300,
            0.04,
            -0.04,
            0.00005,
            0.00015,
            123.456789,
            1e8,
            1e9,
            1e12,
            -3e15,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1 + 0.2,
        ];
        // Chart coordinates, metric values, and every tie and near-tie of one and four
        // decimals in a range.
        for i in -20_000..20_000 {
            let i = i as f64;
            values.extend([
                i / 7.0,
                i / 20.0,
                i / 20_000.0,
                i * 0.05,
                i * 0.00005,
                i / 1024.0,
            ]);
            values.extend([i / 20.0 + 1e-12, i / 20_000.0 - 1e-15, 600.0 * i / 39_999.0]);
        }
        for v in values {
            assert_eq!(d1(v).to_string(), format!("{v:.1}"), "{v:e}");
            assert_eq!(Fixed(v, 4).to_string(), format!("{v:.4}"), "{v:e}");
        }
    }
}
