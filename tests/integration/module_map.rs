//! The module map (issue 10): no import cycle between the top-level modules
//! of `src/`, and nothing below `cli` depends on `cli`. An edge `a → b` is
//! any `crate::b` path (in a `use`, grouped `use crate::{b, …}`, or inline)
//! in a file of module `a`; comments are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::repo;

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The top-level modules, as `src/lib.rs` declares them.
fn tops(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The first names after each `crate::` in `text` (without comments).
fn crate_refs(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.push(ident(rest));
            continue;
        };
        // `crate::{a::x, b, c::{y, z}}`: the names at depth 1.
        let (mut depth, mut start) = (1, true);
        for (j, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 1 => start = true,
                c if start && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                    out.push(ident(&group[j..]));
                    start = false;
                }
                _ => {}
            }
            if depth == 0 {
                break;
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `from → to → files` for the crate under `src`.
fn graph(src: &Path) -> Graph {
    let tops = tops(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g = Graph::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
        let first = rel.split('/').next().unwrap();
        let from = first.strip_suffix(".rs").unwrap_or(first);
        if !tops.contains(from) {
            continue;
        }
        for to in crate_refs(&std::fs::read_to_string(&f).unwrap()) {
            if to != from && tops.contains(&to) {
                g.entry(from.to_string())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(rel.clone());
            }
        }
    }
    g
}

/// Every cycle found by a depth-first search, as `a → b → … → a` with the
/// files that make each edge.
fn cycles(g: &Graph) -> Vec<String> {
    fn dfs(
        g: &Graph,
        v: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == v) {
            let ring = &path[i..];
            let edges: Vec<String> = ring
                .iter()
                .zip(ring.iter().skip(1).chain([&ring[0]]))
                .map(|(a, b)| format!("{a} → {b} ({:?})", g[a][b]))
                .collect();
            out.push(edges.join(", "));
            return;
        }
        if done.contains(v) {
            return;
        }
        path.push(v.to_string());
        for to in g.get(v).into_iter().flat_map(|m| m.keys()) {
            dfs(g, to, path, done, out);
        }
        path.pop();
        done.insert(v.to_string());
    }
    let (mut done, mut out) = (BTreeSet::new(), Vec::new());
    for v in g.keys() {
        dfs(g, v, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

#[test]
fn crate_refs_reads_use_forms() {
    let text =
        "use crate::a::X;\nuse crate::{b::Y, c, d::{e, f}};\n// crate::g\nlet x = crate::h::f();";
    assert_eq!(crate_refs(text), ["a", "b", "c", "d", "h"]);
}

#[test]
fn cycles_are_found() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
    }
    let found = cycles(&g);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("a → b"), "{found:?}");
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph(&repo().join("src"));
    assert!(g.len() > 10, "the map looks empty: {g:?}");
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules:\n{}",
        found.join("\n")
    );
}

#[test]
fn nothing_below_cli_depends_on_cli() {
    let g = graph(&repo().join("src"));
    let users: Vec<_> = g
        .iter()
        .filter(|(_, to)| to.contains_key("cli"))
        .map(|(from, to)| format!("{from} ({:?})", to["cli"]))
        .collect();
    assert!(users.is_empty(), "modules that depend on cli: {users:?}");
}
