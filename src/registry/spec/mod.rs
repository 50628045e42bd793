//! Azure ML CLI v2 asset specs (`spec.yaml`): model, environment, data (and data import), and
//! command, pipeline, spark and parallel components, with the field sets of `azure-ai-ml`.
//!
//! Decoding one spec checks its fields, its `${{inputs.x}}` / `${{outputs.y}}` /
//! `${{parent...}}` bindings and reference syntax, and lists what needs the file system or
//! other manifests: local paths, references, and nested component files of pipeline jobs.

mod assets;
mod bindings;
mod component;
pub mod pipeline;

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::decode::{Cx, Fields, Located, Text};
use crate::registry::kind::Kind;
use crate::registry::names::is_remote;
use crate::registry::reference::{self, Scope};
use crate::registry::yaml::{Node, Value};
use std::collections::BTreeMap;

/// What a local path must be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expect {
    File,
    Dir,
    Any,
    /// A folder holding an `MLTable` file (data of type `mltable`).
    MlTable,
    /// A folder holding an `MLmodel` file (models of type `mlflow_model`).
    MlflowModel,
    /// A Docker build context: a folder holding the named Dockerfile.
    BuildContext,
    /// A conda environment file: YAML, read and checked.
    CondaFile,
    /// A component spec referenced by a pipeline job: read and checked recursively.
    Component,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LocalPath {
    pub path: Text,
    /// The field it came from, for messages (`code`, `conda_file`, `jobs.train.component`).
    pub field: String,
    pub expect: Expect,
    /// For `Expect::BuildContext`: the Dockerfile's path inside the context.
    pub dockerfile: Option<String>,
    /// Paths relative to another field's folder (spark `entry.file` under `code`).
    pub under: Option<String>,
}

/// A reference found in a spec, and the kind it must point at.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SpecRef {
    pub text: Text,
    pub kind: Kind,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Port {
    pub optional: bool,
    pub loc: Loc,
}

/// A component's inputs and outputs.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Interface {
    pub inputs: BTreeMap<String, Port>,
    pub outputs: BTreeMap<String, Port>,
}

/// How a pipeline job names its component.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum JobComponent {
    /// A component file next to the spec; its interface is known once it is read.
    File(Text),
    /// Defined inline: interface known now.
    Inline(Interface),
    /// A registered component: checked against this registry's copy when it is local.
    Reference(Text),
    /// An inline command job (no component), or nothing usable.
    None,
}

/// A port of a pipeline job that something names: the job's own `inputs:`/`outputs:` keys and
/// every `${{parent.jobs.<job>.outputs.<port>}}`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PortUse {
    pub job: String,
    pub output: bool,
    pub port: Text,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub kind: Kind,
    pub name: Option<Text>,
    pub version: Option<Text>,
    pub paths: Vec<LocalPath>,
    pub refs: Vec<SpecRef>,
    pub interface: Option<Interface>,
    pub jobs: BTreeMap<String, JobComponent>,
    pub port_uses: Vec<PortUse>,
}

impl Spec {
    fn new(kind: Kind) -> Spec {
        Spec {
            kind,
            name: None,
            version: None,
            paths: Vec::new(),
            refs: Vec::new(),
            interface: None,
            jobs: BTreeMap::new(),
            port_uses: Vec::new(),
        }
    }
}

const ASSET: &[&str] = &[
    "$schema",
    "name",
    "version",
    "description",
    "tags",
    "properties",
];
const MODEL: &[&str] = &[
    "type",
    "path",
    "stage",
    "flavors",
    "job_name",
    "utc_time_created",
    "datastore",
    "intellectual_property",
    "system_metadata",
    "default_deployment_template",
    "allowed_deployment_templates",
];
const ENVIRONMENT: &[&str] = &[
    "image",
    "conda_file",
    "build",
    "inference_config",
    "os_type",
    "datastore",
    "intellectual_property",
];
const DATA: &[&str] = &[
    "type",
    "path",
    "datastore",
    "source",
    "intellectual_property",
];
const COMPONENT: &[&str] = &[
    "$schema",
    "name",
    "version",
    "display_name",
    "description",
    "tags",
    "properties",
    "is_deterministic",
    "inputs",
    "outputs",
    "type",
    "intellectual_property",
];
const COMMAND: &[&str] = &[
    "command",
    "code",
    "environment",
    "resources",
    "distribution",
    "additional_includes",
    "environment_variables",
];
const SPARK_CONF: &[&str] = &[
    "driver_cores",
    "driver_memory",
    "executor_cores",
    "executor_memory",
    "executor_instances",
    "dynamic_allocation_enabled",
    "dynamic_allocation_min_executors",
    "dynamic_allocation_max_executors",
];
const SPARK: &[&str] = &[
    "code",
    "entry",
    "py_files",
    "jars",
    "files",
    "archives",
    "conf",
    "args",
    "environment",
    "resources",
    "additional_includes",
];
const PARALLEL: &[&str] = &[
    "resources",
    "logging_level",
    "max_concurrency_per_instance",
    "error_threshold",
    "mini_batch_error_threshold",
    "retry_settings",
    "task",
    "mini_batch_size",
    "partition_keys",
    "input_data",
];
const PIPELINE: &[&str] = &["jobs"];

