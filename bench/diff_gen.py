#!/usr/bin/env python3
"""B1 workload for `impermctl diff` (see docs/watcher-and-diff.md §6).

  diff_gen.py make ROOT TOP MID LEAF FILES
      ROOT/tAAA/mBBB/lCCC/fNNNN.dat (0-7 bytes). The first 20% of the top
      directories go to the two persisted dirs instead: ROOT/persistent/p0 and
      ROOT/persistent/p1 (another filesystem), bind-mounted by the caller on
      ROOT/p0 and ROOT/p1. Also a symlink into the persistent root.
  diff_gen.py change ROOT TOP MID LEAF FILES TRUTH
      After REF: appends a byte to 1% of the ephemeral files, creates 0.5% new
      files (every tenth with an old mtime, `touch -d 2001-01-01`), a new
      directory, writes through the binds and a new symlink into /persistent
      (neither may be reported). Writes the ground truth (logical paths of
      what `diff` must list) NUL-separated to TRUTH.
"""
import os
import sys

OLD = 978307200  # 2001-01-01


def leaves(top, mid, leaf):
    for t in range(top):
        for m in range(mid):
            for lf in range(leaf):
                yield t, f"t{t:03d}/m{m:03d}/l{lf:03d}"


def persisted(t, top):
    """Top dirs going to the persisted dirs: 20% of the tree, split in two."""
    n = max(2, top // 5)
    if t < n:
        return f"persistent/p{0 if t < n // 2 else 1}"
    return None


def make(root, top, mid, leaf, files):
    os.makedirs(os.path.join(root, "persistent"), exist_ok=True)
    for t, rel in leaves(top, mid, leaf):
        p = persisted(t, top)
        d = os.path.join(root, p, rel) if p else os.path.join(root, rel)
        os.makedirs(d, exist_ok=True)
        for f in range(files):
            with open(os.path.join(d, f"f{f:04d}.dat"), "wb") as fh:
                fh.write(b"x" * (f % 8))
    for p in ("p0", "p1"):
        os.makedirs(os.path.join(root, p), exist_ok=True)
        os.makedirs(os.path.join(root, "persistent", p), exist_ok=True)
    os.symlink("/persistent/p0", os.path.join(root, "link-to-p0"))


def change(root, top, mid, leaf, files, truth):
    out = []
    i = 0
    new_every = 200  # 0.5%
    for t, rel in leaves(top, mid, leaf):
        if persisted(t, top):
            continue
        d = os.path.join(root, rel)
        for f in range(files):
            i += 1
            if i % 100 == 0:  # 1% modified
                with open(os.path.join(d, f"f{f:04d}.dat"), "ab") as fh:
                    fh.write(b"y")
                out.append(f"/{rel}/f{f:04d}.dat")
            if i % new_every == 0:  # 0.5% created
                name = os.path.join(d, f"new{f:04d}.dat")
                with open(name, "wb") as fh:
                    fh.write(b"new")
                if (i // new_every) % 10 == 0:
                    os.utime(name, (OLD, OLD))
                out.append(f"/{rel}/new{f:04d}.dat")
    nd = os.path.join(root, "t-new")
    os.makedirs(nd)
    out.append("/t-new")
    for f in range(10):
        with open(os.path.join(nd, f"f{f}"), "wb") as fh:
            fh.write(b"n")
        out.append(f"/t-new/f{f}")
    # Never reported: through the binds, and a symlink into /persistent.
    for p in ("p0", "p1"):
        with open(os.path.join(root, p, "written-through-bind"), "wb") as fh:
            fh.write(b"p")
    os.symlink("/persistent/p1/x", os.path.join(root, "new-link-to-p1"))
    with open(truth, "wb") as fh:
        fh.write(b"".join(p.encode() + b"\0" for p in out))
    print(f"changed: {len(out)} paths in the ground truth")


def check(truth, got):
    """Set equality of two NUL-separated path lists; exit 1 when they differ."""
    def load(p):
        return set(open(p, "rb").read().split(b"\0")) - {b""}
    b, a = load(truth), load(got)
    print(f"  truth {len(b)}, reported {len(a)}, missing {len(b - a)}, extra {len(a - b)}",
          sorted(b - a)[:3], sorted(a - b)[:3])
    sys.exit(a != b)


def report(hyperfine_json):
    """Medians and ratios against the find anchor."""
    import json
    r = {x["command"]: x for x in json.load(open(hyperfine_json))["results"]}
    f = r["find"]["median"]
    for n, x in r.items():
        print(f"  {n:<30} median {x['median'] * 1000:7.1f} ms  (min {x['min'] * 1000:6.1f})"
              f"  ratio vs find {x['median'] / f:.2f}x")


def timing(runs, pairs, warmup=2):
    """Run the commands round-robin (so that load from other processes hits
    them alike), `warmup` rounds first; print wall and CPU medians and the
    ratio against the first command (the anchor)."""
    import shlex
    import statistics
    import subprocess
    import time
    cmds = [(pairs[i], shlex.split(pairs[i + 1])) for i in range(0, len(pairs), 2)]
    wall = {n: [] for n, _ in cmds}
    cpu = {n: [] for n, _ in cmds}
    for r in range(warmup + runs):
        for n, argv in cmds:
            t = time.perf_counter()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, _, ru = os.wait4(p.pid, 0)
            dt = time.perf_counter() - t
            if r >= warmup:
                wall[n].append(dt)
                cpu[n].append(ru.ru_utime + ru.ru_stime)
    anchor = cmds[0][0]
    fw, fc = statistics.median(wall[anchor]), statistics.median(cpu[anchor])
    for n, _ in cmds:
        w, c = statistics.median(wall[n]), statistics.median(cpu[n])
        print(f"  {n:<30} wall median {w * 1000:7.1f} ms (min {min(wall[n]) * 1000:6.1f})"
              f"  ratio {w / fw:.2f}x   cpu median {c * 1000:6.1f} ms  ratio {c / fc:.2f}x")


def main():
    if sys.argv[1] == "time":
        return timing(int(sys.argv[2]), sys.argv[3:])
    if sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "report":
        return report(sys.argv[2])
    cmd, root = sys.argv[1], sys.argv[2]
    top, mid, leaf, files = map(int, sys.argv[3:7])
    if cmd == "make":
        make(root, top, mid, leaf, files)
    elif cmd == "change":
        change(root, top, mid, leaf, files, sys.argv[7])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
