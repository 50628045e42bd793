//! Azure ML CLI v2 asset specs (`spec.yaml`): model, environment, data (and data import), and
//! command, pipeline, spark and parallel components, with the field sets of `azure-ai-ml`.
//!
//! Decoding one spec checks its fields, its `${{inputs.x}}` / `${{outputs.y}}` /
//! `${{parent...}}` bindings and reference syntax, and lists what needs the file system or
//! other manifests: local paths, references, and nested component files of pipeline jobs.

use crate::decode::{Cx, Fields, Located, Text};
use crate::diag::{Diagnostic, Loc, codes};
use crate::manifest::Kind;
use crate::reference::{self, Scope};
use crate::validate;
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// What a local path must be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    File,
    Dir,
    Any,
    /// A folder holding an `MLTable` file (data of type `mltable`).
    MlTable,
    /// A Docker build context: a folder holding the named Dockerfile.
    BuildContext,
    /// A conda environment file: YAML, read and checked.
    CondaFile,
    /// A component spec referenced by a pipeline job: read and checked recursively.
    Component,
}

#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
pub struct SpecRef {
    pub text: Text,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub struct Port {
    pub optional: bool,
    pub loc: Loc,
}

/// A component's inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Interface {
    pub inputs: BTreeMap<String, Port>,
    pub outputs: BTreeMap<String, Port>,
}

/// How a pipeline job names its component.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
pub struct PortUse {
    pub job: String,
    pub output: bool,
    pub port: Text,
}

