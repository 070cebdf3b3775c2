#!/usr/bin/env bash
# Tests of the Nix side: every .nix file parses; the NixOS module evaluates
# with nixpkgs' lib (tests/nix/cases.nix); every configuration of
# tests/nix/corpus.nix renders a config.toml that the real binary accepts,
# or the module refuses it with the binary's explanation (agree.py); a
# `diff --suggest` put into the seed configuration as it says evaluates.
#
#   tests/nix/run.sh                      # lib: NIXPKGS_LIB, else ../shared/vendor/nixpkgs-lib/lib, else <nixpkgs/lib>
#   NIXPKGS_LIB=/path/to/nixpkgs.lib/lib tests/nix/run.sh
#   IMPERMCTL=target/debug/impermctl tests/nix/run.sh
#
# Without a lib it says "skipped" and passes, except in CI (CI=true or
# IMPERMCTL_REQUIRE_PRIVILEGED=1), where a missing lib is a failure.
# cargo's integration test `nix::nix_parse_eval_and_cross_check` runs this
# script; ./run.sh test does not run it a second time.
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

# 2. Evaluation tests with nixpkgs' lib: NIXPKGS_LIB; else the vendored
# copy beside the repository (<parent>/shared/vendor/nixpkgs-lib/lib, looked
# up from the work tree and from the git common dir, so it is found from a
# clone, a worktree and CI alike); else <nixpkgs/lib>.
required=
if [ "${CI:-}" = true ] || [ "${IMPERMCTL_REQUIRE_PRIVILEGED:-}" = 1 ]; then required=1; fi
vendored_lib() {
	local base d
	for base in "$repo" "$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"; do
		d=$base
		while [ -n "$d" ] && [ "$d" != / ]; do
			d=$(dirname "$d")
			if [ -e "$d/shared/vendor/nixpkgs-lib/lib/default.nix" ]; then
				echo "$d/shared/vendor/nixpkgs-lib/lib"
				return 0
			fi
		done
	done
	return 1
}
lib_path=${NIXPKGS_LIB:-}
if [ -z "$lib_path" ]; then
	lib_path=$(vendored_lib) || lib_path=
fi
if [ -z "$lib_path" ] && nixpkgs=$(nix-instantiate "${store[@]}" --find-file nixpkgs 2>/dev/null); then
	lib_path=$nixpkgs/lib
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
evaluate() {
	nix eval --store "$work/store" --extra-experimental-features nix-command --raw \
		-f tests/nix/cases.nix "$1" --arg libPath "$lib_path"
}
if [ -z "$lib_path" ] && [ -n "$required" ]; then
	fail "nixpkgs lib not found (NIXPKGS_LIB unset, no shared/vendor/nixpkgs-lib/lib above $repo, no <nixpkgs>); in CI a skip is a failure"
elif [ -z "$lib_path" ]; then
	echo "skipped: nixpkgs lib not available (set NIXPKGS_LIB)"
elif [ ! -e "$lib_path/default.nix" ]; then
	fail "NIXPKGS_LIB=$lib_path has no default.nix (point it at nixpkgs' lib directory)"
else
	lib_path=$(cd "$lib_path" && pwd)
	echo "nixpkgs lib: $lib_path"
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

# 4. The module and the binary agree on every configuration of the corpus.
if [ -n "$lib_path" ] && [ -e "$lib_path/default.nix" ]; then
	if corpus=$(evaluate corpus 2>"$work/corpus.err"); then
		if ! python3 tests/nix/agree.py "$bin" "$mountinfo" <<<"$corpus"; then
			fail "corpus: the module and the binary disagree (see above)"
		fi
	else
		fail "corpus evaluation: $(cat "$work/corpus.err")"
	fi
fi

# 5. The journal catalog: journalctl --update-catalog reads the directory
# the module's tmpfiles rule links it into (and not /etc/systemd/catalog,
# where the module used to put it). The link points at the file package.nix
# installs, here the repository's copy.
if [ -n "$lib_path" ] && [ -e "$lib_path/default.nix" ] && ! command -v journalctl >/dev/null; then
	if [ -n "$required" ]; then fail "catalog: journalctl not found (Debian: systemd)"; fi
elif [ -n "$lib_path" ] && [ -e "$lib_path/default.nix" ]; then
	id=5b1c89b3707540a98f833fa5a79113ce
	rule=$(evaluate catalogRule 2>/dev/null) || rule=
	link=$(awk '$1 == "L+" { print $2 }' <<<"$rule")
	for dir in "${link%/*}" /etc/systemd/catalog; do
		root=$(mktemp -d -p "$work")
		mkdir -p "$root$dir"
		ln -s "$repo/systemd/impermctl.catalog" "$root$dir/impermctl.catalog"
		journalctl --root="$root" --update-catalog 2>/dev/null || true
		if journalctl --root="$root" --list-catalog "$id" 2>/dev/null | grep -q "^$id impermctl:"; then
			seen=yes
		else
			seen=no
		fi
		case "$dir:$seen" in
		/etc/systemd/catalog:no) echo "ok catalog: journalctl does not read /etc/systemd/catalog" ;;
		/etc/systemd/catalog:yes) fail "catalog: journalctl read /etc/systemd/catalog (the negative control)" ;;
		*:yes) echo "ok catalog: journalctl --update-catalog reads $dir (the module's tmpfiles rule: $rule)" ;;
		*) fail "catalog: journalctl --update-catalog did not pick up $dir/impermctl.catalog (rule: '$rule')" ;;
		esac
	done
