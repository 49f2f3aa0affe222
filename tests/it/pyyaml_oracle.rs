//! PyYAML as an independent YAML 1.1 reader for the tests: one long-lived `python3` process
//! (libyaml's C loader when PyYAML has it, as Helm's Go YAML library derives from libyaml;
//! the pure-Python loader otherwise) that reads texts sent one JSON line at a time and answers
//! with their data, so that thousands of edits cost one interpreter start.
//!
//! Mappings are read as lists of pairs (duplicate keys kept, merge keys `<<` not applied),
//! unknown tags kept with their tag, timestamps and `!!binary` as tagged text: the result is
//! the tool's own `Data`, comparable with what the editor meant to write.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use gitops_migrate::yaml::{Data, resolve};
use serde_json::Value;

const SCRIPT: &str = r#"
import base64, datetime, json, sys, yaml
Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
class Loader(Base):
    pass
def pairs(loader, node):
    return ("pairs", [(loader.construct_object(k, deep=True), loader.construct_object(v, deep=True)) for k, v in node.value])
def unknown(loader, node):
    if isinstance(node, yaml.MappingNode):
        value = pairs(loader, node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = node.value
    return ("tagged", node.tag, value)
Loader.add_constructor("tag:yaml.org,2002:map", pairs)
Loader.add_constructor("tag:yaml.org,2002:merge", lambda l, n: "<<")
Loader.add_constructor("tag:yaml.org,2002:value", lambda l, n: "=")
Loader.add_constructor(None, unknown)
def enc(x):
    if x is None or isinstance(x, bool) or isinstance(x, str):
        return x
    if isinstance(x, int):
        return {"i": str(x)}
    if isinstance(x, float):
        return {"f": repr(x)}
    if isinstance(x, list):
        return [enc(v) for v in x]
    if isinstance(x, tuple) and x[0] == "pairs":
        return {"m": [[enc(k), enc(v)] for k, v in x[1]]}
    if isinstance(x, tuple) and x[0] == "tagged":
        return {"t": x[1], "v": enc(x[2])}
    if isinstance(x, (datetime.date, datetime.datetime)):
        return {"t": "tag:yaml.org,2002:timestamp", "v": x.isoformat()}
    if isinstance(x, bytes):
        return {"t": "tag:yaml.org,2002:binary", "v": base64.b64encode(x).decode()}
    if isinstance(x, set):
        return {"t": "tag:yaml.org,2002:set", "v": sorted(repr(v) for v in x)}
    return {"t": type(x).__name__, "v": repr(x)}
print("ready " + Base.__name__, flush=True)
for line in sys.stdin:
    try:
        out = {"ok": [enc(d) for d in yaml.load_all(json.loads(line), Loader=Loader)]}
    except Exception as e:
        out = {"err": str(e).replace("\n", " ")}
    print(json.dumps(out), flush=True)
"#;

pub struct PyYaml {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    cache: HashMap<String, Result<Vec<Data>, String>>,
    /// `CSafeLoader` (libyaml) or `SafeLoader` (pure Python).
    pub loader: String,
}

impl PyYaml {
    /// Starts the reader; `None` when `python3` or its `yaml` module is missing.
    pub fn start() -> Option<PyYaml> {
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut ready = String::new();
        stdout.read_line(&mut ready).ok()?;
        let loader = ready.strip_prefix("ready ")?.trim().to_string();
        Some(PyYaml {
            child,
            stdin,
            stdout,
            cache: HashMap::new(),
            loader,
        })
    }

    /// The documents of `text` as PyYAML reads them, or its error.
    pub fn load(&mut self, text: &str) -> Result<Vec<Data>, String> {
        if let Some(r) = self.cache.get(text) {
            return r.clone();
        }
        let mut line = serde_json::to_string(text).unwrap();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .expect("write to python3");
        let mut answer = String::new();
        self.stdout
            .read_line(&mut answer)
            .expect("read from python3");
        let v: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("python3 answered {answer:?}: {e}"));
        let r = match v.get("ok") {
            Some(Value::Array(docs)) => Ok(docs.iter().map(data).collect()),
            _ => Err(v["err"].as_str().unwrap_or("unknown error").to_string()),
        };
        if self.cache.len() > 4096 {
            self.cache.clear();
        }
        self.cache.insert(text.to_string(), r.clone());
        r
    }
}

impl Drop for PyYaml {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PyYAML's answer as `Data`.
fn data(v: &Value) -> Data {
    match v {
        Value::Null => Data::Null,
        Value::Bool(b) => Data::Bool(*b),
        Value::String(s) => Data::Str(s.clone()),
        Value::Number(n) => Data::Int(n.as_i64().unwrap_or_default()),
        Value::Array(a) => Data::Seq(a.iter().map(data).collect()),
        Value::Object(o) => {
            if let Some(Value::String(i)) = o.get("i") {
                return match i.parse::<i64>() {
                    Ok(i) => Data::Int(i),
                    Err(_) => {
                        Data::Float(resolve::float_text(i.parse::<f64>().unwrap_or(f64::NAN)))
                    }
                };
            }
            if let Some(Value::String(f)) = o.get("f") {
                return Data::Float(resolve::float_text(f.parse::<f64>().unwrap_or(f64::NAN)));
            }
            if let Some(Value::Array(m)) = o.get("m") {
                return Data::Map(m.iter().map(|p| (data(&p[0]), data(&p[1]))).collect());
            }
            let tag = o
                .get("t")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let inner = o.get("v").map_or(Data::Null, |v| match v {
                Value::String(s) => Data::Str(s.clone()),
                other => data(other),
            });
            Data::Tagged(tag, Box::new(inner))
        }
    }
}

#[test]
fn reads_yaml_1_1_as_helm_and_yamllint_do() {
    let Some(mut py) = PyYaml::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with PyYAML is required in CI (scripts/test installs it)"
        );
        eprintln!("notice: python3 with PyYAML is not available; skipping");
        return;
    };
    let docs = py
        .load("a: yes\nb: 0755\nc: 2024-01-01\nd: !!binary aGk=\ne: !x 1\nf: 1e3\ng: 1.5\nh: [1, ~]\nk: 1\nk: 2\n")
        .unwrap();
    let Data::Map(m) = &docs[0] else {
        panic!("{docs:?}")
    };
    let values: Vec<&Data> = m.iter().map(|(_, v)| v).collect();
    assert_eq!(values[0], &Data::Bool(true));
    assert_eq!(values[1], &Data::Int(493));
    assert!(matches!(values[2], Data::Tagged(t, _) if t.ends_with(":timestamp")));
    assert!(matches!(values[3], Data::Tagged(t, _) if t.ends_with(":binary")));
    assert!(matches!(values[4], Data::Tagged(t, _) if t == "!x"));
    assert_eq!(values[5], &Data::Str("1e3".into()));
    assert_eq!(values[6], &Data::Float("1.5".into()));
    assert_eq!(values[7], &Data::Seq(vec![Data::Int(1), Data::Null]));
    assert_eq!(m.len(), 10, "duplicate keys are kept");
    assert!(py.load("a: \"\x0c\"\n").is_err(), "a form feed is refused");
}