#[derive(Clone, Debug)]
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
pub const COMPONENT_TYPES: &[&str] = &["command", "pipeline", "spark", "parallel"];
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
        f.tags(cx, "tags");
        f.any_map(cx, "properties");
        if let Some(ip) = f.map(cx, "intellectual_property") {
            ip.allow(cx, &["publisher", "protection_level"]);
            ip.req_text(cx, "publisher");
            ip.choice(cx, "protection_level", &["all", "none"]);
        }
        f.text(cx, "datastore");
    }

    fn model(&mut self, cx: &mut Cx, f: &Fields) {
        f.allow(cx, &fields(&[ASSET, MODEL]));
        self.common(cx, f);
        let ty = f.choice(cx, "type", MODEL_TYPES);
        if let Some(path) = f.req_text(cx, "path")
            && !validate::is_remote(&path.value)
        {
            let expect = if ty.is_some_and(|t| t.value == "mlflow_model") {
                Expect::Dir
            } else {
                Expect::Any
            };
            self.local(path, "path", expect);
        }
        f.text(cx, "stage");
        f.any_map(cx, "flavors");
        f.text(cx, "job_name");
        if let Some(n) = f.get("utc_time_created") {
            crate::manifest::date_text(cx, n, "`utc_time_created`");
        }
    }

    /// An environment spec, or an inline environment of a component (same fields).
    fn environment(&mut self, cx: &mut Cx, f: &Fields) {
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
                && !validate::is_remote(&path.value)
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
                Value::Str(s) if !validate::is_remote(s) => self.local(
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

    fn data(&mut self, cx: &mut Cx, f: &Fields) {
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
            && !validate::is_remote(&path.value)
        {
            let expect = match ty.as_str() {
                "uri_file" => Expect::File,
                "mltable" => Expect::MlTable,
                _ => Expect::Dir,
            };
            self.local(path, "path", expect);
        }
    }

    fn component(&mut self, cx: &mut Cx, f: &Fields) {
        let ctype = match f.get("type") {
            Some(n) => cx
                .choice(n, "component `type`", COMPONENT_TYPES)
                .map(|t| t.value),
            None => Some("command".to_string()),
        };
        let Some(ctype) = ctype else {
            f.text(cx, "description");
            return;
        };
        let extra: &[&str] = match ctype.as_str() {
            "pipeline" => PIPELINE,
            "spark" => SPARK,
            "parallel" => PARALLEL,
            _ => COMMAND,
        };
        let spark_conf: &[&str] = if ctype == "spark" { SPARK_CONF } else { &[] };
        f.allow(cx, &fields(&[COMPONENT, extra, spark_conf]));
        f.text(cx, "display_name");
        f.text(cx, "description");
        f.tags(cx, "tags");
        f.any_map(cx, "properties");
        f.boolean(cx, "is_deterministic");
        let interface = self.interface(cx, f, &ctype);
        match ctype.as_str() {
            "pipeline" => self.pipeline(cx, f, &interface),
            "spark" => self.spark(cx, f, &interface),
            "parallel" => self.parallel(cx, f),
            _ => self.command(cx, f, &interface),
        }
        self.spec.interface = Some(interface);
    }

    fn interface(&mut self, cx: &mut Cx, f: &Fields, ctype: &str) -> Interface {
        let mut iface = Interface::default();
        if let Some(inputs) = f.map(cx, "inputs") {
            for (name, knode, v) in inputs.keys() {
                validate::port_name(cx, name, knode);
                let optional = self.input(cx, name, v);
                iface.inputs.insert(
                    name.to_string(),
                    Port {
                        optional,
                        loc: cx.loc(knode),
                    },
                );
            }
        }
        if let Some(outputs) = f.map(cx, "outputs") {
            let primitive_ok = ctype == "command" || ctype == "pipeline";
            for (name, knode, v) in outputs.keys() {
                validate::port_name(cx, name, knode);
                let Some(o) = cx.map(v, &format!("output `{name}`")) else {
                    continue;
                };
                let mut allowed = vec!["type", "description", "mode", "early_available"];
                let types: Vec<&str> = if primitive_ok {
                    allowed.push("is_control");
                    PORT_TYPES.iter().chain(PARAM_TYPES).copied().collect()
                } else {
                    PORT_TYPES.to_vec()
                };
                o.allow(cx, &allowed);
                o.require(cx, "type")
                    .and_then(|n| cx.choice(n, &format!("the type of output `{name}`"), &types));
                o.text(cx, "description");
                o.choice(cx, "mode", MODES);
                o.boolean(cx, "is_control");
                o.boolean(cx, "early_available");
                iface.outputs.insert(
                    name.to_string(),
                    Port {
                        optional: false,
                        loc: cx.loc(knode),
                    },
                );
            }
        }
        iface
    }

    /// One declared input; returns whether it is optional.
    fn input(&mut self, cx: &mut Cx, name: &str, v: &Node) -> bool {
        let Some(i) = cx.map(v, &format!("input `{name}`")) else {
            return false;
        };
        let types: Vec<&str> = PORT_TYPES.iter().chain(PARAM_TYPES).copied().collect();
        let ty = i
            .require(cx, "type")
            .and_then(|n| cx.choice(n, &format!("the type of input `{name}`"), &types));
        let optional = i.boolean(cx, "optional").unwrap_or(false);
        i.text(cx, "description");
        let Some(ty) = ty else { return optional };
        if PARAM_TYPES.contains(&ty.value.as_str()) {
            i.allow(
                cx,
                &[
                    "type",
                    "optional",
                    "default",
                    "description",
                    "min",
                    "max",
                    "enum",
                ],
            );
            validate::parameter(cx, name, &ty.value, &i);
        } else {
            i.allow(cx, &["type", "optional", "default", "description", "mode"]);
            i.choice(cx, "mode", MODES);
            if let Some(d) = i.get("default") {
                cx.text(d, &format!("the default of input `{name}`"));
            }
        }
        optional
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
            || validate::is_remote(&code.value)
            || code.value.starts_with("git+")
        {
            return None;
        }
        let value = code.value.clone();
        self.local(code, field, Expect::Any);
        Some(value)
    }

    fn command(&mut self, cx: &mut Cx, f: &Fields, iface: &Interface) {
        let command = f.req_text(cx, "command");
        self.code_field(cx, f, "code");
        if let Some(n) = f.require(cx, "environment") {
            self.environment_field(cx, n, "environment")
        }
        if let Some(r) = f.map(cx, "resources") {
            r.allow_leniently(
                cx,
                &[
                    "instance_count",
                    "instance_type",
                    "properties",
                    "docker_args",
                    "shm_size",
                    "locations",
                    "max_instance_count",
                ],
            );
            if let Some(n) = r.get("instance_count")
                && let Some(c) = cx.integer(n, "`instance_count`")
                && c < 1
            {
                cx.error(
                    codes::INVALID_VALUE,
                    n,
                    "`instance_count` must be at least 1",
                );
            }
        }
        if let Some(d) = f.map(cx, "distribution") {
            let allowed: &[&str] = match d.require(cx, "type").and_then(|n| {
                cx.choice(
                    n,
                    "distribution `type`",
                    &["mpi", "pytorch", "tensorflow", "ray"],
                )
            }) {
                Some(t) if t.value == "tensorflow" => {
                    &["type", "worker_count", "parameter_server_count"]
                }
                Some(t) if t.value == "ray" => &[
                    "type",
                    "port",
                    "address",
                    "include_dashboard",
                    "dashboard_port",
                    "head_node_additional_args",
                    "worker_node_additional_args",
                ],
                Some(_) => &["type", "process_count_per_instance"],
                None => &["type"],
            };
            d.allow_leniently(cx, allowed);
        }
        f.texts(cx, "additional_includes");
        if let Some(env) = f.map(cx, "environment_variables") {
            for (key, _, v) in env.keys() {
                if v.as_str().is_none() {
                    cx.wrong_type(v, &format!("environment variable `{key}`"), "a string");
                }
            }
        }
        if let Some(command) = command {
            validate::bindings(cx, &command, iface, "command");
        }
    }

    fn spark(&mut self, cx: &mut Cx, f: &Fields, iface: &Interface) {
        let code = self.code_field(cx, f, "code");
        if let Some(e) = f.require(cx, "entry").and_then(|n| cx.map(n, "`entry`")) {
            e.allow(cx, &["file", "class_name"]);
            match (e.text(cx, "file"), e.text(cx, "class_name")) {
                (Some(_), Some(c)) => cx.report(Diagnostic::new(
                    codes::CONFLICTING_FIELDS,
                    Some(c.loc),
                    "`entry` has either `file` or `class_name`, not both",
                )),
                (Some(file), None) => {
                    if let Some(code) = code.clone() {
                        self.spec.paths.push(LocalPath {
                            path: file,
                            field: "entry.file".into(),
                            expect: Expect::File,
                            dockerfile: None,
                            under: Some(code),
                        });
                    }
                }
                (None, Some(_)) => {}
                (None, None) => cx.error(
                    codes::MISSING_FIELD,
                    e.node,
                    "`entry` needs `file` or `class_name`",
                ),
            }
        }
        for key in ["py_files", "jars", "files", "archives"] {
            for file in f.texts(cx, key) {
                if let (Some(code), false) = (&code, validate::is_remote(&file.value)) {
                    let expect = Expect::Any;
                    self.spec.paths.push(LocalPath {
                        path: file,
                        field: key.into(),
                        expect,
                        dockerfile: None,
                        under: Some(code.clone()),
                    });
                }
            }
        }
        if let Some(conf) = f.map(cx, "conf") {
            for (key, knode, v) in conf.keys() {
                if !key.starts_with("spark.") {
                    cx.error_help(
                        codes::INVALID_VALUE,
                        knode,
                        format!("`conf` key `{key}` is not a Spark setting"),
                        "Spark settings start with `spark.`",
                    );
                }
                if matches!(v.value, Value::Seq(_) | Value::Map(_)) {
                    cx.wrong_type(v, &format!("`conf` `{key}`"), "a single value");
                }
            }
        }
        if let Some(n) = f.get("environment") {
            self.environment_field(cx, n, "environment");
        }
        f.any_map(cx, "resources");
        if let Some(args) = f.text(cx, "args") {
            validate::bindings(cx, &args, iface, "args");
        }
    }

    fn parallel(&mut self, cx: &mut Cx, f: &Fields) {
        f.any_map(cx, "resources");
        f.any_map(cx, "retry_settings");
        // Azure takes both `10` and `"10kb"`.
        if let Some(n) = f.get("mini_batch_size")
            && !matches!(n.value, Value::Str(_) | Value::Int(_))
        {
            cx.wrong_type(
                n,
                "`mini_batch_size`",
                "a number or a size such as \"10kb\"",
            );
        }
        f.text(cx, "input_data");
        f.choice(
            cx,
            "logging_level",
            &["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        );
        if let Some(t) = f.require(cx, "task").and_then(|n| cx.map(n, "`task`")) {
            t.allow(
                cx,
                &[
                    "type",
                    "code",
                    "entry_script",
                    "program_arguments",
                    "model",
                    "append_row_to",
                    "environment",
                ],
            );
            t.choice(cx, "type", &["run_function", "function"]);
            self.code_field(cx, &t, "task.code");
            t.req_text(cx, "entry_script");
            t.text(cx, "program_arguments");
            t.text(cx, "append_row_to");
            if let Some(n) = t.require(cx, "environment") {
                self.environment_field(cx, n, "task.environment");
            }
        }
    }

    fn pipeline(&mut self, cx: &mut Cx, f: &Fields, iface: &Interface) {
        let Some(jobs) = f.map(cx, "jobs") else {
            if !f.has("jobs") {
                cx.error(
                    codes::MISSING_FIELD,
                    f.node,
                    "a pipeline component needs `jobs`",
                );
            }
            return;
        };
        let names: Vec<&str> = jobs.keys().map(|(k, _, _)| k).collect();
        for (job, knode, v) in jobs.keys() {
            validate::port_name(cx, job, knode);
            let Some(node) = cx.map(v, &format!("job `{job}`")) else {
                continue;
            };
            self.job(cx, job, &node, iface, &names);
        }
    }

    fn job(&mut self, cx: &mut Cx, job: &str, node: &Fields, parent: &Interface, jobs: &[&str]) {
        const NODE: &[&str] = &[
            "type",
            "component",
            "inputs",
            "outputs",
            "compute",
            "resources",
            "distribution",
            "environment_variables",
            "limits",
            "environment",
            "code",
            "command",
            "identity",
            "services",
            "queue_settings",
            "display_name",
            "description",
            "tags",
            "properties",
            "experiment_name",
            "name",
            "comment",
            "settings",
            "trial",
            "sampling_algorithm",
            "search_space",
            "objective",
            "early_termination",
            "mini_batch_size",
            "task",
            "retry_settings",
            "logging_level",
            "max_concurrency_per_instance",
            "error_threshold",
            "mini_batch_error_threshold",
            "input_data",
            "partition_keys",
            "entry",
            "py_files",
            "jars",
            "files",
            "archives",
            "conf",
            "args",
            "source",
            "output",
            "driver_cores",
            "driver_memory",
            "executor_cores",
            "executor_memory",
            "executor_instances",
            "dynamic_allocation_enabled",
            "dynamic_allocation_min_executors",
            "dynamic_allocation_max_executors",
        ];
        node.allow_leniently(cx, NODE);
        const NODE_TYPES: &[&str] = &[
            "command",
            "pipeline",
            "spark",
            "parallel",
            "sweep",
            "automl",
            "import",
            "data_transfer",
        ];
        let ty = node
            .choice(cx, "type", NODE_TYPES)
            .map(|t| t.value)
            .unwrap_or_else(|| "command".into());
        // A sweep job names its component as `trial`, in the same forms.
        let field = if ty == "sweep" { "trial" } else { "component" };
        let component = match node.get(field) {
            Some(
                n @ Node {
                    value: Value::Map(_),
                    ..
                },
            ) => match cx.map(n, &format!("the component of job `{job}`")) {
                Some(cf) => {
                    let mut inner = Spec::new(Kind::Component);
                    let mut d = Decoder {
                        scope: self.scope,
                        spec: &mut inner,
                    };
                    d.component(cx, &cf);
                    let iface = inner.interface.take().unwrap_or_default();
                    self.spec.paths.extend(inner.paths);
                    self.spec.refs.extend(inner.refs);
                    JobComponent::Inline(iface)
                }
                None => JobComponent::None,
            },
            Some(n) => match cx.text(n, &format!("the component of job `{job}`")) {
                Some(t)
                    if t.value.starts_with("azureml:")
                        || reference::looks_like_reference(&t.value) =>
                {
                    self.reference(
                        cx,
                        t.clone(),
                        Kind::Component,
                        &format!("jobs.{job}.{field}"),
                    );
                    JobComponent::Reference(t)
                }
                Some(mut t) => {
                    // `file:./train.yml` is Azure's explicit spelling of `./train.yml`.
                    if let Some(rest) = t.value.strip_prefix("file:") {
                        t.value = rest.to_string();
                    }
                    self.local(t.clone(), &format!("jobs.{job}.{field}"), Expect::Component);
                    JobComponent::File(t)
                }
                None => JobComponent::None,
            },
            None => {
                if ty == "command" && node.has("command") {
                    self.inline_command_job(cx, job, node);
                } else if ty != "automl" && ty != "sweep" && ty != "import" && ty != "data_transfer"
                {
                    cx.error(codes::MISSING_FIELD, node.node, format!("job `{job}` needs a `component` (or, for a command job, `command` and `environment`)"));
                }
                JobComponent::None
            }
        };
        for (dir, output) in [("inputs", false), ("outputs", true)] {
            let Some(ports) = node.map(cx, dir) else {
                continue;
            };
            for (port, knode, v) in ports.keys() {
                self.spec.port_uses.push(PortUse {
                    job: job.to_string(),
                    output,
                    port: Located::new(port.to_string(), cx.loc(knode)),
                });
                if !output
                    && v.as_map().is_some()
                    && let Some(pf) = cx.map(v, &format!("input `{port}` of job `{job}`"))
                {
                    pf.allow_leniently(
                        cx,
                        &[
                            "type",
                            "path",
                            "mode",
                            "default",
                            "optional",
                            "description",
                            "datastore",
                        ],
                    );
                    if let Some(p) = pf.text(cx, "path") {
                        self.input_path(cx, p, job, port);
                    }
                }
            }
        }
        self.parent_bindings(cx, node.node, parent, jobs, job);
        self.spec.jobs.insert(job.to_string(), component);
    }

    /// A literal data input of a pipeline job: a local path ships with the version.
    fn input_path(&mut self, cx: &mut Cx, p: Text, job: &str, port: &str) {
        let v = p.value.as_str();
        if v.starts_with("${{") {
            return;
        }
        if v.starts_with("azureml:") || reference::looks_like_reference(v) {
            let kind = if v.contains("/models/") || v.starts_with("models/") {
                Kind::Model
            } else {
                Kind::Data
            };
            if !v.starts_with("azureml:") || v.starts_with("azureml://registries/") {
                self.reference(cx, p, kind, &format!("jobs.{job}.inputs.{port}.path"));
            }
        } else if !validate::is_remote(v) {
            self.local(p, &format!("jobs.{job}.inputs.{port}.path"), Expect::Any);
        }
    }

    fn inline_command_job(&mut self, cx: &mut Cx, job: &str, node: &Fields) {
        self.code_field(cx, node, &format!("jobs.{job}.code"));
        match node.get("environment") {
            Some(n) => self.environment_field(cx, n, &format!("jobs.{job}.environment")),
            None => cx.error(
                codes::MISSING_FIELD,
                node.node,
                format!("command job `{job}` needs an `environment`"),
            ),
        }
        let mut own = Interface::default();
        for (dir, output) in [("inputs", false), ("outputs", true)] {
            if let Some(ports) = node.get(dir).and_then(Node::as_map) {
                for (k, _) in ports {
                    if let Some(name) = k.as_str() {
                        let port = Port {
                            optional: false,
                            loc: cx.loc(k),
                        };
                        if output {
                            own.outputs.insert(name.into(), port)
                        } else {
                            own.inputs.insert(name.into(), port)
                        };
                    }
                }
            }
        }
        if let Some(command) = node.text(cx, "command") {
            validate::bindings_lenient(cx, &command, &own, &format!("jobs.{job}.command"));
        }
    }

    /// Every `${{parent...}}` in a job: pipeline inputs and outputs must be declared, and other
    /// jobs must exist (their ports are checked once their components are known).
    fn parent_bindings(
        &mut self,
        cx: &mut Cx,
        node: &Node,
        parent: &Interface,
        jobs: &[&str],
        this_job: &str,
    ) {
        let mut strings = Vec::new();
        collect_strings(node, &mut strings);
        for s in strings {
            let Value::Str(text) = &s.value else { continue };
            for (expr, _) in validate::expressions(text) {
                let parts: Vec<&str> = expr.split('.').collect();
                if parts.first() != Some(&"parent") {
                    continue;
                }
                let loc = cx.loc(s);
                let problem = match parts.as_slice() {
                    ["parent", "inputs", name, ..] if !parent.inputs.contains_key(*name) => {
                        Some(format!("`${{{{{expr}}}}}` names no input of this pipeline"))
                    }
                    ["parent", "outputs", name, ..] if !parent.outputs.contains_key(*name) => Some(
                        format!("`${{{{{expr}}}}}` names no output of this pipeline"),
                    ),
                    ["parent", "inputs" | "outputs", _, ..] => None,
                    ["parent", "jobs", j, "outputs" | "inputs", port, ..] => {
                        if !jobs.contains(j) {
                            Some(format!("`${{{{{expr}}}}}` names no job of this pipeline"))
                        } else if *j == this_job {
                            Some(format!(
                                "`${{{{{expr}}}}}`: a job cannot consume its own ports"
                            ))
                        } else {
                            self.spec.port_uses.push(PortUse {
                                job: j.to_string(),
                                output: parts[3] == "outputs",
                                port: Located::new(port.to_string(), loc.clone()),
                            });
                            None
                        }
                    }
                    _ => Some(format!(
                        "`${{{{{expr}}}}}` is not a pipeline binding (parent.inputs.<name>, parent.outputs.<name>, parent.jobs.<job>.outputs.<name>)"
                    )),
                };
                if let Some(message) = problem {
                    let mut d = Diagnostic::new(codes::BAD_PIPELINE_BINDING, Some(loc), message);
                    let declared: Vec<&str> = match parts.get(1) {
                        Some(&"inputs") => parent.inputs.keys().map(String::as_str).collect(),
                        Some(&"outputs") => parent.outputs.keys().map(String::as_str).collect(),
                        _ => jobs.to_vec(),
                    };
                    if let Some(near) = parts
                        .get(2)
                        .and_then(|w| crate::decode::nearest(w, &declared))
                    {
                        d = d.help(format!("did you mean `{near}`?"));
                    }
                    cx.report(d);
                }
            }
        }
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

fn collect_strings<'n>(node: &'n Node, out: &mut Vec<&'n Node>) {
    match &node.value {
        Value::Str(_) => out.push(node),
        Value::Seq(items) => items.iter().for_each(|n| collect_strings(n, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}
