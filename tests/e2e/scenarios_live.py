"""System tests of issue 12 (live changes without loss), real systemd, real
reboots: a host key generated on the first boot is the same after the reboot
and the shutdown sync runs after the services stopped (30); a password change
survives a reboot (31); a service writing while `boot` adds its directory
loses no record (32)."""

from image import SEED_CONFIG
from scenarios import check, expect, out, vps

COPY = "".join(f'\n[[persistence.files]]\npath = "{p}"\nmethod = "copy"\n'
               for p in ("/etc/ssh/ssh_host_ed25519_key", "/etc/shadow"))


def _order(entries, first, then):
    """Index of the first entry matching `first` and of the last matching `then`."""
    a = next((i for i, e in enumerate(entries) if first(e)), None)
    b = next((i for i, e in reversed(list(enumerate(entries))) if then(e)), None)
    return a, b


def s30_host_key_survives_reboot(ctx):
    """sshd-like key generation on the first boot (remove, write new): same key after the reboot; sync after services."""
    with vps(ctx, SEED_CONFIG + COPY) as v:
        v.boot()
        u = v.unit("impermctl-sync.service", "ActiveState")
        expect(u.get("ActiveState") == "active", "impermctl-sync.service is not running", str(u))
        r = v.sh("mkdir -p /etc/ssh && rm -f /etc/ssh/ssh_host_ed25519_key && "
                 "head -c 64 /dev/urandom | base64 > /etc/ssh/ssh_host_ed25519_key && "
                 "chmod 600 /etc/ssh/ssh_host_ed25519_key && sha256sum < /etc/ssh/ssh_host_ed25519_key")
        expect(r.returncode == 0, "cannot generate the key", out(r))
        key = r.stdout
        # A service that is still running when the reboot starts.
        v.run(["/bin/sh", "-c", "trap 'echo stopping-writer; exit 0' TERM; while :; do sleep 1; done"],
              unit="live-writer", wait=False)
        v.reboot()
        r = v.run(["/bin/sh", "-c", "sha256sum < /etc/ssh/ssh_host_ed25519_key; stat -c %a /etc/ssh/ssh_host_ed25519_key"])
        check(r.stdout == key + "600\n", "the host key changed across the reboot", out(r))
        prev = v.journal("-b", "-1")
        a, b = _order(prev,
                      lambda e: "stopping-writer" in str(e.get("MESSAGE", "")),
                      lambda e: "shutdown sync done" in str(e.get("MESSAGE", "")))
        check(a is not None and b is not None and a < b,
              "the shutdown sync did not run after the services stopped (journal order)",
              f"writer stop at {a}, sync at {b}")
        v.poweroff()


def s31_password_change_survives_reboot(ctx):
    """/etc/shadow with method = "copy": usermod -p works (no EBUSY) and survives the reboot."""
    with vps(ctx, SEED_CONFIG + COPY) as v:
        v.boot()
        r = v.run(["usermod", "-p", "HASH-e2e", "alice"])
        expect(r.returncode == 0, "usermod -p failed", out(r))
        v.reboot()
        r = v.run(["/bin/sh", "-c", "grep ^alice: /etc/shadow | cut -d: -f2"])
        check(r.stdout.strip() == "HASH-e2e", "the password change was lost at the reboot", out(r))
        v.poweroff()


def s32_writer_while_boot_adds_its_directory(ctx):
    """A service appends to /var/lib/live/wal every 100 ms; a switch adds /var/lib/live: no record lost."""
    with vps(ctx) as v:
        v.boot()
        v.run(["/bin/sh", "-c", "mkdir -p /var/lib/live; exec 3>>/var/lib/live/wal; i=0; "
               "while :; do echo r$i >&3; i=$((i+1)); sleep 0.1; done"], unit="live", wait=False)
        v.sh("for i in $(seq 50); do [ -s /var/lib/live/wal ] && break; sleep 0.1; done")
        v.switch_config(SEED_CONFIG + '\n[[persistence.directories]]\npath = "/var/lib/live"\n')
        r = v.run(["impermctl", "boot"])
        check(r.returncode == 0, "boot failed", out(r))
        r = v.run(["impermctl", "status"])
        check("PENDING" in r.stdout, "status does not show the pending entry", out(r))
        v.reboot()
        r = v.run(["/bin/sh", "-c", "grep -o 'r[0-9]*' /var/lib/live/wal | sed 's/r//' | sort -n | "
                   "awk 'NR-1 != $1 { bad++ } END { print NR, bad+0 }'; findmnt -n /var/lib/live >/dev/null && echo bound"])
        n, gaps = (r.stdout.split("\n")[0].split() + ["0", "x"])[:2]
        check(int(n or 0) > 0 and gaps == "0", "records were lost (count, gaps)", out(r))
        check("bound" in r.stdout, "/var/lib/live is not bound after the reboot", out(r))
        v.poweroff()


SCENARIOS = {
    30: s30_host_key_survives_reboot,
    31: s31_password_change_survives_reboot,
    32: s32_writer_while_boot_adds_its_directory,
}
