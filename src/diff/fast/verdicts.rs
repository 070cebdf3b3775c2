//! Whether nothing below a logical directory is looked at (it is left
//! out, walked whole, or below one that is not a directory), kept per
//! ancestor: the listed paths come sorted, so the next path's directory
//! shares most of them, and only its new components are looked up.

use crate::walk::under;

/// The verdicts of the last directory asked about and its ancestors.
pub(super) struct Verdicts {
    /// The last directory (logical; `""` for `/`).
    path: Vec<u8>,
    /// Per component of `path`: the length of its prefix, and whether it
    /// or an ancestor is out.
    levels: Vec<(usize, bool)>,
    /// The verdict of `/`.
    root: bool,
}

impl Verdicts {
    /// `root`: whether `/` itself is out.
    pub(super) fn new(root: bool) -> Verdicts {
        Verdicts {
            path: Vec::new(),
            levels: Vec::new(),
            root,
        }
    }

    /// Is the logical directory `dir`, or an ancestor, out? `own` says
    /// whether one directory (not `/`) is out by itself; it is asked once
    /// per component not shared with the last directory. Asking again
    /// after `own` changed for a directory already asked about needs
    /// [`Verdicts::forget`].
    pub(super) fn of(&mut self, dir: &[u8], own: impl Fn(&[u8]) -> bool) -> bool {
        let dir = if dir == b"/" { &b""[..] } else { dir };
        while let Some(&(len, _)) = self.levels.last() {
            if under(&self.path[..len], dir) {
                break;
            }
            self.levels.pop();
        }
        let (mut len, mut out) = self.levels.last().copied().unwrap_or((0, self.root));
        self.path.truncate(len);
        while len < dir.len() {
            let end = dir[len + 1..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(dir.len(), |i| len + 1 + i);
            self.path.extend_from_slice(&dir[len..end]);
            out = out || own(&dir[..end]);
            self.levels.push((end, out));
            len = end;
        }
        out
    }

    /// Forget every verdict (after `own` changed).
    pub(super) fn forget(&mut self) {
        self.levels.clear();
        self.path.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In any order, each directory's verdict is what asking every
    /// ancestor gives; a component shared with the last directory is not
    /// asked again.
    #[test]
    fn each_directory_as_its_ancestors_say_asking_each_once() {
        let outs: &[&[u8]] = &[b"/a/x", b"/b"];
        let own = |d: &[u8]| outs.contains(&d);
        let want = |d: &[u8]| outs.iter().any(|o| under(o, d));
        let dirs: &[&[u8]] = &[
            b"/", b"/a", b"/a/b/c", b"/a/b/d", b"/a/x", b"/a/x/y", b"/a/xy", b"/b/q", b"/c",
            b"/a/b", b"/",
        ];
        let mut v = Verdicts::new(false);
        let asked = std::cell::RefCell::new(Vec::new());
        for d in dirs {
            let got = v.of(d, |p| {
                asked.borrow_mut().push(p.to_vec());
                own(p)
            });
            assert_eq!(got, want(d), "{}", String::from_utf8_lossy(d));
        }
        // Only new components, and none below one that is out.
        let want_asked: Vec<&[u8]> = vec![
            b"/a", b"/a/b", b"/a/b/c", b"/a/b/d", b"/a/x", b"/a/xy", b"/b", b"/c", b"/a", b"/a/b",
        ];
        assert_eq!(asked.into_inner(), want_asked);
        assert!(Verdicts::new(true).of(b"/c", |_| false), "/ out: all out");
    }
}
