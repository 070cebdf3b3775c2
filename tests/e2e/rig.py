"""The VPS rig: a real systemd booted in systemd-nspawn the way the vpsAdminOS
host starts a NixOS Impermanence VPS (see docs/test-rig.md and
target-environment.md §2, §9):

- three host-side tmpfs "datasets" with ZFS-like mount sources: a fresh
  `tank/ct/101.impermanence-<6 hex>` root per boot (the image copied into its
  `private/`), `tank/ct/101` at /persistent (kept across boots), and
  `tank/ct/101/nix` read-only at /nix;
- an unprivileged user namespace with a non-identity map (trees chowned into
  the range, as ZFS map mode shows them);
- the NixOS way of booting: a stage-2-style init runs `impermctl boot`, then
  execs systemd;
- its own cgroup per container, a tmpfs on /run/systemd/nspawn (the runner
  lives in a private mount namespace, so nothing leaks into the host).
"""

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

CGROUP_HIERS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")


class RigError(Exception):
    """The rig itself failed (not an assertion about impermctl)."""


def _cgroup_hiers():
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return [Path("/sys/fs/cgroup")]  # pure cgroup2 host
    return [Path(h) for h in CGROUP_HIERS if Path(h, "cgroup.procs").exists()]


def _rmdir_tree(p):
    if not p.is_dir():
        return
    for child in p.iterdir():
        if child.is_dir():
            _rmdir_tree(child)
    try:
        p.rmdir()
    except OSError:
        pass


