//! Rules inside one component: `${{inputs.x}}` and `${{outputs.y}}` bindings in commands name
//! declared ports (optional ones inside `$[[...]]`), port and job names are identifiers, and
//! parameter defaults agree with their type, bounds and `enum`.

use super::Interface;
use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::decode::{Cx, Fields, Text};
use crate::registry::yaml::{Node, Value};

/// Names of inputs, outputs and pipeline jobs: Python identifiers, as Azure requires.
pub fn port_name(cx: &mut Cx, name: &str, node: &Node) {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if !ok {
        cx.error_help(
            codes::INVALID_NAME,
            node,
            format!("`{name}` is not a valid input, output or job name"),
            "use letters, digits and `_`, starting with a letter or `_`",
        );
    }
}

/// A parameter input (`integer`, `number`, `boolean`, `string`): `min`, `max`, `enum` and
/// `default` must agree with the type and with each other.
pub fn parameter(cx: &mut Cx, name: &str, ty: &str, f: &Fields) {
    let numeric = ty == "integer" || ty == "number";
    let bound = |key: &str, cx: &mut Cx| -> Option<f64> {
        let n = f.get(key)?;
        if !numeric {
            cx.error(
                codes::BAD_DEFAULT,
                n,
                format!(
                    "`{key}` applies to integer and number inputs, not to `{ty}` input `{name}`"
                ),
            );
            return None;
        }
        // Azure takes numbers written as strings here too (`min: "0.1"`).
        match &n.value {
            Value::Str(text) => match text.trim().parse::<f64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    cx.wrong_type(n, &format!("`{key}` of input `{name}`"), "a number");
                    None
                }
            },
            _ => cx.number(n, &format!("`{key}` of input `{name}`")),
        }
    };
    let (min, max) = (bound("min", cx), bound("max", cx));
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        cx.error(
            codes::BAD_DEFAULT,
            f.get("min").unwrap_or(f.node),
            format!("input `{name}` has `min` {lo} above `max` {hi}"),
        );
    }
    let mut choices = Vec::new();
    if let Some(n) = f.get("enum") {
        if ty != "string" {
            cx.error(
                codes::BAD_DEFAULT,
                n,
                format!("`enum` applies to string inputs, not to `{ty}` input `{name}`"),
            );
        } else {
            choices = cx
                .texts(n, &format!("`enum` of input `{name}`"))
                .into_iter()
                .map(|t| t.value)
                .collect();
        }
    }
    let Some(d) = f.get("default") else { return };
    // A default written as a string must still read as the input's type (Azure converts it).
    let as_text = d.as_str().map(str::trim);
    let ok_type = matches!(
        (&d.value, ty),
        (Value::Int(_), "integer" | "number" | "string")
            | (Value::Float(_), "number" | "string")
            | (Value::Bool(_), "boolean" | "string")
            | (Value::Str(_), "string")
    ) || match (as_text, ty) {
        (Some(t), "integer") => t.parse::<i64>().is_ok(),
        (Some(t), "number") => t.parse::<f64>().is_ok(),
        (Some(t), "boolean") => t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"),
        _ => false,
    };
    if !ok_type {
        cx.error(
            codes::BAD_DEFAULT,
            d,
            format!(
                "the default of `{ty}` input `{name}` cannot be {}",
                d.type_name()
            ),
        );
        return;
    }
    let value = match &d.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(t) if numeric => t.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let Some(x) = value
        && (min.is_some_and(|lo| x < lo) || max.is_some_and(|hi| x > hi))
    {
        cx.error(
            codes::BAD_DEFAULT,
            d,
            format!("the default {x} of input `{name}` is outside its `min`/`max`"),
        );
    }
    if !choices.is_empty() {
        // Azure keeps the default of a string input as the text of what YAML 1.1 read: compare
        // that (`True` for `true`, `3.0` for `3`), and say so when it differs from the source.
        let held = azure_text(cx, d);
        if !choices.contains(&held) {
            let written = cx.raw_text(d).unwrap_or_else(|| held.clone());
            let mut diag = Diagnostic::new(
                codes::BAD_DEFAULT,
                Some(cx.loc(d)),
                if written == held {
                    format!(
                        "the default `{held}` of input `{name}` is not one of its `enum` values"
                    )
                } else {
                    format!(
                        "the default `{written}` of input `{name}` is not one of its `enum` values: YAML reads it as {}, which Azure holds as `{held}`",
                        d.type_name()
                    )
                },
            );
            if written != held && choices.contains(&written) {
                diag = diag.help(format!("quote it: default: \"{written}\""));
            }
            cx.report(diag);
        }
    }
}

