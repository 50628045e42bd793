//! The reference forms of `docs/format.md`: how a spec or lineage names another asset.
//!
//! Parsing is purely syntactic (no registry needed); `resolve` decides whether a
//! reference into this registry points at something real.

use crate::registry::kind::Kind;

/// Which version of an asset a reference asks for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Selector {
    Version(String),
    Latest,
    /// A stage name (`@prod`), or for foreign registries any label.
    Label(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// An asset of this registry.
    Local {
        kind: Kind,
        name: String,
        selector: Selector,
    },
    /// Something outside this registry: recorded and shown, not resolved.
    External(String),
}

const KIND_WORDS: &[(&str, Kind)] = &[
    ("models", Kind::Model),
    ("components", Kind::Component),
    ("environments", Kind::Environment),
    ("data", Kind::Data),
];

/// Singular and other near-miss spellings people (and Azure's own samples) write.
const KIND_TYPOS: &[(&str, &str)] = &[
    ("model", "models"),
    ("component", "components"),
    ("environment", "environments"),
    ("env", "environments"),
    ("envs", "environments"),
    ("datas", "data"),
    ("dataset", "data"),
    ("datasets", "data"),
];

fn kind_word(word: &str) -> Result<Kind, String> {
    if let Some((_, k)) = KIND_WORDS.iter().find(|(w, _)| *w == word) {
        return Ok(*k);
    }
    match KIND_TYPOS.iter().find(|(t, _)| *t == word) {
        Some((_, right)) => Err(format!("`{word}` is not an asset kind; write `{right}`")),
        None => Err(format!(
            "`{word}` is not an asset kind (models, components, environments, data)"
        )),
    }
}

/// Is this string written as a reference at all (as opposed to, say, a local path)?
pub fn looks_like_reference(s: &str) -> bool {
    s.starts_with("azureml:") || short_form_kind(s).is_some()
}

fn short_form_kind(s: &str) -> Option<&str> {
    let (head, rest) = s.split_once('/')?;
    (rest.contains('@') && !rest.contains('/')).then_some(head)
}

/// What a reference is read against: this registry's name (so that
/// `azureml://registries/<name>/...` counts as local) and its stage names (so that `@prod` is a
/// label; versions may never be spelled like a stage).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub registry: Option<&'a str>,
    pub stages: &'a [String],
}

/// Parse a reference.
pub fn parse(s: &str, scope: Scope) -> Result<Reference, String> {
    if let Some(rest) = s.strip_prefix("azureml://registries/") {
        return parse_azure_registry(s, rest, scope);
    }
    if s.starts_with("azureml://") {
        // Workspace-scoped URIs (subscriptions/..., locations/..., datastores/..., jobs/...).
        return Ok(Reference::External(s.to_string()));
    }
    if let Some(rest) = s.strip_prefix("azureml:") {
        return parse_azure_short(s, rest);
    }
    let Some((head, rest)) = s.split_once('/') else {
        return Err(format!(
            "`{s}` is not a reference; write `<kind>/<name>@<version>`, e.g. `models/credit-default@3`"
        ));
    };
    let kind = kind_word(head)?;
    let Some((name, sel)) = rest.split_once('@') else {
        return Err(format!(
            "`{s}` does not say which version; add `@<version>`, `@latest` or `@<stage>`"
        ));
    };
    if name.is_empty() || name.contains('/') {
        return Err(format!(
            "`{s}` is not of the form `<kind>/<name>@<version>`"
        ));
    }
    Ok(Reference::Local {
        kind,
        name: name.to_string(),
        selector: selector(sel, scope.stages)?,
    })
}

/// `text` as (kind, name, selector) when it names an asset of this registry; `None` for an
/// external or malformed reference (which those who need to report it parse themselves).
pub fn local(text: &str, scope: Scope) -> Option<(Kind, String, Selector)> {
    match parse(text, scope) {
        Ok(Reference::Local {
            kind,
            name,
            selector,
        }) => Some((kind, name, selector)),
        _ => None,
    }
}

