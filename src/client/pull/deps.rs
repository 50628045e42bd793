//! What a version needs, for `pull --with-deps`. [`needs`] splits the references a version
//! pins into its dependencies (what its spec names in this registry, and a model's lineage
//! environment) and history; [`with_dependencies`] walks the dependencies transitively, holds
//! each version found to the digest its parent pinned, and orders them dependencies first,
//! refusing a cycle. Nothing here touches the destination: [`super::pull_all`] does.

use crate::client::Failure;
use crate::client::resolve::Resolved;
use crate::publish::index::Pinned;
use crate::registry::kind::Kind;
use std::collections::{BTreeMap, BTreeSet};

/// What a version needs in this registry, split out of its pinned `references` by the rule of
/// the module `commands::pull`: what its spec names, and a model's lineage environment.
#[derive(Debug, Default)]
pub struct Needs {
    /// The deployment dependencies: pulled, and created before the version.
    pub deps: Vec<Pinned>,
    /// The other references: what the lineage names as history (its data, base models, the
    /// component that trained it). Not pulled.
    pub history: Vec<Pinned>,
    /// What looks wrong but does not stop the pull.
    pub notes: Vec<String>,
}

/// `id@version`.
pub fn label(id: &str, version: &str) -> String {
    format!("{id}@{version}")
}

/// Split the references of `resolved` into what it needs and what is history: a reference is
/// a dependency when the normalized spec names it (as
/// `azureml://registries/<registry>/<kind>/<name>/versions/<version>`, the form the build pins
/// every reference of a spec to), or, for a model, when it is the lineage's `environment`.
/// An `id@version` pinned twice with two digests, or a lineage environment whose digest is
/// not the one `references` pins, is refused: the index was altered.
pub fn needs(resolved: &Resolved) -> Result<Needs, String> {
    let v = &resolved.version_doc;
    let what = label(&resolved.id, &resolved.version);
    let mut pins: BTreeMap<(&str, &str), &Pinned> = BTreeMap::new();
    for r in &v.references {
        let previous = *pins.entry((&r.id, &r.version)).or_insert(r);
        if previous.digest != r.digest {
            return Err(format!(
                "{what} pins {} with two digests, {} and {}: the index was altered",
                label(&r.id, &r.version),
                previous.digest,
                r.digest
            ));
        }
    }
    let prefix = format!("azureml://registries/{}/", resolved.registry);
    let mut named: BTreeSet<(String, String)> = BTreeSet::new();
    strings(&v.spec.value(), &mut |s| {
        if let Some(pin) = s.strip_prefix(&prefix).and_then(azure_pin) {
            named.insert(pin);
        }
    });
    // A model ships files that run in an environment: the one its lineage names.
    let environment = if resolved.id.starts_with("models/") {
        v.lineage
            .as_ref()
            .and_then(|l| l.get("environment"))
            .and_then(|e| pinned_value(&e))
    } else {
        None
    };
    let mut out = Needs::default();
    for ((id, version), r) in &pins {
        let spec_names = named.contains(&(id.to_string(), version.to_string()));
        let runs_in = environment
            .as_ref()
            .is_some_and(|e| e.id == *id && e.version == *version);
        if let Some(e) = environment.as_ref().filter(|_| runs_in)
            && e.digest != r.digest
        {
            return Err(format!(
                "{what}: its lineage pins the environment {} with digest {}, its references with {}: the index was altered",
                label(id, version),
                e.digest,
                r.digest
            ));
        }
        if spec_names || runs_in {
            out.deps.push((*r).clone());
        } else {
            out.history.push((*r).clone());
        }
    }
    for (id, version) in &named {
        if !pins.contains_key(&(id.as_str(), version.as_str())) {
            out.notes.push(format!(
                "the spec of {what} names {}, which its references do not pin: it is not pulled",
                label(id, version)
            ));
        }
    }
    // The lineage is part of the version's digest: what it pins counts even when
    // `references` leaves it out.
    if let Some(e) = environment
        && !pins.contains_key(&(e.id.as_str(), e.version.as_str()))
    {
        out.deps.push(e);
    }
    Ok(out)
}

/// Every string in a JSON value.
fn strings(v: &serde_json::Value, f: &mut dyn FnMut(&str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, f)),
        serde_json::Value::Object(m) => m.values().for_each(|i| strings(i, f)),
        _ => {}
    }
}

/// `components/x/versions/2` → (`components/x`, `2`).
fn azure_pin(rest: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [kind, name, "versions", version]
            if Kind::from_folder(kind).is_some() && !name.is_empty() && !version.is_empty() =>
        {
            Some((format!("{kind}/{name}"), version.to_string()))
        }
        _ => None,
    }
}

/// A lineage's pinned reference (`{ref, id, version, digest}`); `None` for an external one.
fn pinned_value(v: &serde_json::Value) -> Option<Pinned> {
    let text = |k: &str| Some(v.get(k)?.as_str()?.to_string());
    Some(Pinned {
        id: text("id")?,
        version: text("version")?,
        digest: text("digest")?,
    })
}

/// A version as `(id, version)`.
type Key = (String, String);