/// The text azure-ai-ml holds for the default of a string input: it reads YAML 1.1 (PyYAML),
/// where `1e5` is text (its booleans the YAML reader already takes as PyYAML does), then keeps
/// booleans as Python writes them and numbers as floats (`3` becomes `3.0`).
fn azure_text(cx: &Cx, node: &Node) -> String {
    let raw = cx.raw_text(node);
    match (&node.value, raw.as_deref()) {
        (Value::Bool(b), _) => if *b { "True" } else { "False" }.to_string(),
        (Value::Str(s), _) => s.clone(),
        (Value::Int(i), Some(r))
            if r.trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            python_float(*i as f64)
        }
        (Value::Float(f), Some(r)) if yaml11_float(r) => python_float(*f),
        (_, Some(r)) => r.to_string(),
        _ => node.scalar_text().unwrap_or_default(),
    }
}

/// Whether PyYAML reads this plain scalar as a float: YAML 1.1 wants a dot, and a sign on the
/// exponent (`1.5`, `1.0e+3`, `.5`); `1e5` and `1.0e3` stay text.
fn yaml11_float(raw: &str) -> bool {
    let s = raw.trim_start_matches(['-', '+']);
    if matches!(s, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let mantissa_ok = mantissa.split_once('.').is_some_and(|(int, frac)| {
        digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty())
    });
    let exponent_ok = exponent.is_none_or(|e| {
        (e.starts_with('+') || e.starts_with('-')) && e.len() > 1 && digits(&e[1..])
    });
    mantissa_ok && exponent_ok
}

/// Python's `repr` of a float: the shortest digits that read back, positional between 1e-4 and
/// 1e16 (always with a fractional part), scientific with a two-digit exponent outside.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let exp: i32 = exp.parse().expect("the exponent is an integer");
    let digits = mantissa.replace('.', "");
    if (-4..16).contains(&exp) {
        if exp < 0 {
            return format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize));
        }
        let point = exp as usize + 1;
        if digits.len() > point {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        } else {
            format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
        }
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

/// The `${{...}}` expressions in `text`, each with whether it sits inside an optional
/// `$[[...]]` block.
pub fn expressions(text: &str) -> Vec<(&str, bool)> {
    scan(text).0
}

/// The `${{...` in `text` that are never closed by `}}` before a lone `}` or the next `${{`
/// (`${{inputs.x} --y`), each as written up to the next space: Azure passes them on as text.
pub fn unclosed(text: &str) -> Vec<&str> {
    scan(text).1
}

fn scan(text: &str) -> (Vec<(&str, bool)>, Vec<&str>) {
    let (mut closed, mut open) = (Vec::new(), Vec::new());
    let mut at = 0;
    while let Some(i) = text[at..].find("${{") {
        let start = at + i;
        let after = &text[start + 3..];
        let end = after.find("}}");
        let balanced =
            end.is_some_and(|j| !after[..j].contains('}') && !after[..j].contains("${{"));
        match end {
            Some(j) if balanced => {
                let before = &text[..start];
                let optional = before
                    .rfind("$[[")
                    .is_some_and(|o| before[o..].find("]]").is_none());
                closed.push((after[..j].trim(), optional));
                at = start + 3 + j + 2;
            }
            _ => {
                let len = after.find(char::is_whitespace).unwrap_or(after.len());
                open.push(&text[start..start + 3 + len]);
                at = start + 3;
            }
        }
    }
    (closed, open)
}

