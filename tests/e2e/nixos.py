"""A NixOS-shaped system on the rig: what NixOS activation writes at every
boot and at every `nixos-rebuild switch`, reproduced by an `activate`
script in the system profile on /nix (the stage-2 init runs it after
`impermctl boot`, like NixOS's stage 2 runs `$systemConfig/activate`):

- users files rewritten by rename (update-users-groups.pl);
- /etc/static pointed at this generation's etc, and a link farm into it,
  every link written as NAME.tmp and renamed into place (setup-etc.pl);
  a file with a mode copied and listed in /etc/.clean; /etc/NIXOS;
- /bin/sh and /usr/bin/env relinked into the store (binsh, usrbinenv);
- the fresh root's missing tmpfiles links (/var/run, /etc/mtab), made by
  systemd-tmpfiles after activation;
- a unit from /etc/static: sshd-keygen.service, which writes the SSH host
  keys once systemd runs (as NixOS's sshd pre-start does);
- last, /run/current-system relinked, then `impermctl baseline` (what the
  NixOS module runs when activation has finished).

`nixos_generation(v, config)` writes a generation on the host side and
points the system profile at it; `switch(v)` runs its activation inside, as
`nixos-rebuild switch` does."""

import os
import shutil
from pathlib import Path

SSHD_KEYGEN = """\
[Unit]
Description=SSH host key generation (as NixOS's sshd pre-start)
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'umask 077; mkdir -p /etc/ssh; head -c 48 /dev/urandom | base64 > /etc/ssh/ssh_host_ed25519_key; echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 root@vps101" > /etc/ssh/ssh_host_ed25519_key.pub'

[Install]
WantedBy=multi-user.target
"""

ACTIVATE = """\
#!/bin/sh
# NixOS activation in miniature (nixos/modules/system/activation): what it
# writes on a fresh root at every boot, and again at every switch.
set -e
systemConfig=@SYSTEM@
echo "activate: $systemConfig"
# users-groups: the users files rewritten through a temporary and a rename.
for f in passwd group shadow; do
  cat /etc/$f > /etc/$f.tmp && chmod --reference=/etc/$f /etc/$f.tmp && mv /etc/$f.tmp /etc/$f
done
# etc: /etc/static -> this generation, then a link per file, NAME.tmp renamed.
ln -sfn "$systemConfig/etc" /etc/static.tmp && mv -T /etc/static.tmp /etc/static
cd "$systemConfig/etc"
find . ! -type d | while read -r f; do
  f=${f#./}
  case "$f" in sudoers) continue ;; esac
  mkdir -p "/etc/$(dirname "$f")"
  ln -sfn "/etc/static/$f" "/etc/$f.tmp" && mv -T "/etc/$f.tmp" "/etc/$f"
done
# A file with a mode is copied, and listed in /etc/.clean.
cp "$systemConfig/etc/sudoers" /etc/sudoers.tmp && chmod 0440 /etc/sudoers.tmp && mv /etc/sudoers.tmp /etc/sudoers
printf 'sudoers\\n' > /etc/.clean.tmp && mv /etc/.clean.tmp /etc/.clean
: > /etc/NIXOS
# binsh, usrbinenv.
ln -sfn @BASH@/bin/sh /bin/.sh.tmp && mv -T /bin/.sh.tmp /bin/sh
ln -sfn @COREUTILS@/bin/env /usr/bin/.env.tmp && mv -T /usr/bin/.env.tmp /usr/bin/env
# A fresh root dataset has no tmpfiles links yet: systemd-tmpfiles makes them.
if [ "${1:-}" = boot ]; then rm -f /var/run /etc/mtab; fi
# The last step of activation, then what the NixOS module runs after it.
ln -sfn "$systemConfig" /run/current-system
/usr/bin/impermctl baseline
"""

BASH = "/nix/store/0000000000000000000000000000bash-bash-5.2"
COREUTILS = "/nix/store/000000000000000000000coreutils-coreutils-9.5"


def _store_tools(v):
    """/bin/sh and env for the store (copies of the image's dash and env)."""
    for top, src, dst in ((BASH, "usr/bin/dash", "bin/sh"), (COREUTILS, "usr/bin/env", "bin/env")):
        d = v.nix / top.removeprefix("/nix/") / dst
        if not d.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(v.image / src, d)
    v._chown_tree(v.nix / "store")


def nixos_generation(v, config, extra_etc=None):
    """A new NixOS-like generation with `config` as impermctl's config.toml,
    its etc tree and `activate`; the system profile points at it."""
    _store_tools(v)
    v.switch_config(config)
    gen = v.nix / os.readlink(v.nix / "var/nix/profiles/system").removeprefix("/nix/")
    etc = gen / "etc"
    files = {
        "ssh/sshd_config": "PermitRootLogin prohibit-password\n",
        "systemd/system/sshd-keygen.service": SSHD_KEYGEN,
        "sudoers": "root ALL=(ALL:ALL) SETENV: ALL\n",
        **(extra_etc or {}),
    }
    for name, text in files.items():
        p = etc / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    wants = etc / "systemd/system/multi-user.target.wants/sshd-keygen.service"
    wants.parent.mkdir(parents=True, exist_ok=True)
    wants.symlink_to("/etc/static/systemd/system/sshd-keygen.service")
    system = "/nix/store/" + gen.name
    act = gen / "activate"
    act.write_text(ACTIVATE.replace("@SYSTEM@", system).replace("@BASH@", BASH)
                   .replace("@COREUTILS@", COREUTILS))
    act.chmod(0o755)
    v._chown_tree(gen)
    return gen


def switch(v):
    """`nixos-rebuild switch`: run the current generation's activation inside."""
    return v.run(["/nix/var/nix/profiles/system/activate"], timeout=60)


def groups(doc):
    """The groups of a `diff --json` document: path -> group."""
    return {g["path"]: g for g in doc.get("groups", [])}


HOST_KEYS = ("/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub")


def host_image_has_tools(image):
    return (Path(image) / "usr/bin/dash").exists() and (Path(image) / "usr/bin/env").exists()
