"""Scenario 8: the rig itself imitates a vpsFree NixOS Impermanence VPS (so a
passing scenario means something): user namespace, dataset names, read-only
/nix, the stage-2 init, a fresh root per boot, /persistent kept."""

import json
import re

from scenarios import check, expect, out, vps


def s8_rig_is_vpsfree_like(ctx):
    """The rig: userns map, dataset sources, ro /nix, stage-2 init, fresh root per boot."""
    with vps(ctx) as v:
        state = v.boot()
        check(state in ("running", "degraded"), f"systemd did not finish booting: {state}")
        r = v.run(["cat", "/proc/self/uid_map"], check=True)
        check(r.stdout.split() == ["0", str(ctx.base), "65536"],
              "not the non-identity user namespace map", out(r))
        r = v.run(["findmnt", "--json", "-o", "TARGET,SOURCE,FSROOT,FSTYPE,OPTIONS"], check=True)
        table = {}
        for fs in json.loads(r.stdout)["filesystems"]:
            stack = [fs]
            while stack:
                m = stack.pop()
                table[m["target"]] = m
                stack += m.get("children", [])
        root = table["/"]
        check(re.fullmatch(r"tank/ct/101\.impermanence-[0-9a-f]{6}\[/private\]", root["source"])
              and root["fstype"] == "tmpfs", "/ is not a fresh root dataset", json.dumps(root))
        p = table.get("/persistent", {})
        check(p.get("source") == "tank/ct/101[/private]" and "rw" in p.get("options", "").split(","),
              "/persistent is not the rw dataset tank/ct/101", json.dumps(p))
        n = table.get("/nix", {})
        check(n.get("source") == "tank/ct/101/nix[/private]" and "ro" in n.get("options", "").split(","),
              "/nix is not the ro dataset tank/ct/101/nix", json.dumps(n))
        r = v.run(["touch", "/nix/x"])
        check(r.returncode != 0 and "Read-only" in r.stderr, "/nix is writable", out(r))
        check("impermctl-init: activation: impermctl boot" in v.boot_output(),
              "the stage-2 init did not run before systemd", v.boot_output())
        r = v.nsenter(["readlink", "/proc/1/exe"], check=True)
        check(r.stdout.strip().endswith("/systemd"), "PID 1 is not systemd", out(r))
        r = v.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], check=True)
        check(r.stdout.strip() == "cgroup2fs", "not a pure cgroup2 hierarchy", out(r))
        v.run(["sh", "-c", "echo x > /etc/throwaway && echo y > /persistent/kept"], check=True)
        first = root["source"]
        v.reboot()
        r = v.run(["findmnt", "-n", "-o", "SOURCE", "/"], check=True)
        check(r.stdout.strip() != first, "the reboot did not get a new root dataset", out(r))
        r = v.run(["cat", "/etc/throwaway"])
        check(r.returncode != 0, "a file in /etc survived the reboot", out(r))
        r = v.run(["cat", "/persistent/kept"])
        expect(r.stdout == "y\n", "/persistent did not keep a file across the reboot", out(r))
        check(v.boots[0][1] == 133, f"the reboot's nspawn exit code was {v.boots[0][1]}, not 133")
        check(v.poweroff() == 0, "poweroff: nspawn did not exit 0")
