//! Pipeline components: their jobs, how each names its component (a file, inline, a reference),
//! the ports jobs bind, and every `${{parent...}}` expression.

use super::bindings;
use super::{Decoder, Expect, Interface, JobComponent, Port, PortUse, Spec};
use crate::diag::{Diagnostic, codes};
use crate::registry::decode::{Cx, Fields, Located, Text};
use crate::registry::kind::Kind;
use crate::registry::names::is_remote;
use crate::registry::reference;
use crate::registry::yaml::{Node, Value};

impl Decoder<'_, '_> {
    pub(super) fn pipeline(&mut self, cx: &mut Cx, f: &Fields, iface: &Interface) {
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
            bindings::port_name(cx, job, knode);
            let Some(node) = cx.map(v, &format!("job `{job}`")) else {
                continue;
            };
            self.job(cx, job, &node, iface, &names);
        }
    }

    pub(super) fn job(
        &mut self,
        cx: &mut Cx,
        job: &str,
        node: &Fields,
        parent: &Interface,
        jobs: &[&str],
    ) {
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
            "condition",
            "true_block",
            "false_block",
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
            // Control flow: runs `true_block` or `false_block` (jobs) on `condition` (an output).
            "if_else",
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
                } else if !["automl", "sweep", "import", "data_transfer", "if_else"]
                    .contains(&ty.as_str())
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
    pub(super) fn input_path(&mut self, cx: &mut Cx, p: Text, job: &str, port: &str) {
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
        } else if !is_remote(v) {
            self.local(p, &format!("jobs.{job}.inputs.{port}.path"), Expect::Any);
        }
    }

    pub(super) fn inline_command_job(&mut self, cx: &mut Cx, job: &str, node: &Fields) {
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
            bindings::bindings_lenient(cx, &command, &own, &format!("jobs.{job}.command"));
        }
    }

    /// Every `${{parent...}}` in a job: pipeline inputs and outputs must be declared, and other
    /// jobs must exist (their ports are checked once their components are known).
    pub(super) fn parent_bindings(
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
            let at = cx.loc(s);
            bindings::report_unclosed(cx, text, &at, &format!("jobs.{this_job}"));
            for (expr, _) in bindings::expressions(text) {
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
                    // A whole job, as an if_else node's `true_block` or `false_block` names it.
                    ["parent", "jobs", j] if jobs.contains(j) => None,
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
                        .and_then(|w| crate::registry::decode::nearest(w, &declared))
                    {
                        d = d.help(format!("did you mean `{near}`?"));
                    }
                    cx.report(d);
                }
            }
        }
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

/// Check what a pipeline says of `job`'s ports against the job's component interface.
pub fn port_uses(spec: &Spec, job: &str, iface: &Interface) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for u in spec.port_uses.iter().filter(|u| u.job == job) {
        let (ports, code, what) = if u.output {
            (&iface.outputs, codes::UNDECLARED_OUTPUT, "output")
        } else {
            (&iface.inputs, codes::UNDECLARED_INPUT, "input")
        };
        // Azure ML tells ports apart ignoring case (a component may not declare `data` and
        // `Data`), so a job that sets `raw_Data` sets `raw_data`.
        let declared = ports.contains_key(&u.port.value)
            || ports.keys().any(|p| p.eq_ignore_ascii_case(&u.port.value));
        if !declared {
            let names: Vec<&str> = ports.keys().map(String::as_str).collect();
            let mut d = Diagnostic::new(
                code,
                Some(u.port.loc.clone()),
                format!(
                    "the component of job `{job}` has no {what} `{}`",
                    u.port.value
                ),
            );
            d = match crate::registry::decode::nearest(&u.port.value, &names) {
                Some(n) => d.help(format!("did you mean `{n}`?")),
                None => d.help(format!(
                    "its {what}s: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )),
            };
            out.push(d);
        }
    }
    out
}
