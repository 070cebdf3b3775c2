#!/bin/bash
# B2 copy burst (trial s8 #15): `cp -a` of a TOP x SUB tree (a file in each
# directory, made in /tmp/src before the baseline) into /srv/dst on a tmpfs
# root in a private mount namespace, watched by BACKEND (none|inotify|fanotify).
# Prints the copy's wall time, the watcher's CPU (utime+stime ticks of
# /proc/PID/stat, 100/s) during the copy and until idle, whether the queue
# overflowed, and the files `diff -l` misses against `find -cnewer`.
# Usage (root): bench/watch_copy.sh BIN BACKEND [TOP SUB]
set -u
[ "${IN_NS:-}" ] || exec unshare -m --propagation private env IN_NS=1 "$0" "$@"
BIN=$1; BACK=$2; TOP=${3:-400}; SUB=${4:-100}
W=$(mktemp -d /tmp/impermctl-bench-copy.XXXXXX); R=$W/root; mkdir -p $R
trap 'umount -l $R/nix $R/persistent $R 2>/dev/null; rm -rf $W' EXIT
mount -t tmpfs -o size=2g tank/ct/101.impermanence-c5a8b7 $R
mkdir -p $R/{persistent,nix,etc/impermctl,run,proc,tmp,var/lib,srv}
mount -t tmpfs tank/ct/101/nix $R/nix && mount -o remount,ro,bind $R/nix
mount -t tmpfs tank/ct/101 $R/persistent
CFG=$R/etc/impermctl/config.toml
printf 'version = 1\n[[persistence]]\npath = "/persistent"\n' > $CFG
imp() { $BIN --root $R --config $CFG "$@"; }
python3 - $R/tmp/src $TOP $SUB <<'PY'
import os, sys
root, top, sub = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(top):
    for j in range(sub):
        d = f"{root}/d{i}/s{j}"
        os.makedirs(d)
        with open(d + "/f", "w") as fh: fh.write("0")
    with open(f"{root}/d{i}/f", "w") as fh: fh.write("0")
PY
imp baseline >/dev/null; sleep 1.1; touch $W/stamp; sleep 1.1
LOG=$W/log
if [ $BACK = none ]; then sleep 1000 & WPID=$!
else $BIN --root $R --config $CFG watch --no-dbus --backend $BACK > $LOG 2>&1 & WPID=$!
  for i in $(seq 100); do grep -q 'marked in\|watching with inotify' $LOG && break; sleep 0.2; done; sleep 1; fi
t() { awk '{print $14+$15}' /proc/$WPID/stat; }
c0=$(t); s0=$(date +%s.%N); cp -a $R/tmp/src $R/srv/dst; s1=$(date +%s.%N); c1=$(t)
prev=""; for i in $(seq 240); do sleep 0.5; s=$(t); [ "$s" = "$prev" ] && break; prev=$s; done; c2=$(t)
imp diff -l 2>/dev/null | awk '{print $NF}' | grep -v '/$' | sort > $W/listed
find $R/srv -xdev -cnewer $W/stamp -type f | sed "s|^$R||" | sort > $W/found
kill -TERM $WPID; wait $WPID 2>/dev/null
echo "$BACK: cp $(echo "$s1 - $s0" | bc) s; watcher CPU $((c1 - c0)) ticks during the copy, $((c2 - c0)) until idle;" \
  "overflow $(cat $LOG 2>/dev/null | grep -c 'queue overflowed'); files $(wc -l < $W/found), missing from diff -l $(comm -13 $W/listed $W/found | wc -l)"
grep -ho '[0-9,]* events read from the kernel; [0-9,]* director[a-z]* muted' $LOG 2>/dev/null | tail -1
