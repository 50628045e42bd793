//! Rules on single strings: asset names, versions, which paths live elsewhere (URLs and Azure
//! URIs), publish targets and durations. Used by decoding, references, validation and the
//! commands alike, so they depend on nothing.

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

/// A duration as `registry.yaml` and the command line write it: a whole number and a unit,
/// `s`, `m`, `h` or `d` (`90s`, `30m`, `24h`, `7d`).
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let why =
        || format!("`{text}` is not a duration: write a whole number and s, m, h or d (`24h`)");
    let unit = text.chars().last().ok_or_else(why)?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(why()),
    };
    let number: u64 = text[..text.len() - 1].parse().map_err(|_| why())?;
    number
        .checked_mul(seconds)
        .filter(|s| *s <= 3650 * 86_400)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is longer than ten years"))
}

/// Why `location` is not a place `mlreg publish` can write to, if it is not: object storage
/// (`az://container/prefix`, `s3://bucket/prefix`) or an absolute `file://` folder. (Relative
/// folders are for `--to`, where the current folder is known.)
pub fn target_problem(location: &str) -> Option<String> {
    let rest = ["az://", "s3://"]
        .iter()
        .find_map(|scheme| location.strip_prefix(scheme));
    match rest {
        Some(r) if r.is_empty() || r.starts_with('/') => {
            Some(format!("`{location}` names no container or bucket"))
        }
        Some(r) if r.contains(char::is_whitespace) || r.contains("//") => Some(format!(
            "`{location}` is not a valid object storage location"
        )),
        Some(_) => None,
        None if location.starts_with("file:///") => None,
        None => Some(format!(
            "`{location}` is not a publish target: write `az://container/prefix`, `s3://bucket/prefix` or `file:///absolute/folder`"
        )),
    }
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

    #[test]
    fn durations_are_a_number_and_a_unit() {
        use std::time::Duration;
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(604_800)));
        for bad in [
            "",
            "h",
            "1",
            "1w",
            "-1h",
            "1.5h",
            " 1h",
            "é",
            "99999999999999999999d",
        ] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert!(duration("3651d").unwrap_err().contains("ten years"));
    }

    #[test]
    fn targets_are_object_storage_or_absolute_folders() {
        for ok in ["az://c/p", "s3://b", "s3://b/a/b/", "file:///srv/registry"] {
            assert_eq!(target_problem(ok), None, "{ok}");
        }
        for bad in [
            "s3://",
            "az:///x",
            "s3://b//x",
            "ftp://h/x",
            "public",
            "file://rel",
            "https://x/",
        ] {
            assert!(target_problem(bad).is_some(), "{bad}");
        }
    }
}
