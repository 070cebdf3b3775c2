#!/usr/bin/env bash
# Benchmark of `impermctl boot` (run as root; every measurement in its own
# `unshare -m` namespace, nothing leaks). N directories + N files declared
# (persistent sources present, targets missing, hide_mounts on):
#   boot     first run: create targets, bind everything, write utab/state
#   rerun    idempotent second run (median of R runs)
#   anchor   the same binds done by a shell loop of `mount -o bind[,x-gvfs-hide]`
#            (targets pre-created, not timed), measured in the same run
# Prints medians over REPS rounds and the ratios. Goals: ≤ 0.5 ms per entry,
# rerun ≤ 50 ms, ≥ 10× faster than the mount loop.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
REPS=${REPS:-3}
R_RERUNS=${R_RERUNS:-5}
BIN=${IMPERMCTL_BIN:-$PWD/target/release/impermctl}
[ -x "$BIN" ] || cargo build --release --quiet
[ "$(id -u)" = 0 ] || { echo "bench/boot.sh needs root (mount namespaces)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/impermctl-bench-boot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Shared setup, run inside each namespace: a tmpfs root at $R with /persistent.
SETUP='
set -euo pipefail
mount --make-rprivate /
R=$WORK/vps; mkdir -p $R
mount -t tmpfs -o size=512m tank/ct/101.impermanence-c5a8b7 $R
mkdir -p $R/persistent $R/nix $R/etc/impermctl $R/run
mount -t tmpfs tank/ct/101/nix $R/nix
mount -t tmpfs -o size=512m tank/ct/101 $R/persistent
mkdir -p $R/persistent/srv/d $R/persistent/srv/f
for i in $(seq -w 1 $N); do mkdir $R/persistent/srv/d/d$i; done
(cd $R/persistent/srv/f && seq -w 1 $N | sed s/^/f/ | xargs touch)
{
  printf "version = 1\n[[persistence]]\npath = \"/persistent\"\nhide_mounts = true\n"
  for i in $(seq -w 1 $N); do printf "[[persistence.directories]]\npath = \"/srv/d/d$i\"\n"; done
  for i in $(seq -w 1 $N); do printf "[[persistence.files]]\npath = \"/srv/f/f$i\"\n"; done
} > $R/etc/impermctl/config.toml
TIMEFORMAT="%3R %3U %3S"
# timed LABEL CMD...: prints "LABEL wall_us cpu_us" (cpu = user + sys, children included).
timed() {
  local label=$1; shift
  local t; t=$( { time "$@" >/dev/null 2>>$WORK/boot.log; } 2>&1 )
  set -- $t
  echo "$label $(awk -v r="$1" -v u="$2" -v s="$3" "BEGIN { printf \"%d %d\", r * 1e6, (u + s) * 1e6 }")"
}
'

measure_boot() {
  WORK=$WORK N=$N BIN=$BIN RR=$R_RERUNS unshare -m bash -c "$SETUP"'
    export IMPERMCTL_LOG=stderr
    timed first "$BIN" --root $R --config $R/etc/impermctl/config.toml boot
    m=$(grep -c " $R/srv/" /proc/self/mountinfo); echo "mounts $m"
    for k in $(seq $RR); do
      timed rerun "$BIN" --root $R --config $R/etc/impermctl/config.toml boot
    done
    echo "mounts_after $(grep -c " $R/srv/" /proc/self/mountinfo)"
  '
}

measure_anchor() {
  WORK=$WORK N=$N unshare -m bash -c "$SETUP"'
    mkdir -p $R/run/mount $R/srv/d $R/srv/f
    for i in $(seq -w 1 $N); do mkdir $R/srv/d/d$i; done
    (cd $R/srv/f && seq -w 1 $N | sed s/^/f/ | xargs touch)
    # mount(8) keeps x-gvfs-hide in the real /run/mount/utab: give it a private one.
    mount -t tmpfs tmpfs /run/mount
    loop() {
      for i in $(seq -w 1 $N); do mount -o bind,x-gvfs-hide $R/persistent/srv/d/d$i $R/srv/d/d$i; done
      for i in $(seq -w 1 $N); do mount --bind $R/persistent/srv/f/f$i $R/srv/f/f$i; done
    }
    timed anchor loop
  '
}

# Seeding: S newly declared directories that already hold a file each (no
# persistent source yet): copied into persistence, bound, their originals
# settled (trial s5 finding 10: this waited 150 ms per entry).
S=${SEED_N:-300}
measure_seed() {
  WORK=$WORK N=1 S=$S BIN=$BIN unshare -m bash -c "$SETUP"'
    for i in $(seq -w 1 $S); do
      mkdir -p $R/srv/s/s$i; echo $i > $R/srv/s/s$i/f
      printf "[[persistence.directories]]\npath = \"/srv/s/s$i\"\n" >> $R/etc/impermctl/config.toml
    done
    timed seed "$BIN" --root $R --config $R/etc/impermctl/config.toml boot
    echo "seeded $(ls $R/persistent/srv/s | wc -l)"
  '
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
med() { printf '%s\n' "$@" | median; }
col() { awk -v k="$1" -v c="$2" '$1 == k { print $c }'; }

firsts=(); reruns=(); anchors=(); firsts_cpu=(); reruns_cpu=(); anchors_cpu=(); seeds=(); seeds_cpu=()
for rep in $(seq "$REPS"); do
  out=$(measure_boot)
  firsts+=($(col first 2 <<<"$out")); firsts_cpu+=($(col first 3 <<<"$out"))
  reruns+=($(col rerun 2 <<<"$out")); reruns_cpu+=($(col rerun 3 <<<"$out"))
  m=$(col mounts 2 <<<"$out"); ma=$(col mounts_after 2 <<<"$out")
  [ "$m" = $((2 * N)) ] && [ "$ma" = "$m" ] || { echo "unexpected mount count: $m then $ma (want $((2 * N)))" >&2; cat "$WORK/boot.log" >&2; exit 1; }
  sout=$(measure_seed)
  [ "$(col seeded 2 <<<"$sout")" = "$S" ] || { echo "seeding: $sout" >&2; cat "$WORK/boot.log" >&2; exit 1; }
  seeds+=($(col seed 2 <<<"$sout")); seeds_cpu+=($(col seed 3 <<<"$sout"))
  aout=$(measure_anchor)
  anchors+=($(col anchor 2 <<<"$aout")); anchors_cpu+=($(col anchor 3 <<<"$aout"))
done
first=$(med "${firsts[@]}"); rerun=$(med "${reruns[@]}"); anchor=$(med "${anchors[@]}")
firstc=$(med "${firsts_cpu[@]}"); rerunc=$(med "${reruns_cpu[@]}"); anchorc=$(med "${anchors_cpu[@]}")
seed=$(med "${seeds[@]}"); seedc=$(med "${seeds_cpu[@]}")
awk -v sd="$seed" -v sdc="$seedc" -v s="$S" -v f="$first" -v r="$rerun" -v a="$anchor" -v fc="$firstc" -v rc="$rerunc" -v ac="$anchorc" \
    -v n="$((2 * N))" -v reps="$REPS" -v load="$(cut -d' ' -f1 /proc/loadavg)" -v cores="$(nproc)" 'BEGIN {
  printf "boot benchmark: %d entries (%d dirs + %d files), medians of %d rounds (load %s on %d cores)\n", n, n / 2, n / 2, reps, load, cores
  printf "                               wall ms  ms/entry    cpu ms  ms/entry\n"
  printf "  impermctl boot, first run  %9.1f  %8.4f %9.1f  %8.4f   (goal <= 0.5 ms/entry)\n", f / 1000, f / 1000 / n, fc / 1000, fc / 1000 / n
  printf "  impermctl boot, rerun      %9.1f            %9.1f             (goal <= 50 ms)\n", r / 1000, rc / 1000
  printf "  boot seeding %4d dirs      %9.1f  %8.4f %9.1f  %8.4f   (was ~190 ms/entry)\n", s, sd / 1000, sd / 1000 / s, sdc / 1000, sdc / 1000 / s
  printf "  anchor: mount --bind loop  %9.1f  %8.4f %9.1f  %8.4f\n", a / 1000, a / 1000 / n, ac / 1000, ac / 1000 / n
  printf "  ratio anchor / boot        %9.1fx          %9.1fx            (goal >= 10x)\n", a / f, ac / fc
  printf "  ratio anchor / rerun       %9.1fx          %9.1fx\n", a / r, ac / rc
}'
