//! Who wrote a group, from the watcher's `/run/impermctl/watch.json` when it
//! exists. The file belongs to the watcher; this reader is defensive: any
//! shape it does not understand yields no writers, never an error.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::root::Root;

/// Writers per group path, as the watcher recorded them.
pub fn load(root: &Root) -> HashMap<PathBuf, Vec<String>> {
    std::fs::read(root.watch_file())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .map(|v| parse(&v))
        .unwrap_or_default()
}

/// Accepts `{"groups": [...]}` (or `unpersisted`), or a bare array, or a map
/// keyed by group path; a group has `path`/`group` and `writers`, each
/// writer a string or an object with `unit`, `comm` or `name`.
pub fn parse(v: &Value) -> HashMap<PathBuf, Vec<String>> {
    let mut out = HashMap::new();
    let list: Vec<(Option<String>, &Value)> = match v {
        Value::Array(a) => a.iter().map(|g| (None, g)).collect(),
        Value::Object(o) => match o.get("groups").or_else(|| o.get("unpersisted")) {
            Some(Value::Array(a)) => a.iter().map(|g| (None, g)).collect(),
            Some(Value::Object(m)) => m.iter().map(|(k, g)| (Some(k.clone()), g)).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    for (key, g) in list {
        let path = key.or_else(|| {
            ["path", "group"]
                .iter()
                .find_map(|k| g.get(k).and_then(Value::as_str).map(str::to_owned))
        });
        let Some(path) = path else { continue };
        let mut writers: Vec<String> = g
            .get("writers")
            .and_then(Value::as_array)
            .map(|ws| ws.iter().filter_map(writer).collect())
            .unwrap_or_default();
        writers.sort();
        writers.dedup();
        if !writers.is_empty() {
            out.insert(PathBuf::from(path), writers);
        }
    }
    out
}

fn writer(w: &Value) -> Option<String> {
    match w {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => {
            let get = |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            match (get("comm").or(get("name")), get("unit")) {
                (Some(c), Some(u)) => Some(format!("{c} ({u})")),
                (Some(c), None) => Some(c.to_owned()),
                (None, Some(u)) => Some(u.to_owned()),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_shapes_and_ignores_junk() {
        let v: Value = serde_json::from_str(
            r#"{"apiVersion":"impermctl/v1","groups":[
                {"path":"/var/lib/foo","writers":[{"comm":"foo","unit":"foo.service"},"bar",3]},
                {"group":"/etc/x","writers":[{"pid":1}]},
                {"writers":["nobody"]}]}"#,
        )
        .unwrap();
        let w = parse(&v);
        assert_eq!(
            w[&PathBuf::from("/var/lib/foo")],
            vec!["bar", "foo (foo.service)"]
        );
        assert_eq!(w.len(), 1);
        let m: Value = serde_json::from_str(r#"{"groups":{"/srv/a":{"writers":["x"]}}}"#).unwrap();
        assert_eq!(parse(&m)[&PathBuf::from("/srv/a")], vec!["x"]);
        assert!(parse(&Value::Null).is_empty());
    }
}
