"""System tests of the syscall/journal layer (sys, 70-79): the real
impermctl-boot.service reports its STATUS= to systemd, and its journal
entries carry only namespaced fields; a refusal has its MESSAGE_ID."""

from scenarios import Failed, check, expect, out, vps, wait_for  # noqa: F401

REFUSED = "7453d25c65914aa987070e3c0f6c3aa4"
JOURNAL_OWN = {"MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE"}


def bare_fields(entries):
    """Fields impermctl sent that are neither the journal's nor IMPERMCTL_*."""
    return sorted({k for e in entries for k in e
                   if not k.startswith("_") and k not in JOURNAL_OWN
                   and not k.startswith("IMPERMCTL_")})


def s70_boot_unit_status(ctx):
    """impermctl-boot.service: StatusText from sd_notify, journal fields all IMPERMCTL_*."""
    with vps(ctx) as v:
        v.boot()
        u = wait_for(lambda: (lambda u: u if u.get("StatusText") else None)(
            v.unit("impermctl-boot.service", "StatusText", "NotifyAccess", "Result")), 10)
        expect(u, "impermctl-boot.service has no StatusText",
               str(v.unit("impermctl-boot.service", "StatusText", "NotifyAccess", "Result")))
        check(u.get("StatusText", "").startswith("persisted "),
              "the StatusText is not boot's summary", str(u))
        check(u.get("NotifyAccess") == "main", "NotifyAccess is not main", str(u))
        # By the unit's main pid, not _SYSTEMD_UNIT: journald derives the unit from the sender's
        # cgroup, which it cannot read once a fast rerun (2 ms) has already exited.
        pid = v.unit("impermctl-boot.service", "ExecMainPID").get("ExecMainPID", "0")
        entries = wait_for(lambda: v.journal("-b", "SYSLOG_IDENTIFIER=impermctl", f"_PID={pid}"), 20)
        expect(entries, f"no journal entries from impermctl-boot.service (pid {pid})")
        check(not bare_fields(entries), f"fields without the IMPERMCTL_ prefix: {bare_fields(entries)}")
        check(any("IMPERMCTL_BOUND" in e for e in entries), "no IMPERMCTL_BOUND in the boot summary",
              "\n".join(str(e) for e in entries[-3:]))
        v.poweroff()


def s71_refusal_message_id(ctx):
    """/persistent missing: the refusal is CRIT with its MESSAGE_ID, explained by journalctl -x."""
    with vps(ctx) as v:
        v.boot(persistent=False)
        crit = wait_for(lambda: v.journal("-b", f"MESSAGE_ID={REFUSED}"), 10)
        expect(crit, "no journal entry with the refusal's MESSAGE_ID",
               "\n".join(e.get("MESSAGE", "") for e in v.journal("-b", "-p", "err")))
        check(all(e.get("PRIORITY") == "2" for e in crit), "the refusal is not at CRIT", str(crit))
        check(all(e.get("IMPERMCTL_CHECK") for e in crit), "the refusal does not name its check", str(crit))
        r = v.run(["journalctl", "--no-pager", "-b", "-x", f"MESSAGE_ID={REFUSED}"])
        check("refused to bind persisted paths" in r.stdout,
              "journalctl -x does not explain the refusal (catalog entry missing?)", out(r))
        v.poweroff()


SCENARIOS = {70: s70_boot_unit_status, 71: s71_refusal_message_id}
