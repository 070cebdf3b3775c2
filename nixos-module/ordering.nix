# Where `impermctl boot` runs, for each way NixOS boots and creates users.
#
# What must see the persisted state: whatever creates users and groups
# (it reads the uid/gid map in /var/lib/nixos), whatever reads /etc/machine-id
# (PID 1 first of all, then journald) and whatever writes /var/log (the
# journal flush). Three user-management modes (nixpkgs):
#
# - perl `users` activation snippet (the default): users are created in
#   activation, so `impermctl boot` runs as the activation snippet
#   `impermctl-boot`, and `users` depends on it. Activation runs before PID 1
#   (stage-2-init, or initrd-nixos-activation with the systemd initrd).
# - systemd.sysusers / userborn: nixpkgs makes `users` "" and creates users
#   in systemd-sysusers.service / userborn.service. No activation snippet:
#   impermctl-boot.service runs before them (and before the journal flush,
#   systemd-tmpfiles-setup and the machine-id commit). Only /etc/machine-id
#   must be in place before PID 1 starts: the systemd initrd binds it in
#   stage 1 (./persistence.nix), stage-2-init (containers, scripted initrd)
#   runs `impermctl boot` in boot.postBootCommands, just before systemd.
# - in any mode, when agenix or sops-nix decrypt secrets in activation
#   (./secrets.nix), the snippet stays: their snippets need the persisted
#   host keys.
#
# Entries owned by a user that the same switch creates: the passes before
# users exist run `impermctl boot --defer-unknown-owners` (earlyBootCommand),
# which skips them quietly; impermctl-owners.service runs `impermctl boot`
# again after users and groups exist (after the snippet, sysusers or
# userborn), at boot and on every switch (sysinit-reactivation.target).
#
# The baseline of `impermctl diff` is retaken when activation has finished
# (`impermctl baseline`, issue 13.2): impermctl-baseline.service at boot
# (--since boot), and on every switch through impermctl-baseline.path, which
# fires when activation's last step relinks /run/current-system (after every
# snippet, whoever added it), with --since the start of switch-to-configuration;
# both with --until current-system (what services wrote after activation's
# end, e.g. sshd-keygen at boot, is not adopted).
{
  config,
  lib,
  options,
  ...
}:
let
  inherit (lib)
    elem
    mkIf
    mkMerge
    optional
    optionals
    ;
  cfg = config.services.impermctl;
  bin = "${cfg.package}/bin/impermctl";
  secrets = import ./secrets.nix { inherit config lib options; };

  sysusers = config.systemd.sysusers.enable or false;
  userborn = config.services.userborn.enable or false;
  # nixpkgs replaces the `users` snippet with "" under systemd-sysusers or
  # userborn (and both assert it stays "").
  usersSnippet = !sysusers && !userborn;
  systemdInitrd = config.boot.initrd.systemd.enable or false;
  snippet = usersSnippet || secrets.inActivation;
  machineId = elem "/etc/machine-id" cfg.persistedFiles;

  usersUnits = [
    "systemd-sysusers.service"
    "userborn.service"
  ];