/// The versions found by a walk, each with what it needs.
type Found = BTreeMap<Key, (Resolved, BTreeSet<Key>)>;

/// One version of a pull with its dependencies.
pub struct Node {
    pub resolved: Resolved,
    /// `id@version` of the versions it needs, sorted.
    pub depends_on: Vec<String>,
}

/// A version and everything it needs.
pub struct Graph {
    /// Every version once, each after the versions it needs, independent ones sorted by id and
    /// version; the version asked for comes last.
    pub nodes: Vec<Node>,
    /// `id@version` of what lineages name that is not pulled (history), sorted.
    pub history: Vec<String>,
    /// What looks wrong but did not stop the walk.
    pub notes: Vec<String>,
}

/// `root` and everything it needs, transitively ([`needs`]), each pin resolved by `resolve`
/// and held to the digest its parent pinned: a version whose digest is another is refused
/// (the index was altered), and so is a cycle (a valid build cannot make one), with the
/// versions on it.
pub fn with_dependencies(
    root: Resolved,
    resolve: &mut dyn FnMut(&Pinned) -> Result<Resolved, Failure>,
) -> Result<Graph, Failure> {
    let key = |r: &Resolved| (r.id.clone(), r.version.clone());
    let mut found: Found = BTreeMap::new();
    let mut history: BTreeSet<Key> = BTreeSet::new();
    let mut notes = Vec::new();
    let mut queue = std::collections::VecDeque::from([key(&root)]);
    found.insert(key(&root), (root, BTreeSet::new()));
    while let Some(at) = queue.pop_front() {
        let parent = &found[&at].0;
        let needs = needs(parent)?;
        let what = label(&parent.id, &parent.version);
        notes.extend(needs.notes);
        history.extend(needs.history.into_iter().map(|p| (p.id, p.version)));
        let mut edges = BTreeSet::new();
        for pin in needs.deps {
            let k = (pin.id.clone(), pin.version.clone());
            let digest = match found.get(&k) {
                Some((r, _)) => r.version_doc.digest.clone(),
                None => {
                    let r = resolve(&pin).map_err(|f| {
                        Failure::Broken(format!(
                            "{what} needs {}, which cannot be read: {f}",
                            label(&pin.id, &pin.version)
                        ))
                    })?;
                    if key(&r) != k {
                        return Err(Failure::Broken(format!(
                            "{what} needs {}, but the index answered with {}: the index was altered",
                            label(&pin.id, &pin.version),
                            label(&r.id, &r.version)
                        )));
                    }
                    let digest = r.version_doc.digest.clone();
                    found.insert(k.clone(), (r, BTreeSet::new()));
                    queue.push_back(k.clone());
                    digest
                }
            };
            if digest != pin.digest {
                return Err(Failure::Broken(format!(
                    "{what} pins {} with digest {}, but the index holds it with digest {digest}: the index was altered",
                    label(&pin.id, &pin.version),
                    pin.digest
                )));
            }
            edges.insert(k);
        }
        if let Some((_, deps)) = found.get_mut(&at) {
            *deps = edges;
        }
    }
    // Dependencies first: each round takes the smallest version all of whose dependencies
    // are taken.
    let mut taken: BTreeSet<Key> = BTreeSet::new();
    let mut order: Vec<Key> = Vec::with_capacity(found.len());
    while order.len() < found.len() {
        let ready = found
            .iter()
            .find(|(k, (_, deps))| !taken.contains(*k) && deps.iter().all(|d| taken.contains(d)))
            .map(|(k, _)| k.clone());
        let Some(next) = ready else {
            return Err(Failure::Broken(cycle(&found, &taken)));
        };
        taken.insert(next.clone());
        order.push(next);
    }
    let nodes = order
        .into_iter()
        .filter_map(|k| found.remove(&k))
        .map(|(resolved, deps)| Node {
            resolved,
            depends_on: deps.iter().map(|(id, v)| label(id, v)).collect(),
        })
        .collect();
    let history = history
        .into_iter()
        .filter(|k| !taken.contains(k))
        .map(|(id, v)| label(&id, &v))
        .collect();
    Ok(Graph {
        nodes,
        history,
        notes,
    })
}

/// The message for versions that need each other: one cycle among those not taken, each of
/// which needs another of them.
fn cycle(found: &Found, taken: &BTreeSet<Key>) -> String {
    let left = |k: &Key| -> Option<Key> {
        found
            .get(k)?
            .1
            .iter()
            .find(|d| !taken.contains(*d))
            .cloned()
    };
    let mut path: Vec<Key> = Vec::new();
    let mut at = found.keys().find(|k| !taken.contains(*k)).cloned();
    while let Some(k) = at {
        if let Some(i) = path.iter().position(|p| *p == k) {
            let mut ring: Vec<String> = path[i..].iter().map(|(id, v)| label(id, v)).collect();
            ring.push(label(&k.0, &k.1));
            return format!(
                "the versions need each other in a cycle ({}): a valid build cannot make one; the index was altered",
                ring.join(" → ")
            );
        }
        at = left(&k);
        path.push(k);
    }
    "the versions need each other in a cycle: the index was altered".to_string()
}
