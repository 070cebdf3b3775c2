"""The suite's shared context: host preparation (tools, private mount
namespace, nspawn tmpfs, inotify limits), the impermctl binary and .deb, the
VPS image; per-scenario work directories and diagnostics."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import image
from image import REPO, log
import scenarios

# The container's uid range: a non-identity map, as vpsAdminOS allocates.
UID_BASE = 1_000_000
NS_MARK = "IMPERMCTL_E2E_PRIVATE_NS"
UNITS = ("impermctl-boot.service", "impermctl-watch.service")


def enter_private_mount_namespace():
    """Re-exec in a private mount namespace: every mount the rig makes
    (datasets, the nspawn tmpfs) vanishes with it."""
    if os.environ.get(NS_MARK) == "1":
        return
    env = dict(os.environ, **{NS_MARK: "1"})
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", "--",
                           sys.executable, *sys.argv], env)


class Context:
    def __init__(self, keep=False):
        self.keep = keep
        self.work = Path(tempfile.mkdtemp(prefix="impermctl-e2e."))
        self.base = UID_BASE
        self.current = None
        self.n = 0
        self.deb = None
        self.image = self.work / "image"
        self.units = []
        self.dpkg_output = ""
        self.pending_diagnostics = ""

    def log(self, msg):
        print(f"    {msg}", flush=True)

    def prepare(self, binary=None):
        t0 = time.monotonic()
        image.ensure_host_tools()
        self._host_setup()
        if not binary:
            log("cargo build")
            subprocess.run(["cargo", "build", "--quiet", "--bin", "impermctl"], cwd=REPO, check=True)
            binary = REPO / "target/debug/impermctl"
        self.binary = binary = Path(binary).resolve()
        log("building the Debian package")
        r = subprocess.run([REPO / "packaging/debian/build-deb.sh", "--binary", binary,
                            "--out", self.work / "deb", "--allow-missing", "-Z", "gzip"],
                           capture_output=True, text=True)
        self.build_deb_log = r.stderr
        if r.returncode != 0:
            raise RuntimeError(f"build-deb.sh failed:\n{r.stderr}")
        self.deb = Path(r.stdout.strip().splitlines()[-1])
        rootfs = image.ensure_rootfs()
        log(f"image: {rootfs.name} + {self.deb.name}")
        image.extract(rootfs, self.image)
        self.dpkg_output = image.install_deb(self.image, self.deb)
        self.units = image.prepare_vps(self.image)
        image.shift_ownership(self.image, self.base)
        log(f"prepared in {time.monotonic() - t0:.1f} s (work dir {self.work})")

    def _host_setup(self):
        nsp = Path("/run/systemd/nspawn")
        nsp.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "e2e-nspawn", nsp],
                       check=True)
        # test-rig.md §7: head-room against "inotify watch limit reached".
        for key, want in (("max_user_instances", 1024), ("max_user_watches", 524288)):
            f = Path("/proc/sys/fs/inotify") / key
            if int(f.read_text()) < want:
                f.write_text(str(want))

    def new_workdir(self):
        self.n += 1
        d = self.work / f"vps-{self.n}"
        d.mkdir()
        return d

    def finish_scenario(self):
        v, self.current = self.current, None
        if v is None:
            return
        v.close()

    def diagnostics(self, v, raised):
        """Collected while a failed scenario's VPS is still up; printed after the failure."""
        if not raised and not scenarios.SOFT:
            return
        parts = ["nspawn output (last boot):\n" + v.boot_output()[-1500:]]
        if v.leader:
            r = v.nsenter(["journalctl", "-b", "--no-pager", "-n", "40", "-o", "short-monotonic",
                           "-u", UNITS[0], "-u", UNITS[1], "-t", "impermctl"], check=False)
            parts.append("journal (impermctl):\n" + r.stdout)
            r = v.nsenter(["systemctl", "--failed", "--no-pager"], check=False)
            parts.append("systemctl --failed:\n" + r.stdout)
        self.pending_diagnostics = "\n".join(parts)

    def print_diagnostics(self):
        text, self.pending_diagnostics = self.pending_diagnostics, ""
        if text:
            print("    --- diagnostics\n      " + text.rstrip().replace("\n", "\n      "), flush=True)

    def close(self):
        if self.current:
            self.current.close()
        if self.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


