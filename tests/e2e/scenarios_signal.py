"""System tests of issue 13: on a NixOS-shaped VPS (tests/e2e/nixos.py),
`impermctl diff` and the watcher report exactly what a reboot loses."""

import json

import nixos
from image import SEED_CONFIG
from scenarios import DEMO, check, expect, out, vps, wait_for

UNPERSISTED = "5b1c89b3707540a98f833fa5a79113ce"


def diff_json(v):
    r = v.run(["impermctl", "diff", "--json"])
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"impermctl diff --json is not JSON\n{out(r)}") from None
    return r, doc


def warned_groups(v):
    """Groups the watcher warned about this boot: group -> priorities."""
    seen = {}
    for e in v.journal("-b", f"MESSAGE_ID={UNPERSISTED}"):
        seen.setdefault(e.get("IMPERMCTL_GROUP"), set()).add(e.get("PRIORITY"))
    return seen


def s40_nixos_boot_diff_and_watcher(ctx):
    """NixOS-shaped boots: diff lists only the host keys (important), a switch adds nothing, a service's /var/lib/demo joins them; the watcher warned about exactly those."""
    with vps(ctx) as v:
        nixos.nixos_generation(v, SEED_CONFIG)
        # First boot commits the machine ID; the second is a plain boot.
        v.boot()
        v.reboot()
        r = v.nsenter(["cat", "/etc/NIXOS"], check=False)
        expect(r.returncode == 0, "the NixOS-shaped activation did not run", v.boot_output())
        keys = lambda: all(v.path(k).exists() for k in nixos.HOST_KEYS)  # noqa: E731
        expect(wait_for(keys, 20), "sshd-keygen.service wrote no host keys",
               v.nsenter(["systemctl", "status", "sshd-keygen", "--no-pager"], check=False).stdout)
        r, doc = diff_json(v)
        g = nixos.groups(doc)
        check(r.returncode == 1, "diff after a plain boot did not exit 1", out(r))
        check(sorted(g) == sorted(nixos.HOST_KEYS),
              f"after a plain boot diff lists {sorted(g)}, expected only the host keys", r.stdout)
        for k in nixos.HOST_KEYS:
            if k in g:
                check(g[k]["class"] == "important" and "changed host key" in g[k].get("consequence", ""),
                      f"{k} is not important with its consequence", json.dumps(g[k]))
        human = v.run(["impermctl", "diff"])
        check("clients will see a changed host key" in human.stdout, "diff does not say the consequence",
              out(human))
        ctx.log("diff after a plain boot:\n" + human.stdout)
        # nixos-rebuild switch: a new generation, activation rewrites /etc.
        nixos.nixos_generation(v, SEED_CONFIG, {"motd": "welcome\n"})
        r = nixos.switch(v)
        expect(r.returncode == 0, "the switch's activation failed", out(r))
        expect(v.path("/etc/motd").is_symlink(), "the switch did not link /etc/motd")
        r, doc = diff_json(v)
        check(sorted(nixos.groups(doc)) == sorted(nixos.HOST_KEYS),
              f"after a switch diff lists {sorted(nixos.groups(doc))}", r.stdout)
        # A service writes its state.
        r = v.sh(f"mkdir -p {DEMO} && echo row > {DEMO}/db", unit="demo-writer")
        expect(r.returncode == 0, "the demo writer failed", out(r))
        r, doc = diff_json(v)
        want = sorted([*nixos.HOST_KEYS, DEMO])
        check(sorted(nixos.groups(doc)) == want, f"after the service diff lists {sorted(nixos.groups(doc))}",
              r.stdout)
        ctx.log("diff after the service:\n" + v.run(["impermctl", "diff"]).stdout)
        # The watcher: warnings for exactly those (the keys at priority err).
        expect(wait_for(lambda: DEMO in warned_groups(v), 30), f"no warning for {DEMO}")
        w = warned_groups(v)
        check(sorted(w) == want, f"the watcher warned about {sorted(w)}, expected {want}",
              "\n".join(e.get("MESSAGE", "") for e in v.journal("-b", f"MESSAGE_ID={UNPERSISTED}")))
        for k in nixos.HOST_KEYS:
            check(w.get(k) == {"3"}, f"the warning for {k} is not at priority err: {w.get(k)}")
        r = v.run(["impermctl", "diff", "--all"])
        check("regenerated /etc/mtab" in r.stdout and "not a loss: systemd-tmpfiles" in r.stdout,
              "diff --all does not list the regenerated entries, labelled", out(r))
        ctx.log("diff --all:\n" + r.stdout)
        r = v.run(["impermctl", "diff", "--suggest"])
        for bad in ['"/etc"', '"/etc/ssh"', '"/var"', '"/usr"', "/etc/static", '"/etc/passwd"']:
            check(bad not in r.stdout, f"--suggest proposes {bad}", out(r))
        v.poweroff()


