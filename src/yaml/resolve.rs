//! What a scalar means, for each kind of reader this tool has to agree with.
//!
//! Owns: the YAML 1.2 core schema (the data model of this tool: both its parser and the
//! reference loader resolve scalars here, so that yaml-rust2's own resolution, which misses
//! `Null` and `NULL` and takes `0x-1` for an integer, plays no part), the YAML 1.1 types as
//! PyYAML (and so yamllint) and the Go YAML library Helm uses read plain scalars (timestamps,
//! `yes`, `0755`, `1:30`, `1_000`), tags (`!!int`, verbatim, `%TAG` handles), and the characters
//! YAML allows in a stream. `readers_agree` is the one test of whether a plain scalar may be
//! written: every reader must read the same value from it.
//!
//! Does not own: parsing (`parse/`), the data model (`data.rs`) or writing (`scalar.rs`).

use super::data::Data;

/// The prefix of the standard tags (`!!str` is `tag:yaml.org,2002:str`).
pub const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// A plain scalar under the YAML 1.2 core schema.
pub fn core(v: &str) -> Data {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Data::Null,
        "true" | "True" | "TRUE" => return Data::Bool(true),
        "false" | "False" | "FALSE" => return Data::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Data::Float("nan".into()),
        _ => {}
    }
    let (sign, unsigned) = split_sign(v);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Data::Float(if sign == "-" { "-inf" } else { "inf" }.into());
    }
    if sign.is_empty() {
        for (prefix, radix, ok) in [
            ("0o", 8, b"01234567".as_slice()),
            ("0x", 16, b"0123456789abcdefABCDEF".as_slice()),
        ] {
            if let Some(digits) = v.strip_prefix(prefix) {
                if !digits.is_empty() && digits.bytes().all(|c| ok.contains(&c)) {
                    return int_or_float(u128::from_str_radix(digits, radix).ok(), false);
                }
                return Data::Str(v.to_string());
            }
        }
    }
    if !unsigned.is_empty() && unsigned.bytes().all(|c| c.is_ascii_digit()) {
        return int_or_float(unsigned.parse::<u128>().ok(), sign == "-");
    }
    if is_core_float(unsigned) {
        return float(v);
    }
    Data::Str(v.to_string())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|c| c.is_ascii_digit())
                && frac.bytes().all(|c| c.is_ascii_digit())
                && (!int.is_empty() || !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn split_sign(v: &str) -> (&str, &str) {
    match v.as_bytes().first() {
        Some(b'-') => ("-", &v[1..]),
        Some(b'+') => ("+", &v[1..]),
        _ => ("", v),
    }
}

/// An integer of `magnitude` (with its sign); one too large for 64 bits is kept as a float,
/// as yaml-rust2 and Go's YAML library do.
fn int_or_float(magnitude: Option<u128>, negative: bool) -> Data {
    let value = magnitude
        .and_then(|m| i128::try_from(m).ok())
        .map(|m| if negative { -m } else { m });
    match value.and_then(|v| i64::try_from(v).ok()) {
        Some(i) => Data::Int(i),
        None => {
            let f = value.map_or(f64::INFINITY, |v| v as f64);
            Data::Float(float_text(if negative && value.is_none() { -f } else { f }))
        }
    }
}

fn float(text: &str) -> Data {
    let cleaned = text.replace('_', "");
    match cleaned.parse::<f64>() {
        Ok(f) => Data::Float(float_text(f)),
        Err(_) => Data::Str(text.to_string()),
    }
}

/// The canonical text of a float in `Data` (`1.0`, `-inf`, `nan`).
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f < 0.0 { "-inf" } else { "inf" }.into()
    } else {
        format!("{f:?}")
    }
}

