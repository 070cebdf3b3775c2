//! A manifest of a tree for tests that must prove nothing was lost: every
//! entry's path, type, mode, owner, size, mtime (ns), hard-link group, link
//! target and a content hash. Built with std only, independent of the code
//! under test.

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One entry: (type+mode, uid, gid, size, mtime ns, hard-link group, link
/// target or content hash). The group of a non-directory is the first path
/// (in order) in the tree with its inode: two names of one file in the tree
/// share it, a copy that split them does not (a link count would not tell:
/// a file linked from outside the tree has one more).
pub type Line = (u32, u32, u32, u64, i128, Vec<u8>, Vec<u8>);

/// path (relative, bytes) → entry.
pub type Manifest = BTreeMap<Vec<u8>, Line>;

/// The manifest of the tree at `root` (which may be a file).
pub fn manifest(root: &Path) -> Manifest {
    let mut m = Manifest::new();
    let mut inodes = BTreeMap::new();
    walk(root, b"", &mut m, &mut inodes);
    let mut leader: BTreeMap<(u64, u64), Vec<u8>> = BTreeMap::new();
    for (path, line) in m.iter_mut() {
        if let Some(id) = inodes.get(path) {
            line.5 = leader.entry(*id).or_insert_with(|| path.clone()).clone();
        }
    }
    m
}

fn walk(p: &Path, rel: &[u8], out: &mut Manifest, inodes: &mut BTreeMap<Vec<u8>, (u64, u64)>) {
    let md = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let ft = md.file_type();
    let extra = if ft.is_symlink() {
        std::fs::read_link(p)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec()
    } else if ft.is_file() {
        hash_file(p).to_le_bytes().to_vec()
    } else {
        Vec::new()
    };
    let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
    let size = if ft.is_dir() { 0 } else { md.size() };
    if !ft.is_dir() {
        inodes.insert(rel.to_vec(), (md.dev(), md.ino()));
    }
    out.insert(
        rel.to_vec(),
        (
            md.mode(),
            md.uid(),
            md.gid(),
            size,
            mtime,
            Vec::new(),
            extra,
        ),
    );
    if ft.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let mut r = rel.to_vec();
            r.push(b'/');
            r.extend_from_slice(e.file_name().as_bytes());
            walk(&e.path(), &r, out, inodes);
        }
    }
}

fn hash_file(p: &Path) -> u64 {
    let mut f = std::fs::File::open(p).unwrap();
    let mut h = std::hash::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return h.finish();
        }
        h.write(&buf[..n]);
    }
}

/// The first difference between two manifests, for assertion messages.
pub fn first_difference(a: &Manifest, b: &Manifest) -> Option<String> {
    for (k, v) in a {
        match b.get(k) {
            None => return Some(format!("{} missing", String::from_utf8_lossy(k))),
            Some(w) if w != v => {
                return Some(format!("{}: {v:?} vs {w:?}", String::from_utf8_lossy(k)));
            }
            _ => {}
        }
    }
    b.keys()
        .find(|k| !a.contains_key(*k))
        .map(|k| format!("{} extra", String::from_utf8_lossy(k)))
}

/// A small deterministic PRNG (xorshift64*) for randomized tests; the seed
/// is printed so that a failure can be replayed with `IMPERMCTL_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `IMPERMCTL_TEST_SEED`, else from the clock.
    pub fn from_env() -> Rng {
        let seed = std::env::var("IMPERMCTL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("random seed: IMPERMCTL_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    /// The next number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
