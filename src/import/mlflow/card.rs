//! `README.md`, the model card: the run's description, then what the format has no field for:
//! the run and who ran it, the logged or registered model, the flavors, the signature, and
//! every dataset with its digest, context, source and size. Text from MLflow is escaped, so
//! that Markdown shows it as written.

use super::lineage::Lineage;
use super::run::{Model, Registered, Run};
use super::scalar::y;
use super::store::get;
use crate::registry::yaml::Node;

#[allow(clippy::too_many_arguments)]
pub(super) fn card(
    run: &Run,
    model: &Model,
    registered: Option<&Registered>,
    lineage: &Lineage,
    mlmodel: &Node,
    name: &str,
    version: &str,
    has_history: bool,
) -> String {
    let flavors: Vec<String> = get(mlmodel, "flavors")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.scalar_text())
        .collect();
    let library = flavors
        .iter()
        .find(|f| *f != "python_function")
        .cloned()
        .unwrap_or_else(|| "mlflow".to_string());
    let mut refs: Vec<&str> = Vec::new();
    for (reference, _) in &lineage.data {
        if !refs.contains(&reference.as_str()) {
            refs.push(reference);
        }
    }
    let mut out = String::from("---\n");
    out.push_str(&format!("library_name: {}\ntags: [mlflow]\n", y(&library)));
    if !refs.is_empty() {
        let list: Vec<String> = refs.iter().map(|r| y(r)).collect();
        out.push_str(&format!("datasets: [{}]\n", list.join(", ")));
    }
    out.push_str("---\n\n");
    out.push_str(&format!("# {}, version {}\n\n", md(name), md(version)));
    match run
        .tags
        .get("mlflow.note.content")
        .filter(|d| !d.trim().is_empty())
    {
        Some(d) => {
            out.push_str(d.trim_end());
            out.push_str("\n\n");
        }
        None => out.push_str("The MLflow run has no description.\n\n"),
    }
    out.push_str("## From MLflow\n\n");
    out.push_str(&format!(
        "- **Run:** {} (`{}`){}{}\n",
        md(&run.name),
        md(&run.id),
        run.experiment
            .as_ref()
            .map(|e| format!(", experiment {}", md(e)))
            .unwrap_or_default(),
        run.user
            .as_ref()
            .map(|u| format!(", by {}", md(u)))
            .unwrap_or_default()
    ));
    match model {
        Model::Logged(m) => out.push_str(&format!(
            "- **Logged model:** {} (`{}`)\n",
            md(&m.name),
            md(&m.id)
        )),
        Model::RunFolder { path, .. } => out.push_str(&format!(
            "- **Model:** the run's artifact folder `{}`\n",
            md(path)
        )),
    }
    if let Some(r) = registered {
        let aliases = if r.aliases.is_empty() {
            String::new()
        } else {
            format!(
                ", aliases {}",
                r.aliases
                    .iter()
                    .map(|a| md(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!(
            "- **Registered model:** {} version {}{aliases}\n",
            md(&r.name),
            md(&r.version)
        ));
    }
    if let Some(ep) = run.tags.get("mlflow.project.entryPoint") {
        out.push_str(&format!("- **Project entry point:** {}\n", md(ep)));
    }
    if let Some(v) = get(mlmodel, "mlflow_version").and_then(Node::scalar_text) {
        out.push_str(&format!(
            "- **Flavors:** {} (MLflow {})\n",
            flavors.iter().map(|f| md(f)).collect::<Vec<_>>().join(", "),
            md(&v)
        ));
    }
    if has_history {
        out.push_str("- **Metric histories:** every logged point is in `metrics.csv`.\n");
    }
    out.push('\n');
    if let Some(sig) = get(mlmodel, "signature") {
        out.push_str("### Signature\n\n");
        for (part, title) in [
            ("inputs", "Inputs"),
            ("outputs", "Outputs"),
            ("params", "Parameters"),
        ] {
            let Some(specs) = get(sig, part)
                .and_then(Node::as_str)
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            else {
                continue;
            };
            let Some(list) = specs.as_array().filter(|l| !l.is_empty()) else {
                continue;
            };
            out.push_str(&format!(
                "{title}:\n\n| name | type | required |\n|---|---|---|\n"
            ));
            for s in list {
                let field = |k: &str| {
                    s.get(k)
                        .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                };
                let ty = match s.get("tensor-spec") {
                    Some(t) => format!(
                        "tensor of {} {}",
                        t.get("dtype").and_then(|d| d.as_str()).unwrap_or("?"),
                        t.get("shape").map(|x| x.to_string()).unwrap_or_default()
                    ),
                    None => field("type").unwrap_or_default(),
                };
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    md(&field("name").unwrap_or_else(|| "—".into())),
                    md(&ty),
                    md(&field("required").unwrap_or_else(|| "—".into()))
                ));
            }
            out.push('\n');
        }
    }
    if !lineage.datasets.is_empty() {
        out.push_str("### Datasets\n\n| MLflow dataset | digest | context | source | size | in this registry |\n|---|---|---|---|---|---|\n");
        for (d, reference, context) in &lineage.datasets {
            let source = match (&d.source_type, &d.source) {
                (Some(t), Some(s)) => format!("{t}: {}", source_text(s)),
                (Some(t), None) => t.clone(),
                _ => "—".into(),
            };
            let size = d
                .profile
                .as_deref()
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                .and_then(|p| p.get("num_rows").and_then(serde_json::Value::as_u64))
                .map_or_else(|| "—".to_string(), |n| format!("{n} rows"));
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                md(&d.name),
                md(&d.digest),
                md(context.as_deref().unwrap_or("—")),
                md(&source),
                size,
                reference.as_deref().map_or_else(|| "—".to_string(), md)
            ));
        }
        out.push('\n');
    }
    out
}

/// A dataset source as one short line: the URI of a remote source, else the JSON.
fn source_text(source: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(source).ok();
    let uri = parsed.as_ref().and_then(|v| {
        ["uri", "url", "path", "table_name"]
            .iter()
            .find_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
            .map(str::to_string)
    });
    let text = uri.unwrap_or_else(|| match &parsed {
        // Code sources carry the run's own tags: the commit is in lineage.yaml already.
        Some(v) if v.get("tags").is_some() => "the training code".to_string(),
        _ => source.to_string(),
    });
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(199).collect::<String>())
    } else {
        text
    }
}

/// Text in Markdown, read as text: punctuation that Markdown or HTML would act on escaped,
/// lines joined.
fn md(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
