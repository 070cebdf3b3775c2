# `services.impermctl`: renders /etc/impermctl/config.toml from
# `config.environment.persistence` (impermctl's module or upstream
# impermanence's, same attribute names), installs the binary, its units, the
# D-Bus policy and the journal catalog, and runs `impermctl boot` early in
# activation.
#
# Two modes:
# - mount = true (set by ./persistence.nix): impermctl does the mounting;
#   activation snippet `impermctl-boot` runs before `users`, and
#   impermctl-boot.service re-checks before local-fs.target.
# - mount = false (audit only, next to upstream impermanence, which mounts):
#   the same config file is rendered, impermctl-boot.service is masked, no
#   activation snippet is added, and impermctl-audit.service runs
#   `impermctl verify` once the file systems are up. The watcher and
#   `impermctl diff`/`status` work the same in both modes.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    any
    attrValues
    mkIf
    mkMerge
    mkOption
    optionalString
    types
    ;
  helpers = import ./lib.nix { inherit lib; };

  cfg = config.services.impermctl;
  persistence = config.environment.persistence or { };
  hasEnabledLocation = any (l: l.enable or true) (attrValues persistence);
  debug = any (l: l.enableDebugging or false) (attrValues persistence);

  settings = {
    layout = {
      ephemeral_root = cfg.layout.ephemeralRoot;
      persistent_must_differ = cfg.layout.persistentMustDiffer;
      on_failure = cfg.layout.onFailure;
    };
    roots = helpers.rootsOf {
      inherit persistence;
      users = config.users.users or { };
      homeManagerUsers = config.home-manager.users or { };
    };
    watch = {
      inherit (cfg.watch) ignore;
      warn_every = cfg.watch.warnEvery;
      max_warnings_per_minute = cfg.watch.maxWarningsPerMinute;
    };
  };
  configText = helpers.renderConfig settings;
  # What `impermctl verify --config` would refuse in the rendered file, in
  # its words: an assertion when impermctl mounts (the binary would refuse
  # at boot), a warning in audit mode (upstream impermanence mounts anyway).
  problems = map (
    p: "environment.persistence: ${p.message}\n  fix: ${p.fix}"
  ) (helpers.configProblems settings.roots);
  # builtins.toFile rather than pkgs.writeText: the file has no store
  # references, and the module then evaluates with nixpkgs' lib alone.
  configFile = builtins.toFile "impermctl-config.toml" configText;
  bin = "${cfg.package}/bin/impermctl";

  # nixpkgs replaces the `users` snippet with "" under systemd-sysusers or
  # userborn (and userborn asserts it stays ""): only then is there no
  # snippet to order before.
  usersSnippet = !(config.systemd.sysusers.enable or false) && !(config.services.userborn.enable or false);
