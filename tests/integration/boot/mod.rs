//! `impermctl boot` on live vpsFree-like layouts (root, private mount
//! namespaces): binds, utab as findmnt sees it, machine-id, idempotence,
//! removal, refusal, symlink attacks, seeding, and a user-namespace run.

mod advice;
mod bad_blocks;
mod bad_entries;
mod copy_deleted;
mod core;
mod entries;
mod homes;
mod links;
mod live;
mod live_holders;
mod live_sockets;
mod moved;
mod nested;
mod perms;
mod quiet;
mod refused_elsewhere;
mod removed;
mod room;
mod roots;
mod safety;
mod seed;
mod shadowed;
mod units;
mod unsaved;
mod widen;

use crate::util::{self, Layout, in_vps};

pub use crate::util::SEED;

/// Bash helpers available to every body: `cfg TEXT` writes the config,
/// `mounts` prints the mount lines under `$R` (logical), `nmounts` counts
/// them, `listing` prints a stable listing of the tree (mode, owner, type, size, path),
/// `chroot_findmnt T` runs the real findmnt inside `$R` (so it reads `$R/run/mount/utab`
/// and sees logical mount points), `sum DIR` a digest of a tree's content and
/// metadata, `data_entries` declares `/srv/data` and `/etc/ssh/host_key`
/// (the seeding and moving tests' data), `kill_within MS ARGS` runs the binary
/// (itself, so the kill hits it) with ARGS and SIGKILLs it after a random
/// 0 to MS-1 milliseconds.
pub const HELPERS: &str = r#"
kill_within() {
  local ms=$1 pid; shift
  "$IMPERMCTL" --root "$R" --config "$CFG" "$@" >/dev/null 2>&1 & pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % ms)))"
  kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
}
cfg() { printf '%s' "$1" > "$CFG"; }
# sum DIR: digest of DIR's entries (mode, owner, type, path, link target),
# contents and hard-link groups (each file with the first path of its inode).
sum() { (cd "$1" && find . -printf '%M %u %g %y %p %l\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum
  find . -type f -printf '%i %p\n' | sort -k2 | awk '{ if (!($1 in g)) g[$1] = $2; print $2, g[$1] }') | sha256sum | cut -c1-16; }
data_entries() { printf '[[persistence.directories]]\npath = "/srv/data"\n[[persistence.files]]\npath = "/etc/ssh/host_key"\n' >> "$CFG"; }
mounts() { awk -v r="$R" '$5 == r || index($5, r "/") == 1 { p = substr($5, length(r) + 1); if (p == "") p = "/"; print p, $3, $4 }' /proc/self/mountinfo; }
nmounts() { mounts | wc -l; }
listing() { (cd "$R" && find . -path ./proc -prune -o -printf '%M %u %g %y %s %p\n' | sort); }
devof() { mounts | awk -v p="$1" '$1 == p { d = $2 } END { print d }'; }
chroot_findmnt() {
  if [ ! -e "$R/usr/bin/findmnt" ]; then
    mkdir -p "$R/usr" && mount --bind /usr "$R/usr"
    for l in bin lib lib64 sbin; do [ -e "$R/$l" ] || ln -s "usr/$l" "$R/$l"; done
    mount -t proc proc "$R/proc"
  fi
  chroot "$R" findmnt --mtab -no OPTIONS "$1"
}
"#;

/// Run `body` in a fresh layout with the helpers and the seed config written.
pub fn vps(layout: &Layout, body: &str) -> std::process::Output {
    let full = format!("{HELPERS}\ncfg '{SEED}'\n{body}");
    in_vps(layout, &full)
}

/// The value of `key=` lines printed by a body (the last one wins).
pub fn val(o: &std::process::Output, key: &str) -> String {
    let out = util::stdout(o);
    let prefix = format!("{key}=");
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| {
            panic!(
                "no {key}= in output\n--- stdout\n{out}\n--- stderr\n{}",
                util::stderr(o)
            )
        })
        .to_string()
}

/// Every line between `BEGIN key` and `END key`.
pub fn block(o: &std::process::Output, key: &str) -> String {
    let out = util::stdout(o);
    let (b, e) = (format!("BEGIN {key}"), format!("END {key}"));
    let mut inside = false;
    let mut lines = Vec::new();
    for l in out.lines() {
        if l == b {
            inside = true;
        } else if l == e {
            inside = false;
        } else if inside {
            lines.push(l);
        }
    }
    lines.join("\n")
}

/// Run a body of SIGKILL trials in a fresh default layout: it counts what
/// went wrong in `$bad` and the points the kills landed at in `$phases`.
/// Asserts that nothing went wrong; reports where the kills landed.
pub fn kill_trials(body: &str) {
    let o = vps(
        &Layout::default(),
        &format!(
            "bad=0; phases=\"\"\n{body}\necho \"bad=$bad\"\necho \"phases=$(tr ' ' '\\n' <<<\"$phases\" | sort | uniq -c | tr -s ' \\n' ' ')\"\n"
        ),
    );
    util::assert_code(&o, 0);
    assert_eq!(val(&o, "bad"), "0", "{}", dump(&o));
    eprintln!("kill points landed: {}", val(&o, "phases"));
}

/// Panic with both streams.
#[track_caller]
pub fn dump(o: &std::process::Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        util::stdout(o),
        util::stderr(o)
    )
}

/// Bash: `reboot_vps` simulates a reboot of the fake VPS: every mount under
/// `$R` except the "datasets" (`/persistent`, `/nix` and anything mounted
/// under them) is detached, the ephemeral root is emptied except for the
/// datasets' mount points and the config, and `/run` starts empty.
pub const REBOOT: &str = r#"
reboot_vps() {
  mounts | awk '{print $1}' | grep -v -e '^/$' -e '^/persistent' -e '^/nix' -e '^/data' | sort -r | while read -r m; do umount -l "$R$m"; done
  cp "$CFG" "$R/../config.keep"
  find "$R" -mindepth 1 -maxdepth 1 ! -name persistent ! -name nix ! -name data -exec rm -rf {} +
  mkdir -p "$R/etc/impermctl" "$R/run" "$R/proc"
  cp "$R/../config.keep" "$CFG"
  [ -e "$R/../passwd.keep" ] && cp "$R/../passwd.keep" "$R/etc/passwd" && cp "$R/../group.keep" "$R/etc/group"
  true
}
# Run a shell command chrooted into $R (links into /persistent resolve as on the VPS).
inroot() {
  if ! mountpoint -q "$R/usr" 2>/dev/null; then
    mkdir -p "$R/usr" && mount --bind /usr "$R/usr"
    for l in bin lib lib64 sbin; do [ -e "$R/$l" ] || ln -s "usr/$l" "$R/$l"; done
  fi
  chroot "$R" /bin/sh -c "$1"
}
"#;
