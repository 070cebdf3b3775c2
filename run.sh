#!/usr/bin/env bash
# The project's entry points. On a fresh Debian 12 machine, as root:
#   ./run.sh demo    boot a simulated vpsFree impermanence VPS (systemd in nspawn) and show impermctl at work
#   ./run.sh test    install what the tests need, then run every test layer (CI runs this)
#   ./run.sh bench   run the benchmarks (B1–B5; prints medians and ratios against anchors)
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(systemd-container debootstrap zstd nix-bin inotify-tools attr acl dbus python3-dbus libglib2.0-bin
  util-linux e2fsprogs hyperfine fatrace procps iproute2 strace)

log() { printf '\n==> %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "run.sh $1 needs root (it creates mount namespaces and boots containers); try: sudo ./run.sh $1" >&2
    exit 2
  fi
}

install_deps() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The nspawn rig: inotify head-room (test-rig.md §7).
  sysctl -q -w fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=1048576 >/dev/null 2>&1 || true
}

# A clean build of the suite needs ~1 GB in target/, the system tests ~2 GB more
# (nspawn images, journals). The linker dies with SIGBUS when the disk fills
# under it, which reads like a toolchain bug; say it plainly first.
check_disk() {
  local free_kib
  free_kib=$(df -Pk . | awk 'NR==2 {print $4}')
  if [ "${free_kib:-0}" -lt $((3 * 1024 * 1024)) ]; then
    echo "warning: only $((free_kib / 1024)) MiB free on $(df -P . | awk 'NR==2 {print $6}'); the build and system tests need ~3 GiB" >&2
  fi
}

run_tests() {
  need_root test
  check_disk
  install_deps
  log "cargo fmt --check; no merge conflict markers left in tracked files"
  cargo fmt --check
  if git rev-parse --git-dir >/dev/null 2>&1 && git grep -n -E '^(<<<<<<<|>>>>>>>)( |$)' -- . >&2; then
    echo "merge conflict markers above: resolve them" >&2
    exit 1
  fi
  log "cargo clippy -D warnings"
  cargo clippy --all-targets -- -D warnings
  cargo clippy --all-targets --no-default-features -- -D warnings
  log "unit, integration and privileged namespace tests"
  export IMPERMCTL_REQUIRE_PRIVILEGED=1
  if command -v cargo-nextest >/dev/null; then
    cargo nextest run --no-fail-fast
  else
    cargo test --no-fail-fast
  fi
  cargo test --doc
  # The Nix layer (tests/nix/run.sh: parse, evaluation with the vendored
  # nixpkgs lib, module/binary agreement) ran above, once, as the
  # integration test nix::nix_parse_eval_and_cross_check.
  if [ -x tests/e2e/run ]; then
    log "system tests: systemd in nspawn on a vpsFree-like layout"
    tests/e2e/run
  fi
  log "all tests passed"
}

case "${1:-}" in
  demo)
    need_root demo
    install_deps
    exec tests/e2e/demo "${@:2}"
    ;;
  test) run_tests ;;
  bench)
    need_root bench
    install_deps
    exec bench/run "${@:2}"
    ;;
  *)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
