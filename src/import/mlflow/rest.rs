//! A tracking server over the MLflow REST API 2.0 (`mlflow server`, or Azure ML's MLflow
//! endpoint): GET requests only, with the bearer token when there is one, no redirects, a
//! timeout on every stall, answers and downloads bounded in size, and every path a listing
//! names checked to stay inside the folder listed. Credentials in the URL stay out of what is
//! shown and written.

use super::arg::{Selector, clean_path, escape, is_id, join};
use super::run::{Dataset, Input, Listed, LoggedModel, Point, Registered, Run};
use super::source::{MAX_DEPTH, MAX_FILES, MAX_POINTS, registered_names, save};
use super::{Failure, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// JSON answers of a tracking server are refused past this size.
const MAX_JSON: u64 = 32 << 20;

pub(super) struct Rest {
    /// The server's URL without a trailing `/`.
    base: String,
    /// Where people open a run: the base without credentials.
    shown: String,
    token: Option<String>,
    agent: ureq::Agent,
}

pub(super) struct Entry {
    pub(super) path: String,
    pub(super) is_dir: bool,
    pub(super) size: Option<u64>,
}

impl Rest {
    pub(super) fn new(uri: &str, token: Option<String>) -> Result<Rest> {
        let base = uri.trim_end_matches('/').to_string();
        if base.chars().any(char::is_control) {
            return Err(Failure::Usage(
                "the tracking URI holds control characters".into(),
            ));
        }
        // `https://user:secret@host/...` keeps its secret out of lineage.yaml.
        let shown = match base.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let host = authority.rsplit('@').next().unwrap_or(authority);
                if path.is_empty() {
                    format!("{scheme}://{host}")
                } else {
                    format!("{scheme}://{host}/{path}")
                }
            }
            None => base.clone(),
        };
        let stall = Some(Duration::from_secs(60));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(stall)
            .timeout_connect(stall)
            .timeout_per_read(stall)
            .timeout_per_write(stall)
            .build()
            .into();
        Ok(Rest {
            base,
            shown,
            token: token.filter(|t| !t.is_empty()),
            agent,
        })
    }

    fn send(&self, rel: &str) -> Result<(String, ureq::http::Response<ureq::Body>)> {
        let url = format!("{}/{rel}", self.base);
        let mut request = self.agent.get(url.as_str());
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        let response = request
            .call()
            .map_err(|e| Failure::Usage(format!("{}: {e}", self.shown_url(rel))))?;
        Ok((url, response))
    }

    fn shown_url(&self, rel: &str) -> String {
        escape(&format!("{}/{rel}", self.shown))
    }

    /// GET a JSON document; a 404 is not found, other failures say what the server said.
    fn json(&self, rel: &str) -> Result<serde_json::Value> {
        let (_, response) = self.send(rel)?;
        let status = response.status().as_u16();
        let body = {
            let mut out = Vec::new();
            response
                .into_body()
                .into_reader()
                .take(MAX_JSON + 1)
                .read_to_end(&mut out)
                .map_err(|e| Failure::Usage(format!("{}: {e}", self.shown_url(rel))))?;
            if out.len() as u64 > MAX_JSON {
                return Err(Failure::Usage(format!(
                    "{}: an answer larger than {MAX_JSON} bytes",
                    self.shown_url(rel)
                )));
            }
            out
        };
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let said = || {
            parsed
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(serde_json::Value::as_str)
                .map(|m| format!(": {}", escape(&m.chars().take(300).collect::<String>())))
                .unwrap_or_default()
        };
        let missing = parsed
            .as_ref()
            .and_then(|v| v.get("error_code"))
            .and_then(serde_json::Value::as_str)
            == Some("RESOURCE_DOES_NOT_EXIST");
        match status {
            200 => parsed.ok_or_else(|| {
                Failure::Usage(format!("{}: the answer is not JSON", self.shown_url(rel)))
            }),
            _ if missing => Err(Failure::NotFound(format!(
                "{}: not found{}",
                self.shown_url(rel),
                said()
            ))),
            404 => Err(Failure::NotFound(format!(
                "{}: not found{}",
                self.shown_url(rel),
                said()
            ))),
            401 | 403 => Err(Failure::Usage(format!(
                "{}: HTTP {status}{} (is MLFLOW_TRACKING_TOKEN set, and allowed to read this?)",
                self.shown_url(rel),
                said()
            ))),
            _ => Err(Failure::Usage(format!(
                "{}: HTTP {status}{}",
                self.shown_url(rel),
                said()
            ))),
        }
    }

    pub(super) fn run(&self, id: &str) -> Result<Run> {
        if !is_id(id) {
            return Err(Failure::Usage(format!("`{}` is not a run id", escape(id))));
        }
        let doc = self.json(&format!("api/2.0/mlflow/runs/get?run_id={}", enc(id)))?;
        let run = doc
            .get("run")
            .ok_or_else(|| Failure::Usage(format!("run {id}: the answer has no `run`")))?;
        let info = run.get("info").cloned().unwrap_or_default();
        let data = run.get("data").cloned().unwrap_or_default();
        let s = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let pairs = |v: &serde_json::Value, k: &str| -> Vec<(String, String)> {
            v.get(k)
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| Some((s(p, "key")?, p.get("value")?.as_str()?.to_string())))
                .collect()
        };
        let mut params = pairs(&data, "params");
        params.sort();
        let tags: BTreeMap<String, String> = pairs(&data, "tags").into_iter().collect();
        let experiment_id = s(&info, "experiment_id").unwrap_or_default();
        let experiment = if is_id(&experiment_id) {
            self.json(&format!(
                "api/2.0/mlflow/experiments/get?experiment_id={}",
                enc(&experiment_id)
            ))
            .ok()
            .and_then(|e| s(e.get("experiment")?, "name"))
        } else {
            None
        };
        let mut inputs = Vec::new();
        for i in run
            .get("inputs")
            .and_then(|i| i.get("dataset_inputs"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(d) = i.get("dataset") else { continue };
            let context = pairs(i, "tags")
                .into_iter()
                .find(|(k, _)| k == "mlflow.data.context")
                .map(|(_, v)| v);
            inputs.push(Input {
                dataset: Dataset {
                    name: s(d, "name").unwrap_or_default(),
                    digest: s(d, "digest").unwrap_or_default(),
                    source_type: s(d, "source_type"),
                    source: s(d, "source"),
                    profile: s(d, "profile"),
                },
                context,
            });
        }
        let outputs: Vec<String> = run
            .get("outputs")
            .and_then(|o| o.get("model_outputs"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| s(o, "model_id"))
            .filter(|m| is_id(m))
            .collect();
        let keys: BTreeSet<String> = data
            .get("metrics")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| s(m, "key"))
            .collect();
        let mut history = Vec::new();
        for key in &keys {
            history.extend(self.history(id, key)?);
        }
        let url = is_id(&experiment_id)
            .then(|| format!("{}/#/experiments/{experiment_id}/runs/{id}", self.shown));
        Ok(Run {
            id: id.to_string(),
            name: s(&info, "run_name")
                .or_else(|| tags.get("mlflow.runName").cloned())
                .unwrap_or_else(|| id.to_string()),
            experiment_id,
            experiment,
            status: s(&info, "status"),
            user: s(&info, "user_id").or_else(|| tags.get("mlflow.user").cloned()),
            start_ms: info.get("start_time").and_then(json_i64),
            end_ms: info.get("end_time").and_then(json_i64),
            params,
            tags,
            inputs,
            history,
            outputs,
            url,
        })
    }

    /// Every point of one metric of a run, page by page.
    fn history(&self, run: &str, key: &str) -> Result<Vec<Point>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut rel = format!(
                "api/2.0/mlflow/metrics/get-history?run_id={}&metric_key={}&max_results=25000",
                enc(run),
                enc(key)
            );
            if let Some(t) = &token {
                rel.push_str(&format!("&page_token={}", enc(t)));
            }
            let doc = self.json(&rel)?;
            for m in doc
                .get("metrics")
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if let Some(p) = json_point(m, key) {
                    out.push(p);
                }
            }
            token = doc
                .get("next_page_token")
                .and_then(serde_json::Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() || out.len() >= MAX_POINTS {
                break;
            }
        }
        out.truncate(MAX_POINTS);
        Ok(out)
    }

    pub(super) fn logged_model(&self, id: &str) -> Result<LoggedModel> {
        if !is_id(id) {
            return Err(Failure::Usage(format!(
                "`{}` is not a model id",
                escape(id)
            )));
        }
        let doc = self.json(&format!("api/2.0/mlflow/logged-models/{}", enc(id)))?;
        let model = doc.get("model").cloned().unwrap_or_default();
        let info = model.get("info").cloned().unwrap_or_default();
        let tag = info
            .get("tags")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .find(|t| {
                t.get("key").and_then(serde_json::Value::as_str) == Some("mlflow.modelVersions")
            })
            .and_then(|t| t.get("value")?.as_str().map(str::to_string));
        let metrics = model
            .get("data")
            .and_then(|d| d.get("metrics"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                let key = m.get("key")?.as_str()?;
                json_point(m, key)
            })
            .take(MAX_POINTS)
            .collect();
        Ok(LoggedModel {
            id: id.to_string(),
            name: info
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("model")
                .to_string(),
            artifact_uri: info
                .get("artifact_uri")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            dir: None,
            metrics,
            registered: registered_names(tag.as_ref()),
        })
    }

    pub(super) fn registered(&self, name: &str, selector: &Selector) -> Result<Registered> {
        let model = self.json(&format!(
            "api/2.0/mlflow/registered-models/get?name={}",
            enc(name)
        ))?;
        let model = model.get("registered_model").cloned().unwrap_or_default();
        let doc = match selector {
            Selector::Version(v) => self.json(&format!(
                "api/2.0/mlflow/model-versions/get?name={}&version={}",
                enc(name),
                enc(v)
            ))?,
            Selector::Alias(a) => self.json(&format!(
                "api/2.0/mlflow/registered-models/alias?name={}&alias={}",
                enc(name),
                enc(a)
            ))?,
        };
        let v = doc.get("model_version").cloned().unwrap_or_default();
        let s = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let tags = |v: &serde_json::Value| -> BTreeMap<String, String> {
            v.get("tags")
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| Some((s(t, "key")?, t.get("value")?.as_str()?.to_string())))
                .collect()
        };
        let version = s(&v, "version").ok_or_else(|| {
            Failure::Usage(format!(
                "model version of `{}`: the answer has no version",
                escape(name)
            ))
        })?;
        Ok(Registered {
            name: name.to_string(),
            description: s(&v, "description"),
            model_description: s(&model, "description"),
            run_id: s(&v, "run_id").filter(|r| is_id(r)),
            source: s(&v, "source"),
            model_id: s(&v, "model_id").filter(|m| is_id(m)),
            tags: tags(&v),
            model_tags: tags(&model),
            aliases: v
                .get("aliases")
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            version,
        })
    }

    /// One folder of a listing answer, each path checked to stay inside `dir`.
    fn entries(&self, doc: &serde_json::Value, dir: &str) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for f in doc
            .get("files")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(path) = f.get("path").and_then(serde_json::Value::as_str) else {
                continue;
            };
            let path = if dir.is_empty() || path.starts_with(&format!("{dir}/")) {
                path.to_string()
            } else {
                join(dir, path)
            };
            let path = clean_path(&path)?;
            if !dir.is_empty() && !path.starts_with(&format!("{dir}/")) {
                return Err(Failure::Usage(format!(
                    "the listing of `{}` names `{}`, outside it",
                    escape(dir),
                    escape(&path)
                )));
            }
            out.push(Entry {
                path,
                is_dir: f.get("is_dir").and_then(serde_json::Value::as_bool) == Some(true),
                size: f
                    .get("file_size")
                    .and_then(json_i64)
                    .and_then(|n| u64::try_from(n).ok()),
            });
        }
        Ok(out)
    }

    pub(super) fn list_run(&self, run: &str, dir: &str) -> Result<Vec<Entry>> {
        let mut rel = format!("api/2.0/mlflow/artifacts/list?run_id={}", enc(run));
        if !dir.is_empty() {
            rel.push_str(&format!("&path={}", enc(dir)));
        }
        let doc = self.json(&rel)?;
        self.entries(&doc, dir)
    }

    pub(super) fn list_logged(&self, model: &str, dir: &str) -> Result<Vec<Entry>> {
        let mut rel = format!(
            "api/2.0/mlflow/logged-models/{}/artifacts/directories",
            enc(model)
        );
        if !dir.is_empty() {
            rel.push_str(&format!("?artifact_directory_path={}", enc(dir)));
        }
        let doc = self.json(&rel)?;
        self.entries(&doc, dir)
    }

    /// Every file under the folder `top` of a tree that `list` lists a folder of (`""` the
    /// root), bounded in depth and count; paths relative to the root, as listings give them.
    pub(super) fn tree(
        &self,
        top: &str,
        list: impl Fn(&str) -> Result<Vec<Entry>>,
    ) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut folders = vec![(top.to_string(), 0usize)];
        while let Some((dir, depth)) = folders.pop() {
            for e in list(&dir)? {
                if e.is_dir {
                    if depth + 1 > MAX_DEPTH {
                        return Err(Failure::Usage(format!(
                            "`{}`: folders nested deeper than {MAX_DEPTH}",
                            escape(&e.path)
                        )));
                    }
                    folders.push((e.path, depth + 1));
                } else {
                    out.push((e.path, e.size));
                }
                if out.len() + folders.len() > MAX_FILES {
                    return Err(Failure::Usage(format!("more than {MAX_FILES} files")));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// A file of a logged model: through the artifact proxy when the server serves artifacts
    /// (`mlflow-artifacts:` URIs, `mlflow server`'s default), else from the server's own read
    /// of its artifact store.
    pub(super) fn fetch_logged(
        &self,
        m: &LoggedModel,
        rel: &str,
        to: &Path,
        limit: u64,
    ) -> Result<u64> {
        let rel = clean_path(rel)?;
        let proxied = m.artifact_uri.as_deref().and_then(|u| {
            let rest = u.strip_prefix("mlflow-artifacts:")?;
            // `mlflow-artifacts://host:port/path` or `mlflow-artifacts:/path`.
            let path = match rest.strip_prefix("//") {
                Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
                None => rest.trim_start_matches('/'),
            };
            Some(path.trim_end_matches('/').to_string())
        });
        let url = match proxied {
            Some(root) => {
                let root = clean_path(&root)?;
                format!(
                    "api/2.0/mlflow-artifacts/artifacts/{}",
                    enc_path(&join(&root, &rel))
                )
            }
            None => format!(
                "ajax-api/2.0/mlflow/logged-models/{}/artifacts/files?artifact_file_path={}",
                enc(&m.id),
                enc(&rel)
            ),
        };
        self.download(&url, to, limit)
    }

    pub(super) fn fetch_run(&self, run: &str, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        let rel = clean_path(rel)?;
        self.download(
            &format!("get-artifact?path={}&run_uuid={}", enc(&rel), enc(run)),
            to,
            limit,
        )
    }

    fn download(&self, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        let (_, response) = self.send(rel)?;
        match response.status().as_u16() {
            200 => save(
                response.into_body().into_reader(),
                to,
                limit,
                &self.shown_url(rel),
            ),
            404 => Err(Failure::NotFound(format!(
                "{}: not found",
                self.shown_url(rel)
            ))),
            s => Err(Failure::Usage(format!("{}: HTTP {s}", self.shown_url(rel)))),
        }
    }
}

fn json_i64(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

fn json_point(m: &serde_json::Value, key: &str) -> Option<Point> {
    let value = match m.get("value")? {
        serde_json::Value::Number(n) => n.as_f64()?,
        // JSON has no NaN or infinities: MLflow sends them as strings.
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let s = |k: &str| {
        m.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Some(Point {
        key: key.to_string(),
        value,
        timestamp: m.get("timestamp").and_then(json_i64).unwrap_or(0),
        step: m.get("step").and_then(json_i64).unwrap_or(0),
        dataset: s("dataset_name").zip(s("dataset_digest")),
        run: s("run_id"),
    })
}

/// Percent-encoding of a query value (everything but RFC 3986's unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encoding of a URL path, `/` kept.
fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}
