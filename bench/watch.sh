#!/bin/bash
# Watcher benchmarks B2/B3/B5 (see docs/watcher-and-diff.md): builds the C
# writer and the release binary, then runs bench/watch_bench.py in a private
# mount namespace on a tmpfs root. Needs root, inotify-tools and fatrace.
# RUNS=N sets the number of runs per variant (default 3); B2_WORKLOADS
# (e.g. "ignored reported") runs only those B2 workloads, B2_BACKENDS (e.g.
# "fanotify") only those watcher backends. The ignored and reported
# workloads are written in pairs with an unwatched twin tmpfs
# (watch_writer.c). IMPERMCTL_BIN: the
# binary (as bench/soak.sh; else a release build of this tree); BASE_BIN: a
# second binary (e.g. main) measured in the same rounds (watch_bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/impermctl-bench-watch.XXXXXX)
trap 'rm -rf "$W"' EXIT
cc -O2 -o "$W/writer" bench/watch_writer.c
BIN=${IMPERMCTL_BIN:-$PWD/target/release/impermctl}
[ -n "${IMPERMCTL_BIN:-}" ] || cargo build --release --quiet
cp "$BIN" "$W/impermctl"
unshare -m --propagation private bash -c "
  mkdir -p '$W/root' '$W/twin' && mount -t tmpfs -o size=2g bench-root '$W/root' &&
  mount -t tmpfs -o size=2g bench-twin '$W/twin' &&
  python3 bench/watch_bench.py '$W/impermctl' '$W/writer' '$W'"
