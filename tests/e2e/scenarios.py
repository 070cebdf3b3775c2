"""The system-test scenarios (issue 7), each a function taking the suite
context and raising `Failed` when an assertion does not hold. Each scenario
boots its own VPS (fresh datasets) and tears it down, also when it fails."""

import json
import re
import time

from image import SEED_CONFIG
from rig import Vps

SEED_DIRS = ("/etc/nixos", "/var/log", "/var/lib/nixos")
DEMO = "/var/lib/demo"


class Failed(AssertionError):
    pass


# Failed soft checks of the running scenario (reported together at its end).
SOFT = []


def expect(cond, msg, detail=""):
    """A precondition: the scenario cannot go on without it."""
    if not cond:
        raise Failed(msg + (f"\n{detail.rstrip()}" if detail else ""))
    return cond


def check(cond, msg, detail=""):
    """An independent assertion: recorded, and the scenario goes on."""
    if not cond:
        SOFT.append(msg + (f"\n{detail.rstrip()}" if detail else ""))
    return cond


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def vps(ctx, config=SEED_CONFIG):
    ctx.current = Vps(ctx.image, ctx.new_workdir(), ctx.base, config, log=ctx.log,
                      on_failure=ctx.diagnostics)
    return ctx.current


def mounts(v):
    """findmnt --mtab (libmount merges utab's userspace options) as target -> entry."""
    r = v.run(["findmnt", "--mtab", "--json", "-o", "TARGET,SOURCE,FSROOT,MAJ:MIN,FSTYPE,OPTIONS"],
              check=True)
    return {m["target"]: m for m in json.loads(r.stdout)["filesystems"]}


def persistent_dev(table):
    expect("/persistent" in table, "/persistent is not a mount point", json.dumps(table, indent=1))
    return table["/persistent"]["maj:min"]


def warnings_for(v, group):
    return [e for e in v.journal("-b", f"IMPERMCTL_GROUP={group}") if e.get("PRIORITY") == "4"]


def write_demo(v, keep_open=True):
    """A service writes /var/lib/demo/db (and keeps it open, like a database)."""
    script = f"mkdir -p {DEMO} && exec 3>{DEMO}/db && echo row1 >&3 && sleep 0.3 && echo row2 >&3"
    if keep_open:
        script += " && exec sleep 600"
    r = v.sh(script, unit="demo-writer", wait=False)
    expect(r.returncode == 0, "could not start the demo-writer service", out(r))


