#!/usr/bin/env python3
"""The module's stage-2 units against the real systemd (issue 16 item 2).

Reads `cases.nix`'s `unitSets` JSON ({mode: {service: {before, after, …}}})
on stdin. For each user-management mode it writes the units the module
defines into a unit directory the way NixOS would: a unit file for units of
its own, a drop-in for units systemd already ships (systemd-sysusers,
systemd-machine-id-commit) and for impermctl-boot/-sync.service, whose base is the
packaged systemd/impermctl-{boot,sync}.service (without RequiresMountsFor, as
packaging/nix/package.nix installs it); wantedBy/requiredBy become Wants=/
Requires= drop-ins on the targets. Every ExecStart is /bin/true.

Then `systemd-analyze verify` (with SYSTEMD_UNIT_PATH=<dir>: so the host's
systemd units are there too) builds the start transactions of the targets
and units; any "ordering cycle", unknown key or missing unit is a failure.

Usage: unitcheck.py REPO < unitSets.json; prints `ok units MODE` or
`FAIL units MODE: …`; exits 1 on any FAIL.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HOST_DIRS = ["/usr/lib/systemd/system", "/lib/systemd/system"]
LISTS = [("before", "Before"), ("after", "After"), ("wants", "Wants"),
         ("requires", "Requires"), ("conflicts", "Conflicts")]
TARGETS = ["local-fs.target", "sysinit.target", "multi-user.target"]


def shipped(name):
    return any(os.path.exists(os.path.join(d, name)) for d in HOST_DIRS)


def unit_lines(u):
    lines = ["[Unit]"]
    for key, directive in LISTS:
        for v in u.get(key, []):
            lines.append(f"{directive}={v}")
    for k, v in sorted(u.get("unitConfig", {}).items()):
        vals = v if isinstance(v, list) else [v]
        for x in vals:
            if isinstance(x, bool):
                x = "yes" if x else "no"
            lines.append(f"{k}={x}")
    return lines


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def render(repo, units, d):
    extra = {}
    for name, u in units.items():
        unit = f"{name}.service"
        lines = unit_lines(u)
        if name in ("impermctl-boot", "impermctl-sync"):
            base = open(os.path.join(repo, f"systemd/{unit}")).read()
            base = re.sub(r"^RequiresMountsFor=.*\n", "", base, flags=re.M)
            base = re.sub(r"^ExecStart=.*$", "ExecStart=/bin/true", base, flags=re.M)
            write(os.path.join(d, unit), base.splitlines())
            write(os.path.join(d, f"{unit}.d", "overrides.conf"), lines)
        elif shipped(unit):
            write(os.path.join(d, f"{unit}.d", "overrides.conf"), lines)
        else:
            write(os.path.join(d, unit), lines + ["[Service]", "Type=oneshot", "ExecStart=/bin/true"])
        for key, directive in (("wantedBy", "Wants"), ("requiredBy", "Requires")):
            for t in u.get(key, []):
                extra.setdefault(t, []).append(f"{directive}={unit}")
    for t, lines in extra.items():
        if not shipped(t) and not os.path.exists(os.path.join(d, t)):
            write(os.path.join(d, t), ["[Unit]", f"Description=stand-in for NixOS' {t}"])
        write(os.path.join(d, f"{t}.d", "impermctl-test.conf"), ["[Unit]"] + lines)
    return sorted(set(TARGETS) | set(extra) | {f"{n}.service" for n in units})


def check(repo, mode, units):
    with tempfile.TemporaryDirectory() as d:
        names = render(repo, units, d)
        env = dict(os.environ, SYSTEMD_UNIT_PATH=d + ":")
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", *names],
                             capture_output=True, text=True, cwd=d, env=env)
        text = out.stdout + out.stderr
        bad = [l for l in text.splitlines()
               if re.search(r"ordering cycle|Unknown key|not found|Failed to|bad-setting", l)
               and not re.search(r"Unit (dbus|persistent|.*\.mount)\b.* not found", l)]
        return bad, text


def main():
    repo = sys.argv[1]
    sets = json.load(sys.stdin)
    failed = False
    for mode in sorted(sets):
        bad, text = check(repo, mode, sets[mode])
        if bad:
            print(f"FAIL units {mode}: " + " | ".join(bad))
            failed = True
        else:
            print(f"ok units {mode}: systemd-analyze verify finds no ordering cycle ({len(sets[mode])} services)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
