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

/// The pid written to `f` by a test's script, once it is there.
fn pid_in(f: &Path) -> i32 {
    poll(|| std::fs::read_to_string(f).ok()?.trim().parse().ok()).expect("a pid")
}

/// `kill -9 PID` of a process a test's script started.
fn kill(pid: i32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

/// A reader that opened the file first is not named: the writer is.
#[test]
fn names_the_writer_of_a_file_not_a_reader() {
    let t = tempfile::tempdir().unwrap();
    let (f, ready) = (t.path().join("held"), t.path().join("ready"));
    std::fs::write(&f, b"x").unwrap();
    let reader = bash("exec 3<\"$0\"; exec sleep 30", &[&f]);
    poll(|| (by_open_file_any(&f) == Some(reader.0.id() as i32)).then_some(()));
    let writer = bash(
        "exec 3>>\"$0\"; echo x >&3; echo $$ > \"$1\"; exec sleep 30",
        &[&f, &ready],
    );
    assert_eq!(pid_in(&ready), writer.0.id() as i32);
    assert_eq!(
        by_open_file(Path::new("/proc"), &f, false).pid,
        Some(writer.0.id() as i32)
    );
}

/// Trial s5: `sh -c 'exec 3>f; sleep 100 & echo x >&3'`: the shell wrote,
/// `sleep` only inherited fd 3. While the shell runs it is named; once it
/// exited, nobody is (the idle `sleep` made no write), never `sleep`.
#[test]
fn a_child_that_only_inherited_the_fd_is_not_named() {
    let t = tempfile::tempdir().unwrap();
    let (f, pids) = (t.path().join("f"), t.path().join("pids"));
    let sh = bash(
        "exec 3>\"$0\"; sleep 30 & echo x >&3; echo $! > \"$1\"; wait",
        &[&f, &pids],
    );
    let sleep = pid_in(&pids);
    assert_eq!(
        by_open_file(Path::new("/proc"), &f, false).pid,
        Some(sh.0.id() as i32)
    );
    drop(sh);
    let (f2, pids2) = (t.path().join("f2"), t.path().join("pids2"));
    let mut sh = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3>\"$0\"; sleep 30 & echo $! > \"$1\"; echo x >&3")
        .args([&f2, &pids2])
        .spawn()
        .unwrap();
    sh.wait().unwrap();
    let orphan = pid_in(&pids2);
    let named = by_open_file(Path::new("/proc"), &f2, false).pid;
    let held = by_open_file_any(&f2);
    kill(sleep);
    kill(orphan);
    assert_eq!(held, Some(orphan), "sleep holds f2 open for writing");
    assert_eq!(named, None);
}

/// A file just created by `open` (nothing written yet): its creator is
/// named for the creation, and for a write nobody (it made none).
#[test]
fn the_creator_is_named_for_a_creation_before_it_writes() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("f");
    let sh = bash("exec 3>\"$0\"; exec sleep 30", &[&f]);
    let pid = sh.0.id() as i32;
    poll(|| (by_open_file_any(&f) == Some(pid)).then_some(()));
    assert_eq!(by_open_file(Path::new("/proc"), &f, true).pid, Some(pid));
    assert_eq!(by_open_file(Path::new("/proc"), &f, false).pid, None);
}

/// A forked child writes through the fd its parent opened (the parent
/// wrote elsewhere, a grandchild only inherited it): the child is named.
#[test]
fn a_forked_writer_is_named_not_its_parent() {
    let t = tempfile::tempdir().unwrap();
    let (f, me, child) = (
        t.path().join("f"),
        t.path().join("me"),
        t.path().join("child"),
    );
    let idle = t.path().join("idle");
    let parent = bash(
        "exec 3>\"$0\"; echo $$ > \"$1\"; ( echo x >&3; sleep 30 & echo $! > \"$3\"; echo $BASHPID > \"$2\"; wait ) & wait",
        &[&f, &me, &child, &idle],
    );
    assert_eq!(pid_in(&me), parent.0.id() as i32);
    let writer = pid_in(&child);
    let named = by_open_file(Path::new("/proc"), &f, false).pid;
    kill(pid_in(&idle));
    kill(writer);
    assert_eq!(named, Some(writer));
}

/// Any process holding `f` open for writing (the lowest pid), whatever it did.
fn by_open_file_any(f: &Path) -> Option<i32> {
    let m = std::fs::metadata(f).ok()?;
    let mut found = None;
    open_files(Path::new("/proc"), |p, link, _| {
        let same = std::fs::metadata(link).is_ok_and(|l| (l.dev(), l.ino()) == (m.dev(), m.ino()));
        if same && found.is_none() {
            found = Some(p.pid);
        }
    });
    found
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

/// Trial-s11 N11: a process listening on a unix socket in a subdirectory
/// holds nothing there that the other scans see; it is found as
/// [`Hold::Listening`], once although its forked child holds the socket
/// too (php-fpm's workers). A socket file nobody listens on, an abstract
/// name that looks like a path there, and a client connected to a socket
/// there are not.
#[test]
fn finds_a_process_listening_on_a_unix_socket_below_a_directory() {
    use std::io::BufRead;
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("var/lib/x");
    std::fs::create_dir_all(dir.join("run/sub")).unwrap();
    let code = "import ctypes, os, socket, sys, time\n\
        d = sys.argv[1]\n\
        stale = socket.socket(socket.AF_UNIX); stale.bind(d + '/stale.sock'); stale.close()\n\
        ab = socket.socket(socket.AF_UNIX); ab.bind('\\0' + d + '/abstract.sock'); ab.listen()\n\
        s = socket.socket(socket.AF_UNIX); s.bind(d + '/run/sub/app.sock'); s.listen()\n\
        c = socket.socket(socket.AF_UNIX); c.connect(d + '/run/sub/app.sock')\n\
        if os.fork() == 0:\n\
        \x20   ctypes.CDLL(None).prctl(1, 9)\n\
        \x20   time.sleep(30)\n\
        print(1, flush=True)\n\
        time.sleep(30)\n";
    let mut c = Child(
        std::process::Command::new("python3")
            .args(["-c", code])
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(c.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let found = writers_under(Path::new("/proc"), &dir);
    let pid = c.0.id();
    drop(c);
    let got: Vec<(u32, Hold, &Path)> = (found.iter())
        .map(|w| (w.pid, w.how, w.file.as_path()))
        .collect();
    let sock = dir.join("run/sub/app.sock");
    assert_eq!(got, [(pid, Hold::Listening, sock.as_path())], "{found:?}");
    assert_eq!(
        found[0].to_string(),
        format!(
            "pid {pid} (python3) listens on the unix socket {} (a bind over it hides the socket: its clients get \"Connection refused\" until it restarts)",
            sock.display()
        )
    );
}
