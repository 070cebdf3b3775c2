#!/usr/bin/python3
"""Watcher benchmarks B2 (burst throughput and recall), B3 (start-up on
20,420 directories) and B5 (memory), with inotifywait and fatrace as anchors
measured in the same run. Run through bench/watch.sh (a private mount
namespace with a tmpfs root). Usage: watch_bench.py IMPERMCTL WRITER WORKDIR"""
import json, os, shutil, signal, statistics, subprocess, sys, threading, time

BIN, WRITER, W = sys.argv[1:4]
RUNS = int(os.environ.get("RUNS", "3"))
R = os.path.join(W, "root")
# An unwatched tmpfs of the same size: the paired workloads' other half.
TWIN = os.path.join(W, "twin")
# Written in pairs (watch_writer.c's paired mode): the ≥ 0.97× goals, which
# separate runs cannot resolve on a shared machine (their spread is ±20%).
PAIRED = ("ignored", "reported")
N, M = int(os.environ.get("N", "100000")), 100


def clear(root=R):
    for e in os.listdir(root):
        p = os.path.join(root, e)
        shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


def wait_line(stream, needle, timeout=60, keep=None):
    """Read stream until a line contains needle; keep draining afterwards
    (into the list `keep` when given)."""
    t0 = time.monotonic()
    for line in iter(stream.readline, b""):
        if needle in line:
            dt = time.monotonic() - t0
            sink = keep.append if keep is not None else (lambda _: None)
            threading.Thread(target=lambda: [sink(l) for l in iter(stream.readline, b"")], daemon=True).start()
            return dt
        if time.monotonic() - t0 > timeout:
            break
    raise RuntimeError(f"never saw {needle!r}")


_NO_CONFIG = {}


def no_config(binary):
    """`--no-config` when the binary knows it (a BASE_BIN from before it
    existed read no config when the default file was missing)."""
    if binary not in _NO_CONFIG:
        h = subprocess.run([binary, "--help"], capture_output=True).stdout
        _NO_CONFIG[binary] = ["--no-config"] if b"--no-config" in h else []
    return _NO_CONFIG[binary]


def start_impermctl(backend, binary=None):
    env = dict(os.environ, IMPERMCTL_LOG="stderr")
    t0 = time.monotonic()
    binary = binary or BIN
    p = subprocess.Popen([binary, "--root", R, *no_config(binary), "watch", "--backend", backend,
                          "--no-dbus", "--json-every", "0.5"], stderr=subprocess.PIPE, env=env)
    p.log = []
    wait_line(p.stderr, b"watching with", keep=p.log)
    return p, time.monotonic() - t0


def stop_impermctl(p):
    p.send_signal(signal.SIGTERM)
    p.wait()
    time.sleep(0.1)  # the stderr thread reads the last lines
    with open(os.path.join(R, "run/impermctl/watch.json")) as f:
        return json.load(f)


def start_inotifywait(out):
    t0 = time.monotonic()
    p = subprocess.Popen(["inotifywait", "-r", "-m", "-q", "-e", "create,close_write", "--format", "%w%f", R],
                         stdout=open(out, "w"), stderr=subprocess.PIPE)
    # -q hides "Watches established."; without it the line is on stderr.
    return p, t0


