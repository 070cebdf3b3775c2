#!/bin/bash
# Idle watcher CPU with many processes (the mapping/open-file scan every
# 5 s): NPROC sleeping processes, each holding a file of the root open for
# writing (NCHANGED of them written after the watcher started, so the scan
# judges them every time) and /dev/null. For each binary (A = $BASE_BIN,
# B = $NEW_BIN), interleaved RUNS times: the watcher's utime+stime over
# SECS seconds, idle, from 5 s after its start. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BASE_BIN:?release binary of main}" "${NEW_BIN:?binary under test}"
NPROC=${NPROC:-300} NCHANGED=${NCHANGED:-10} RUNS=${RUNS:-3} SECS=${SECS:-60} BACKEND=${BACKEND:-inotify}
W=$(mktemp -d /tmp/impermctl-bench-idle.XXXXXX)
trap 'rm -rf "$W"' EXIT
unshare -m --propagation private bash -c '
  set -euo pipefail
  W=$1 NPROC=$2 NCHANGED=$3 RUNS=$4 SECS=$5 BACKEND=$6 A=$7 B=$8
  R=$W/root; mkdir -p $R; mount -t tmpfs -o size=512m bench-root $R
  mkdir -p $R/var/log/app $R/run $R/etc $R/srv
  for i in $(seq $NPROC); do sleep 100000 </dev/null >/dev/null 2>&1 3>>$R/var/log/app/s$i.log & done
  ticks() { awk "{print \$14 + \$15}" /proc/$1/stat; }
  run() {
    rm -rf $R/run/impermctl
    "$1" --root $R --no-config watch --no-dbus --backend $BACKEND 2>/dev/null & local wp=$!
    for i in $(seq 600); do [ -s $R/run/impermctl/watch.json ] && break; sleep 0.05; done
    for i in $(seq $NCHANGED); do echo x >> $R/var/log/app/s$i.log; done
    sleep 5; local t0=$(ticks $wp); sleep $SECS; local t1=$(ticks $wp)
    kill $wp; wait $wp || true
    echo $((t1 - t0))
  }
  for r in $(seq $RUNS); do
    echo "run $r: A $(run $A) ticks, B $(run $B) ticks (per ${SECS} s, $(getconf CLK_TCK)/s; load $(cut -d" " -f1 /proc/loadavg))"
  done
  kill $(jobs -p) 2>/dev/null || true
' _ "$W" "$NPROC" "$NCHANGED" "$RUNS" "$SECS" "$BACKEND" "$BASE_BIN" "$NEW_BIN"
