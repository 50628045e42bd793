//! Component specs (command, spark, parallel; pipelines in `pipeline`): the field sets of each
//! type, declared inputs and outputs, code and environment fields.

use super::bindings;
use super::{
    AUTOML_TASKS, COMMAND, COMPONENT, COMPONENT_TYPES, Decoder, Expect, Interface, LocalPath,
    MODES, PARALLEL, PARAM_TYPES, PIPELINE, PORT_TYPES, Port, SPARK, SPARK_CONF, fields,
};
use crate::diag::{Diagnostic, codes};
use crate::registry::decode::{Cx, Fields};
use crate::registry::names::is_remote;
use crate::registry::yaml::{Node, Value};

impl Decoder<'_, '_> {
    pub(super) fn component(&mut self, cx: &mut Cx, f: &Fields) {
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
            "automl" => &["task"],
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
            // An AutoML component is its task; the job that uses it says the rest.
            "automl" => {
                if let Some(n) = f.require(cx, "task") {
                    cx.choice(n, "`task`", AUTOML_TASKS);
                }
            }
            _ => self.command(cx, f, &interface),
        }
        self.spec.interface = Some(interface);
    }

    pub(super) fn interface(&mut self, cx: &mut Cx, f: &Fields, ctype: &str) -> Interface {
        let mut iface = Interface::default();
        // Azure ML tells ports apart ignoring case: `data` and `Data` would be one port.
        let mut folded: std::collections::BTreeMap<String, String> = Default::default();
        let mut distinct = |cx: &mut Cx, name: &str, knode: &Node| {
            if let Some(first) = folded.insert(name.to_lowercase(), name.to_string()) {
                cx.error(
                    codes::INVALID_NAME,
                    knode,
                    format!("`{name}` differs from `{first}` only by case, and Azure ML tells ports apart ignoring case"),
                );
            }
        };
        if let Some(inputs) = f.map(cx, "inputs") {
            for (name, knode, v) in inputs.keys() {
                bindings::port_name(cx, name, knode);
                distinct(cx, name, knode);
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
                bindings::port_name(cx, name, knode);
                distinct(cx, name, knode);
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
    pub(super) fn input(&mut self, cx: &mut Cx, name: &str, v: &Node) -> bool {
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
            bindings::parameter(cx, name, &ty.value, &i);
        } else {
            i.allow(cx, &["type", "optional", "default", "description", "mode"]);
            i.choice(cx, "mode", MODES);
            if let Some(d) = i.get("default") {
                cx.text(d, &format!("the default of input `{name}`"));
            }
        }
        optional
    }

    pub(super) fn command(&mut self, cx: &mut Cx, f: &Fields, iface: &Interface) {
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
            bindings::bindings(cx, &command, iface, "command");
        }
    }

    pub(super) fn spark(&mut self, cx: &mut Cx, f: &Fields, iface: &Interface) {
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
                if let (Some(code), false) = (&code, is_remote(&file.value)) {
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
            bindings::bindings(cx, &args, iface, "args");
        }
    }

    pub(super) fn parallel(&mut self, cx: &mut Cx, f: &Fields) {
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
}