pub const MODEL_TYPES: &[&str] = &["custom_model", "mlflow_model", "triton_model"];
pub const DATA_TYPES: &[&str] = &["uri_file", "uri_folder", "mltable"];
pub const COMPONENT_TYPES: &[&str] = &["command", "pipeline", "spark", "parallel", "automl"];
/// The tasks of an AutoML component (azure-ai-ml's `TaskType`, in snake case).
const AUTOML_TASKS: &[&str] = &[
    "classification",
    "regression",
    "forecasting",
    "image_classification",
    "image_classification_multilabel",
    "image_object_detection",
    "image_instance_segmentation",
    "text_classification",
    "text_classification_multilabel",
    "text_ner",
];
const PORT_TYPES: &[&str] = &[
    "uri_file",
    "uri_folder",
    "mltable",
    "mlflow_model",
    "custom_model",
    "triton_model",
    "path",
];
const PARAM_TYPES: &[&str] = &["integer", "number", "boolean", "string"];
const MODES: &[&str] = &[
    "mount",
    "ro_mount",
    "rw_mount",
    "download",
    "upload",
    "direct",
    "eval_mount",
    "eval_download",
    "link",
];

/// `$schema` URLs Azure publishes, by file name, and the kind each one means.
pub fn kind_of_schema(url: &str) -> Option<(Kind, Option<&'static str>)> {
    let file = url.trim().rsplit('/').next()?.to_ascii_lowercase();
    let stem = file.trim_end_matches(".json").trim_end_matches(".schema");
    Some(match stem {
        "model" => (Kind::Model, None),
        "environment" => (Kind::Environment, None),
        "data" | "dataimport" => (Kind::Data, None),
        "commandcomponent" => (Kind::Component, Some("command")),
        "pipelinecomponent" => (Kind::Component, Some("pipeline")),
        "sparkcomponent" => (Kind::Component, Some("spark")),
        "parallelcomponent" => (Kind::Component, Some("parallel")),
        "automlcomponent" => (Kind::Component, Some("automl")),
        _ => return None,
    })
}

/// Schema file names for kinds mlreg does not handle (so the error can say what the file is).
pub fn unsupported_schema(url: &str) -> Option<String> {
    let file = url.trim().rsplit('/').next()?;
    let stem = file.trim_end_matches(".json").trim_end_matches(".schema");
    (!stem.is_empty()).then(|| stem.to_string())
}

/// Decode a spec of `kind`. `scope` names this registry and its stages, for references.
pub fn decode(cx: &mut Cx, root: &Node, kind: Kind, scope: Scope) -> Option<Spec> {
    let f = cx.map(root, "the spec")?;
    let mut spec = Spec::new(kind);
    let mut d = Decoder {
        scope,
        spec: &mut spec,
    };
    match kind {
        Kind::Model => d.model(cx, &f),
        Kind::Environment => d.environment(cx, &f),
        Kind::Data => d.data(cx, &f),
        Kind::Component => d.component(cx, &f),
    }
    if let Some(n) = f.get("name") {
        spec.name = cx.stringish(n, "`name`");
    }
    if let Some(n) = f.get("version") {
        spec.version = cx.stringish(n, "`version`");
    }
    if let Some(s) = f.text(cx, "$schema") {
        check_schema(cx, &s, kind, f.get("type"));
    }
    Some(spec)
}

/// A component file included by a pipeline job (`component: ./train.yml`): Azure loads it
/// as an anonymous component, so `name` and `version` are optional there.
pub fn decode_anonymous_component(cx: &mut Cx, root: &Node, scope: Scope) -> Option<Spec> {
    let f = cx.map(root, "the component file")?;
    let mut spec = Spec::new(Kind::Component);
    Decoder {
        scope,
        spec: &mut spec,
    }
    .component(cx, &f);
    if let Some(s) = f.text(cx, "$schema") {
        check_schema(cx, &s, Kind::Component, f.get("type"));
    }
    Some(spec)
}

