//! Tests of `sys::proc` against real processes.

use super::*;

fn cg(text: &str) -> Vec<ProcessCGroup> {
    text.lines()
        .map(|l| {
            let mut f = l.splitn(3, ':');
            ProcessCGroup {
                hierarchy: f.next().unwrap().parse().unwrap(),
                controllers: f
                    .next()
                    .unwrap()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                pathname: f.next().unwrap().to_string(),
            }
        })
        .collect()
}

#[test]
fn finds_the_unit_in_cgroup_files() {
    let unit = |t: &str| unit_of_cgroups(&cg(t));
    assert_eq!(
        unit("0::/system.slice/postgresql.service").as_deref(),
        Some("postgresql.service")
    );
    assert_eq!(
        unit("0::/user.slice/user-1000.slice/session-3.scope").as_deref(),
        Some("session-3.scope")
    );
    let hybrid = "12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/cron.service\n0::/";
    assert_eq!(unit(hybrid).as_deref(), Some("cron.service"));
    assert_eq!(unit("0::/init.slice"), None);
}

#[test]
fn reads_our_own_process() {
    let a = of_pid(Path::new("/proc"), std::process::id() as i32);
    assert!(a.comm.is_some());
    assert!(a.cmdline.is_some());
}

/// Poll `f` until it gives `Some`, for at most two seconds.
fn poll<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > end {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn finds_a_process_holding_the_file_open() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("held");
    std::fs::write(&f, b"x").unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$0\"; exec sleep 5")
        .arg(&f)
        .spawn()
        .unwrap();
    let found = poll(|| by_open_file(Path::new("/proc"), &f).pid);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(found, Some(child.id() as i32));
}

/// A writer of a file whose name is not UTF-8 is found; a reader is not.
#[test]
fn finds_writers_from_a_child_whatever_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(std::ffi::OsStr::from_bytes(b"held-\xff"));
    let r = dir.path().join("read-only");
    std::fs::write(&r, b"").unwrap();
    let mut child = std::process::Command::new("bash")
        .arg("-c")
        .arg("exec 3>>\"$0\"; exec 4<\"$0\"; exec 5<\"$1\"; sleep 30")
        .arg(&f)
        .arg(&r)
        .spawn()
        .unwrap();
    let pid = child.id();
    let found =
        poll(|| Some(writers_under(Path::new("/proc"), dir.path())).filter(|w| !w.is_empty()));
    child.kill().unwrap();
    child.wait().unwrap();
    let found = found.expect("the writer");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].pid, &found[0].file), (pid, &f));
    assert!(writers_under(Path::new("/proc"), &dir.path().join("other")).is_empty());
}

/// A child process running `script` with bash, killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bash(script: &str, args: &[&Path]) -> Child {
    Child(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .args(args)
            .spawn()
            .unwrap(),
    )
}

fn ids(paths: &[&Path]) -> std::collections::HashSet<(u64, u64)> {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).unwrap();
            (m.dev(), m.ino())
        })
        .collect()
}

/// Each way of holding is found and named: a directory fd, a file open for
/// writing, a writable shared mapping whose fd is closed, a working
/// directory; a read-only fd and a private mapping are not holders.
#[test]
fn finds_each_way_a_process_holds_a_file() {
    let t = tempfile::tempdir().unwrap();
    let (dir, wal, map, ro) = (
        t.path().join("d"),
        t.path().join("wal"),
        t.path().join("map"),
        t.path().join("ro"),
    );
    std::fs::create_dir(&dir).unwrap();
    for f in [&wal, &map, &ro] {
        std::fs::write(f, [0u8; 4096]).unwrap();
    }
    let set = ids(&[&dir, &wal, &map, &ro]);
    let opened = bash(
        "exec 3<\"$0\" 4>>\"$1\" 5<\"$2\"; exec sleep 30",
        &[&dir, &wal, &ro],
    );
    let cwd = bash("cd \"$0\" && exec sleep 30", &[&dir]);
    let mapper = Child(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import ctypes, os, sys, time\n\
                 libc = ctypes.CDLL(None, use_errno=True)\n\
                 libc.mmap.restype = ctypes.c_void_p\n\
                 libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]\n\
                 fd = os.open(sys.argv[1], os.O_RDWR)\n\
                 addr = libc.mmap(None, 4096, 3, 1, fd, 0)  # PROT_READ|PROT_WRITE, MAP_SHARED\n\
                 os.close(fd)\n\
                 p = open(sys.argv[2], \"rb\")  # a read-only fd: not a holder\n\
                 time.sleep(30)\n\
                 ",
            )
            .arg(&map)
            .arg(&ro)
            .spawn()
            .unwrap(),
    );
    let pids = [opened.0.id(), cwd.0.id(), mapper.0.id()];
    let found = poll(|| {
        let h: Vec<Holder> = holders_of(Path::new("/proc"), &set)
            .into_iter()
            .filter(|h| pids.contains(&h.pid))
            .collect();
        (h.len() >= 4).then_some(h)
    })
    .expect("four holders");
    let got: Vec<(u32, Hold, &Path)> = found
        .iter()
        .map(|h| (h.pid, h.how, h.file.as_path()))
        .collect();
    let mut want = vec![
        (pids[0], Hold::Open, dir.as_path()),
        (pids[0], Hold::Open, wal.as_path()),
        (pids[1], Hold::WorkingDirectory, dir.as_path()),
        (pids[2], Hold::Mapped, map.as_path()),
    ];
    want.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    assert_eq!(got, want);
    let shown = found.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert!(
        shown.contains(&format!(
            "pid {} (sleep) has its working directory in {}",
            pids[1],
            dir.display()
        )),
        "{shown:?}"
    );
    assert!(
        shown.contains(&format!(
            "pid {} (python3) has {} mapped for writing",
            pids[2],
            map.display()
        )),
        "{shown:?}"
    );
}
