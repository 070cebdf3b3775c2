//! The walked subtrees' items merged into the listed ones in path order:
//! `diff` then finds its items sorted (one pass) instead of sorting them.

use crate::diff::Item;

/// Merge `more` (any order) into `items` (sorted by path): each run of
/// `more` that falls between two of `items` is moved in at once (one run
/// per walked subtree, give or take a sibling whose name sorts inside it).
pub(super) fn merge(items: &mut Vec<Item>, mut more: Vec<Item>) {
    more.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut from = 0;
    while let Some(first) = more.first() {
        let at = from + items[from..].partition_point(|i| i.path <= first.path);
        let n = match items.get(at) {
            Some(next) => more.partition_point(|m| m.path < next.path),
            None => more.len(),
        };
        items.splice(at..at, more.drain(..n));
        from = at + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Change;
    use crate::sys::meta::Kind;

    fn items(paths: &[&str]) -> Vec<Item> {
        paths
            .iter()
            .map(|p| Item {
                path: p.as_bytes().to_vec(),
                kind: Kind::File,
                change: Change::New,
                size: 0,
                ino: 0,
                nlink: 1,
                replaced: false,
            })
            .collect()
    }

    /// Every case gives what a sort of both gives: before, after, in
    /// between, interleaved (a sibling `/d-x` sorts inside `/d`'s walk),
    /// one side empty.
    #[test]
    fn merges_as_a_sort_would() {
        let table: [(&[&str], &[&str]); 7] = [
            (&["/a", "/c"], &["/b/2", "/b", "/b/1"]),
            (
                &["/t000/f", "/t001/f"],
                &["/t-new/f1", "/t-new", "/t-new/f0"],
            ),
            (&["/a"], &["/z/1", "/z"]),
            (&["/d-x", "/e"], &["/d/1", "/d", "/d/0"]),
            (&["/d", "/d-x/1", "/d.y"], &["/d/0", "/d-x", "/d-x/0", "/c"]),
            (&[], &["/b", "/a"]),
            (&["/a", "/b"], &[]),
        ];
        for (listed, walked) in table {
            let mut got = items(listed);
            merge(&mut got, items(walked));
            let mut want = items(&[listed, walked].concat());
            want.sort_unstable_by(|a, b| a.path.cmp(&b.path));
            assert_eq!(got, want, "{listed:?} + {walked:?}");
        }
    }
}