def wait_for(fn, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(step)


def watched_files(v, group):
    """Files the running watcher counts in GROUP (`impermctl status --json`)."""
    r = v.run(["impermctl", "status", "--json"])
    try:
        groups = (json.loads(r.stdout).get("watcher") or {}).get("groups", [])
    except ValueError:
        return 0
    return next((g["files"] for g in groups if g["path"] == group), 0)


def run_until(v, cmd, ok, timeout):
    """Run CMD inside until ok(result) holds or TIMEOUT passes; the last result."""
    deadline = time.monotonic() + timeout
    while True:
        r = v.run(cmd)
        if ok(r) or time.monotonic() >= deadline:
            return r
        time.sleep(0.2)


def s1_first_boot(ctx):
    """First boot with the seed config: verify 0, boot unit ok, hidden binds, machine-id kept."""
    with vps(ctx) as v:
        v.boot()
        r = v.run(["impermctl", "verify"])
        check(r.returncode == 0, "impermctl verify did not exit 0 on the first boot", out(r))
        u = v.unit("impermctl-boot.service", "Result", "ActiveState", "LoadState")
        check(u.get("LoadState") == "loaded" and u.get("Result") == "success"
              and u.get("ActiveState") == "active", "impermctl-boot.service did not succeed", str(u))
        table = mounts(v)
        pdev = persistent_dev(table)
        for d in SEED_DIRS:
            m = table.get(d)
            if check(m is not None, f"{d} is not mounted", json.dumps(table, indent=1)):
                check(m["maj:min"] == pdev and m["fsroot"].endswith(d),
                      f"{d} is not a bind from the persistent filesystem", json.dumps(m))
                check("x-gvfs-hide" in m["options"].split(","),
                      f"{d} lacks x-gvfs-hide in findmnt --mtab", json.dumps(m))
        mid = v.path("/etc/machine-id").read_text().strip()
        expect(re.fullmatch(r"[0-9a-f]{32}", mid), f"/etc/machine-id is not an ID: {mid!r}")
        m = table.get("/etc/machine-id")
        check(m is not None and m["maj:min"] == pdev,
              "/etc/machine-id is not bound from /persistent (impermanence PR #242 behaviour)",
              json.dumps(m))
        v.reboot()
        mid2 = v.path("/etc/machine-id").read_text().strip()
        check(mid2 == mid, f"machine-id changed across the reboot: {mid} -> {mid2}")
        kept = (v.persist / "etc/machine-id").read_text().strip()
        check(kept == mid, f"/persistent/etc/machine-id holds {kept!r}, not {mid}")
        check("/etc/machine-id" in mounts(v), "/etc/machine-id is not a bind mount on the second boot")
        u = v.unit("systemd-machine-id-commit.service", "ActiveState")
        check(u.get("ActiveState") != "failed", "systemd-machine-id-commit failed", str(u))
        check(v.wait_running() == "running", "the second boot is not 'running'",
              v.nsenter(["systemctl", "--failed", "--no-pager"]).stdout)
        v.poweroff()


def s2_warning_and_diff(ctx):
    """A service writes /var/lib/demo/db: one WARNING within 2 s, diff lists it."""
    with vps(ctx) as v:
        v.boot()
        t0 = time.monotonic()
        write_demo(v)
        found = wait_for(lambda: warnings_for(v, DEMO), 2.0)
        took = time.monotonic() - t0
        expect(found, f"no WARNING with IMPERMCTL_GROUP={DEMO} within 2 s",
               "\n".join(e.get("MESSAGE", "") for e in v.journal("-b", "-u", "impermctl-watch.service")))
        ctx.log(f"warning after {took:.2f} s")
        # More writes to the same group must not warn again.
        v.sh(f"echo more >> {DEMO}/db2 && touch {DEMO}/db", check=True)
        # Once the watcher has counted the new file, count the warnings.
        seen = wait_for(lambda: watched_files(v, DEMO) >= 2, 30)
        check(seen, f"the watcher did not count {DEMO}/db2 within 30 s")
        found = warnings_for(v, DEMO)
        check(len(found) == 1, f"expected one WARNING for {DEMO}, got {len(found)}",
              "\n".join(e.get("MESSAGE", "") for e in found))
        e = found[0]
        check(e.get("IMPERMCTL_UNIT") == "demo-writer.service",
              f"the warning does not name the writer's unit (IMPERMCTL_UNIT={e.get('IMPERMCTL_UNIT')!r})",
              "\n".join(f"{k}={v}" for k, v in sorted(e.items()) if not k.startswith("_")))
        r = v.run(["impermctl", "diff"])
        check(r.returncode == 1, "impermctl diff did not exit 1", out(r))
        check(DEMO in r.stdout, f"impermctl diff does not list {DEMO}", out(r))
        r = v.run(["impermctl", "diff", "--suggest"])
        check(f'"{DEMO}"' in r.stdout and "directories" in r.stdout,
              "impermctl diff --suggest does not print a snippet persisting it", out(r))
        v.poweroff()


def s3_reboot_discards(ctx):
    """Reboot: /var/lib/demo gone, /etc/nixos and the journal kept, shutdown summary logged."""
    with vps(ctx) as v:
        v.boot()
        write_demo(v)
        wait_for(lambda: warnings_for(v, DEMO), 30)
        r = v.sh("echo '{ }' > /etc/nixos/configuration.nix")
        expect(r.returncode == 0, "cannot write /etc/nixos/configuration.nix", out(r))
        first = v.boot_ids[-1]
        v.reboot()
        r = v.run(["test", "-e", DEMO])
        check(r.returncode == 1, f"{DEMO} survived the reboot")
        r = v.run(["cat", "/etc/nixos/configuration.nix"])
        check(r.stdout.strip() == "{ }", "/etc/nixos/configuration.nix was not kept", out(r))
        prev = v.host_journal(f"_BOOT_ID={first}")
        expect(len(prev) > 10, "the previous boot's journal was not kept in /persistent/var/log",
               f"{len(prev)} entries")
        r = v.run(["journalctl", "--list-boots", "--no-pager"])
        check(len([ln for ln in r.stdout.splitlines() if re.match(r"\s*-?\d+ ", ln)]) >= 2,
               "journalctl --list-boots inside does not show two boots", out(r))
        summary = [e for e in prev if "impermctl" in e.get("SYSLOG_IDENTIFIER", "")
                   and DEMO in e.get("MESSAGE", "") and "discard" in e.get("MESSAGE", "").lower()]
        expect(summary, f"the previous boot's journal has no shutdown summary naming {DEMO}",
               "\n".join(e.get("MESSAGE", "") for e in prev if "impermctl" in e.get("SYSLOG_IDENTIFIER", "")))
        v.poweroff()


def s4_add_to_config(ctx):
    """Persist /var/lib/demo while it holds data: seeded, bound, survives reboot."""
    with vps(ctx) as v:
        v.boot()
        r = v.sh(f"mkdir -p {DEMO}/sub && echo precious > {DEMO}/db && echo x > {DEMO}/sub/y "
                 f"&& chmod 0750 {DEMO} && chown nobody {DEMO}/db")
        expect(r.returncode == 0, "cannot write the demo data", out(r))
        v.switch_config(SEED_CONFIG + f'\n[[persistence.directories]]\npath = "{DEMO}"\n')
        r = v.run(["impermctl", "boot"])
        expect(r.returncode == 0, "impermctl boot (after the config change) failed", out(r))
        seeded = v.persist / DEMO.lstrip("/")
        expect((seeded / "db").is_file() and (seeded / "db").read_text() == "precious\n",
               f"{DEMO} was not seeded into /persistent")
        expect((seeded / "sub/y").is_file(), f"{DEMO}/sub/y was not seeded")
        r = v.run(["stat", "-c", "%U %a", f"{DEMO}/db", DEMO], check=True)
        expect(r.stdout.split("\n")[:2] == ["nobody 644", "root 750"],
               "owner/mode not preserved by the seed", out(r))
        table = mounts(v)
        m = table.get(DEMO)
        expect(m is not None and m["maj:min"] == persistent_dev(table),
               f"{DEMO} is not bound from /persistent after impermctl boot", json.dumps(m))
        v.reboot()
        r = v.run(["cat", f"{DEMO}/db"])
        expect(r.stdout == "precious\n", f"{DEMO}/db did not survive the reboot", out(r))
        expect(DEMO in mounts(v), f"{DEMO} is not bound on the next boot")
        v.poweroff()


def s5_persistent_missing(ctx):
    """/persistent not mounted: the boot unit fails, CRIT with the remedy, nothing created."""
    with vps(ctx) as v:
        v.boot(persistent=False)
        r = v.run(["impermctl", "verify"])
        expect(r.returncode == 2, "impermctl verify did not exit 2", out(r))
        r = v.run(["impermctl", "verify", "--json"])
        doc = json.loads(r.stdout or "{}")
        fatal = [f for f in doc.get("findings", []) if f.get("severity") == "fatal"]
        expect(fatal, "verify --json has no fatal finding", out(r))
        r = v.run(["find", "/persistent", "-mindepth", "1"])
        check(r.returncode == 0 and r.stdout.strip() == "",
               "something was created under /persistent", out(r))
        u = v.unit("impermctl-boot.service", "Result", "ActiveState", "LoadState")
        check(u.get("LoadState") == "loaded" and u.get("ActiveState") == "failed",
              "impermctl-boot.service did not fail", str(u))
        crit = [e for e in v.journal("-b", "-p", "crit") if "/persistent" in e.get("MESSAGE", "")]
        expect(crit, "no CRIT message about /persistent in the journal",
               "\n".join(e.get("MESSAGE", "") for e in v.journal("-b", "-p", "err")))
        remedy = fatal[0].get("remedy", "")
        text = " ".join(e.get("MESSAGE", "") + " " + e.get("IMPERMCTL_REMEDY", "") for e in crit)
        expect(remedy and remedy.split(".")[0] in text, "the CRIT message lacks the remedy",
               f"remedy: {remedy}\njournal: {text}")
        v.poweroff()


def s6_dbus(ctx):
    """The watcher's D-Bus API on the container's system bus: root allowed, alice refused."""
    with vps(ctx) as v:
        v.boot()
        call = ["busctl", "--system", "call", "io.github.Impermctl1", "/io/github/Impermctl1",
                "io.github.Impermctl1.Watcher", "Unpersisted"]
        r = run_until(v, call, lambda r: r.returncode == 0, 30)
        expect(r.returncode == 0, "root cannot call Unpersisted() on io.github.Impermctl1", out(r))
        r = v.run(["busctl", "--system", "get-property", "io.github.Impermctl1",
                   "/io/github/Impermctl1", "io.github.Impermctl1.Watcher", "Backend"])
        check(r.returncode == 0 and r.stdout.startswith("s "), "no Backend property", out(r))
        r = v.run(call, user="alice")
        expect(r.returncode != 0, "a non-root user may call Unpersisted()", out(r))
        expect("denied" in (r.stderr + r.stdout).lower(), "the refusal is not an access denial", out(r))
        v.poweroff()


def s7_watcher_restart(ctx):
    """kill -9 of the watcher: systemd restarts it, it still reports the groups (rescan)."""
    with vps(ctx) as v:
        v.boot()
        write_demo(v, keep_open=False)
        expect(wait_for(lambda: warnings_for(v, DEMO), 30), f"no warning for {DEMO}")
        call = ["busctl", "--system", "--json=short", "call", "io.github.Impermctl1",
                "/io/github/Impermctl1", "io.github.Impermctl1.Watcher", "Unpersisted"]
        # The watcher publishes its state every few seconds, not per event.
        r = run_until(v, call, lambda r: DEMO in r.stdout, 30)
        check(DEMO in r.stdout, f"even before the kill, Unpersisted() does not report {DEMO}", out(r))
        pid = v.unit("impermctl-watch.service", "MainPID")["MainPID"]
        expect(pid != "0", "impermctl-watch.service has no main process")
        v.nsenter(["kill", "-9", pid], check=True)

        def restarted():
            u = v.unit("impermctl-watch.service", "MainPID", "ActiveState", "NRestarts")
            return u if u["ActiveState"] == "active" and u["MainPID"] not in ("0", pid) else None
        u = wait_for(restarted, 30)
        expect(u, "the watcher was not restarted after kill -9",
               str(v.unit("impermctl-watch.service", "MainPID", "ActiveState", "Result")))
        r = run_until(v, call, lambda r: DEMO in r.stdout, 30)
        expect(DEMO in r.stdout, f"after the restart the watcher does not report {DEMO}", out(r))
        r = v.run(["impermctl", "status"])
        check(DEMO in r.stdout, f"impermctl status does not show {DEMO} after the restart", out(r))
        v.poweroff()


SCENARIOS = {
    1: s1_first_boot,
    2: s2_warning_and_diff,
    3: s3_reboot_discards,
    4: s4_add_to_config,
    5: s5_persistent_missing,
    6: s6_dbus,
    7: s7_watcher_restart,
}