def start_inotifywait_ready():
    t0 = time.monotonic()
    p = subprocess.Popen(["inotifywait", "-r", "-m", "-e", "create", R],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_line(p.stderr, b"Watches established")
    return p, time.monotonic() - t0


def writer(target="b", cpu=False, paired=False):
    """The writer's files/s by the wall clock (with cpu: also per second of
    its own CPU time). Paired: files per CPU-second into the root, into the
    twin (written by the same process in alternating chunks of 1,000), and
    the ratio root / twin."""
    os.makedirs(os.path.join(R, target), exist_ok=True)
    args = [WRITER, os.path.join(R, target), str(M), str(N)]
    if paired:
        args += [os.path.join(TWIN, target), "1000"]
    out = subprocess.run(args, capture_output=True, check=True)
    got = tuple(float(x) for x in out.stdout.split())
    return got if cpu or paired else got[0]


def cpu_seconds(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def med(xs):
    return statistics.median(xs)


def b3():
    print(f"B3: start-up on the deep tree: 20 x 20 x 50 = 20,420 directories, 200,000 files (tmpfs), median of {RUNS + 2}")
    for a in range(int(os.environ.get("TREE", "20"))):
        for b in range(20):
            for c in range(50):
                leaf = os.path.join(R, "tree", f"t{a}", f"m{b}", f"l{c}")
                os.makedirs(leaf)
                for f in range(10):
                    open(os.path.join(leaf, f"f{f}.dat"), "w").close()
    res = {}
    for name in ("inotifywait -r", "impermctl inotify", "impermctl fanotify"):
        times, rss = [], []
        for _ in range(RUNS + 2):
            if name == "inotifywait -r":
                p, dt = start_inotifywait_ready()
                time.sleep(0.2)
                rss.append(status(p.pid)["VmRSS"])
                p.kill(); p.wait()
            else:
                p, dt = start_impermctl(name.split()[1])
                time.sleep(3)
                rss.append(status(p.pid)["VmRSS"])
                stop_impermctl(p)
            times.append(dt * 1000)
        res[name] = (med(times), med(rss))
    anchor = res["inotifywait -r"][0]
    for name, (t, r) in res.items():
        print(f"  {name:<20} ready in {t:7.1f} ms  ({t / anchor:.2f}x inotifywait)  idle RSS {r:5.1f} MiB")
    shutil.rmtree(os.path.join(R, "tree"))


WORKLOADS = {
    # name: (target directory under the root, warm-up write, description)
    "burst": ("b", False, "into a new group"),
    "ignored": ("tmp/b", False, "into a watch.ignore directory (/tmp)"),
    "reported": ("b", True, "into a group already reported"),
}


def variants():
    """(label, binary, backend): this build, and BASE_BIN (e.g. main) when
    set; B2_BACKENDS (e.g. "fanotify") keeps only those backends."""
    backends = os.environ.get("B2_BACKENDS", "inotify fanotify").split()
    v = [(f"impermctl {b}", BIN, b) for b in backends]
    if os.environ.get("BASE_BIN"):
        v += [(f"before    {b}", os.environ["BASE_BIN"], b) for b in backends]
    return v


def warm(target):
    """Write one file into the group and wait until watch.json reports it."""
    os.makedirs(os.path.join(R, target), exist_ok=True)
    with open(os.path.join(R, target, "warm"), "w") as f:
        f.write("x")
    group = "/" + target.split("/")[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(os.path.join(R, "run/impermctl/watch.json")) as f:
                if any(g["path"] == group for g in json.load(f)["groups"]):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{group} never reported")


def one_run(name, variant):
    target, pre, _ = WORKLOADS[name]
    paired = name in PAIRED
    clear()
    if paired:
        clear(TWIN)
        os.makedirs(os.path.join(TWIN, target))
        if pre:
            open(os.path.join(TWIN, target, "warm"), "w").write("x")
    if variant is None or variant == FLOOR:
        if pre:
            os.makedirs(os.path.join(R, target)); open(os.path.join(R, target, "warm"), "w").write("x")
        if variant == FLOOR:
            os.environ["FLOOR"] = "1"
        try:
            return writer(target, cpu=True, paired=paired), None
        finally:
            os.environ.pop("FLOOR", None)
    label, binary, backend = variant
    p, _ = start_impermctl(backend, binary)
    if pre:
        warm(target)
    c0 = cpu_seconds(p.pid)
    speed = writer(target, cpu=True, paired=paired)
    watcher_cpu = cpu_seconds(p.pid) - c0
    time.sleep(2.5)
    hwm = status(p.pid)["VmHWM"]
    w = stop_impermctl(p)
    events = next((int(l.split()[1].replace(b",", b"")) for l in p.log if b"events read" in l), None)
    if name == "ignored":
        recall = 1.0 if not any(x["path"].startswith("/tmp") for x in w["groups"]) else 0.0
    else:
        g = [x for x in w["groups"] if x["path"] == "/b"]
        recall = (g[0]["files"] if g else 0) / (N + pre)
    if os.environ.get("DEBUG"):
        print("    ", label, name, "overflows", w["overflows"], "events", events,
              [(x["path"], x["files"]) for x in w["groups"]])
    return speed, (recall, hwm, events, watcher_cpu)


def paired(per_cpu, base):
    """The median of each round's ratio to that round's run without a
    watcher (the rounds are interleaved, so a load that drifts between
    rounds cancels out)."""
    return med([c / b[1] for c, b in zip(per_cpu, base)])


def spread(xs):
    s = sorted(xs)
    return f"middle half {s[len(s) // 4]:.3f}–{s[(3 * len(s)) // 4]:.3f}, runs {s[0]:.3f}–{s[-1]:.3f}"


# The kernel's floor: the writer places the fanotify marks the watcher
# leaves there itself (watch_writer.c, FLOOR=1), nobody reads.
FLOOR = "floor"


def print_paired(name, target, desc, base, res, floor):
    """A paired workload's rows: per run, the writer's files per CPU-second
    into the root / into the unwatched twin; with no watcher (A/A) that
    ratio shows what pairing leaves of the machine's noise."""
    aa = med([b[2] for b in base])
    print(f"  B2 {name} ({desc}, /{target}), paired: files per CPU-second into the root / into the unwatched twin, "
          f"same writer, alternating chunks of 1,000  (load {os.getloadavg()[0]:.1f})")
    print(f"    {'no watcher (A/A)':<21} {aa:6.3f}  ({spread([b[2] for b in base])}; "
          f"into the root {med([b[0] for b in base]):,.0f} files per CPU-s)")
    f = [g[2] for g in floor]
    print(f"    {'fanotify marks alone':<21} {med(f):6.3f}  (÷ A/A {med(f) / aa:.3f}; {spread(f)}; the kernel's floor "
          "for fanotify here: the watcher's marks, placed by the writer, nobody reading)")
    for label, (_, got, recall, hwm, events, wcpu) in res.items():
        r = [g[2] for g in got]
        what = "no group under /tmp" if name == "ignored" else "recall"
        print(f"    {label:<21} {med(r):6.3f}  (÷ A/A {med(r) / aa:.3f}; {spread(r)})  {what} {min(recall) * 100:.3f}% (worst)  "
              f"events {med(events):,.0f}  watcher CPU {med(wcpu) * 1000:.0f} ms  VmHWM {med(hwm):.1f} MiB")
    for label, r in res.items():
        before = res.get(label.replace("impermctl", "before   "))
        if label.startswith("impermctl") and before:
            ab = sorted(c[2] / b[2] for c, b in zip(r[1], before[1]))
            print(f"    A/B {label.split()[1]}: paired ratio this build / before, per round: median {med(ab):.3f} "
                  f"(middle half {ab[len(ab) // 4]:.3f}–{ab[(3 * len(ab)) // 4]:.3f}, {len(ab)} rounds)")


def b2():
    print(f"B2: {M} new dirs x {N // M:,} files (open/write 64 B/close) on tmpfs, median of {RUNS}, "
          f"runs interleaved (no watcher, then each watcher, per round); load before: {os.getloadavg()}")
    only = os.environ.get("B2_WORKLOADS", "").split()
    for name, (target, _, desc) in WORKLOADS.items():
        if only and name not in only:
            continue
        base, res = [], {v[0]: ([], [], [], [], [], []) for v in variants()}
        floor = []
        for _ in range(RUNS):
            base.append(one_run(name, None)[0])
            if name in PAIRED:
                floor.append(one_run(name, FLOOR)[0])
            for v in variants():
                speed, (recall, hwm, events, wcpu) = one_run(name, v)
                wall, per_cpu = (None, speed) if name in PAIRED else speed
                r = res[v[0]]
                for i, x in enumerate((wall, per_cpu, recall, hwm, events or 0, wcpu)):
                    r[i].append(x)
        if name in PAIRED:
            print_paired(name, target, desc, base, res, floor)
            continue
        bw, bc = med([b[0] for b in base]), med([b[1] for b in base])
        if name == "burst":
            _BURST.append(bw)
        print(f"  B2 {name} ({desc}, /{target})")
        print(f"    {'':<21} {'wall files/s':>12} {'ratio':>6} {'CPU files/s':>12} {'ratio':>6}  (load {os.getloadavg()[0]:.1f})")
        print(f"    {'no watcher':<21} {bw:12.0f} {1:6.2f} {bc:12.0f} {1:6.2f}  "
              f"(runs {min(b[1] for b in base) / bc:.2f}–{max(b[1] for b in base) / bc:.2f})")
        for label, (wall, per_cpu, recall, hwm, events, wcpu) in res.items():
            what = "no group under /tmp" if name == "ignored" else "recall"
            print(f"    {label:<21} {med(wall):12.0f} {med(wall) / bw:6.2f} {med(per_cpu):12.0f} {med(per_cpu) / bc:6.2f}  "
                  f"(runs {min(per_cpu) / bc:.2f}–{max(per_cpu) / bc:.2f}, paired {paired(per_cpu, base):.2f})  {what} {min(recall) * 100:.3f}% (worst)  events {med(events):,.0f}  "
                  f"watcher CPU {med(wcpu) * 1000:.0f} ms  VmHWM {med(hwm):.1f} MiB")
        for label, r in res.items():
            before = res.get(label.replace("impermctl", "before   "))
            if label.startswith("impermctl") and before:
                ab = sorted(c / b for c, b in zip(r[1], before[1]))
                print(f"    A/B {label.split()[1]}: CPU files/s this build / before, per round: median {med(ab):.3f} "
                      f"(middle half {ab[len(ab) // 4]:.3f}–{ab[(3 * len(ab)) // 4]:.3f}, {len(ab)} rounds)")
    if os.environ.get("SKIP_ANCHORS"):
        return
    speeds, recall = [], []
    for _ in range(RUNS):
        clear()
        out = os.path.join(W, "inotifywait.out")
        p, _ = start_inotifywait(out)
        time.sleep(1.0)
        speeds.append(writer())
        time.sleep(2)
        p.kill(); p.wait()
        seen = set(l.strip() for l in open(out) if "/f" in l)
        recall.append(len(seen) / N)
    s = med(speeds)
    print(f"  anchors (burst, vs the burst's no-watcher speed above)")
    print(f"    inotifywait -r -m     {s:9.0f} files/s  {s / baseline_burst():.2f}x  recall {min(recall) * 100:.3f}% (worst run)")
    speeds = []
    for _ in range(RUNS):
        clear()
        p = subprocess.Popen(["fatrace", "-c", "-o", os.path.join(W, f"fatrace.{time.monotonic_ns()}.out")], cwd=R)
        time.sleep(1.0)
        speeds.append(writer())
        time.sleep(1)
        p.send_signal(signal.SIGINT); p.wait()
        for f in os.listdir(W):
            if f.startswith("fatrace."):
                os.unlink(os.path.join(W, f))
    s = med(speeds)
    print(f"    fatrace -c            {s:9.0f} files/s  {s / baseline_burst():.2f}x")


_BURST = []


def baseline_burst():
    if not _BURST:
        _BURST.append(med([one_run("burst", None)[0][0] for _ in range(RUNS)]))
    return _BURST[0]


if __name__ == "__main__":
    os.makedirs(R, exist_ok=True)
    if not os.environ.get("SKIP_B3"):
        b3()
    b2()