/// Report every `${{` of `text` that is not closed.
pub fn report_unclosed(cx: &mut Cx, text: &str, at: &Loc, field: &str) {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for fragment in unclosed(text) {
        let nth = seen.entry(fragment).or_default();
        let loc = locate(cx, at, fragment, *nth);
        *nth += 1;
        let fixed = format!("{}}}}}", fragment.trim_end_matches('}'));
        cx.report(
            Diagnostic::new(
                codes::BAD_BINDING,
                Some(loc),
                format!("`{fragment}` in `{field}` is never closed, so Azure passes it on as text"),
            )
            .help(format!("close it with `}}}}`: `{fixed}`")),
        );
    }
}

/// Where `needle` is written in the source, searching from `from`'s position onward.
fn locate(cx: &Cx, from: &Loc, needle: &str, skip: usize) -> Loc {
    let text = &cx.text;
    let start = from.offset.min(text.len());
    let mut found = None;
    let mut search = start;
    for _ in 0..=skip {
        match text[search..].find(needle) {
            Some(i) => {
                found = Some(search + i);
                search += i + needle.len();
            }
            None => break,
        }
    }
    let Some(offset) = found else {
        return from.clone();
    };
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..offset].matches('\n').count() as u32 + 1;
    let col = text[line_start..offset].chars().count() as u32 + 1;
    Loc {
        file: from.file.clone(),
        line,
        col,
        offset,
        len: needle.len(),
    }
}

/// `${{inputs.x}}` and `${{outputs.y}}` in a component's `command` or `args` must name
/// declared ports; optional inputs belong inside `$[[...]]`; unused ports are worth a warning.
pub fn bindings(cx: &mut Cx, text: &Text, iface: &Interface, field: &str) {
    check_bindings(cx, text, iface, field, true);
}

/// The same for an inline command job, whose ports are declared by its own `inputs:`/`outputs:`
/// (which may also come from the pipeline): no unused-port warnings there.
pub fn bindings_lenient(cx: &mut Cx, text: &Text, iface: &Interface, field: &str) {
    check_bindings(cx, text, iface, field, false);
}

