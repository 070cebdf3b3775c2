//! The config file's identity and times, looked at each tick: an edit (a
//! hand edit, a `nixos-rebuild switch` that points the `/etc` link at a new
//! store file) is read again as SIGHUP reads it ([`super::remount`]), so a
//! warning says what `diff` says of the config as it is now (trial s6 #12:
//! a `[[persistence]]` block refused after the watcher started was warned
//! about with "to keep it: … directories = [ … ]").

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What identifies one version of a file: device, inode, mtime and ctime
/// (seconds, nanoseconds), size. `None` when it cannot be stat'ed.
type Stamp = Option<(u64, u64, i64, i64, i64, i64, u64)>;

/// The config file and its stamp when last looked at.
#[derive(Debug, Clone)]
pub struct ConfigStamp {
    file: PathBuf,
    last: Stamp,
}

/// `file`'s stamp, following symbolic links (NixOS' `/etc` entries are
/// links into the store).
fn stamp(file: &std::path::Path) -> Stamp {
    let m = std::fs::metadata(file).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.len(),
    ))
}

impl ConfigStamp {
    /// Take `file`'s stamp now (right after the config was read).
    pub fn new(file: PathBuf) -> Self {
        let last = stamp(&file);
        ConfigStamp { file, last }
    }

    /// Whether the file changed (or appeared, or went) since the last
    /// look; one `stat`.
    pub fn changed(&mut self) -> bool {
        let now = stamp(&self.file);
        std::mem::replace(&mut self.last, now) != now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_a_replacement_and_a_removal_are_changes() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.toml");
        std::fs::write(&f, "version = 1\n").unwrap();
        let mut s = ConfigStamp::new(f.clone());
        assert!(!s.changed());
        std::fs::write(&f, "version = 1\n# more\n").unwrap();
        assert!(s.changed());
        assert!(!s.changed());
        let new = d.path().join("new");
        std::fs::write(&new, "version = 1\n# more\n").unwrap();
        std::fs::rename(&new, &f).unwrap();
        assert!(s.changed());
        std::fs::remove_file(&f).unwrap();
        assert!(s.changed());
        assert!(!s.changed());
    }
}
