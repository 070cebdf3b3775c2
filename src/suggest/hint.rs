//! What to tell a user to add to the config so that paths bound now stay
//! persisted after a reboot: `persist` says it after binding, `diff` for
//! every bind from a persistence root that no entry declares
//! (`diff::unbound`). For one path as for several, the items to add to
//! each persistence root's lists ([`nix_snippet`], which keeps a copied
//! file's `method = "copy"`: a `environment.persistence."/persistent".
//! directories = …` definition beside the configuration's block is an
//! error in Nix: "attribute 'directories' already defined", trial s10 F16);
//! the TOML for the config file as it is written ([`toml_for_file`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Line, nix_snippet, toml_for_file};

/// The block `"\n{when} this to your NixOS configuration …:\n  <nix>or,
/// in impermctl's TOML config:\n  <toml>"` for `lines` under their
/// persistence roots, `file` the config (its edits name its lines);
/// `when` is `Add` or, before the paths are bound, `After that, add`.
/// Empty when there is nothing to add.
pub fn to_add(file: &Path, by_root: &BTreeMap<&Path, Vec<Line>>, when: &str) -> String {
    if by_root.values().all(Vec::is_empty) {
        return String::new();
    }
    let nix: String = (by_root.iter())
        .filter(|(_, l)| !l.is_empty())
        .map(|(root, lines)| nix_snippet(root, lines))
        .collect();
    let toml: String = (by_root.iter())
        .filter(|(_, l)| !l.is_empty())
        .map(|(root, lines)| toml_for_file(file, root, lines))
        .collect();
    format!(
        "\n{when} this to your NixOS configuration so that it stays persisted after a reboot:\n{}\
         or, in impermctl's TOML config:\n{}",
        indent(&nix),
        indent(&toml)
    )
}

/// Every line of `text` indented by two spaces.
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