fn selector(sel: &str, stages: &[String]) -> Result<Selector, String> {
    match sel {
        "" => Err("nothing after `@`: write a version, `latest` or a stage".to_string()),
        "latest" => Ok(Selector::Latest),
        s if stages.iter().any(|st| st == s) => Ok(Selector::Label(s.to_string())),
        s if crate::registry::names::version_problem(s).is_none() => {
            Ok(Selector::Version(s.to_string()))
        }
        s => Err(format!("`{s}` is neither a version nor a label")),
    }
}

/// `azureml://registries/<reg>/<kinds>/<name>/versions/<v>` or `.../labels/<label>`.
fn parse_azure_registry(whole: &str, rest: &str, scope: Scope) -> Result<Reference, String> {
    let registry = scope.registry;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 3 || parts.iter().take(3).any(|p| p.is_empty()) {
        return Err(format!(
            "`{whole}` is not of the form azureml://registries/<registry>/<kind>/<name>/versions/<version>"
        ));
    }
    let kind = kind_word(parts[1])?;
    let (reg, name) = (parts[0], parts[2]);
    let selector = match parts.get(3..) {
        Some([which, value]) if !value.is_empty() => match *which {
            "versions" if scope.stages.iter().any(|st| st == value) => {
                return Err(format!(
                    "`{whole}`: `{value}` is a stage; write `labels/{value}`"
                ));
            }
            "versions" => Selector::Version(value.to_string()),
            "labels" if *value == "latest" => Selector::Latest,
            "labels" => Selector::Label(value.to_string()),
            "version" => return Err(format!("`{whole}`: write `versions`, not `version`")),
            "label" => return Err(format!("`{whole}`: write `labels`, not `label`")),
            other => {
                return Err(format!(
                    "`{whole}`: expected `versions/<version>` or `labels/<label>` after the name, found `{other}`"
                ));
            }
        },
        Some([]) | None => {
            return Err(format!(
                "`{whole}` names no version: add `/versions/<version>` or `/labels/latest`"
            ));
        }
        Some(_) => {
            return Err(format!(
                "`{whole}` is not of the form azureml://registries/<registry>/<kind>/<name>/versions/<version>"
            ));
        }
    };
    if registry.is_some_and(|r| r.eq_ignore_ascii_case(reg)) {
        if let Selector::Version(v) = &selector
            && let Some(why) = crate::registry::names::version_problem(v)
        {
            return Err(format!("`{whole}`: {why}"));
        }
        Ok(Reference::Local {
            kind,
            name: name.to_string(),
            selector,
        })
    } else {
        Ok(Reference::External(whole.to_string()))
    }
}

/// `azureml:<name>:<version>`, `azureml:<name>@<label>` or `azureml:<name>` (workspace assets).
/// The name and selector of a workspace-style reference, `azureml:<name>:<version>` or
/// `azureml:<name>@<label>` (the kind comes from the field that holds it). Such a reference is
/// external, unless the registry that reads it holds the asset (see `resolve`).
pub fn short_form(text: &str, stages: &[String]) -> Option<(String, Selector)> {
    let rest = text.strip_prefix("azureml:")?;
    if rest.starts_with("//") {
        return None;
    }
    if let Some((name, version)) = rest.split_once(':') {
        let ok = !name.is_empty() && crate::registry::names::version_problem(version).is_none();
        return ok.then(|| (name.to_string(), Selector::Version(version.to_string())));
    }
    let (name, label) = rest.split_once('@')?;
    let selector = match label {
        "latest" => Selector::Latest,
        s if stages.iter().any(|st| st == s) => Selector::Label(s.to_string()),
        _ => return None,
    };
    (!name.is_empty()).then(|| (name.to_string(), selector))
}

