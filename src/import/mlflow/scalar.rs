//! Values as the import spells them in YAML: text plain only where YAML (and Azure's PyYAML)
//! reads it back as the same string, MLflow params as numbers when they are written as numbers,
//! floats that read back exactly, times in RFC 3339.

pub(super) use crate::registry::yaml::scalar as y;

/// A YAML double-quoted string (JSON's escapes are YAML's).
pub(super) fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// An MLflow param (always text) in lineage.yaml: a plain number when it is written as one
/// (`2.0`, `200`), so that the site shows numbers as numbers; text otherwise.
pub(super) fn param(v: &str) -> String {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let number = !int.is_empty()
        && int.len() <= 15
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
        && (frac.is_empty() && !digits.contains('.') || !frac.is_empty())
        && frac.len() <= 17
        && frac.bytes().all(|b| b.is_ascii_digit());
    if number { v.to_string() } else { y(v) }
}

/// A float as YAML reads it back exactly: the shortest round-trip form, with a `.0` before an
/// exponent (YAML 1.1 wants one).
pub(super) fn number(v: f64) -> String {
    if v.is_nan() {
        return ".nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let s = format!("{v:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0e{exp}"),
        _ => s,
    }
}

pub(super) fn ms_time(ms: i64) -> String {
    crate::time::rfc3339(ms.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::mlflow::store::get;
    use crate::registry::yaml::{self, Value};

    #[test]
    fn yaml_scalars_read_back_as_written() {
        for s in [
            "iris",
            "data/iris-samples@1",
            "train-C2.0",
            "mlflow.sklearn",
        ] {
            assert_eq!(y(s), s);
        }
        for (s, want) in [
            ("3", "\"3\""),
            ("yes", "\"yes\""),
            ("a: b", "\"a: b\""),
            ("https://x", "\"https://x\""),
            ("", "\"\""),
            ("say \"hi\"\n", "\"say \\\"hi\\\"\\n\""),
        ] {
            assert_eq!(y(s), want);
        }
        for (v, want) in [
            ("2.0", "2.0"),
            ("200", "200"),
            ("-1", "-1"),
            ("010", "\"010\""),
        ] {
            assert_eq!(param(v), want);
        }
        for (v, want) in [
            ("1e3", "\"1e3\""),
            ("lbfgs", "lbfgs"),
            ("1.", "\"1.\""),
            (".5", "\".5\""),
        ] {
            assert_eq!(param(v), want);
        }
    }

    #[test]
    fn numbers_round_trip_through_yaml() {
        for v in [0.9777777777777777, 1.0, 1e-7, 1e300, -0.25, 123456789.0] {
            let text = number(v);
            let node = yaml::parse(&format!("v: {text}")).unwrap();
            let read = match &get(&node, "v").unwrap().value {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                other => panic!("{text} read as {other:?}"),
            };
            assert_eq!(read, v, "{text}");
        }
    }
}