SCENARIOS = {
    40: s40_nixos_boot_diff_and_watcher,
}


STATE_UNIT = """\
[Unit]
Description=a service with state, cache and a dynamic user

[Service]
DynamicUser=yes
StateDirectory=dyndemo
CacheDirectory=dyndemo
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""


def s41_services_state_directories(ctx):
    """verify and status list running services whose StateDirectory= is not persisted (from systemd over D-Bus), before they wrote anything; caches are fine to lose; --suggest names the state directory."""
    with vps(ctx) as v:
        nixos.nixos_generation(v, SEED_CONFIG)
        v.boot()
        unit = v.path("/etc/systemd/system/dyndemo.service")
        unit.write_text(STATE_UNIT)
        v.nsenter(["systemctl", "daemon-reload"], check=True)
        r = v.nsenter(["systemctl", "enable", "--now", "dyndemo.service"], check=False)
        expect(r.returncode == 0, "cannot start dyndemo.service", out(r))
        r = v.run(["impermctl", "verify"])
        check("dyndemo.service StateDirectory=dyndemo -> /var/lib/private/dyndemo" in r.stdout,
              "verify does not list the service's unpersisted StateDirectory", out(r))
        check('"/var/lib/private/dyndemo"  # into environment.persistence."/persistent".directories = [ … ]' in r.stdout,
              "verify does not give the config line", out(r))
        check("CacheDirectory=dyndemo" in r.stdout and "fine to lose" in r.stdout,
              "verify does not say the cache is fine to lose", out(r))
        ctx.log("verify:\n" + r.stdout)
        r = v.run(["impermctl", "status"])
        check("dyndemo.service StateDirectory=dyndemo" in r.stdout, "status does not list it", out(r))
        # Once it writes, --suggest names its state directory, not /var/lib/private.
        r = v.sh("echo row > /var/lib/private/dyndemo/db")
        expect(r.returncode == 0, "cannot write the service's state", out(r))
        r = v.run(["impermctl", "diff", "--suggest"])
        check('"/var/lib/private/dyndemo"' in r.stdout and '"/var/lib/private"' not in r.stdout,
              "--suggest does not name the service's state directory", out(r))
        # Persisted: no longer listed.
        nixos.nixos_generation(v, SEED_CONFIG + '\n[[persistence.directories]]\npath = "/var/lib/private/dyndemo"\n')
        r = nixos.switch(v)
        expect(r.returncode == 0, "the switch's activation failed", out(r))
        r = v.run(["impermctl", "boot"])
        expect(r.returncode == 0, "impermctl boot failed", out(r))
        r = v.run(["impermctl", "verify"])
        check("StateDirectory=dyndemo" not in r.stdout, "a persisted StateDirectory is still listed", out(r))
        check("systemd/linger" not in r.stdout, "a regenerated StateDirectory is listed", out(r))
        v.poweroff()


SCENARIOS[41] = s41_services_state_directories
