#!/bin/bash
# B5 soak: the watcher's memory under a steady write load (B2 "steady":
# 5,000 ops/s over 1,000 directories: 70% create+write, 20% rewrite, 5%
# rename, 5% unlink) for DURATION seconds (default 600), VmRSS sampled every
# second; at most 50,000 files alive (creates then replace old files). Prints the first and last minute's medians and the peak: "flat"
# means the last minute is not above the first by more than a little. The idle
# VmRSS (2 s after start, before the load) is printed first.
# Needs root (a private mount namespace with a tmpfs root).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
BACKEND=${BACKEND:-inotify}
BIN=${IMPERMCTL_BIN:-$PWD/target/release/impermctl}
[ -x "$BIN" ] || cargo build --release --quiet
W=$(mktemp -d /tmp/impermctl-soak.XXXXXX)
trap 'rm -rf "$W"' EXIT
unshare -m --propagation private bash -c "
set -euo pipefail
R='$W/root'; mkdir -p \$R; mount -t tmpfs -o size=2g soak-root \$R
mkdir -p \$R/run \$R/data
for i in \$(seq 0 999); do mkdir \$R/data/d\$i; done
printf 'version = 1\n[[persistence]]\npath = \"/persistent\"\n' > '$W/config.toml'
IMPERMCTL_LOG=stderr '$BIN' --root \$R --config '$W/config.toml' watch --backend $BACKEND --no-dbus 2>'$W/watch.log' & WP=\$!
sleep 2
echo \"idle (2 s after start, before the load): \$(grep VmRSS /proc/\$WP/status | tr -s ' ')\"
python3 - \$R/data $DURATION \$WP <<'PY'
import os, random, statistics, sys, time
base, duration, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rate, rnd = 5000, random.Random(1)
live = []
def rss():
    v = {}
    for l in open(f'/proc/{pid}/status'):
        k, _, x = l.partition(':')
        if k in ('VmRSS', 'RssAnon', 'RssFile'): v[k] = int(x.split()[0]) / 1024
    return v['VmRSS'], v['RssAnon'], v['RssFile']
samples, ops, n = [], 0, 0
start = time.monotonic(); next_sample = start
while (now := time.monotonic()) - start < duration:
    for _ in range(rate // 100):
        r = rnd.random(); d = f'{base}/d{rnd.randrange(1000)}'
        if r < 0.70 or not live:
            if len(live) >= 50000:  # steady state: the tree stops growing
                os.unlink(live.pop(rnd.randrange(len(live))))
            p = f'{d}/f{n}'; n += 1
            with open(p, 'wb') as f: f.write(b'x' * 64)
            live.append(p)
        elif r < 0.90:
            with open(rnd.choice(live), 'ab') as f: f.write(b'y')
        elif r < 0.95:
            i = rnd.randrange(len(live)); q = live[i] + 'r'; os.rename(live[i], q); live[i] = q
        else:
            os.unlink(live.pop(rnd.randrange(len(live))))
        ops += 1
    if now >= next_sample:
        samples.append(rss()); next_sample += 1
    time.sleep(max(0, start + ops / rate - time.monotonic()))
print(f'soak: {duration:.0f} s, {ops:,} ops ({ops / duration:,.0f}/s), {len(live):,} files alive')
print('minute  VmRSS  RssAnon  RssFile  (MiB, medians)')
for m in range(0, len(samples), 60):
    mm = samples[m:m + 60]
    print(f'{m // 60 + 1:>6}  ' + '  '.join(f'{statistics.median(s[i] for s in mm):>6.2f}' for i in range(3)))
rs = [s[0] for s in samples]
if os.environ.get('SOAK_SAMPLES'):  # every second's VmRSS, RssAnon, RssFile (MiB)
    with open(os.environ['SOAK_SAMPLES'], 'w') as f:
        f.writelines(f'{i} {a:.3f} {b:.3f} {c:.3f}\n' for i, (a, b, c) in enumerate(samples))
first, last = rs[:60], rs[-60:]
print(f'VmRSS MiB: first minute median {statistics.median(first):.1f}, last minute median {statistics.median(last):.1f}, peak {max(rs):.1f}')
print(f'growth last vs first minute: {statistics.median(last) - statistics.median(first):+.1f} MiB')
PY
grep VmHWM /proc/\$WP/status
echo \"watcher CPU (user + system): \$(awk '{printf \"%.1f s\", (\$14 + \$15) / 100}' /proc/\$WP/stat)\"
grep -c overflow '$W/watch.log' | sed 's/^/log lines about an overflow: /' || true
kill -TERM \$WP; wait \$WP || true
"
