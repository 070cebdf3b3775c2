//! The backend as a config key (trial-s10 F9): `[watch] backend` chooses
//! it where the service's command line cannot be edited (NixOS renders the
//! config; a drop-in under /etc is lost with a wiped root); `--backend`
//! still overrides it.

use super::{watch_config, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

fn backend_with(config: &str, args: &str) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let before = watch_config(&format!("backend = \"{config}\""));
    with_watcher(tmp.path(), &Layout::default(), args, &before, "");
    watch_json(tmp.path())["backend"].clone()
}

#[test]
fn the_config_chooses_the_backend_and_the_flag_overrides_it() {
    require_root!();
    // As root here `auto` takes fanotify: inotify comes from the key.
    assert_eq!(backend_with("inotify", ""), "inotify");
    assert_eq!(backend_with("inotify", "--backend fanotify"), "fanotify");
    assert_eq!(backend_with("fanotify", "--backend inotify"), "inotify");
}
