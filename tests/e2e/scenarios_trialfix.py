"""Trial s5 leftover (sys, 72): boot's layout warnings (persistent-root-writable,
root-usage) were seen twice. Each run of `impermctl boot` logs each finding once:
in the journal of one impermctl-boot.service run, and on a shell's stderr."""

from collections import Counter

from scenarios import check, expect, out, vps, wait_for


def s72_boot_warnings_once(ctx):
    """A read-only /persistent: each boot run (unit, shell) warns about it exactly once."""
    with vps(ctx) as v:
        v.boot()
        r = v.run(["mount", "-o", "remount,ro,bind", "/persistent"])
        expect(r.returncode == 0, "cannot remount /persistent read-only inside", out(r))
        r = v.run(["systemctl", "restart", "impermctl-boot.service"])
        pid = v.unit("impermctl-boot.service", "ExecMainPID").get("ExecMainPID", "0")
        # The run's last line is its summary (IMPERMCTL_BOUND): wait for it, then read the run.
        wait_for(lambda: [e for e in v.journal("-b", "SYSLOG_IDENTIFIER=impermctl", f"_PID={pid}")
                          if "IMPERMCTL_BOUND" in e], 20)
        entries = v.journal("-b", "SYSLOG_IDENTIFIER=impermctl", f"_PID={pid}")
        expect(entries, f"no journal entries from the rerun of impermctl-boot.service (pid {pid})", out(r))
        msgs = Counter(e.get("MESSAGE", "") for e in entries if e.get("PRIORITY") == "4")
        ro = [m for m in msgs if "persistent-root-writable" in m]
        check(ro, "no persistent-root-writable warning from the unit", "\n".join(msgs))
        check(all(n == 1 for n in msgs.values()), "a warning repeated in one run of the unit",
              "\n".join(f"{n}x {m}" for m, n in msgs.items()))
        # Every earlier run of this boot (the stage-2 boot's unit run) also once each.
        every = Counter((e.get("_PID"), e.get("MESSAGE", "")) for e in v.journal("-b", "SYSLOG_IDENTIFIER=impermctl")
                        if e.get("PRIORITY") == "4")
        check(all(n == 1 for n in every.values()), "a warning repeated within one impermctl process",
              "\n".join(f"{n}x pid {p}: {m}" for (p, m), n in every.items() if n > 1))
        r = v.run(["env", "IMPERMCTL_LOG=stderr", "impermctl", "boot"])
        lines = [line for line in r.stderr.splitlines() if "WARN" in line]
        check(len([line for line in lines if "persistent-root-writable" in line]) == 1,
              "impermctl boot from a shell does not warn exactly once", out(r))
        check(len(lines) == len(set(lines)), "impermctl boot from a shell repeats a warning", out(r))
        v.run(["mount", "-o", "remount,rw,bind", "/persistent"])
        v.poweroff()


SCENARIOS = {72: s72_boot_warnings_once}
