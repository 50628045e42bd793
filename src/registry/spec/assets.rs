//! Model, environment and data specs: their fields, and the local paths they ship (a model
//! folder, a conda file, a Docker build context, a data file, folder or MLTable).

use super::{
    ASSET, DATA, DATA_TYPES, Decoder, ENVIRONMENT, Expect, LocalPath, MODEL, MODEL_TYPES, fields,
};
use crate::diag::{Diagnostic, codes};
use crate::registry::decode::{Cx, Fields, Located};
use crate::registry::names::is_remote;
use crate::registry::yaml::{Node, Value};

impl Decoder<'_, '_> {
    pub(super) fn model(&mut self, cx: &mut Cx, f: &Fields) {
        f.allow(cx, &fields(&[ASSET, MODEL]));
        self.common(cx, f);
        let ty = f.choice(cx, "type", MODEL_TYPES);
        if let Some(path) = f.req_text(cx, "path")
            && !is_remote(&path.value)
        {
            let expect = if ty.is_some_and(|t| t.value == "mlflow_model") {
                Expect::MlflowModel
            } else {
                Expect::Any
            };
            self.local(path, "path", expect);
        }
        f.text(cx, "stage");
        f.any_map(cx, "flavors");
        f.any_map(cx, "system_metadata");
        let template = |cx: &mut Cx, node: &Node, what: &str| {
            if let Some(t) = cx.map(node, what) {
                t.allow(cx, &["asset_id"]);
                t.text(cx, "asset_id");
            }
        };
        if let Some(n) = f.get("default_deployment_template") {
            template(cx, n, "`default_deployment_template`");
        }
        if let Some(n) = f.get("allowed_deployment_templates") {
            match n.as_seq() {
                Some(items) => items
                    .iter()
                    .for_each(|i| template(cx, i, "a deployment template")),
                None => cx.wrong_type(n, "`allowed_deployment_templates`", "a list"),
            }
        }
        f.text(cx, "job_name");
        if let Some(n) = f.get("utc_time_created") {
            crate::registry::manifest::date_text(cx, n, "`utc_time_created`");
        }
    }

    /// An environment spec, or an inline environment of a component (same fields).
    pub(super) fn environment(&mut self, cx: &mut Cx, f: &Fields) {
        // Azure's loader singles these out too: a conda file pasted into the spec.
        for (key, knode, _) in f.keys() {
            if key == "channels" || key == "dependencies" {
                cx.error_help(
                    codes::UNKNOWN_FIELD,
                    knode,
                    format!("`{key}` belongs in a conda file, not in an environment spec"),
                    "move the conda environment to its own file and point `conda_file:` at it",
                );
            }
        }
        f.allow(
            cx,
            &fields(&[ASSET, ENVIRONMENT, &["channels", "dependencies"]]),
        );
        self.common(cx, f);
        let image = f.text(cx, "image");
        let build = f.map(cx, "build");
        match (&image, &build) {
            (Some(i), Some(_)) => cx.report(Diagnostic::new(
                codes::CONFLICTING_FIELDS,
                Some(i.loc.clone()),
                "an environment has either `image` or `build`, not both",
            )),
            (None, None) => cx.error_help(
                codes::MISSING_FIELD,
                f.node,
                "an environment needs `image` or `build`",
                "name a Docker image (`image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04`) or a build context (`build: {path: docker}`)",
            ),
            _ => {}
        }
        if let Some(b) = build {
            b.allow(cx, &["path", "dockerfile_path"]);
            let dockerfile = b.text(cx, "dockerfile_path").map(|t| t.value);
            if let Some(path) = b.req_text(cx, "path")
                && !is_remote(&path.value)
            {
                self.spec.paths.push(LocalPath {
                    path,
                    field: "build.path".into(),
                    expect: Expect::BuildContext,
                    dockerfile: Some(dockerfile.unwrap_or_else(|| "Dockerfile".into())),
                    under: None,
                });
            }
        }
        if let Some(n) = f.get("conda_file") {
            match &n.value {
                Value::Str(s) if !is_remote(s) => self.local(
                    Located::new(s.clone(), cx.loc(n)),
                    "conda_file",
                    Expect::CondaFile,
                ),
                Value::Str(_) => {}
                Value::Map(_) => {
                    cx.map(n, "`conda_file`");
                }
                _ => cx.wrong_type(
                    n,
                    "`conda_file`",
                    "a file path or an inline conda environment",
                ),
            }
        }
        if let Some(ic) = f.map(cx, "inference_config") {
            ic.allow(cx, &["liveness_route", "scoring_route", "readiness_route"]);
            for key in ["liveness_route", "scoring_route", "readiness_route"] {
                if let Some(r) = ic
                    .require(cx, key)
                    .and_then(|n| cx.map(n, &format!("`{key}`")))
                {
                    r.allow(cx, &["port", "path"]);
                    if let Some(p) = r.require(cx, "port").and_then(|n| cx.integer(n, "`port`"))
                        && !(1..=65535).contains(&p)
                    {
                        cx.error(
                            codes::INVALID_VALUE,
                            r.get("port").unwrap_or(r.node),
                            format!("port {p} is not between 1 and 65535"),
                        );
                    }
                    r.req_text(cx, "path");
                }
            }
        }
        if let Some(n) = f.get("os_type")
            && let Some(t) = cx.text(n, "`os_type`")
            && !["linux", "windows"].contains(&t.value.to_ascii_lowercase().as_str())
        {
            cx.error(
                codes::BAD_ENUM,
                n,
                format!("`os_type` `{}` is not one of: linux, windows", t.value),
            );
        }
    }

    pub(super) fn data(&mut self, cx: &mut Cx, f: &Fields) {
        f.allow(cx, &fields(&[ASSET, DATA]));
        self.common(cx, f);
        let ty = f
            .choice(cx, "type", DATA_TYPES)
            .map(|t| t.value)
            .unwrap_or_else(|| "uri_folder".into());
        let import = f.map(cx, "source");
        if let Some(s) = &import {
            match s
                .choice(cx, "type", &["database", "file_system"])
                .map(|t| t.value)
                .as_deref()
            {
                Some("database") => {
                    s.allow(cx, &["type", "query", "connection"]);
                    s.req_text(cx, "query");
                }
                Some(_) => {
                    s.allow(cx, &["type", "path", "connection"]);
                    s.req_text(cx, "path");
                }
                None => {
                    s.require(cx, "type");
                }
            }
            if let Some(c) = s.req_text(cx, "connection")
                && !c.value.starts_with("azureml:")
            {
                cx.report(
                    Diagnostic::new(
                        codes::INVALID_VALUE,
                        Some(c.loc),
                        "`connection` must name a workspace connection",
                    )
                    .help(format!("write `azureml:{}`", c.value)),
                );
            }
        }
        if let Some(path) = f.req_text(cx, "path")
            && import.is_none()
            && !is_remote(&path.value)
        {
            let expect = match ty.as_str() {
                "uri_file" => Expect::File,
                "mltable" => Expect::MlTable,
                _ => Expect::Dir,
            };
            self.local(path, "path", expect);
        }
    }
}
