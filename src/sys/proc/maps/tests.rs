use super::*;

#[test]
fn only_shared_writable_file_mappings_are_kept() {
    let text = b"\
55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234                       /usr/bin/cat
7f0000000000-7f0000002000 rw-s 00000000 00:2d 77                         /var/lib/lmdb/data.mdb
7f0000002000-7f0000003000 r--s 00000000 00:2d 78                         /var/lib/ro.mdb
7f0000003000-7f0000004000 rw-p 00000000 00:2d 79                         /var/lib/private.db
7f0000004000-7f0000005000 -w-s 00001000 103:0a 80                        /srv/a b\\012c (deleted)
7f0000005000-7f0000006000 rw-s 00000000 00:01 0                          /dev/zero (deleted)
7f0000006000-7f0000007000 rwxs 00000000 00:2d 81                         /srv/x (deleted) y
7f0000007000-7f0000008000 rw-s 00000000 00:2d 82 
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
garbage
7f00 rw-s";
    let mut out = Vec::new();
    parse(7, text, &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|m| {
            (
                m.pid,
                m.dev,
                m.ino,
                String::from_utf8_lossy(&m.path).into_owned(),
                m.deleted,
            )
        })
        .collect();
    let dev = |a, b| rustix::fs::makedev(a, b);
    assert_eq!(
        got,
        [
            (7, dev(0, 0x2d), 77, "/var/lib/lmdb/data.mdb".into(), false),
            (7, dev(0x103, 0x0a), 80, "/srv/a b\nc".into(), true),
            (7, dev(0, 0x2d), 81, "/srv/x (deleted) y".into(), false),
            (7, dev(0, 0x2d), 82, String::new(), false),
        ]
    );
}

/// The child's mappings, as `(dev, ino, path, deleted)` of each.
type Seen = Vec<(u64, u64, Vec<u8>, bool)>;

fn of(scan: &Scan, pid: i32) -> Seen {
    let mut v: Seen = (scan.mappings.iter().filter(|m| m.pid == pid))
        .map(|m| (m.dev, m.ino, m.path.clone(), m.deleted))
        .collect();
    v.sort();
    v
}

/// A real process maps files shared and writable, each with its fd closed
/// after `mmap` (the mapping kept): one plainly named, one whose name has
/// a newline, one unlinked since, one deeper than `PATH_MAX`; and two it
/// must not be found for: shared read-only, private writable. Both readers
/// find the same (by `PROCMAP_QUERY` the deep one without its name, which
/// the kernel does not give past `PATH_MAX`), and `PROCMAP_QUERY` is used
/// wherever the kernel has it (6.11+).
#[test]
fn finds_real_shared_writable_mappings_by_query_and_by_text() {
    use std::io::BufRead;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    // Past PATH_MAX: made one directory at a time.
    let (mut deep, mut dir) = (
        t.path().to_path_buf(),
        std::fs::File::open(t.path()).unwrap(),
    );
    for i in 0..18 {
        let n = format!("{i:02}{}", "d".repeat(240));
        rustix::fs::mkdirat(&dir, &n, Mode::from_raw_mode(0o755)).unwrap();
        dir = openat(&dir, &n, OFlags::DIRECTORY, Mode::empty())
            .unwrap()
            .into();
        deep.push(n);
    }
    let flags = OFlags::CREATE | OFlags::WRONLY;
    let deep_fd = openat(&dir, "f", flags, Mode::from_raw_mode(0o644)).unwrap();
    rustix::io::write(&deep_fd, &[0u8; 4096]).unwrap();
    let files = [
        t.path().join("shared"),
        t.path().join("a b\nc"),
        t.path().join("unlinked"),
        deep.join("f"),
        t.path().join("readonly"),
        t.path().join("private"),
    ];
    let ids: Vec<(u64, u64)> = (files.iter().enumerate())
        .map(|(i, f)| {
            if i == 3 {
                let st = rustix::fs::fstat(&deep_fd).unwrap();
                return (st.st_dev, st.st_ino);
            }
            std::fs::write(f, [0u8; 4096]).unwrap();
            let md = std::fs::metadata(f).unwrap();
            (md.dev(), md.ino())
        })
        .collect();
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import mmap, os, sys, time\n\
             S, RW = mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE\n\
             def op(path, mode):\n\
             \x20   d, parts = os.open('/', os.O_RDONLY), path.split('/')[1:]\n\
             \x20   for c in parts[:-1]:\n\
             \x20       n = os.open(c, os.O_RDONLY | os.O_DIRECTORY, dir_fd=d); os.close(d); d = n\n\
             \x20   fd = os.open(parts[-1], mode, dir_fd=d); os.close(d); return fd\n\
             def m(path, flags, prot, mode):\n\
             \x20   fd = op(path, mode)\n\
             \x20   r = mmap.mmap(fd, 4096, flags=flags, prot=prot); os.close(fd); return r\n\
             keep = [m(p, S, RW, os.O_RDWR) for p in sys.argv[1:5]]\n\
             keep.append(m(sys.argv[5], S, mmap.PROT_READ, os.O_RDONLY))\n\
             keep.append(m(sys.argv[6], mmap.MAP_PRIVATE, RW, os.O_RDWR))\n\
             os.unlink(sys.argv[3])\n\
             print('mapped', flush=True); time.sleep(60)\n",
        )
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let proc = Path::new("/proc");
    let pid = child.id() as i32;
    let (by_query, by_text) = (scan(proc, true), scan(proc, false));
    // Straight from the kernel: does it have PROCMAP_QUERY?
    let maps = std::fs::File::open(format!("/proc/{pid}/maps")).unwrap();
    let mut name = Box::new([0u8; procmap::NAME_MAX]);
    let mut asked = 0;
    let has_query = procmap::shared_writable(maps.as_fd(), &mut name, |_, _, _| asked += 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(line.trim(), "mapped");
    let (by_query, by_text) = (by_query.unwrap(), by_text.unwrap());
    for s in [&by_query, &by_text] {
        assert!(
            s.mappings
                .iter()
                .all(|m| m.pid != std::process::id() as i32)
        );
    }
    let want = |deep_name: bool| {
        let mut v: Seen = (0..4)
            .map(|i| {
                let path = files[i].as_os_str().as_bytes().to_vec();
                let path = if i == 3 && !deep_name { vec![] } else { path };
                (ids[i].0, ids[i].1, path, i == 2)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(of(&by_text, pid), want(true), "by the text");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let version: Vec<u32> = (release.split(['.', '-']).take(2))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    if version < vec![6, 11] {
        assert_eq!(has_query, Ok(false), "{release}");
        assert_eq!(
            of(&by_query, pid),
            want(true),
            "an older kernel: by the text"
        );
    } else {
        assert_eq!((has_query, asked), (Ok(true), 4), "{release}");
        assert_eq!(of(&by_query, pid), want(false), "by PROCMAP_QUERY");
    }
}
