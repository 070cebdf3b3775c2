//! `/run/mount/utab`: where libmount keeps userspace mount options (`x-*`)
//! that the kernel never sees. Writing a line here, under libmount's lock
//! (`flock` on `/run/mount/utab.lock`), makes `findmnt --mtab`, GIO and
//! udisks see `x-gvfs-hide` exactly as after `mount -o bind,x-gvfs-hide`.
//!
//! Format (util-linux `libmount/src/tab_update.c`, `tab_parse.c`): one mount
//! per line, `KEY=value` fields separated by spaces, values mangled
//! (`\040` space, `\011` tab, `\012` newline, `\134` backslash):
//! `SRC=tank/ct/101 TARGET=/etc/nixos ROOT=/etc/nixos BINDSRC=/persistent/etc/nixos OPTS=x-gvfs-hide`.
//! libmount attaches a line to the last kernel mount with the same
//! `TARGET`, `ROOT` and source (or the same `ID`, when both carry one).

use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// One utab line we write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtabEntry {
    /// The mount's source as mountinfo shows it.
    pub src: String,
    /// The mount point, as seen from the root the utab belongs to.
    pub target: PathBuf,
    /// The mount's root within its filesystem, as mountinfo shows it.
    pub root: PathBuf,
    /// The bind source path (informational for libmount).
    pub bindsrc: Option<PathBuf>,
    /// Userspace options, comma-separated (`x-gvfs-hide,x-gvfs-trash`).
    pub opts: String,
}

/// Escape a value the way libmount's `mangle()` does.
pub fn mangle(v: impl AsRef<std::ffi::OsStr>) -> String {
    let v = v.as_ref().as_bytes();
    let mut bytes = Vec::with_capacity(v.len());
    for &b in v {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => bytes.extend(format!("\\{b:03o}").bytes()),
            _ => bytes.push(b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The line for `e` (without the newline).
pub fn format_line(e: &UtabEntry) -> String {
    let (src, target, root) = (mangle(&e.src), mangle(&e.target), mangle(&e.root));
    let bind = (e.bindsrc.as_ref()).map_or(String::new(), |b| format!(" BINDSRC={}", mangle(b)));
    let opts = mangle(&e.opts);
    format!("SRC={src} TARGET={target} ROOT={root}{bind} OPTS={opts}")
}

/// The value of `key` on a utab line, unmangled.
pub fn field(line: &str, key: &str) -> Option<Vec<u8>> {
    line.split(' ')
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .map(|v| crate::mountinfo::unescape(v.as_bytes()))
}

/// The `TARGET=` of a line.
pub fn target_of(line: &str) -> Option<PathBuf> {
    field(line, "TARGET").map(|v| PathBuf::from(std::ffi::OsString::from_vec(v)))
}

/// The targets of the lines of the utab in the host directory `dir`
/// (empty when there is none).
pub fn targets(dir: &Path) -> io::Result<std::collections::HashSet<PathBuf>> {
    let utab = super::optional(std::fs::read_to_string(dir.join("utab")))?;
    Ok(utab
        .unwrap_or_default()
        .lines()
        .filter_map(target_of)
        .collect())
}

/// Update the utab in the host directory `dir` (normally `/run/mount`)
/// under libmount's lock: drop every line whose target is in `drop` or is
/// the target of an added entry, then append `add`. Other lines are kept
/// verbatim. Nothing is written when nothing changes.
pub fn update(dir: &Path, drop: &[PathBuf], add: &[UtabEntry]) -> io::Result<()> {
    if drop.is_empty() && add.is_empty() {
        return Ok(());
    }
    let path = dir.join("utab");
    if add.is_empty() && !path.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let _lock = super::fs::lock_file(&dir.join("utab.lock"))?;
    let old = super::optional(std::fs::read_to_string(&path))?.unwrap_or_default();
    let gone = |t: &Path| drop.iter().any(|d| d == t) || add.iter().any(|a| a.target == t);
    let mut out = String::with_capacity(old.len() + add.len() * 96);
    for line in old.lines() {
        if line.trim().is_empty() || target_of(line).is_some_and(|t| gone(&t)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for e in add {
        out.push_str(&format_line(e));
        out.push('\n');
    }
    if out == old {
        return Ok(());
    }
    super::fs::write_file_atomic(&path, out.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_libmounts() {
        let e = UtabEntry {
            src: "tank/ct/101".into(),
            target: "/srv/my data".into(),
            root: "/srv/my data".into(),
            bindsrc: Some("/persistent/srv/my data".into()),
            opts: "x-gvfs-hide".into(),
        };
        let l = format_line(&e);
        assert_eq!(
            l,
            r"SRC=tank/ct/101 TARGET=/srv/my\040data ROOT=/srv/my\040data BINDSRC=/persistent/srv/my\040data OPTS=x-gvfs-hide"
        );
        assert_eq!(target_of(&l).unwrap(), Path::new("/srv/my data"));
        assert_eq!(field(&l, "OPTS").unwrap(), b"x-gvfs-hide");
        assert_eq!(mangle("a\\b\tc\n"), r"a\134b\011c\012");
    }

    #[test]
    fn update_replaces_our_targets_and_keeps_the_rest() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("utab"),
            "SRC=/dev/sda1 TARGET=/boot ROOT=/ OPTS=x-initrd.mount\nSRC=x TARGET=/etc/nixos ROOT=/old OPTS=x-gvfs-hide\n",
        )
        .unwrap();
        let e = UtabEntry {
            src: "tank/ct/101".into(),
            target: "/etc/nixos".into(),
            root: "/etc/nixos".into(),
            bindsrc: None,
            opts: "x-gvfs-hide".into(),
        };
        update(d.path(), &[], std::slice::from_ref(&e)).unwrap();
        let s = std::fs::read_to_string(d.path().join("utab")).unwrap();
        assert_eq!(
            s,
            "SRC=/dev/sda1 TARGET=/boot ROOT=/ OPTS=x-initrd.mount\nSRC=tank/ct/101 TARGET=/etc/nixos ROOT=/etc/nixos OPTS=x-gvfs-hide\n"
        );
        assert!(d.path().join("utab.lock").exists());
        update(d.path(), &["/etc/nixos".into()], &[]).unwrap();
        let s = std::fs::read_to_string(d.path().join("utab")).unwrap();
        assert_eq!(s, "SRC=/dev/sda1 TARGET=/boot ROOT=/ OPTS=x-initrd.mount\n");
    }
}
