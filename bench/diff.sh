#!/usr/bin/env bash
# B1: `impermctl diff` over 200,000 files (wide 20x10x10x100, deep 20x20x50x10)
# on tmpfs and ext4 (loop image), 1% modified + 0.5% created after REF, 20% of
# the tree in two persisted dirs bind-mounted from another filesystem, a
# symlink into /persistent, files with old mtimes. Checks the result against
# the generator's ground truth (PASS/FAIL), then times it against
# `find ROOT -xdev -newer REF` measured in the same run: hyperfine medians,
# and an own round-robin harness (wall and CPU medians; fairer when other
# processes load the machine, since every command sees the same load).
# Needs root (mounts in a private namespace). IMPERMCTL_BIN: the binary.
# B1_SHAPES / B1_FS restrict the matrix, e.g. B1_SHAPES=wide B1_FS=tmpfs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IMPERMCTL_BIN:-$PWD/target/release/impermctl}
[ -x "$BIN" ] || cargo build --release --quiet
SHAPES=${B1_SHAPES:-"wide deep"}
FSES=${B1_FS:-"tmpfs ext4"}
RUNS=${B1_RUNS:-15}
export BIN RUNS GEN="$PWD/bench/diff_gen.py"

one() { # fs shape
  local fs=$1 shape=$2 dims
  case $shape in wide) dims="20 10 10 100" ;; deep) dims="20 20 50 10" ;; esac
  W=$(mktemp -d /tmp/impermctl-b1.XXXXXX)
  export W fs shape dims
  unshare -m --propagation private bash -euo pipefail -c '
    R=$W/root; mkdir -p "$R"
    if [ "$fs" = ext4 ]; then
      truncate -s 3G "$W/img"; mkfs.ext4 -q -F "$W/img"; mount -o loop "$W/img" "$R"
    else
      mount -t tmpfs -o size=3g b1root "$R"
    fi
    mkdir -p "$R/persistent"; mount -t tmpfs -o size=2g b1persist "$R/persistent"
    python3 "$GEN" make "$R" $dims
    mount --bind "$R/persistent/p0" "$R/p0"; mount --bind "$R/persistent/p1" "$R/p1"
    printf "version = 1\n[layout]\nephemeral_root = \"any\"  # the bench roots are ext4/tmpfs test trees\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/p0\"\n[[persistence.directories]]\npath = \"/p1\"\n" > "$W/config.toml"
    imp() { "$BIN" --root "$R" --config "$W/config.toml" "$@"; }
    imp diff --capture-baseline 2>/dev/null
    sleep 1.1; touch "$W/REF"; sleep 1.1
    python3 "$GEN" change "$R" $dims "$W/truth"
    imp diff -0 > "$W/got" || true
    if python3 "$GEN" check "$W/truth" "$W/got"; then
      echo "B1 $fs $shape: correctness PASS"
    else
      echo "B1 $fs $shape: correctness FAIL"
    fi
    echo "  find -newer lists $(find "$R" -xdev -newer "$W/REF" | wc -l) entries (mtime only: misses the old-mtime files)"
    echo "  hyperfine -N --warmup 2 --runs $RUNS (the runs of each command in one block):"
    hyperfine -N -i --warmup 2 --runs "$RUNS" --style none --export-json "$W/h.json" \
      -n find "find $R -xdev -newer $W/REF" \
      -n "impermctl diff -0" "$BIN --root $R --config $W/config.toml diff -0" \
      -n "impermctl diff -0 (1 thread)" "env IMPERMCTL_THREADS=1 $BIN --root $R --config $W/config.toml diff -0" \
      >/dev/null 2>&1 || true
    python3 "$GEN" report "$W/h.json"
    echo "  own harness, round-robin, $RUNS runs after 2 warm-ups (fairer under a varying load):"
    python3 "$GEN" time "$RUNS" \
      find "find $R -xdev -newer $W/REF" \
      "impermctl diff -0" "$BIN --root $R --config $W/config.toml diff -0" \
      "impermctl diff -0 (1 thread)" "env IMPERMCTL_THREADS=1 $BIN --root $R --config $W/config.toml diff -0"
  '
  rm -rf "$W"
}

for fs in $FSES; do
  for shape in $SHAPES; do
    one "$fs" "$shape"
  done
done
