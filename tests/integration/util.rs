//! Helpers for the integration tests: the binary, fixtures, and a
//! vpsFree-like layout built from tmpfs "datasets" in a private mount
//! namespace (`unshare -m`), optionally entered through a user namespace
//! with a non-identity map (`tests/tools/userns-exec`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The seed configuration of the vpsFree guide, as config.toml.
pub const SEED: &str = include_str!("../fixtures/seed.toml");

/// The impermctl binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_impermctl"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shared mountinfo fixture (`../shared/fixtures/mountinfo/NAME`), copied
/// into `tests/fixtures/mountinfo` of this repository.
pub fn mountinfo_fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/mountinfo").join(name)
}

/// Run impermctl with `args`; the environment is cleared of IMPERMCTL_*.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("IMPERMCTL_CONFIG")
        .env("IMPERMCTL_LOG", "stderr")
        .output()
        .expect("run impermctl")
}

/// Run impermctl on the tree `root` (`--root`) with no config file (the
/// built-in defaults) and `args`.
pub fn run_at(root: &str, args: &[&str]) -> Output {
    run(&[&["--root", root, "--no-config"], args].concat())
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Is this process root? Privileged tests call `require_root!()`.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skip (with a message) when not root. CI runs as root and sets
/// `IMPERMCTL_REQUIRE_PRIVILEGED=1`, which turns a skip into a failure.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::util::is_root() {
            assert!(
                std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
                "privileged test run without root while IMPERMCTL_REQUIRE_PRIVILEGED is set"
            );
            eprintln!("skipped: needs root (mount namespaces, real mounts)");
            return;
        }
    };
}

/// Is the command `tool` on `PATH`?
pub fn has_tool(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Skip (with a message) when the command `tool` is not installed, which
/// is a failure under `IMPERMCTL_REQUIRE_PRIVILEGED` (CI: `run.sh test`
/// installs it).
#[macro_export]
macro_rules! require_tool {
    ($tool:expr) => {
        if !$crate::util::has_tool($tool) {
            assert!(
                std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
                "{} is needed",
                $tool
            );
            eprintln!("skipped: {} is not installed", $tool);
            return;
        }
    };
}

/// The path of systemd-journald, when installed.
pub fn journald() -> Option<&'static str> {
    [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
}

/// The path of systemd-journald; skip (with a message) when it is not
/// installed, which is a failure under `IMPERMCTL_REQUIRE_PRIVILEGED` (CI).
#[macro_export]
macro_rules! require_journald {
    () => {{
        let Some(journald) = $crate::util::journald() else {
            assert!(
                std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
                "systemd-journald is needed"
            );
            eprintln!("skipped: systemd-journald is not installed");
            return;
        };
        journald
    }};
}

/// Bash for an [`in_vps`] body: a private journald (tmpfs over
/// `/run/systemd` and `/run/log` of the namespace), `$J` its pid (killed at
/// exit); returns once its socket exists. `j ARGS` runs journalctl on its
/// journal for `SYSLOG_IDENTIFIER=impermctl`; `until_seen TEXT` polls
/// (deadline 20 s) until an entry of ours contains TEXT.
pub fn private_journald(journald: &str) -> String {
    format!(
        r#"
mount -t tmpfs tmpfs /run/systemd; mkdir -p /run/systemd/journal
mount -t tmpfs tmpfs /run/log
{journald} & J=$!
trap 'kill $J 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
j() {{ journalctl -D /run/log/journal --no-pager SYSLOG_IDENTIFIER=impermctl "$@"; }}
until_seen() {{ for i in $(seq 400); do j -o json | grep -q "$1" && return 0; sleep 0.05; done; return 1; }}
"#
    )
}

/// How to build the fake VPS.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Mount a separate "dataset" at /persistent (false: a plain directory on the root).
    pub persistent_mounted: bool,
    /// Mount /persistent read-only.
    pub persistent_ro: bool,
    /// Bind the root's own filesystem at /persistent (same device as /).
    pub persistent_on_root: bool,
    /// Source name of the root "dataset".
    pub root_source: String,
    /// Enter a user namespace with a non-identity map before running the body.
    pub userns: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            persistent_mounted: true,
            persistent_ro: false,
            persistent_on_root: false,
            root_source: "tank/ct/101.impermanence-c5a8b7".into(),
            userns: false,
        }
    }
}

/// A config that declares nothing: the same settings as `--no-config`
/// (`config::tests::the_empty_config_is_the_default_layout`).
pub const EMPTY_CONFIG: &str = "version = 1\n[[persistence]]\npath = \"/persistent\"\n";

