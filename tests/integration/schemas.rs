//! Every `--json` document validates against its published JSON Schema
//! (`schemas/<Kind>.schema.json`): produced by the real binary on fixtures,
//! on tempdir roots and, as root, on a live vpsFree-like layout.

use std::path::Path;

use serde_json::Value;

use crate::util::{self, Layout, in_vps, mountinfo_fixture, repo};

/// The document kinds with a schema (every `--json` output).
pub const KINDS: &[&str] = &[
    "Verification",
    "CheckList",
    "Status",
    "BootPlan",
    "BootResult",
    "Diff",
    "Persist",
    "Baseline",
    "SyncResult",
];

fn schema(kind: &str) -> Value {
    let p = repo().join("schemas").join(format!("{kind}.schema.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Assert `doc` is a valid document of its `kind`; returns the kind.
pub fn validate(doc: &Value) -> String {
    let kind = doc["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no kind in {doc:#}"));
    assert!(KINDS.contains(&kind), "no schema for kind {kind}");
    assert_eq!(doc["api_version"], "impermctl/v2", "{doc:#}");
    let v = jsonschema::validator_for(&schema(kind)).unwrap();
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{kind}: {errors:#?}\n{doc:#}");
    kind.to_owned()
}

fn parse(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", util::stdout(o), util::stderr(o)))
}

#[test]
fn every_schema_is_a_valid_2020_12_schema() {
    for kind in KINDS {
        let s = schema(kind);
        assert!(
            jsonschema::meta::is_valid(&s),
            "{kind}: not a valid JSON Schema"
        );
        assert_eq!(s["properties"]["kind"]["const"], *kind);
    }
    let files = std::fs::read_dir(repo().join("schemas"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".schema.json")
        })
        .count();
    assert_eq!(
        files,
        KINDS.len(),
        "a schema without a test, or the reverse"
    );
}

#[test]
fn the_schemas_reject_what_they_should() {
    let ok = serde_json::json!({
        "api_version": "impermctl/v2", "kind": "CheckList",
        "checks": [{"name": "root-usage", "severity": "info", "description": "x"}]
    });
    validate(&ok);
    let v = jsonschema::validator_for(&schema("CheckList")).unwrap();
    for bad in [
        serde_json::json!({"apiVersion": "impermctl/v1", "kind": "CheckList", "checks": []}),
        serde_json::json!({"api_version": "impermctl/v2", "kind": "CheckList", "checks": [
            {"name": "root-usage", "severity": "kebab-case-value", "description": "x"}]}),
        serde_json::json!({"api_version": "impermctl/v2", "kind": "CheckList", "checks": [], "extra": 1}),
    ] {
        assert!(!v.is_valid(&bad), "accepted {bad:#}");
    }
}

#[test]
fn fixture_documents_validate() {
    let seed = repo().join("tests/fixtures/seed.toml");
    let seed = seed.to_str().unwrap();
    let mut seen = Vec::new();
    for fx in [
        "native-booted.mountinfo",
        "persistent-not-mounted.mountinfo",
    ] {
        let fx = mountinfo_fixture(fx);
        for cmd in ["verify", "status"] {
            let o = util::run(&[
                cmd,
                "--json",
                "--config",
                seed,
                "--mountinfo",
                fx.to_str().unwrap(),
            ]);
            seen.push(validate(&parse(&o)));
        }
    }
    seen.push(validate(&parse(&util::run(&[
        "verify", "--list", "--json",
    ]))));
    // A tempdir root: diff, and a boot dry run refused (no persistent mount).
    let d = tempfile::tempdir().unwrap();
    for p in ["etc", "var/lib/x", "persistent"] {
        std::fs::create_dir_all(d.path().join(p)).unwrap();
    }
    std::fs::write(d.path().join("var/lib/x/f"), "x").unwrap();
    let root = d.path().to_str().unwrap();
    let o = util::run_at(root, &["diff", "--json"]);
    seen.push(validate(&parse(&o)));
    let o = util::run_at(root, &["baseline", "--since", "all", "--json"]);
    seen.push(validate(&parse(&o)));
    let o = util::run(&[
        "--root",
        root,
        "--config",
        seed,
        "boot",
        "--dry-run",
        "--json",
    ]);
    util::assert_code(&o, 2);
    let doc = parse(&o);
    assert_eq!(doc["refused"], true, "{doc:#}");
    assert!(!doc["refusals"].as_array().unwrap().is_empty(), "{doc:#}");
    seen.push(validate(&doc));
    for k in [
        "Verification",
        "Status",
        "CheckList",
        "Diff",
        "BootPlan",
        "Baseline",
    ] {
        assert!(seen.iter().any(|s| s == k), "{k} not produced");
    }
}

#[test]
fn live_documents_validate() {
    crate::require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let body = format!(
        r#"
printf '%s' "$SEED_TOML" > "$CFG"
printf '[[persistence.files]]\npath = "/etc/shadow"\nmethod = "copy"\n' >> "$CFG"
echo 'root:!:1::::::' > "$R/etc/shadow"
mkdir -p "$R/var/lib/foo" && echo data > "$R/var/lib/foo/f"
O={out}
imp boot --dry-run --json > "$O/plan.json"
imp boot --json > "$O/result.json"
imp boot --json > "$O/result2.json"
imp status --json > "$O/status.json" || true
imp persist --dry-run --json /var/lib/foo > "$O/persist-dry.json"
imp persist --json /var/lib/foo > "$O/persist.json"
imp persist --json /nix > "$O/persist-refused.json" || true
imp diff --json > "$O/diff.json" || true
imp status --json > "$O/status2.json" || true
imp status > "$O/status2.txt" || true
echo 'root:x:2::::::' > "$R/etc/shadow"
imp sync --json > "$O/sync.json"
"#,
        out = util::shell_quote(out)
    );
    let body = format!("export SEED_TOML='{}'\n{body}", util::SEED);
    let o = in_vps(&Layout::default(), &body);
    util::assert_code(&o, 0);
    for f in [
        "plan",
        "result",
        "result2",
        "status",
        "persist-dry",
        "persist",
        "persist-refused",
        "diff",
        "status2",
        "sync",
    ] {
        let p = out.join(format!("{f}.json"));
        let text = std::fs::read_to_string(&p).unwrap();
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{f}: {e}\n{text}\n{}", util::stderr(&o)));
        validate(&doc);
    }
    let plan: Value = read(out, "plan");
    assert_eq!(plan["refused"], false);
    // status lists the path moved with persist, flagged as not in the config.
    let st: Value = read(out, "status2");
    assert_eq!(st["persisted"][0]["path"], "/var/lib/foo", "{st:#}");
    assert_eq!(st["persisted"][0]["declared"], false, "{st:#}");
    let text = std::fs::read_to_string(out.join("status2.txt")).unwrap();
    assert!(
        text.contains("not in the config yet: lost at the next boot unless added")
            && text.contains("/var/lib/foo")
            && text.contains(
                "\"/var/lib/foo\"  # into environment.persistence.\"/persistent\".directories"
            ),
        "{text}"
    );
    let sync: Value = read(out, "sync");
    assert_eq!(sync["paths"][0]["result"], "saved", "{sync:#}");
    let refused: Value = read(out, "persist-refused");
    assert!(!refused["refused"].as_array().unwrap().is_empty());
}

fn read(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
        .unwrap()
}

/// `diff --json` with the watcher's writers merged in: each writer is the one
/// `{comm, unit}` object every other document uses (not a "comm (unit)" string).
#[test]
fn diff_groups_carry_the_watchers_writers_as_objects() {
    let d = tempfile::tempdir().unwrap();
    for p in ["etc", "var/lib/x", "persistent", "run/impermctl"] {
        std::fs::create_dir_all(d.path().join(p)).unwrap();
    }
    std::fs::write(d.path().join("var/lib/x/f"), "x").unwrap();
    let watch = serde_json::json!({
        "api_version": "impermctl/v2", "kind": "WatchState",
        "backend": "inotify", "fallback": null, "pid": 1, "since": 0,
        "watched_directories": 3, "overflows": 0,
        "groups": [{
            "path": "/var/lib/x", "type": "directory",
            "suggest": "\"/var/lib/x\"  # into environment.persistence.\"/persistent\".directories = [ … ]",
            "files": 1, "bytes": 1, "first_seen": 0, "last_seen": 0, "approximate": false,
            "writers": [{"comm": "my (odd) tool", "unit": "x.service"}, {"comm": "sh", "unit": null}],
        }],
    });
    std::fs::write(
        d.path().join("run/impermctl/watch.json"),
        serde_json::to_vec(&watch).unwrap(),
    )
    .unwrap();
    let o = util::run_at(d.path().to_str().unwrap(), &["diff", "--json"]);
    let doc = parse(&o);
    assert_eq!(validate(&doc), "Diff");
    let g = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["path"] == "/var/lib/x")
        .unwrap_or_else(|| panic!("{doc:#}"));
    let writers = g["writers"].as_array().unwrap();
    assert!(
        writers
            .iter()
            .any(|w| w["comm"] == "my (odd) tool" && w["unit"] == "x.service"),
        "{g:#}"
    );
}

/// The committed schemas are what `schemas/generate.py` writes (edit the
/// script, run it, commit both): run on a copy, every file compared.
#[test]
fn the_committed_schemas_are_what_generate_py_writes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("generate.py");
    std::fs::copy(repo().join("schemas/generate.py"), &script).unwrap();
    let o = std::process::Command::new("python3")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", util::stderr(&o));
    for kind in KINDS {
        let name = format!("{kind}.schema.json");
        let made = std::fs::read_to_string(dir.path().join(&name)).unwrap_or_default();
        let committed = std::fs::read_to_string(repo().join("schemas").join(&name)).unwrap();
        assert!(
            made == committed,
            "schemas/{name} differs from what schemas/generate.py writes: run `python3 schemas/generate.py` and commit both"
        );
    }
}
