#!/usr/bin/env bash
# Build the impermctl Debian package with dpkg-deb (no cargo-deb, no debhelper).
#
#   packaging/debian/build-deb.sh [--binary PATH] [--out DIR] [--allow-missing] [-Z TYPE]
#
#   --binary PATH    package this impermctl binary (default: cargo build --release)
#   --out DIR        where the .deb goes (default: target/debian)
#   --systemd-dir D  take the units, D-Bus policy and catalog from D (default: systemd/)
#   --allow-missing  package without the systemd/ files that do not exist yet
#                    (development only; warns for each; a release never uses it)
#   -Z TYPE          dpkg-deb compression: xz (default), gzip, zstd, none
#
# Prints the path of the .deb on stdout; everything else goes to stderr.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/packaging/debian"
binary="" out="$repo/target/debian" allow_missing=0 compression=xz systemd_dir="$repo/systemd"

die() { echo "build-deb.sh: error: $*" >&2; exit 2; }
note() { echo "build-deb.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --systemd-dir) systemd_dir=${2:?--systemd-dir needs a directory}; shift 2 ;;
    --allow-missing) allow_missing=1; shift ;;
    -Z) compression=${2:?-Z needs a type}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

command -v dpkg-deb >/dev/null || die "dpkg-deb not found: apt-get install dpkg"

# Files from systemd/ and where Debian wants them (source|destination).
# All are required for a release.
systemd_files=(
  "impermctl-boot.service|lib/systemd/system/impermctl-boot.service"
  "impermctl-watch.service|lib/systemd/system/impermctl-watch.service"
  "impermctl-sync.service|lib/systemd/system/impermctl-sync.service"
  "systemd-machine-id-commit.service.d/impermctl.conf|lib/systemd/system/systemd-machine-id-commit.service.d/impermctl.conf"
  "io.github.Impermctl1.conf|usr/share/dbus-1/system.d/io.github.Impermctl1.conf"
  "impermctl.catalog|usr/lib/systemd/catalog/impermctl.catalog"
)
missing=()
for f in "${systemd_files[@]}"; do
  [ -f "$systemd_dir/${f%%|*}" ] || missing+=("$systemd_dir/${f%%|*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ $allow_missing = 0 ]; then
    die "required file(s) missing: ${missing[*]}. Add them, or pass --allow-missing for a development build."
  fi
  for m in "${missing[@]}"; do note "warning: $m does not exist yet; the package will lack it"; done
fi

if [ -z "$binary" ]; then
  note "cargo build --release"
  (cd "$repo" && cargo build --release --locked >&2)
  binary="$repo/target/release/impermctl"
fi
[ -x "$binary" ] || die "$binary is not an executable impermctl binary"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
[ -n "$version" ] || die "cannot read the version from $repo/Cargo.toml"
arch=$(dpkg --print-architecture)

stage=$(mktemp -d "${TMPDIR:-/tmp}/impermctl-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
mkdir -p "$root/DEBIAN" "$root/usr/bin"

install -m 0755 "$binary" "$root/usr/bin/impermctl"
if command -v strip >/dev/null; then strip --strip-unneeded "$root/usr/bin/impermctl"; fi

for f in "${systemd_files[@]}"; do
  src="$systemd_dir/${f%%|*}" dst="$root/${f#*|}"
  [ -f "$src" ] || continue
  install -D -m 0644 "$src" "$dst"
  # Units may name the binary through @bindir@ (the NixOS package substitutes its store path).
  sed -i 's|@bindir@|/usr/bin|g' "$dst"
done

# Man pages and completions, from the same clap definition as the parser.
"$root/usr/bin/impermctl" generate man "$stage/man"
install -d "$root/usr/share/man/man1"
for m in "$stage"/man/*.1; do gzip -9n -c "$m" >"$root/usr/share/man/man1/$(basename "$m").gz"; done
install -d "$root/usr/share/man/man5"
for m in "$stage"/man/*.5; do gzip -9n -c "$m" >"$root/usr/share/man/man5/$(basename "$m").gz"; done
"$root/usr/bin/impermctl" generate completions "$stage/completions"
install -D -m 0644 "$stage/completions/impermctl.bash" "$root/usr/share/bash-completion/completions/impermctl"
install -D -m 0644 "$stage/completions/_impermctl" "$root/usr/share/zsh/vendor-completions/_impermctl"
install -D -m 0644 "$stage/completions/impermctl.fish" "$root/usr/share/fish/vendor_completions.d/impermctl.fish"

install -D -m 0644 "$here/config.toml.example" "$root/etc/impermctl/config.toml.example"
install -D -m 0644 "$here/copyright" "$root/usr/share/doc/impermctl/copyright"

depends="libc6 (>= $(ldd --version | sed -n '1s/.* \([0-9][0-9.]*\)$/\1/p'))"
if ldd "$root/usr/bin/impermctl" 2>/dev/null | grep -q libgcc_s; then depends="$depends, libgcc-s1"; fi
depends="$depends, util-linux"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@DEPENDS@|$depends|" \
    -e "s|@SIZE@|$size|" "$here/control.in" >"$root/DEBIAN/control"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find usr $([ -d "$root/lib" ] && echo lib) -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/impermctl_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" --build "$root" "$deb" >&2
echo "$deb"