fn check_bindings(cx: &mut Cx, text: &Text, iface: &Interface, field: &str, warn_unused: bool) {
    // An inline job's strings are all read by `parent_bindings`, unclosed ones included.
    if warn_unused {
        report_unclosed(cx, &text.value, &text.loc, field);
    }
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for (expr, optional_block) in expressions(&text.value) {
        let raw = format!("${{{{{expr}}}}}");
        let nth = seen.entry(raw.clone()).or_default();
        let loc = locate(cx, &text.loc, &expr_source(&text.value, expr), *nth);
        *nth += 1;
        let parts: Vec<&str> = expr.split('.').collect();
        let (ports, code, what) = match parts.first() {
            Some(&"inputs") => (&iface.inputs, codes::UNDECLARED_INPUT, "input"),
            Some(&"outputs") => (&iface.outputs, codes::UNDECLARED_OUTPUT, "output"),
            _ => {
                cx.report(
                    Diagnostic::new(
                        codes::BAD_BINDING,
                        Some(loc),
                        format!("`{raw}` in `{field}` is not a binding of this component"),
                    )
                    .help("write `${{inputs.<name>}}` or `${{outputs.<name>}}`"),
                );
                continue;
            }
        };
        let Some(name) = parts.get(1) else {
            cx.report(Diagnostic::new(
                codes::BAD_BINDING,
                Some(loc),
                format!("`{raw}` names no {what}"),
            ));
            continue;
        };
        match ports.get(*name) {
            None => {
                let names: Vec<&str> = ports.keys().map(String::as_str).collect();
                let mut d = Diagnostic::new(code, Some(loc), format!("`{raw}` in `{field}` names no declared {what}"));
                d = match crate::registry::decode::nearest(name, &names) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None if names.is_empty() => d.help(format!("declare it under `{what}s:`")),
                    None => d.help(format!("declared {what}s: {}", names.join(", "))),
                };
                cx.report(d);
            }
            Some(port) if what == "input" && port.optional && !optional_block => cx.report(
                Diagnostic::new(
                    codes::OPTIONAL_OUTSIDE_BRACKETS,
                    Some(loc),
                    format!("optional input `{name}` is used outside `$[[...]]`; when it is not given, the command gets an empty argument"),
                )
                .help(format!("wrap the argument: `$[[--{name} {raw}]]`")),
            ),
            Some(_) => {}
        }
    }
    if !warn_unused {
        return;
    }
    // Azure ML also hands every port to the job as an environment variable
    // (`AZURE_ML_INPUT_<name>`, `AZURE_ML_OUTPUT_<name>`, `AZUREML_PARAMETER_<name>`): a command
    // that binds none of its inputs (or outputs) reads them there, as Microsoft's own
    // components do, and naming the variable in the command is a use too.
    for (dir, ports, variables) in [
        (
            "inputs",
            &iface.inputs,
            &["AZURE_ML_INPUT_", "AZUREML_PARAMETER_"][..],
        ),
        ("outputs", &iface.outputs, &["AZURE_ML_OUTPUT_"][..]),
    ] {
        if !expressions(&text.value)
            .iter()
            .any(|(e, _)| e.starts_with(&format!("{dir}.")))
        {
            continue;
        }
        for (name, port) in ports {
            let used = text.value.contains(&format!("{dir}.{name}}}"))
                || text.value.contains(&format!("{dir}.{name} "))
                || text.value.contains(&format!("{dir}.{name}]"))
                || text.value.contains(&format!("{dir}.{name}."))
                || variables
                    .iter()
                    .any(|v| text.value.contains(&format!("{v}{name}")));
            if !used {
                cx.report(Diagnostic::new(
                    codes::UNUSED_PORT,
                    Some(port.loc.clone()),
                    format!(
                        "{} `{name}` is declared but `{field}` never uses it",
                        &dir[..dir.len() - 1]
                    ),
                ));
            }
        }
    }
}

/// The expression as written in the source (the cooked text keeps its inner spacing).
fn expr_source(text: &str, expr: &str) -> String {
    for candidate in [format!("${{{{{expr}}}}}"), format!("${{{{ {expr} }}}}")] {
        if text.contains(&candidate) {
            return candidate;
        }
    }
    expr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_writes_them() {
        for (f, py) in [
            (3.0, "3.0"),
            (-7.0, "-7.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (1.5e20, "1.5e+20"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (9999999999999998.0, "9999999999999998.0"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(python_float(f), py, "{f}");
        }
        for (raw, float) in [
            ("1.5", true),
            (".5", true),
            ("1.0e+3", true),
            ("1e5", false),
            ("1.0e3", false),
            ("-.inf", true),
            ("1_000.0", true),
        ] {
            assert_eq!(yaml11_float(raw), float, "{raw}");
        }
    }

    #[test]
    fn unclosed_expressions_are_found_and_not_taken_for_others() {
        let text = "run --a ${{inputs.a} --b ${{inputs.b}} --c ${{outputs.c";
        assert_eq!(expressions(text), vec![("inputs.b", false)]);
        assert_eq!(unclosed(text), vec!["${{inputs.a}", "${{outputs.c"]);
        assert!(unclosed("${{inputs.a}} $[[--b ${{inputs.b}}]]").is_empty());
    }

    #[test]
    fn expressions_know_optional_blocks() {
        let e =
            expressions("python x --a ${{inputs.a}} $[[--b ${{ inputs.b }}]] --c ${{outputs.c}}");
        assert_eq!(
            e,
            vec![
                ("inputs.a", false),
                ("inputs.b", true),
                ("outputs.c", false)
            ]
        );
    }
}