/// Run a bash `body` inside a private mount namespace where a vpsFree-like
/// layout is mounted at `$R` (tmpfs "datasets": `$R` the ephemeral root,
/// `$R/persistent`, `$R/nix` read-only). `$IMPERMCTL` is the binary,
/// `$CFG` the config (`$R/etc/impermctl/config.toml`, [`EMPTY_CONFIG`]
/// until the body writes its own), and the helper `imp` runs
/// `$IMPERMCTL --root $R --config $CFG "$@"`.
/// Nothing leaks: the namespace dies with the shell.
pub fn in_vps(layout: &Layout, body: &str) -> Output {
    let tmp = tempfile::Builder::new()
        .prefix("impermctl-test-")
        .tempdir()
        .unwrap();
    let r = tmp.path().join("vps");
    let uid = if layout.userns { 100000 } else { 0 };
    let mut setup = format!(
        r#"set -euo pipefail
mount --make-rprivate /
R={r}
mkdir -p "$R"
mount -t tmpfs -o size=256m {src} "$R"
mkdir -p "$R/persistent" "$R/nix" "$R/etc/impermctl" "$R/run" "$R/proc"
cat > "$R/etc/impermctl/config.toml" <<'TOML'
{EMPTY_CONFIG}TOML
mount -t tmpfs -o size=64m tank/ct/101/nix "$R/nix"
mount -o remount,ro,bind "$R/nix" 2>/dev/null || mount -o remount,ro "$R/nix"
"#,
        r = shell_quote(&r),
        src = shell_quote(Path::new(&layout.root_source)),
    );
    if layout.persistent_on_root {
        setup.push_str("mkdir -p \"$R/.pdata\"\nmount --bind \"$R/.pdata\" \"$R/persistent\"\n");
    } else if layout.persistent_mounted {
        setup.push_str("mount -t tmpfs -o size=256m tank/ct/101 \"$R/persistent\"\n");
    }
    if layout.persistent_ro {
        setup.push_str("mount -o remount,ro,bind \"$R/persistent\"\n");
    }
    if uid != 0 {
        setup.push_str(&format!(
            "chown {uid}:{uid} \"$R\" \"$R/persistent\" \"$R/etc\" \"$R/etc/impermctl\" \"$R/etc/impermctl/config.toml\" \"$R/run\" \"$R/proc\"\n"
        ));
    }
    let common = format!(
        "R={r}\nIMPERMCTL={bin}\nCFG=\"$R/etc/impermctl/config.toml\"\nexport IMPERMCTL_LOG=stderr\nimp() {{ \"$IMPERMCTL\" --root \"$R\" --config \"$CFG\" \"$@\"; }}\n",
        r = shell_quote(&r),
        bin = shell_quote(&bin()),
    );
    let script_path = tmp.path().join("body.sh");
    std::fs::write(
        &script_path,
        format!("set -euo pipefail\n{common}{MKDEEP}{body}\n"),
    )
    .unwrap();
    let run_body = if layout.userns {
        format!(
            "chmod 755 {t}; chmod 644 {s}\n{tool} -- bash {s}",
            t = shell_quote(tmp.path()),
            s = shell_quote(&script_path),
            tool = shell_quote(&repo().join("tests/tools/userns-exec")),
        )
    } else {
        format!("bash {}", shell_quote(&script_path))
    };
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "bash", "-c"])
        .arg(format!("{setup}{run_body}"))
        .output()
        .expect("run unshare");
    drop(tmp);
    out
}

/// Bash for kill-point tests (needs `strace`; `$R` set): every call that
/// changes a file, a directory or a mount is a kill point.
/// `kill_points CMD...` runs CMD to completion and prints its kill points
/// in order, one a line, as `syscall:N` (the Nth call of that syscall);
/// `kill_at POINT CMD...` runs CMD and SIGKILLs it on entry to that call,
/// before it takes effect (strace's `inject=…:signal=KILL`), and succeeds
/// only when the kill landed. Killing before each point in turn reaches
/// every state a kill can leave, deterministically, where a random delay
/// mostly misses the short windows between two calls.
pub const KILL_POINTS: &str = r#"
CHANGES=mkdirat,renameat2,renameat,unlinkat,utimensat,fchown,fchownat,fchmod,fchmodat,fsetxattr,linkat,symlinkat,mount,move_mount,mount_setattr
kill_points() {
  strace -f -qq -o "$R/../points" -e trace=$CHANGES "$@" >/dev/null 2>&1 || return
  awk '$2 ~ /^[a-z_0-9]+\(/ { split($2, a, "("); c[a[1]]++; print a[1] ":" c[a[1]] }' "$R/../points"
}
kill_at() {
  local rc=0 sc=${1%:*} n=${1#*:}; shift
  strace -f -qq -o /dev/null -e trace=$sc -e inject=$sc:signal=KILL:when=$n "$@" >/dev/null 2>&1 || rc=$?
  [ $rc = 137 ]
}
"#;

/// Bash for every [`in_vps`] body: `mkdeep DIR LEVELS NAME BYTES` makes
/// `DIR/deep/` then LEVELS directories of 250-byte names, and in the last
/// the file NAME of BYTES bytes: a path longer than `PATH_MAX`, built one
/// directory fd at a time.
const MKDEEP: &str = r#"mkdeep() { python3 - "$@" <<'PY'
import os, sys
d, levels, name, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fd = os.open(d, os.O_RDONLY)
os.mkdir("deep", dir_fd=fd); fd = os.open("deep", os.O_RDONLY, dir_fd=fd)
for i in range(levels):
    n = ("%03d" % i) + "d" * 247
    os.mkdir(n, dir_fd=fd); fd = os.open(n, os.O_RDONLY, dir_fd=fd)
f = os.open(name, os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
os.write(f, b"x" * size); os.close(f)
PY
}
"#;

/// Quote a path for bash.
pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

/// Assert an exit code, printing both streams on failure.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}