in
{
  options.services.impermctl.activationSnippet = lib.mkOption {
    type = lib.types.bool;
    readOnly = true;
    internal = true;
    default = cfg.enable && cfg.mount && snippet;
    description = ''
      Whether `impermctl boot` runs as the activation snippet `impermctl-boot`
      (the perl `users` snippet, or agenix/sops-nix snippets, need it).
    '';
  };

  config = mkIf cfg.enable (mkMerge [
    (mkIf cfg.mount {
      system.activationScripts = mkIf snippet {
        # After specialfs (/proc, /run); before users (its uid/gid map).
        impermctl-boot = {
          deps = [ "specialfs" ];
          text = cfg.earlyBootCommand;
        };
        users = mkIf usersSnippet { deps = [ "impermctl-boot" ]; };
      };

      # Without a snippet and without the systemd initrd (containers such as
      # vpsFree, or the scripted initrd): PID 1 reads /etc/machine-id before
      # any unit runs, so bind it from stage-2-init, just before systemd.
      boot.postBootCommands = mkIf (!snippet && !systemdInitrd && machineId) ''
        ${cfg.earlyBootCommand}
      '';

      systemd.services.impermctl-boot = {
        wantedBy = [ "local-fs.target" ];
        requiredBy = [ "sysinit-reactivation.target" ];
        after = [ "systemd-remount-fs.service" ];
        before = usersUnits ++ [
          "local-fs.target"
          "systemd-journal-flush.service"
          "systemd-tmpfiles-setup.service"
          "systemd-machine-id-commit.service"
          "sysinit-reactivation.target"
        ];
        unitConfig.RequiresMountsFor = cfg.persistentRoots;
        restartTriggers = [ cfg.configFile ];
        # Runs before sysusers/userborn: owners they create come later.
        serviceConfig.ExecStart = [
          ""
          cfg.earlyBootCommand
        ];
      };

      # systemd/impermctl-sync.service: saves method = "copy" files on change
      # and, at shutdown, those and the entries left pending. Always on when
      # impermctl mounts (pending entries need it); its [Install] is ignored
      # for systemd.packages, hence wantedBy here.
      systemd.services.impermctl-sync = {
        wantedBy = [ "sysinit.target" ];
        wants = [ "impermctl-boot.service" ];
        after = [
          "impermctl-boot.service"
          "local-fs.target"
        ];
        before = [
          "sysinit.target"
          "shutdown.target"
        ];
        conflicts = [ "shutdown.target" ];
        restartTriggers = [ cfg.configFile ];
        unitConfig.DefaultDependencies = false;
        unitConfig.RequiresMountsFor = cfg.persistentRoots;
        serviceConfig.ExecStart = [
          ""
          "${bin} sync --follow --config ${cfg.configFile}"
        ];
      };

      systemd.services.impermctl-owners = {
        description = "Bind persisted paths whose owners did not exist yet (impermctl)";
        documentation = [ "man:impermctl(1)" ];
        wantedBy = [ "sysinit.target" ];
        requiredBy = [ "sysinit-reactivation.target" ];
        wants = [ "impermctl-boot.service" ];
        after = [ "impermctl-boot.service" ] ++ usersUnits;
        before = [
          "sysinit.target"
          "sysinit-reactivation.target"
          "shutdown.target"
        ];
        conflicts = [ "shutdown.target" ];
        restartTriggers = [ cfg.configFile ];
        unitConfig.DefaultDependencies = false;
        unitConfig.RequiresMountsFor = cfg.persistentRoots;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = cfg.bootCommand;
        };
      };

      # systemd-machine-id-commit unmounts a bound /etc/machine-id and fails
      # on a persisted real ID (impermanence I#229, PR #242): commit only on
      # the first boot, through the bind.
      systemd.services.systemd-machine-id-commit = mkIf machineId {
        unitConfig.ConditionFirstBoot = true;
        after = [ "impermctl-boot.service" ];
      };
    })

    (secrets.ordering snippet)

    {
      systemd.services.impermctl-baseline = {
        description = "Record the ephemeral root after activation (impermctl diff's baseline)";
        documentation = [ "man:impermctl(1)" ];
        wantedBy = [ "multi-user.target" ];
        after = [
          "sysinit.target"
          "impermctl-owners.service"
          "impermctl-boot.service"
        ];
        serviceConfig.Type = "oneshot";
        # `impermctl baseline` adopts what changed since --since. At boot:
        # since boot (activation ran before systemd). After a switch (the path
        # unit below fires while switch-to-configuration still runs): since
        # that process started, i.e. since activation began, so what users
        # wrote before the switch stays reported. USER_HZ is 100 on Linux.
        # --until current-system: only what changed up to activation's last
        # step (relinking /run/current-system) is adopted; what services wrote
        # after it (e.g. sshd-keygen at boot, before this unit) stays reported.
        script = ''
          since=boot
          for d in /proc/[0-9]*; do
            case "$(cat "$d/comm" 2>/dev/null)" in
              switch-to-conf*) ;;
              *) continue ;;
            esac
            ticks=$(cut -d' ' -f22 "$d/stat" 2>/dev/null) || continue
            btime=$(sed -n 's/^btime //p' /proc/stat)
            since=@$((btime + ticks / 100))
          done
          exec ${bin} baseline --since "$since" --until current-system
        '';
      };
      systemd.paths.impermctl-baseline = {
        description = "Retake impermctl's baseline when a switch finishes activation";
        wantedBy = [ "multi-user.target" ];
        pathConfig = {
          PathChanged = "/run/current-system";
          Unit = "impermctl-baseline.service";
        };
      };
    }
  ]);
}