fn check_schema(cx: &mut Cx, schema: &Text, kind: Kind, ty: Option<&Node>) {
    match kind_of_schema(&schema.value) {
        Some((k, _)) if k != kind => cx.report(Diagnostic::new(
            codes::SCHEMA_MISMATCH,
            Some(schema.loc.clone()),
            format!(
                "`$schema` is a {} schema, but this is a {} spec",
                k.singular(),
                kind.singular()
            ),
        )),
        Some((_, Some(ctype))) => {
            let declared = ty.and_then(Node::as_str).unwrap_or("command");
            if declared != ctype && COMPONENT_TYPES.contains(&declared) {
                cx.report(Diagnostic::new(
                    codes::SCHEMA_MISMATCH,
                    Some(schema.loc.clone()),
                    format!("`$schema` is for {ctype} components, but `type` is `{declared}`"),
                ));
            }
        }
        Some(_) => {}
        None => cx.report(
            Diagnostic::new(
                codes::SCHEMA_MISMATCH,
                Some(schema.loc.clone()),
                format!(
                    "`$schema` `{}` is not an Azure ML {} schema",
                    schema.value,
                    kind.singular()
                ),
            )
            .help(format!(
                "use https://azuremlschemas.azureedge.net/latest/{}.schema.json",
                schema_stem(kind)
            )),
        ),
    }
}

fn schema_stem(kind: Kind) -> &'static str {
    match kind {
        Kind::Model => "model",
        Kind::Environment => "environment",
        Kind::Data => "data",
        Kind::Component => "commandComponent",
    }
}

struct Decoder<'s, 'a> {
    scope: Scope<'a>,
    spec: &'s mut Spec,
}

fn fields(parts: &[&[&'static str]]) -> Vec<&'static str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

impl Decoder<'_, '_> {
    fn local(&mut self, path: Text, field: &str, expect: Expect) {
        self.spec.paths.push(LocalPath {
            path,
            field: field.to_string(),
            expect,
            dockerfile: None,
            under: None,
        });
    }

    fn common(&mut self, cx: &mut Cx, f: &Fields) {
        f.text(cx, "description");
        f.loose_tags(cx, "tags");
        f.any_map(cx, "properties");
        if let Some(ip) = f.map(cx, "intellectual_property") {
            ip.allow(cx, &["publisher", "protection_level"]);
            ip.req_text(cx, "publisher");
            ip.choice(cx, "protection_level", &["all", "none"]);
        }
        f.text(cx, "datastore");
    }

    fn environment_field(&mut self, cx: &mut Cx, n: &Node, field: &str) {
        match &n.value {
            Value::Map(_) => {
                if let Some(env) = cx.map(n, &format!("the inline `{field}`")) {
                    self.environment(cx, &env);
                }
            }
            Value::Str(s) => self.reference(
                cx,
                Located::new(s.clone(), cx.loc(n)),
                Kind::Environment,
                field,
            ),
            _ => cx.wrong_type(
                n,
                &format!("`{field}`"),
                "a reference or an inline environment",
            ),
        }
    }

    fn reference(&mut self, cx: &mut Cx, text: Text, kind: Kind, field: &str) {
        match reference::parse(&text.value, self.scope) {
            Ok(reference::Reference::Local { kind: k, .. }) if k != kind => cx.report(Diagnostic::new(
                codes::WRONG_KIND,
                Some(text.loc.clone()),
                format!("`{field}` must name {}, but `{}` is a {}", article(kind), text.value, k.singular()),
            )),
            Ok(_) => self.spec.refs.push(SpecRef { text, kind }),
            Err(why) => cx.report(
                Diagnostic::new(codes::BAD_REFERENCE, Some(text.loc.clone()), format!("`{field}`: {why}")).help(format!(
                    "write `{}/<name>@<version>` or `azureml://registries/<registry>/{}/<name>/versions/<version>`",
                    kind.folder(),
                    kind.folder()
                )),
            ),
        }
    }

    fn code_field(&mut self, cx: &mut Cx, f: &Fields, field: &str) -> Option<String> {
        let code = f.text(cx, "code")?;
        if code.value.starts_with("azureml:")
            || is_remote(&code.value)
            || code.value.starts_with("git+")
        {
            return None;
        }
        let value = code.value.clone();
        self.local(code, field, Expect::Any);
        Some(value)
    }
}

fn article(kind: Kind) -> &'static str {
    match kind {
        Kind::Model => "a model",
        Kind::Component => "a component",
        Kind::Environment => "an environment",
        Kind::Data => "a data asset",
    }
}