/// A plain scalar as PyYAML's resolver (YAML 1.1 types; yamllint's reader) reads it. A
/// timestamp reads as `!!timestamp`, the merge key `<<` and the value key `=` as their tags.
pub fn pyyaml(v: &str) -> Data {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Data::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Data::Bool(true);
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Data::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Data::Float("nan".into()),
        "<<" => return tagged("merge", v),
        "=" => return tagged("value", v),
        _ => {}
    }
    let (sign, u) = split_sign(v);
    let negative = sign == "-";
    if matches!(u, ".inf" | ".Inf" | ".INF") {
        return Data::Float(if negative { "-inf" } else { "inf" }.into());
    }
    let all = |s: &str, set: &[u8]| !s.is_empty() && s.bytes().all(|c| set.contains(&c));
    const DEC: &[u8] = b"0123456789_";
    // int: 0b[01_]+ | 0[0-7_]+ | (0|[1-9][0-9_]*) | 0x[0-9a-fA-F_]+ | [1-9][0-9_]*(:[0-5]?[0-9])+
    if let Some(d) = u.strip_prefix("0b") {
        if all(d, b"01_") {
            return radix_int(d, 2, negative, v);
        }
    } else if let Some(d) = u.strip_prefix("0x") {
        if all(d, b"0123456789abcdefABCDEF_") {
            return radix_int(d, 16, negative, v);
        }
    } else if u.len() > 1 && u.starts_with('0') && all(&u[1..], b"01234567_") {
        return radix_int(&u[1..], 8, negative, v);
    } else if u == "0" || (u.starts_with(|c: char| matches!(c, '1'..='9')) && all(u, DEC)) {
        return radix_int(u, 10, negative, v);
    }
    if let Some(seconds) = sexagesimal(u, false) {
        return int_or_float(Some(seconds as u128), negative);
    }
    // float: [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9_]+([eE][-+][0-9]+)?
    //        | [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
    let (mantissa, exponent) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        e.len() > 1 && e.starts_with(['+', '-']) && e[1..].bytes().all(|c| c.is_ascii_digit())
    });
    if let Some((int, frac)) = mantissa.split_once('.')
        && exponent_ok
        && (frac.is_empty() || all(frac, DEC))
    {
        let float_form = if int.is_empty() {
            !frac.is_empty()
        } else {
            int.as_bytes()[0].is_ascii_digit() && all(int, DEC)
        };
        if float_form {
            return float(v);
        }
    }
    if let Some((base, frac)) = u.rsplit_once('.')
        && (frac.is_empty() || all(frac, DEC))
        && let Some(seconds) = sexagesimal(base, true)
    {
        let f = seconds as f64
            + format!("0.{}", frac.replace('_', ""))
                .parse::<f64>()
                .unwrap_or(0.0);
        return Data::Float(float_text(if negative { -f } else { f }));
    }
    if sign.is_empty() && is_timestamp(v) {
        return tagged("timestamp", v);
    }
    Data::Str(v.to_string())
}

fn tagged(name: &str, v: &str) -> Data {
    Data::Tagged(
        format!("{CORE_PREFIX}{name}"),
        Box::new(Data::Str(v.to_string())),
    )
}

fn radix_int(digits: &str, radix: u32, negative: bool, text: &str) -> Data {
    let d = digits.replace('_', "");
    if d.is_empty() {
        // PyYAML's resolver says int; its constructor then fails: not a string either way.
        return tagged("int", text);
    }
    int_or_float(u128::from_str_radix(&d, radix).ok(), negative)
}

/// `[0-9][0-9_]*(:[0-5]?[0-9])+` (`first_zero`: the first part may start with 0, as in the
/// float form; the integer form wants `[1-9]`); the value in units of the last part.
fn sexagesimal(s: &str, first_zero: bool) -> Option<u64> {
    let mut parts = s.split(':');
    let head = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    let head_ok = !head.is_empty()
        && head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
        && (first_zero || matches!(head.as_bytes()[0], b'1'..=b'9'))
        && head.as_bytes()[0].is_ascii_digit();
    if rest.is_empty() || !head_ok {
        return None;
    }
    let mut value: u64 = head.replace('_', "").parse().ok()?;
    for p in rest {
        let ok = matches!(p.len(), 1 | 2)
            && p.bytes().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5');
        if !ok {
            return None;
        }
        value = value.checked_mul(60)?.checked_add(p.parse::<u64>().ok()?)?;
    }
    Some(value)
}