fi

# 6. The baseline unit's script: --since boot without a switch running;
# during a switch, the start of switch-to-configuration (a process with
# that name, started here; its start time in seconds since the epoch);
# always --until current-system (what services wrote after activation's
# end, e.g. sshd-keygen at boot, is not adopted).
if [ -n "$lib_path" ] && [ -e "$lib_path/default.nix" ]; then
	script=$(evaluate baselineScript 2>/dev/null) || script=
	stub=$(evaluate baselineBin 2>/dev/null) || stub=
	if [ -z "$script" ] || [ -z "$stub" ]; then
		fail "baseline script: evaluation failed"
	else
		printf '#!/bin/sh\necho "$@"\n' >"$work/impermctl"
		chmod +x "$work/impermctl"
		runit() { bash -c "${script//"$stub"/$work/impermctl}"; }
		out=$(runit)
		[ "$out" = "baseline --since boot --until current-system" ] || fail "baseline script without a switch: '$out'"
		ln -s "$(command -v sleep)" "$work/switch-to-configuration"
		"$work/switch-to-configuration" 30 &
		pid=$!
		started=$(date +%s)
		out=$(runit)
		kill "$pid"
		got=${out#baseline --since @}
		got=${got% --until current-system}
		if [ "$got" = "$out" ] || [ "$out" != "baseline --since @$got --until current-system" ] || [ $((got - started)) -gt 2 ] || [ $((started - got)) -gt 2 ]; then
			fail "baseline script during a switch: '$out' (switch started at $started)"
		else
			echo "ok baseline script: --since boot at boot, --since the switch's start ($out) during a switch, --until current-system in both"
		fi
		# The real binary takes both forms (with a /run/current-system to date --until).
		tree=$(mktemp -d -p "$work")
		mkdir -p "$tree/run"
		ln -s /nix/store/00000000000000000000000000000000-nixos-system "$tree/run/current-system"
		for since in boot "@$got"; do
			if ! res=$("$bin" --root "$tree" --config tests/nix/expected/seed.toml baseline --since "$since" --until current-system 2>&1); then
				fail "impermctl baseline --since $since --until current-system: $res"
			fi
		done
	fi
fi

# 7. The module's stage-2 units, per user-management mode, loaded by the real
# systemd-analyze verify next to the host's systemd units: no ordering
# cycle, no unknown key, no missing unit (unitcheck.py).
if [ -n "$lib_path" ] && [ -e "$lib_path/default.nix" ]; then
	if ! command -v systemd-analyze >/dev/null; then
		if [ -n "$required" ]; then fail "units: systemd-analyze not found (Debian: systemd)"; fi
	elif unitsets=$(evaluate unitSets 2>"$work/units.err"); then
		python3 tests/nix/unitcheck.py "$repo" <<<"$unitsets" || fail "units: see above"
	else
		fail "units evaluation: $(cat "$work/units.err")"
	fi
fi

# 8. `impermctl diff --suggest` put into the seed configuration as it says
# (each item into the list it names; anything else pasted into the file's
# attribute set) evaluates, and the config the module renders from it
# declares every suggested path, with its method (trial s10 F16: a whole
# `environment.persistence."/persistent" = { … };` block pasted beside the
# seed's failed: "attribute … already defined"). 9. So do the hints for one
# path: `persist`'s (the same items under `# into directories = [ … ]:`)
# and `status`'s one line (`"/x"  # into environment.persistence."/persistent".files = [ … ]`).

# paste_check NAME SUGGESTION WANT...: SUGGESTION (a file) put into the seed
# as it says evaluates, and the rendered config has each WANT and passes verify.
paste_check() {
	local name=$1 suggest=$2 pasted toml rc out missing want
	shift 2
	pasted=$(mktemp -d -p "$work")
	ln -s "$repo" "$pasted/impermanence"
	python3 - tests/nix/seed/configuration.nix "$suggest" >"$pasted/configuration.nix" <<'PY'
import re, sys
cfg = open(sys.argv[1]).read()
into, loose, name = {}, [], None
for l in open(sys.argv[2]).read().splitlines():
    l = l.strip()
    m = re.fullmatch(r"# into (\w+) = \[ … \]:", l)
    one = re.fullmatch(r'(.+?)  # into environment\.persistence\."/persistent"\.(\w+) = \[ … \]', l)
    if m:
        name = m[1]
        into.setdefault(name, [])
    elif one:
        into.setdefault(one[2], []).append(one[1])
    elif l and not l.startswith("#"):
        (into[name] if name else loose).append(l)
for name, items in into.items():
    cfg, n = re.subn(rf"\b{name} = \[", lambda m: m[0] + " " + " ".join(items), cfg, count=1)
    if not n:
        block = 'environment.persistence."/persistent" = {'
        cfg = cfg.replace(block, f"{block} {name} = [ {' '.join(items)} ];", 1)
end = cfg.rindex("}")
print(cfg[:end] + "\n".join(loose) + "\n" + cfg[end:], end="")
PY
	if ! toml=$(nix eval --store "$work/store" --extra-experimental-features nix-command --raw \
		-f tests/nix/cases.nix pastedToml --arg libPath "$lib_path" --arg pasted "$pasted/configuration.nix" 2>"$work/paste.err"); then
		fail "paste ($name): the seed with the suggestion does not evaluate: $(cat "$work/paste.err")
--- suggestion
$(cat "$suggest")
--- pasted
$(cat "$pasted/configuration.nix")"
		return
	fi
	missing=
	for want in "$@"; do
		[[ $toml == *"$want"* ]] || missing="$missing [$want]"
	done
	printf '%s\n' "$toml" >"$work/pasted.toml"
	rc=0
	out=$("$bin" verify --config "$work/pasted.toml" --mountinfo "$mountinfo" 2>&1) || rc=$?
	if [ -n "$missing" ]; then
		fail "paste ($name): the rendered config lacks$missing: $toml
--- suggestion
$(cat "$suggest")"
	elif [ "$rc" -gt 1 ] || grep -qi refused <<<"$out"; then
		# Exit 1 is expected: the new entries are not bound in that mount table.
		fail "paste ($name): impermctl verify refuses the rendered config (exit $rc): $out"
	else
		echo "ok $name: put into the seed as it says, it evaluates and declares each path"
	fi
}

if [ -n "$lib_path" ] && [ -e "$lib_path/default.nix" ]; then
	tree=$(mktemp -d -p "$work")
	mkdir -p "$tree/etc/ssh" "$tree/etc/app" "$tree/var/lib"
	echo old >"$tree/etc/app/app.conf"
	imp() { "$bin" --root "$tree" --config tests/nix/expected/seed.toml "$@"; }
	imp diff --capture-baseline >/dev/null 2>&1 || fail "paste: diff --capture-baseline"
	mkdir "$tree/var/lib/demo"
	echo row >"$tree/var/lib/demo/db"
	echo key >"$tree/etc/ssh/ssh_host_ed25519_key"
	sed -i s/old/new/ "$tree/etc/app/app.conf"
	imp diff --suggest >"$work/suggest" 2>&1 || true
	paste_check suggest-pastes-into-seed "$work/suggest" 'path = "/var/lib/demo"' 'path = "/etc/ssh/ssh_host_ed25519_key"
method = "copy"' 'path = "/etc/app/app.conf"
method = "copy"'

	# 9. persist's and status's hints for one path, from a real persist in a
	# mount namespace (a tmpfs root, a tmpfs persistent root).
	if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
		one=$(mktemp -d -p "$work")
		unshare -m --propagation private sh -c '
			set -e
			mount -t tmpfs root "$1"
			mkdir -p "$1/persistent" "$1/var/lib/foo" "$1/etc/ssh"
			mount -t tmpfs persistent "$1/persistent"
			echo row >"$1/var/lib/foo/db"
			echo key >"$1/etc/ssh/ssh_host_ed25519_key"
			"$2" --root "$1" --config tests/nix/expected/seed.toml persist --dry-run /var/lib/foo >"$3/persist"
			"$2" --root "$1" --config tests/nix/expected/seed.toml persist /etc/ssh/ssh_host_ed25519_key >/dev/null
			"$2" --root "$1" --config tests/nix/expected/seed.toml status >"$3/status" || true
		' sh "$one" "$bin" "$work" 2>"$work/one.err" || fail "paste: persist in a mount namespace: $(cat "$work/one.err")"
		# The Nix lines only: between "After that, add …:" and "or, in …TOML".
		sed -n '/^After that, add/,/^or, in/{/^After that, add/d;/^or, in/d;p}' "$work/persist" >"$work/persist-nix"
		grep '  # into environment\.persistence\.' "$work/status" >"$work/status-nix" || true
		paste_check persist-hint-pastes-into-seed "$work/persist-nix" 'path = "/var/lib/foo"'
		paste_check status-hint-pastes-into-seed "$work/status-nix" 'path = "/etc/ssh/ssh_host_ed25519_key"
method = "copy"'
	else
		echo "skipped: persist/status hints (needs root and unshare)"
	fi
fi

[ "$failed" -eq 0 ] || exit 1
echo "all Nix tests passed (repo $repo)"