in
{
  options.services.impermctl = {
    enable = mkOption {
      type = types.bool;
      default = hasEnabledLocation;
      defaultText = lib.literalMD "`true` when `environment.persistence` has an enabled location";
      description = "Whether to install impermctl and render /etc/impermctl/config.toml.";
    };

    package = mkOption {
      type = types.package;
      default = pkgs.impermctl or (pkgs.callPackage ../packaging/nix/package.nix { });
      defaultText = lib.literalExpression "pkgs.impermctl or (pkgs.callPackage ./packaging/nix/package.nix { })";
      description = "The impermctl package (binary, units, D-Bus policy, catalog).";
    };

    mount = mkOption {
      type = types.bool;
      default = false;
      defaultText = lib.literalMD "`true` with impermctl's `environment.persistence` module, else `false`";
      description = ''
        Whether impermctl mounts the persisted paths (`impermctl boot` in
        activation and impermctl-boot.service). `false` is audit only: for use
        next to upstream impermanence, which mounts; impermctl then only
        verifies (impermctl-audit.service), watches and diffs.
      '';
    };

    watch = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Run impermctl-watch.service, which warns about writes the next reboot discards.";
      };
      ignore = mkOption {
        type = types.listOf types.str;
        default = [
          "/tmp"
          "/var/tmp"
        ];
        description = "Paths never warned about (`impermctl diff --all` still lists them).";
      };
      warnEvery = mkOption {
        type = types.str;
        default = "10m";
        example = "1h";
        description = "Reminder interval per unpersisted group.";
      };
      maxWarningsPerMinute = mkOption {
        type = types.ints.positive;
        default = 10;
        description = "Global journal budget; the excess becomes one summary line.";
      };
    };

    layout = {
      ephemeralRoot = mkOption {
        type = types.enum [
          "auto"
          "tmpfs"
          "zfs"
          "btrfs"
          "any"
        ];
        default = "auto";
        description = "What `/` must be to count as ephemeral (`auto` detects tmpfs and vpsFree's ZFS datasets).";
      };
      persistentMustDiffer = mkOption {
        type = types.bool;
        default = true;
        description = "Persistent storage must not be on the root file system.";
      };
      onFailure = mkOption {
        type = types.enum [
          "refuse"
          "warn"
        ];
        default = "refuse";
        description = ''
          On a fatal layout finding (e.g. /persistent not mounted): `refuse`
          mounts nothing and fails loudly; `warn` mounts anyway.
        '';
      };
    };

    configText = mkOption {
      type = types.str;
      readOnly = true;
      internal = true;
      default = configText;
      description = "The rendered /etc/impermctl/config.toml.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = map (message: {
        assertion = !cfg.mount;
        inherit message;
      }) problems;
      warnings = lib.optionals (!cfg.mount) problems;
      environment.etc."impermctl/config.toml".text = configText;
      environment.systemPackages = [ cfg.package ];
      # Units from packages: NixOS ignores their [Install] sections (nixpkgs
      # #81138), so wantedBy is set below.
      systemd.packages = [ cfg.package ];
      services.dbus.packages = [ cfg.package ];
      environment.etc."systemd/catalog/impermctl.catalog".source = "${cfg.package}/lib/systemd/catalog/impermctl.catalog";

      systemd.services.impermctl-watch = mkIf cfg.watch.enable {
        wantedBy = [ "multi-user.target" ];
        restartTriggers = [ configFile ];
      };
    }

    (mkIf cfg.mount {
      # Before `users`: a persisted /var/lib/nixos (uid/gid map) must be in
      # place before users and groups are created — also in containers
      # without an initrd (vpsadminos#81/#86). After `specialfs` (/proc, /run).
      system.activationScripts.impermctl-boot = {
        deps = [ "specialfs" ];
        text = "${bin}${optionalString debug " -v"} boot --config ${configFile}";
      };
      system.activationScripts.users = mkIf usersSnippet { deps = [ "impermctl-boot" ]; };
      # A second, idempotent pass once users and groups exist: creates the
      # entries whose owners the first pass could not resolve yet (a new
      # `users.<name>` entry on its first activation). ~1 ms when nothing changed.
      system.activationScripts.impermctl-boot-owners = {
        deps = [
          "impermctl-boot"
          "users"
          "groups"
        ];
        text = "${bin}${optionalString debug " -v"} boot --config ${configFile}";
      };

      systemd.services.impermctl-boot = {
        wantedBy = [ "local-fs.target" ];
        restartTriggers = [ configFile ];
      };
    })

    (mkIf (!cfg.mount) {
      # Audit only: something else mounts; never let impermctl do it.
      systemd.services.impermctl-boot.enable = false;
      systemd.services.impermctl-audit = {
        description = "Verify the ephemeral-root layout (impermctl, audit only)";
        documentation = [ "man:impermctl(1)" ];
        wantedBy = [ "multi-user.target" ];
        after = [ "local-fs.target" ];
        restartTriggers = [ configFile ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          # verify exits 1 on warnings, 2 on fatal findings: only those fail.
          SuccessExitStatus = "1";
          ExecStart = "${bin} verify --config /etc/impermctl/config.toml";
        };
      };
    })
  ]);
}