/// The YAML 1.1 timestamp: `YYYY-MM-DD`, or with a time
/// (`[Tt]|[ \t]+` then `HH:MM:SS(.frac)?`, then `[ \t]*(Z|[-+]HH(:MM)?)?`). Go's YAML library
/// reads a subset of these; PyYAML all of them.
pub fn is_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |s: &[u8], min: usize, max: usize| {
        let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
        (min..=max).contains(&n).then_some(n)
    };
    let mut i = 0;
    let Some(4) = digits(b, 4, 4) else {
        return false;
    };
    i += 4;
    let date_only = v.len() == 10;
    for _ in 0..2 {
        if b.get(i) != Some(&b'-') {
            return false;
        }
        i += 1;
        let Some(n) = digits(&b[i..], if date_only { 2 } else { 1 }, 2) else {
            return false;
        };
        i += n;
    }
    if i == b.len() {
        return date_only;
    }
    match b[i] {
        b'T' | b't' => i += 1,
        b' ' | b'\t' => {
            while matches!(b.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
        }
        _ => return false,
    }
    let Some(n) = digits(&b[i..], 1, 2) else {
        return false;
    };
    i += n;
    for _ in 0..2 {
        if b.get(i) != Some(&b':') {
            return false;
        }
        i += 1;
        let Some(2) = digits(&b[i..], 2, 2) else {
            return false;
        };
        i += 2;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match b.get(i) {
        None => true,
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i += 1;
            let Some(n) = digits(&b[i..], 1, 2) else {
                return false;
            };
            i += n;
            if b.get(i) == Some(&b':') {
                i += 1;
                let Some(2) = digits(&b[i..], 2, 2) else {
                    return false;
                };
                i += 2;
            }
            i == b.len()
        }
        _ => false,
    }
}

