#!/usr/bin/env bash
# Tests of the Nix side: every .nix file parses; the NixOS module evaluates
# with nixpkgs' lib (tests/nix/cases.nix; skipped when no lib is found); the
# TOML the module renders is parsed by the real impermctl binary.
#
#   tests/nix/run.sh                      # lib from NIXPKGS_LIB or <nixpkgs/lib>
#   NIXPKGS_LIB=/path/to/nixpkgs.lib/lib tests/nix/run.sh
#   IMPERMCTL=target/debug/impermctl tests/nix/run.sh
#
# Exit 0 when everything that could run passed.
set -euo pipefail

cd "$(dirname "$0")/../.."
repo=$PWD
# No store is needed to parse; dummy:// also works unprivileged and writes
# nothing. Evaluation writes the rendered config (builtins.toFile) to a
# throwaway local store under $work, never to /nix.
store=(--store dummy://)
failed=0
fail() {
	echo "FAIL $*" >&2
	failed=1
}

if ! command -v nix-instantiate >/dev/null; then
	echo "FAIL nix-instantiate not found (Debian: apt-get install nix-bin)" >&2
	exit 1
fi

# 1. Parse every .nix file (the seed's ./impermanence symlink is not followed).
count=0
while IFS= read -r -d '' f; do
	count=$((count + 1))
	if ! err=$(nix-instantiate "${store[@]}" --parse "$f" 2>&1 >/dev/null); then
		fail "parse $f: $err"
	fi
done < <(find . \( -name target -o -name .git \) -prune -o -name '*.nix' -type f -print0)
[ "$count" -gt 0 ] || fail "parse: no .nix files found"
echo "ok parse: $count .nix files"

# 2. Evaluation tests with nixpkgs' lib.
lib_path=${NIXPKGS_LIB:-}
if [ -z "$lib_path" ] && nixpkgs=$(nix-instantiate "${store[@]}" --find-file nixpkgs 2>/dev/null); then
	lib_path=$nixpkgs/lib
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
evaluate() {
	nix eval --store "$work/store" --extra-experimental-features nix-command --raw \
		-f tests/nix/cases.nix "$1" --arg libPath "$lib_path"
}
if [ -z "$lib_path" ]; then
	echo "skipped: nixpkgs lib not available (set NIXPKGS_LIB)"
elif [ ! -e "$lib_path/default.nix" ]; then
	fail "NIXPKGS_LIB=$lib_path has no default.nix (point it at nixpkgs' lib directory)"
else
	lib_path=$(cd "$lib_path" && pwd)
	if report=$(evaluate report 2>&1); then
		echo "$report"
		if grep -q '^FAIL' <<<"$report"; then failed=1; fi
		evaluate seedToml >"$work/seed.toml"
		if ! diff -u tests/nix/expected/seed.toml "$work/seed.toml"; then
			fail "rendered seed differs from tests/nix/expected/seed.toml"
		fi
	else
		fail "evaluation: $report"
	fi
fi

# 3. Cross-check: the real binary accepts what the module renders for the
# seed, on the mount table of a healthy vpsFree container.
bin=${IMPERMCTL:-}
if [ -z "$bin" ]; then
	cargo build --quiet --bin impermctl
	bin=${CARGO_TARGET_DIR:-target}/debug/impermctl
fi
mountinfo=tests/fixtures/mountinfo/native-booted.mountinfo
for toml in tests/nix/expected/seed.toml ${lib_path:+"$work/seed.toml"}; do
	[ -e "$toml" ] || continue
	if out=$("$bin" verify --config "$toml" --mountinfo "$mountinfo" 2>&1); then
		echo "ok cross-check: impermctl verify --config $toml"
	else
		fail "cross-check: impermctl verify --config $toml --mountinfo $mountinfo exited $?: $out"
	fi
done

[ "$failed" -eq 0 ] || exit 1
echo "all Nix tests passed (repo $repo)"