class Vps:
    """One VPS: its datasets, its boots, and the helpers to drive it. Use as a
    context manager; everything is torn down on exit, also on failure."""

    def __init__(self, image, work, base, config, name="vps101", ctid=101, log=print,
                 on_failure=None):
        self.on_failure = on_failure  # called as on_failure(vps, raised) at the end of `with`
        self.image = Path(image)
        self.config = config
        self.work = Path(work)
        self.base = base
        self.name = name
        self.ctid = ctid
        self.log = log
        self.ds = self.work / "ds"
        self.mounts = []  # host mounts we made, innermost last
        self.boots = []  # (dataset name, nspawn exit code)
        self.boot_ids = []  # _BOOT_ID of each boot
        self.proc = None
        self.leader = None
        self.root_ds = None
        self.boot_log = None

    # ---- datasets -------------------------------------------------------
    def __enter__(self):
        try:
            self.persist = self._dataset(f"tank/ct/{self.ctid}", "persist")
            self.nix = self._dataset(f"tank/ct/{self.ctid}/nix", "nix")
            self._seed_nix()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.on_failure:
                self.on_failure(self, exc_type is not None)
        finally:
            self.close()
        return False

    def _mount_tmpfs(self, source, where, opts="mode=0755"):
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, source, str(where)], check=True)
        self.mounts.append(where)

    def _dataset(self, source, dirname):
        top = self.ds / dirname
        self._mount_tmpfs(source, top)
        private = top / "private"
        private.mkdir(mode=0o755)
        os.chown(private, self.base, self.base)
        return private

    def _seed_nix(self):
        """A stand-in for the system closure: /nix/store and the system
        profile, whose etc/impermctl/config.toml /etc links to."""
        (self.nix / "store").mkdir()
        (self.nix / "var/nix/profiles").mkdir(parents=True)
        self._chown_tree(self.nix)
        self.switch_config(self.config)

    def _chown_tree(self, top):
        for p in [top, *top.rglob("*")]:
            os.lchown(p, self.base, self.base)

    def switch_config(self, text):
        """`nixos-rebuild switch` in miniature: a new generation with this
        config.toml, the system profile pointed at it (host side, as /nix is
        read-only inside)."""
        store = self.nix / "store"
        n = len(list(store.glob("*-nixos-system-vps-*"))) + 1
        gen = store / f"{n:032d}-nixos-system-vps-{n}"
        (gen / "etc/impermctl").mkdir(parents=True)
        (gen / "etc/impermctl/config.toml").write_text(text)
        self._chown_tree(gen)
        link = self.nix / "var/nix/profiles/system"
        tmp = link.with_name("system.tmp")
        tmp.symlink_to(f"/nix/store/{gen.name}")
        os.lchown(tmp, self.base, self.base)
        tmp.rename(link)

    def current_config(self):
        gen = os.readlink(self.nix / "var/nix/profiles/system")
        return (self.nix / gen.removeprefix("/nix/") / "etc/impermctl/config.toml").read_text()

    # ---- boots ----------------------------------------------------------
    def boot(self, persistent=True, wait=True):
        """Start the VPS on a fresh root dataset; returns the system state."""
        if self.proc:
            raise RigError("boot() while running")
        n = len(self.boots) + 1
        source = f"tank/ct/{self.ctid}.impermanence-{secrets.token_hex(3)}"
        self.root_ds = self.ds / f"root-{n}"
        self._mount_tmpfs(source, self.root_ds, "mode=0770,size=4g")
        os.chown(self.root_ds, self.base, self.base)
        private = self.root_ds / "private"
        subprocess.run(["cp", "-a", f"{self.image}/.", str(private)], check=True)
        self.cg = [h / "impermctl-test" / f"{self.name}-{os.getpid()}" for h in _cgroup_hiers()]
        for c in self.cg:
            c.mkdir(parents=True, exist_ok=True)
        cmd = [
            "systemd-nspawn", "-D", str(private), f"--machine={self.name}",
            "--register=no", "--keep-unit", "--console=pipe", "--quiet",
            f"--private-users={self.base}:65536", "--private-users-ownership=off",
            "--kill-signal=SIGRTMIN+3",
            # Else nspawn creates /var/log/journal in the fresh root (data to seed).
            "--link-journal=no",
            # vpsFree's LXC seccomp allows fanotify (marks then fail with EPERM).
            "--system-call-filter=fanotify_init fanotify_mark",
            f"--bind-ro={self.nix}:/nix",
        ]
        if persistent:
            cmd.append(f"--bind={self.persist}:/persistent")
        cmd.append("/sbin/impermctl-init")
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        self.boot_log = self.work / f"boot-{n}.log"
        cgs = self.cg

        def enter_cgroup():
            for c in cgs:
                (c / "cgroup.procs").write_text(str(os.getpid()))

        self.log(f"boot {n}: / = {source}, /persistent {'mounted' if persistent else 'NOT mounted'}")
        with open(self.boot_log, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=enter_cgroup)
        self.boots.append([source, None])
        self.leader = self._find_leader()
        bid = self.nsenter(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
        self.boot_ids.append(bid.replace("-", ""))
        return self.wait_running() if wait else None

    def _find_leader(self, timeout=30):
        deadline = time.monotonic() + timeout
        pid = self.proc.pid
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RigError(f"systemd-nspawn exited {self.proc.returncode}: {self.boot_output()}")
            try:
                kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "systemd":
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.02)
        raise RigError(f"no container init after {timeout}s: {self.boot_output()}")

    def wait_running(self, timeout=60):
        """Wait for the boot to finish; returns running/degraded/..."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            r = self.nsenter(["systemctl", "is-system-running"], check=False)
            state = r.stdout.strip()
            if state in ("running", "degraded", "maintenance"):
                return state
            time.sleep(0.1)
        raise RigError(f"boot not finished after {timeout}s (state {state!r})")

    def boot_output(self):
        try:
            return self.boot_log.read_text(errors="replace")[-3000:]
        except (OSError, AttributeError):
            return ""

    def _wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RigError(f"systemd-nspawn did not exit within {timeout}s") from None
        self.boots[-1][1] = rc
        self._teardown_boot()
        return rc

    def reboot(self, persistent=True):
        """ctrl-alt-del (nspawn exits 133), then the next boot on a new root dataset."""
        os.kill(self.leader, signal.SIGINT)
        rc = self._wait_exit(60)
        if rc != 133:
            raise RigError(f"reboot: systemd-nspawn exited {rc}, expected 133: {self.boot_output()}")
        return self.boot(persistent=persistent)

    def poweroff(self):
        os.kill(self.leader, signal.SIGRTMIN + 4)
        return self._wait_exit(60)

    def _teardown_boot(self):
        """Kill what is left of the container, drop its cgroups and root dataset
        (the host destroys it at stop)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for c in getattr(self, "cg", []):
            kill = c / "cgroup.kill"
            if kill.exists():
                try:
                    kill.write_text("1")
                except OSError:
                    pass
        time.sleep(0.05)
        for c in getattr(self, "cg", []):
            _rmdir_tree(c)
            try:
                c.parent.rmdir()  # impermctl-test/, unless another run uses it
            except OSError:
                pass
        self.proc = None
        self.leader = None
        if self.root_ds in self.mounts:
            self._umount(self.root_ds)

    def _umount(self, where):
        r = subprocess.run(["umount", str(where)], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
        self.mounts.remove(where)
        try:
            where.rmdir()
        except OSError:
            pass

    def close(self):
        try:
            self._teardown_boot()
        finally:
            for m in reversed(list(self.mounts)):
                self._umount(m)

    # ---- inside ---------------------------------------------------------
    def nsenter(self, cmd, check=True, timeout=60, input=None):
        """Run CMD in the container's namespaces directly (no seccomp, no unit)."""
        if not self.leader:
            raise RigError("the VPS is not running")
        return self._run(["nsenter", "-t", str(self.leader), "-a", *cmd], check, timeout, input)

    def run(self, cmd, check=False, user=None, unit=None, wait=True, props=(), timeout=60):
        """Run CMD inside as a transient unit (the container's seccomp and
        capabilities apply); returns the CompletedProcess of CMD."""
        sr = ["systemd-run", "--quiet", "--collect"]
        if wait:
            sr += ["--wait", "--pipe"]
        if user:
            sr.append(f"--property=User={user}")
        if unit:
            sr.append(f"--unit={unit}")
        sr += [f"--property={p}" for p in props]
        return self.nsenter([*sr, "--", *cmd], check=check, timeout=timeout)

    def sh(self, script, **kw):
        return self.run(["/bin/sh", "-c", script], **kw)

    def _run(self, cmd, check, timeout, input=None):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL, input=input)
        if check and r.returncode != 0:
            raise RigError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def unit(self, name, *props):
        """`systemctl show` properties of a unit as a dict."""
        r = self.nsenter(["systemctl", "show", name, *[f"--property={p}" for p in props]])
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def journal(self, *args):
        """Journal entries (inside, current boot unless args say otherwise) as dicts."""
        r = self.nsenter(["journalctl", "--no-pager", "-o", "json", *args], check=False)
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def host_journal(self, *args):
        """Journal entries read from the host out of the persistent /var/log/journal."""
        d = self.persist / "var/log/journal"
        r = subprocess.run(["journalctl", "--no-pager", "-D", str(d), "-o", "json", *args],
                           capture_output=True, text=True)
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def path(self, p):
        """A path inside the running container, as seen from the host."""
        return Path(f"/proc/{self.leader}/root") / p.lstrip("/")
