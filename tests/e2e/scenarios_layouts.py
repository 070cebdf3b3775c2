"""System tests of issue 11 (layouts people use): a file with no persistent
copy written through its link survives a reboot (20), a DynamicUser= unit
with a persisted /var/lib/private state directory starts (21), a second
persistence root that is not mounted costs only its own entries (22), two
roots that are sub-directories of one mounted filesystem (23)."""

import json

from image import SEED_CONFIG
from scenarios import SEED_DIRS, check, expect, mounts, out, persistent_dev, vps

FILES = ("/var/lib/app/app.conf", "/root/.config/My Tool/settings.json")


def s20_file_link_survives_reboot(ctx):
    """New file entries: links whose persistent parents exist; writes through them survive a reboot."""
    cfg = SEED_CONFIG + "".join(f'\n[[persistence.files]]\npath = "{p}"\n' for p in FILES)
    with vps(ctx, cfg) as v:
        v.boot()
        u = v.unit("impermctl-boot.service", "Result")
        check(u.get("Result") == "success", "impermctl-boot.service did not succeed", str(u))
        for i, p in enumerate(FILES):
            r = v.run(["readlink", p])
            expect(r.stdout.strip() == "/persistent" + p, f"{p} is not a link into /persistent", out(r))
            r = v.run(["/bin/sh", "-c", f'echo "content {i}" > "{p}"'])
            expect(r.returncode == 0, f"cannot write through the link {p}", out(r))
        v.reboot()
        for i, p in enumerate(FILES):
            r = v.run(["cat", p])
            check(r.returncode == 0 and r.stdout == f"content {i}\n",
                  f"{p} did not keep its content across the reboot", out(r))
        r = v.run(["impermctl", "boot", "--dry-run"])
        check(r.returncode == 0 and "0 of" in r.stdout, "the second boot still has work to do", out(r))
        v.poweroff()


def s21_dynamic_user_state(ctx):
    """/var/lib/private/myservice persisted: a DynamicUser=yes StateDirectory= unit starts and keeps state."""
    cfg = SEED_CONFIG + '\n[[persistence.directories]]\npath = "/var/lib/private/myservice"\n'
    props = ("DynamicUser=yes", "StateDirectory=myservice")
    script = "cat /var/lib/myservice/count 2>/dev/null; echo $(id -u) >> /var/lib/myservice/count"
    with vps(ctx, cfg) as v:
        v.boot()
        r = v.run(["stat", "-c", "%a %U", "/var/lib/private"])
        check(r.stdout.strip() == "700 root", "/var/lib/private is not root 0700", out(r))
        r = v.run(["/bin/sh", "-c", script], unit="myservice", props=props)
        expect(r.returncode == 0, "the DynamicUser=yes unit did not start (systemd refuses a 0755 /var/lib/private)",
               out(r) + "\n" + "\n".join(e.get("MESSAGE", "") for e in v.journal("-b", "-u", "myservice")))
        v.reboot()
        r = v.run(["/bin/sh", "-c", script], unit="myservice", props=props)
        expect(r.returncode == 0, "the DynamicUser=yes unit did not start after the reboot", out(r))
        check(r.stdout.strip() != "", "the state written before the reboot was lost", out(r))
        kept = v.persist / "var/lib/private/myservice/count"
        check(kept.is_file(), "the state is not in /persistent/var/lib/private/myservice")
        v.poweroff()


def s22_second_root_unmounted(ctx):
    """A second root that is not mounted: its entries are refused (CRIT, unit failed), the seed's are bound."""
    cfg = SEED_CONFIG + '\n[[persistence]]\npath = "/data"\n[[persistence.directories]]\npath = "/srv/www"\n'
    with vps(ctx, cfg) as v:
        v.boot()
        table = mounts(v)
        pdev = persistent_dev(table)
        for d in (*SEED_DIRS, "/etc/machine-id"):
            m = table.get(d)
            check(m is not None and m["maj:min"] == pdev, f"{d} is not bound from /persistent",
                  json.dumps(m))
        check("/srv/www" not in table, "/srv/www is mounted although /data is not usable")
        u = v.unit("impermctl-boot.service", "Result", "ActiveState")
        check(u.get("ActiveState") == "failed", "impermctl-boot.service did not fail", str(u))
        crit = [e for e in v.journal("-b", "-p", "crit") if "/data" in e.get("MESSAGE", "")]
        check(crit, "no CRIT message about /data",
              "\n".join(e.get("MESSAGE", "") for e in v.journal("-b", "-p", "err")))
        r = v.run(["impermctl", "status"])
        line = next((ln for ln in r.stdout.splitlines() if "/srv/www" in ln), "")
        check("run `impermctl boot`" not in line and "/data" in line,
              "status advises what cannot help for /srv/www", out(r))
        v.poweroff()


def s23_two_roots_one_filesystem(ctx):
    """Roots /persistent/system and /persistent/home (sub-directories of one mount): all bound."""
    system = SEED_CONFIG.replace('path = "/persistent"', 'path = "/persistent/system"')
    cfg = system + ('\n[[persistence]]\npath = "/persistent/home"\n'
                    '[[persistence.directories]]\npath = "/home/alice"\nuser = "alice"\n'
                    'group = "alice"\n')
    with vps(ctx, cfg) as v:
        (v.persist / "system").mkdir()
        (v.persist / "home").mkdir()
        v._chown_tree(v.persist)
        v.boot()
        r = v.run(["impermctl", "verify"])
        check(r.returncode == 0, "impermctl verify did not exit 0", out(r))
        u = v.unit("impermctl-boot.service", "Result")
        check(u.get("Result") == "success", "impermctl-boot.service did not succeed", str(u))
        table = mounts(v)
        pdev = persistent_dev(table)
        for d in (*SEED_DIRS, "/etc/machine-id", "/home/alice"):
            m = table.get(d)
            check(m is not None and m["maj:min"] == pdev, f"{d} is not bound from /persistent",
                  json.dumps(m))
        r = v.sh("echo hi > /home/alice/note && echo cfg > /etc/nixos/configuration.nix")
        expect(r.returncode == 0, "cannot write the persisted paths", out(r))
        v.reboot()
        r = v.run(["cat", "/home/alice/note", "/etc/nixos/configuration.nix"])
        check(r.stdout == "hi\ncfg\n", "data under the two roots did not survive the reboot", out(r))
        check((v.persist / "home/home/alice/note").is_file(), "the note is not under /persistent/home")
        v.poweroff()


SCENARIOS = {
    20: s20_file_link_survives_reboot,
    21: s21_dynamic_user_state,
    22: s22_second_root_unmounted,
    23: s23_two_roots_one_filesystem,
}
