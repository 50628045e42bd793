//! Rules on single strings: asset names, versions, and which paths live elsewhere (URLs and
//! Azure URIs). Used by decoding, references and validation alike, so they depend on nothing.

use crate::registry::kind::Kind;

/// Schemes of paths that live elsewhere: recorded as they are, never looked up on disk.
const REMOTE: &[&str] = &[
    "http://", "https://", "azureml:", "wasbs://", "wasb://", "abfss://", "abfs://", "adl://",
    "s3://", "gs://", "hdfs://", "runs:/", "models:/", "git+", "file://",
];

pub fn is_remote(s: &str) -> bool {
    REMOTE.iter().any(|p| s.starts_with(p))
}

/// Why `name` is not a valid asset name for `kind`, if it is not.
pub fn name_problem(kind: Kind, name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 255 {
        return Some("a name has 1 to 255 characters".into());
    }
    let first = name.as_bytes()[0];
    if kind == Kind::Component {
        let ok = first.is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        return (!ok).then(|| {
            "a component name has only lowercase letters, digits and `_`, and starts with a letter".to_string()
        });
    }
    let ok = first.is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.ends_with('.');
    (!ok).then(|| {
        "a name has letters, digits, `.`, `_` and `-`, starts with a letter or digit, and does not end with `.`"
            .to_string()
    })
}

/// Why `name` is not a valid registry name (Azure's rule), if it is not.
pub fn registry_name_problem(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    let ok = (2..=32).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'));
    (!ok).then_some(
        "a registry name is 2 to 32 of letters, digits, `_` and `-`, starting with a letter or digit",
    )
}

/// Why `v` is not a valid version string, if it is not. Label names are checked by the caller,
/// which knows the stages.
pub fn version_problem(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'));
    if !ok {
        return Some(format!(
            "version `{v}` must be 1 to 64 of letters, digits, `.`, `_`, `+`, `-`, starting with a letter or digit"
        ));
    }
    (v == "latest").then(|| "`latest` is a label, not a version".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(name_problem(Kind::Component, "train_model").is_none());
        assert!(name_problem(Kind::Component, "r-iris-example").is_some());
        assert!(name_problem(Kind::Model, "credit-default").is_none());
        assert!(name_problem(Kind::Model, "x.").is_some());
        assert!(name_problem(Kind::Model, "-x").is_some());
        assert!(version_problem("1.0.0-rc.1+b7").is_none());
        assert!(version_problem("<VERSION>").is_some());
        assert!(version_problem("latest").is_some());
        assert!(version_problem(&"9".repeat(65)).is_some());
    }
}
