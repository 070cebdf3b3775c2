#!/usr/bin/env bash
# B1: `impermctl diff` over 200,000 files (wide 20x10x10x100, deep 20x20x50x10)
# on tmpfs and ext4 (loop image), 1% modified + 0.5% created after REF, 20% of
# the tree in two persisted dirs bind-mounted from another filesystem, a
# symlink into /persistent, files with old mtimes. Checks the result against
# the generator's ground truth (PASS/FAIL), then times it against
# `find ROOT -xdev -newer REF` measured in the same run: hyperfine medians,
# and an own round-robin harness (wall and CPU medians; fairer when other
# processes load the machine, since every command sees the same load).
# Order, as a real system has it: the tree exists, then the baseline is
# taken, the watcher started, and only then come the changes.
# Two modes are timed: the watcher's list (`impermctl watch` runs from the
# baseline on, `diff` asks it what changed and stats only that) and the walk
# (`diff --no-watcher`). Shape wide1m (1,000,000 files, tmpfs only) is the
# large variant. The daemon's CPU per answer is printed apart (the harness
# counts the diff process only; the watcher looks up each listed path's
# baseline record for diff, in the baseline it holds).
# Needs root (mounts in a private namespace). IMPERMCTL_BIN: the binary;
# TMPDIR: where the work directory (and the ext4 image) go (e.g. /dev/shm).
# B1_SHAPES / B1_FS restrict the matrix, e.g. B1_SHAPES=wide B1_FS=tmpfs
# (default: wide deep on tmpfs and ext4, then wide1m on tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IMPERMCTL_BIN:-$PWD/target/release/impermctl}
[ -x "$BIN" ] || cargo build --release --quiet
SHAPES=${B1_SHAPES:-"wide deep wide1m"}
FSES=${B1_FS:-"tmpfs ext4"}
RUNS=${B1_RUNS:-15}
export BIN RUNS GEN="$PWD/bench/diff_gen.py"

one() { # fs shape
  local fs=$1 shape=$2 dims
  case $shape in
    wide) dims="20 10 10 100" size=3g ;;
    deep) dims="20 20 50 10" size=3g ;;
    wide1m) dims="20 10 50 100" size=8g ;; # 1,000,000 files, 10,220 dirs
  esac
  [ "$shape" = wide1m ] && [ "$fs" != tmpfs ] && return 0
  W=$(mktemp -d "${TMPDIR:-/tmp}/impermctl-b1.XXXXXX")
  export W fs shape dims size
  cat > "$W/inner.sh" <<'INNER'
    R=$W/root; mkdir -p "$R"
    if [ "$fs" = ext4 ]; then
      truncate -s 3G "$W/img"; mkfs.ext4 -q -F "$W/img"; mount -o loop "$W/img" "$R"
    else
      mount -t tmpfs -o size=$size b1root "$R"
    fi
    mkdir -p "$R/persistent"; mount -t tmpfs -o size=2g b1persist "$R/persistent"
    python3 "$GEN" make "$R" $dims
    mount --bind "$R/persistent/p0" "$R/p0"; mount --bind "$R/persistent/p1" "$R/p1"
    # As on a real system: the tree exists well before the boot baseline is
    # taken (the baseline's origin is its walk's start minus 1 s for the
    # coarse file clock; a tree written in that second would be listed
    # again by the watcher's start-up rescan), the watcher runs from just
    # after the baseline, and only then do the changes come.
    sleep 2.1
    printf "version = 1\n[layout]\nephemeral_root = \"any\"  # the bench roots are ext4/tmpfs test trees\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/p0\"\n[[persistence.directories]]\npath = \"/p1\"\n# no /tmp in the bench roots: nothing ignored (a watch.ignore path on the\n# compared filesystem makes diff walk, see README)\n[watch]\nignore = []\n" > "$W/config.toml"
    imp() { "$BIN" --root "$R" --config "$W/config.toml" "$@"; }
    imp diff --capture-baseline 2>/dev/null
    # The binary itself in the background (a function would leave $! the
    # subshell's pid, and the watcher running after the bench).
    "$BIN" --root "$R" --config "$W/config.toml" watch --no-dbus 2>"$W/watch.err" & WP=$!
    trap 'kill $WP 2>/dev/null || true' EXIT
    for i in $(seq 600); do [ -s "$R/run/impermctl/changes" ] && break; sleep 0.05; done
    echo "  watcher: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backend"])' "$R/run/impermctl/watch.json") (pid $WP); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 1.1; touch "$W/REF"; sleep 1.1
    python3 "$GEN" change "$R" $dims "$W/truth"
    for mode in watcher walk; do
      flag=; [ $mode = walk ] && flag=--no-watcher
      imp diff -0 $flag > "$W/got" || true
      if python3 "$GEN" check "$W/truth" "$W/got"; then
        echo "B1 $fs $shape ($mode): correctness PASS"
      else
        echo "B1 $fs $shape ($mode): correctness FAIL"
      fi
      echo "  $(imp diff $flag 2>/dev/null | sed -n 2p)"
    done
    echo "  find -newer lists $(find "$R" -xdev -newer "$W/REF" | wc -l) entries (mtime only: misses the old-mtime files)"
    echo "  hyperfine -N --warmup 2 --runs $RUNS (the runs of each command in one block):"
    hyperfine -N -i --warmup 2 --runs "$RUNS" --style none --export-json "$W/h.json" \
      -n find "find $R -xdev -newer $W/REF" \
      -n "diff -0 (watcher's list)" "$BIN --root $R --config $W/config.toml diff -0" \
      -n "diff -0 --no-watcher (walk)" "$BIN --root $R --config $W/config.toml diff -0 --no-watcher" \
      -n "walk, 1 thread" "env IMPERMCTL_THREADS=1 $BIN --root $R --config $W/config.toml diff -0 --no-watcher" \
      >/dev/null 2>&1 || true
    python3 "$GEN" report "$W/h.json"
    echo "  own harness, round-robin, $RUNS runs after 2 warm-ups (fairer under a varying load):"
    cpu() { awk '{print $14 + $15}' /proc/$WP/stat; }
    c0=$(cpu)
    python3 "$GEN" time "$RUNS" \
      find "find $R -xdev -newer $W/REF" \
      "diff -0 (watcher's list)" "$BIN --root $R --config $W/config.toml diff -0" \
      "diff -0 --no-watcher (walk)" "$BIN --root $R --config $W/config.toml diff -0 --no-watcher" \
      "walk, 1 thread" "env IMPERMCTL_THREADS=1 $BIN --root $R --config $W/config.toml diff -0 --no-watcher"
    # Every diff asks the watcher, --no-watcher too (watch.json is brought
    # up to date for both bases): 3 answers per round.
    awk -v a="$c0" -v b="$(cpu)" -v t="$(getconf CLK_TCK)" -v n="$((3 * (RUNS + 2)))" \
      'BEGIN { printf "  the watcher answering: %.1f ms CPU per answer (drain, look up the baseline records, write the list)\n", (b - a) * 1000 / t / n }'
    echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    kill $WP; wait $WP 2>/dev/null || true
INNER
  unshare -m --propagation private bash -euo pipefail "$W/inner.sh"
  rm -rf "$W"
}

for fs in $FSES; do
  for shape in $SHAPES; do
    one "$fs" "$shape"
  done
done