/// A plain scalar as the Go YAML library Helm uses (gopkg.in/yaml.v2, through sigs.k8s.io/yaml)
/// reads it: YAML 1.1 booleans including `y` and `n`, Go's number syntax after removing `_`
/// (`0o17`, `0b101`, `010` octal, `1e3`), and timestamps.
pub fn go_yaml(v: &str) -> Data {
    match v {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Data::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Data::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Data::Null,
        ".nan" | ".NaN" | ".NAN" => return Data::Float("nan".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Data::Float("inf".into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return Data::Float("-inf".into()),
        "<<" => return tagged("merge", v),
        _ => {}
    }
    let first = v.as_bytes()[0];
    if first == b'.' {
        return go_float(v).unwrap_or_else(|| Data::Str(v.to_string()));
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Data::Str(v.to_string());
    }
    if is_timestamp(v) {
        return tagged("timestamp", v);
    }
    let plain = v.replace('_', "");
    let (sign, u) = split_sign(&plain);
    let negative = sign == "-";
    let radix_digits = |d: &str, radix: u32| {
        (!d.is_empty())
            .then(|| u128::from_str_radix(d, radix).ok())
            .flatten()
    };
    let magnitude = if let Some(d) = u.strip_prefix("0x").or_else(|| u.strip_prefix("0X")) {
        radix_digits(d, 16)
    } else if let Some(d) = u.strip_prefix("0o").or_else(|| u.strip_prefix("0O")) {
        radix_digits(d, 8)
    } else if let Some(d) = u.strip_prefix("0b").or_else(|| u.strip_prefix("0B")) {
        radix_digits(d, 2)
    } else if u.len() > 1 && u.starts_with('0') {
        radix_digits(&u[1..], 8)
    } else if !u.is_empty() && u.bytes().all(|c| c.is_ascii_digit()) {
        u.parse().ok()
    } else {
        None
    };
    if let Some(m) = magnitude
        && m <= u64::MAX as u128 + u128::from(negative)
    {
        return int_or_float(Some(m), negative);
    }
    if is_core_float(u) {
        return float(&plain);
    }
    Data::Str(v.to_string())
}

/// Go's `strconv.ParseFloat` on a plain scalar starting with `.`.
fn go_float(v: &str) -> Option<Data> {
    is_core_float(v).then(|| float(v))
}

/// The value of a plain scalar when every reader this tool answers to reads the same one
/// (the YAML 1.2 core schema, PyYAML's YAML 1.1 types, and Helm's Go YAML library); `None`
/// when they disagree (`yes`, `0755`, `2024-01-01`, `1:30`, `0o17`, `1e3`).
pub fn readers_agree(v: &str) -> Option<Data> {
    let d = core(v);
    (pyyaml(v) == d && go_yaml(v) == d).then_some(d)
}

/// A scalar with its tag (a full tag: `tag:yaml.org,2002:int`, `!local`, or `!` for the
/// non-specific tag of a quoted scalar) under the core schema. A standard tag that does not
/// fit the text (`!!int two`) and any other tag keep the text with their tag, so that data
/// compares tags as well as values.
pub fn scalar(value: &str, plain: bool, tag: Option<&str>) -> Data {
    let Some(tag) = tag else {
        return if plain {
            core(value)
        } else {
            Data::Str(value.to_string())
        };
    };
    if tag == "!" {
        return Data::Str(value.to_string());
    }
    let keep = || Data::Tagged(tag.to_string(), Box::new(Data::Str(value.to_string())));
    let Some(name) = tag.strip_prefix(CORE_PREFIX) else {
        return keep();
    };
    let resolved = core(value);
    match (name, resolved) {
        ("str", _) => Data::Str(value.to_string()),
        ("null", Data::Null) => Data::Null,
        ("bool", b @ Data::Bool(_)) => b,
        ("int", i @ Data::Int(_)) => i,
        ("float", f @ Data::Float(_)) => f,
        ("float", Data::Int(i)) => Data::Float(float_text(i as f64)),
        _ => keep(),
    }
}

/// A collection's data with its tag: the standard `!!map` and `!!seq` add nothing; any
/// other tag is kept.
pub fn collection(data: Data, tag: Option<&str>) -> Data {
    match tag {
        None | Some("!") => data,
        Some(t) if t == format!("{CORE_PREFIX}map") || t == format!("{CORE_PREFIX}seq") => data,
        Some(t) => Data::Tagged(t.to_string(), Box::new(data)),
    }
}

/// Whether YAML allows `c` in a stream: tab, line feed, carriage return, printable ASCII,
/// next line (U+0085), and the printable ranges above U+00A0 except U+FFFE and U+FFFF.
pub fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// The first character YAML does not allow, with its byte offset.
pub fn first_unprintable(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| !printable(c))
}

/// How a character YAML forbids is named in messages: `U+000C (form feed)`.
pub fn describe_char(c: char) -> String {
    let name = match c {
        '\0' => " (NUL)",
        '\x07' => " (bell)",
        '\x08' => " (backspace)",
        '\x0b' => " (vertical tab)",
        '\x0c' => " (form feed)",
        '\x1b' => " (escape)",
        '\x7f' => " (delete)",
        '\u{fffe}' | '\u{ffff}' => " (a noncharacter)",
        '\u{80}'..='\u{9f}' => " (a C1 control character)",
        _ => " (a control character)",
    };
    format!("U+{:04X}{name}", c as u32)
}

/// Characters that YAML 1.1 readers (PyYAML, libyaml, Go's YAML library) take as line breaks
/// but YAML 1.2 does not: written raw, they would split a scalar for those readers.
pub fn is_yaml11_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Data {
        Data::Str(v.into())
    }

    #[test]
    fn core_schema() {
        assert_eq!(core("Null"), Data::Null);
        assert_eq!(core("NULL"), Data::Null);
        assert_eq!(core("TRUE"), Data::Bool(true));
        assert_eq!(core("0o17"), Data::Int(15));
        assert_eq!(core("0x1F"), Data::Int(31));
        assert_eq!(core("0x-1"), s("0x-1"));
        assert_eq!(core("+12"), Data::Int(12));
        assert_eq!(core("0755"), Data::Int(755));
        assert_eq!(core("1e3"), Data::Float("1000.0".into()));
        assert_eq!(core("-.inf"), Data::Float("-inf".into()));
        assert_eq!(core(".5"), Data::Float("0.5".into()));
        assert_eq!(core("1_000"), s("1_000"));
        assert_eq!(core("yes"), s("yes"));
        assert_eq!(core("2024-01-01"), s("2024-01-01"));
        assert_eq!(core("99999999999999999999"), Data::Float("1e20".into()));
    }

    #[test]
    fn yaml_1_1_types() {
        assert_eq!(pyyaml("yes"), Data::Bool(true));
        assert_eq!(pyyaml("y"), s("y"));
        assert_eq!(go_yaml("y"), Data::Bool(true));
        assert_eq!(pyyaml("0755"), Data::Int(493));
        assert_eq!(go_yaml("0755"), Data::Int(493));
        assert_eq!(pyyaml("1_000"), Data::Int(1000));
        assert_eq!(pyyaml("1:30"), Data::Int(90));
        assert_eq!(pyyaml("1:30.5"), Data::Float("90.5".into()));
        assert_eq!(go_yaml("1:30"), s("1:30"));
        assert_eq!(pyyaml("0o17"), s("0o17"));
        assert_eq!(go_yaml("0o17"), Data::Int(15));
        assert_eq!(pyyaml("1e3"), s("1e3"));
        assert_eq!(pyyaml("1.0e+3"), Data::Float("1000.0".into()));
        assert_eq!(go_yaml("1e3"), Data::Float("1000.0".into()));
        assert!(matches!(pyyaml("2024-01-01"), Data::Tagged(..)));
        assert!(matches!(
            pyyaml("2001-12-14t21:59:43.10-05:00"),
            Data::Tagged(..)
        ));
        assert!(matches!(
            pyyaml("2001-12-14 21:59:43.10 -5"),
            Data::Tagged(..)
        ));
        assert!(matches!(go_yaml("2024-06-30"), Data::Tagged(..)));
        assert_eq!(pyyaml("2024-1-1"), s("2024-1-1"));
        assert_eq!(pyyaml("v1.2.3"), s("v1.2.3"));
        assert_eq!(pyyaml("1.2.3"), s("1.2.3"));
        assert_eq!(pyyaml("192.168.0.1"), s("192.168.0.1"));
    }

    #[test]
    fn agreement() {
        for v in [
            "plain",
            "/n3",
            "v1.2.3",
            "1.2.3",
            "a-b",
            "http://x:80/y",
            "ça",
        ] {
            assert_eq!(readers_agree(v), Some(s(v)), "{v}");
        }
        for v in [
            "yes",
            "y",
            "Null",
            "0755",
            "2024-01-01",
            "1:30",
            "0o17",
            "1e3",
            "1_000",
            "010",
            "0b101",
            "<<",
            "=",
        ] {
            assert_ne!(readers_agree(v), Some(s(v)), "{v}");
        }
        assert_eq!(readers_agree("5"), Some(Data::Int(5)));
        assert_eq!(readers_agree("1.10"), Some(Data::Float("1.1".into())));
        assert_eq!(readers_agree("true"), Some(Data::Bool(true)));
        assert_eq!(readers_agree("True"), Some(Data::Bool(true)));
        assert_eq!(readers_agree("0x1F"), Some(Data::Int(31)));
        assert_eq!(readers_agree("0o17"), None);
        assert_eq!(readers_agree("1e3"), None);
    }

    #[test]
    fn tags() {
        let t = |n: &str| format!("{CORE_PREFIX}{n}");
        assert_eq!(scalar("1", true, Some(&t("int"))), Data::Int(1));
        assert_eq!(scalar("1", false, Some(&t("int"))), Data::Int(1));
        assert!(matches!(
            scalar("two", true, Some(&t("int"))),
            Data::Tagged(..)
        ));
        assert!(matches!(
            scalar("value", false, Some(&t("null"))),
            Data::Tagged(..)
        ));
        assert_eq!(scalar("", false, Some(&t("null"))), Data::Null);
        assert_eq!(scalar("5", true, Some(&t("str"))), s("5"));
        assert_eq!(scalar("5", true, Some("!")), s("5"));
        assert_eq!(
            scalar("1", true, Some(&t("float"))),
            Data::Float("1.0".into())
        );
        assert!(matches!(
            scalar("x", true, Some("!local")),
            Data::Tagged(..)
        ));
    }

    #[test]
    fn characters() {
        for c in [
            '\x0c', '\x1b', '\x07', '\x0b', '\x7f', '\u{80}', '\u{9f}', '\u{fffe}', '\u{ffff}',
            '\0',
        ] {
            assert!(!printable(c), "{c:?}");
        }
        for c in [
            '\t', '\n', '\r', ' ', '~', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}', 'é', '😀',
        ] {
            assert!(printable(c), "{c:?}");
        }
        assert_eq!(first_unprintable("a: b\x0c"), Some((4, '\x0c')));
        assert_eq!(describe_char('\x0c'), "U+000C (form feed)");
    }
}
