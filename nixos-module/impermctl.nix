# `services.impermctl`: renders /etc/impermctl/config.toml from
# `config.environment.persistence` (impermctl's module or upstream
# impermanence's, same attribute names) and Home Manager users'
# `home.persistence`, installs the binary, its units, the D-Bus policy and
# the journal catalog. ./ordering.nix decides where `impermctl boot` runs
# (systemd units, and an activation snippet only where activation still has
# work that reads persisted state); ./secrets.nix orders agenix and sops-nix
# after it.
#
# Two modes:
# - mount = true (set by ./persistence.nix): impermctl does the mounting.
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
  homeManagerUsers = config.home-manager.users or { };
  hmLocations = lib.concatMap (u: attrValues (u.home.persistence or { })) (attrValues homeManagerUsers);
  hasEnabledLocation = any (l: l.enable or true) (attrValues persistence ++ hmLocations);
  debug = any (l: l.enableDebugging or false) (attrValues persistence);

  # The layout `verify` expects, from what NixOS mounts on `/` (a container
  # such as a vpsFree VPS declares none: `auto` knows vpsFree's datasets).
  rootFileSystem = config.fileSystems."/" or null;
  rootFsType = if rootFileSystem == null then null else rootFileSystem.fsType or null;
  layoutFromFileSystems =
    if (config.boot.isContainer or false) || rootFsType == null then
      "auto"
    else if builtins.elem rootFsType [ "tmpfs" "zfs" "btrfs" ] then
      rootFsType
    else
      "auto";

  # Rust: the package's minimum (Cargo.toml rust-version) against the rustc
  # it is built with (package.nix passthru); a prebuilt package has neither.
  rustMinimum = cfg.package.minimumRustVersion or null;
  rustc = cfg.package.rustcVersion or null;
  rustTooOld = rustMinimum != null && rustc != null && lib.versionOlder rustc rustMinimum;

  settings = {
    layout = {
      ephemeral_root = cfg.layout.ephemeralRoot;
      persistent_must_differ = cfg.layout.persistentMustDiffer;
      on_failure = cfg.layout.onFailure;
    };
    roots = helpers.rootsOf {
      inherit persistence;
      users = config.users.users or { };
      inherit homeManagerUsers;
    };
    watch = {
      inherit (cfg.watch) ignore backend;
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
  catalog = "${cfg.package}/lib/systemd/catalog/impermctl.catalog";
in
{
  imports = [ ./ordering.nix ];

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
      backend = mkOption {
        type = types.enum [
          "auto"
          "inotify"
          "fanotify"
        ];
        default = "auto";
        example = "inotify";
        description = ''
          How impermctl-watch.service hears writes: `fanotify` (a filesystem
          mark; names the writer's pid; not allowed inside unprivileged
          containers such as a vpsFree VPS, where the watcher then fails to
          start), `inotify` (a watch per directory), or `auto` (fanotify,
          else inotify, logging why). Rendered as `backend` in the config's
          `[watch]` table; the service restarts when it changes.
        '';
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
        default = layoutFromFileSystems;
        defaultText = lib.literalMD "`fileSystems.\"/\".fsType` when it is `tmpfs`, `zfs` or `btrfs`, else `auto`";
        description = ''
          What `/` must be to count as ephemeral, so that `impermctl verify`
          gives the remedies of your layout: `tmpfs`, `zfs` or `btrfs`
          (rollback setups), `auto` (tmpfs, or vpsFree's ZFS datasets), `any`.
        '';
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
    configFile = mkOption {
      type = types.str;
      readOnly = true;
      internal = true;
      default = configFile;
      description = "The rendered config file in the store (activation runs before /etc exists).";
    };
    bootCommand = mkOption {
      type = types.str;
      readOnly = true;
      internal = true;
      default = "${bin}${optionalString debug " -v"} boot --config ${configFile}";
      description = "`impermctl boot` on the rendered file.";
    };
    earlyBootCommand = mkOption {
      type = types.str;
      readOnly = true;
      internal = true;
      default = "${bin}${optionalString debug " -v"} boot --defer-unknown-owners --config ${configFile}";
      description = ''
        `impermctl boot` for the passes before users and groups exist: entries
        whose owner is not known yet are skipped quietly, impermctl-owners.service
        applies them.
      '';
    };
    persistentRoots = mkOption {
      type = types.listOf types.str;
      readOnly = true;
      internal = true;
      default = map (r: r.path) settings.roots;
      description = "The persistence roots of the rendered file.";
    };
    persistedFiles = mkOption {
      type = types.listOf types.str;
      readOnly = true;
      internal = true;
      default = lib.concatMap (r: map (f: f.path) r.files) settings.roots;
      description = "The file entries of the rendered file.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = map (message: {
        assertion = !cfg.mount;
        inherit message;
      }) problems
      ++ [
        {
          assertion = !rustTooOld;
          message = ''
            impermctl needs Rust ${toString rustMinimum} or newer (rust-version in its Cargo.toml),
            but this nixpkgs builds it with rustc ${toString rustc}. Use NixOS 25.11 or newer
            (or the flake's nixpkgs input), or set services.impermctl.package to a build
            made with a newer Rust.
          '';
        }
      ];
      warnings = lib.optionals (!cfg.mount) problems;
      environment.etc."impermctl/config.toml".text = configText;
      environment.systemPackages = [ cfg.package ];
      # Units from packages: NixOS ignores their [Install] sections (nixpkgs
      # #81138), so wantedBy is set below.
      systemd.packages = [ cfg.package ];
      services.dbus.packages = [ cfg.package ];
      # systemd's catalog sources are /usr/local/lib/systemd/catalog and
      # <systemd>/lib/systemd/catalog (nixpkgs rewrites /usr/lib/systemd/
      # catalog to the systemd package's own path); /etc/systemd/catalog is
      # not read. Link ours into the first and rebuild the database
      # (/var/lib/systemd/catalog/database) once the link exists.
      systemd.tmpfiles.rules = [ "L+ /usr/local/lib/systemd/catalog/impermctl.catalog - - - - ${catalog}" ];
      systemd.services.impermctl-catalog = {
        description = "Add impermctl's messages to the journal catalog (journalctl -x)";
        documentation = [ "man:journalctl(1)" ];
        wantedBy = [ "multi-user.target" ];
        after = [
          "systemd-tmpfiles-setup.service"
          "systemd-journal-catalog-update.service"
        ];
        restartTriggers = [ catalog ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${config.systemd.package}/bin/journalctl --update-catalog";
        };
      };

      systemd.services.impermctl-watch = mkIf cfg.watch.enable {
        wantedBy = [ "multi-user.target" ];
        restartTriggers = [ configFile ];
      };

    }

    (mkIf (!cfg.mount) {
      # Audit only: something else mounts; never let impermctl do it.
      systemd.services.impermctl-boot.enable = false;
      systemd.services.impermctl-sync.enable = false;
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
