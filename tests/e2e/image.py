"""The container image: a cached Debian 12 debootstrap root, impermctl installed
from the project's .deb, the stage-2 init and the seed config, ownership
shifted into the container's uid range."""

import fcntl
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("IMPERMCTL_E2E_CACHE", "/var/cache/impermctl-e2e"))
SUITE = "bookworm"
INCLUDE = "systemd,systemd-sysv,dbus,procps,iproute2,util-linux"
# Bump when the bootstrap recipe changes: the name keys the cache.
ROOTFS = CACHE / f"rootfs-{SUITE}-v1.tar.zst"

# Host tool -> Debian package, installed when missing.
HOST_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "zstd": "zstd",
    "dpkg-deb": "dpkg",
    "nsenter": "util-linux",
    "journalctl": "systemd",
    "systemd-analyze": "systemd",
}

SEED_CONFIG = (Path(__file__).resolve().parents[1] / "fixtures/seed.toml").read_text()

# NixOS stage 2 in miniature: activation (impermctl boot), then systemd.
STAGE2_INIT = """\
#!/bin/sh
# Stage-2-style init (what NixOS's stage-2 does in a vpsFree container):
# the activation step runs `impermctl boot`, then systemd becomes PID 1.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo "impermctl-init: activation: impermctl boot"
/usr/bin/impermctl boot
echo "impermctl-init: impermctl boot exited $?"
# NixOS's stage 2 runs the system's activation script (a NixOS-shaped
# generation has one: tests/e2e/nixos.py).
if [ -x /nix/var/nix/profiles/system/activate ]; then
  echo "impermctl-init: activation: /nix/var/nix/profiles/system/activate"
  /nix/var/nix/profiles/system/activate boot || echo "impermctl-init: activation exited $?"
fi
exec /lib/systemd/systemd "$@"
"""


def log(msg):
    print(f"e2e: {msg}", flush=True)


def sh(*cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run([str(c) for c in cmd], **kw)


def ensure_host_tools():
    """apt-get install the host tools the rig needs, only those missing."""
    missing = sorted({p for t, p in HOST_TOOLS.items() if not shutil.which(t)})
    if missing:
        log(f"installing host packages: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh("apt-get", "update", "-q", env=env)
        sh("apt-get", "install", "-y", "-q", *missing, env=env)


def mirror():
    """The Debian mirror the host's apt uses (sources.list or deb822)."""
    if os.environ.get("IMPERMCTL_E2E_MIRROR"):
        return os.environ["IMPERMCTL_E2E_MIRROR"]
    files = [Path("/etc/apt/sources.list")]
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        files += sorted(d.glob("*.list")) + sorted(d.glob("*.sources"))
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        for m in re.finditer(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if "security" not in m.group(1) and m.group(2).startswith(SUITE):
                return m.group(1)
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in m.group(1) and "debian" in m.group(1):
                return m.group(1)
    return "http://deb.debian.org/debian"


def ensure_rootfs():
    """The bootstrapped Debian 12 root, as a cached .tar.zst (one builder at a
    time: concurrent runs wait on the cache's lock)."""
    if ROOTFS.is_file():
        return ROOTFS
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ROOTFS.is_file():
            _bootstrap()
    return ROOTFS


def _bootstrap():
    build = CACHE / "build.tmp"
    if build.exists():
        shutil.rmtree(build)
    debs = CACHE / "debs"
    debs.mkdir(exist_ok=True)
    url = mirror()
    log(f"bootstrapping Debian {SUITE} from {url} (once; cached in {ROOTFS})")
    sh("debootstrap", "--variant=minbase", f"--include={INCLUDE}",
       f"--cache-dir={debs}", SUITE, build, url)
    # test-rig.md §1: hostname from --machine, no fstab, no apt timers.
    (build / "etc/hostname").unlink(missing_ok=True)
    (build / "etc/fstab").write_text("")
    for t in (build / "etc/systemd/system/timers.target.wants").glob("apt-daily*"):
        t.unlink()
    shutil.rmtree(build / "var/cache/apt/archives", ignore_errors=True)
    (build / "var/cache/apt/archives/partial").mkdir(parents=True)
    tmp = ROOTFS.with_suffix(".tmp")
    sh("tar", "--numeric-owner", "--xattrs", "-I", "zstd -3 -T0", "-C", build,
       "-cf", tmp, ".")
    tmp.rename(ROOTFS)
    shutil.rmtree(build)


def extract(tarball, dest):
    dest.mkdir(parents=True, exist_ok=True)
    sh("tar", "--numeric-owner", "--xattrs", "-I", "zstd", "-C", dest, "-xf", tarball)


def install_deb(root, deb):
    """Install the package the way a user would (dpkg -i in the root)."""
    shutil.copy(deb, root / "tmp/impermctl.deb")
    r = sh("chroot", root, "dpkg", "-i", "/tmp/impermctl.deb",
           capture_output=True, text=True, check=False)
    (root / "tmp/impermctl.deb").unlink()
    if r.returncode != 0:
        raise RuntimeError(f"dpkg -i of {deb} failed:\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def prepare_vps(root):
    """Turn the Debian root into what a fresh NixOS root dataset plus its
    /nix closure looks like to impermctl: the stage-2 init, the rendered
    config, the units enabled, no machine-id (NixOS roots have none)."""
    init = root / "sbin/impermctl-init"
    init.write_text(STAGE2_INIT)
    init.chmod(0o755)
    # As on NixOS, /etc/impermctl/config.toml comes from the system closure on
    # /nix (rig.Vps writes the generations); nixos-rebuild switches it.
    (root / "etc/impermctl").mkdir(exist_ok=True)
    cfg = root / "etc/impermctl/config.toml"
    cfg.unlink(missing_ok=True)
    cfg.symlink_to("/nix/var/nix/profiles/system/etc/impermctl/config.toml")
    jd = root / "etc/systemd/journald.conf.d"
    jd.mkdir(parents=True, exist_ok=True)
    (jd / "e2e.conf").write_text("[Journal]\nStorage=persistent\nRateLimitBurst=0\n")
    (root / "etc/machine-id").unlink(missing_ok=True)
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # NixOS has no systemd-firstboot; with an uninitialized machine-id it
    # would wait for a tty (test-rig.md §3).
    mask = root / "etc/systemd/system/systemd-firstboot.service"
    mask.unlink(missing_ok=True)
    mask.symlink_to("/dev/null")
    # A fresh root dataset has no /var/log at activation (NixOS creates it
    # later); debootstrap's logs would only be data to seed.
    shutil.rmtree(root / "var/log")
    for d in ("persistent", "nix"):
        (root / d).mkdir(exist_ok=True)
    units = [u for u in ("impermctl-boot.service", "impermctl-watch.service", "impermctl-sync.service")
             if (root / "lib/systemd/system" / u).exists()]
    if units:
        sh("systemctl", f"--root={root}", "enable", "--quiet", *units)
    # A user for "another user is refused" checks.
    sh("chroot", root, "useradd", "--create-home", "--uid", "1000", "alice")
    return units


def shift_ownership(root, base):
    """chown every inode by +base (what zfs map mode shows the host),
    restoring the set-id bits that chown clears."""
    def fix(p):
        st = os.lstat(p)
        if st.st_uid >= base:
            return
        os.lchown(p, st.st_uid + base, st.st_gid + base)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(p, stat.S_IMODE(st.st_mode))
    dev = os.lstat(root).st_dev
    fix(root)
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == dev]
        for n in dirs + files:
            fix(os.path.join(top, n))