fn parse_azure_short(whole: &str, rest: &str) -> Result<Reference, String> {
    let name = rest.split([':', '@']).next().unwrap_or("");
    if name.is_empty() {
        return Err(format!(
            "`{whole}` names no asset: write `azureml:<name>:<version>` or `azureml:<name>@latest`"
        ));
    }
    if rest.ends_with(':') || rest.ends_with('@') {
        return Err(format!("`{whole}` ends without a version or label"));
    }
    Ok(Reference::External(whole.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(kind: Kind, name: &str, selector: Selector) -> Reference {
        Reference::Local {
            kind,
            name: name.into(),
            selector,
        }
    }

    fn scope(stages: &[String]) -> Scope<'_> {
        Scope {
            registry: Some("contoso-ml"),
            stages,
        }
    }

    #[test]
    fn every_form_of_the_format_doc() {
        let stages = ["dev".to_string(), "test".to_string(), "prod".to_string()];
        let r = scope(&stages);
        assert_eq!(
            parse("models/credit-default@3", r),
            Ok(local(
                Kind::Model,
                "credit-default",
                Selector::Version("3".into())
            ))
        );
        assert_eq!(
            parse("models/credit-default@latest", r),
            Ok(local(Kind::Model, "credit-default", Selector::Latest))
        );
        assert_eq!(
            parse("models/credit-default@prod", r),
            Ok(local(
                Kind::Model,
                "credit-default",
                Selector::Label("prod".into())
            ))
        );
        assert_eq!(
            parse(
                "azureml://registries/contoso-ml/environments/sklearn-1.5/versions/3",
                r
            ),
            Ok(local(
                Kind::Environment,
                "sklearn-1.5",
                Selector::Version("3".into())
            ))
        );
        assert_eq!(
            parse(
                "azureml://registries/contoso-ml/models/credit-default/labels/latest",
                r
            ),
            Ok(local(Kind::Model, "credit-default", Selector::Latest))
        );
        for ext in [
            "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
            "azureml:xgboost-sklearn-py38@latest",
            "azureml:my-env:3",
            "azureml://datastores/workspaceblobstore/paths/x",
        ] {
            assert_eq!(parse(ext, r), Ok(Reference::External(ext.into())), "{ext}");
        }
    }

    #[test]
    fn workspace_short_forms() {
        let stages = ["prod".to_string()];
        let cases = [
            (
                "azureml:train:0.0.5",
                Some(("train", Selector::Version("0.0.5".into()))),
            ),
            ("azureml:train@latest", Some(("train", Selector::Latest))),
            (
                "azureml:train@prod",
                Some(("train", Selector::Label("prod".into()))),
            ),
            ("azureml:train@nightly", None),
            ("azureml:train", None),
            ("azureml:train:", None),
            ("azureml://registries/r/components/train/versions/1", None),
            ("components/train@1", None),
        ];
        for (text, want) in cases {
            let want = want.map(|(n, s)| (n.to_string(), s));
            assert_eq!(short_form(text, &stages), want, "{text}");
        }
    }

    #[test]
    fn typos_azure_lets_through_are_errors() {
        let stages = ["prod".to_string()];
        let r = scope(&stages);
        for bad in [
            "azureml://registries/contoso-ml/environment/sklearn-1.5/versions/3",
            "azureml://registries/contoso-ml/environments/sklearn-1.5/3",
            "azureml://registries/contoso-ml/environments/sklearn-1.5",
            "azureml://registries/x/models/m/version/3",
            "model/credit-default@3",
            "models/credit-default",
            "models/credit-default@",
            "azureml:",
            "azureml:x:",
            "azureml://registries/contoso-ml/models/m/versions/prod",
        ] {
            assert!(parse(bad, r).is_err(), "{bad} should be rejected");
        }
        assert!(
            parse("model/x@3", r)
                .unwrap_err()
                .contains("write `models`")
        );
    }
}
