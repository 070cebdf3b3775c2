# Minimal stand-ins for the NixOS options impermctl's modules read or set,
# so the modules evaluate with nixpkgs' `lib` alone (no nixpkgs, no NixOS).
# Types follow NixOS where merging matters (lists concatenate, activation
# snippets are `either str (submodule { deps; text; … })`), and the `users`
# and `groups` snippets are defined as nixpkgs defines them, so the
# activation order can be computed the way NixOS computes it.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  opt = type: default: mkOption { inherit type default; };
  strs = opt (types.listOf types.str) [ ];
  attrs = opt (types.attrsOf types.unspecified) { };

  # As nixpkgs' activation-script.nix: `text` has no default, so a snippet
  # defined only to add `deps` is an evaluation error here as there.
  snippet = types.either types.str (
    types.submodule {
      options = {
        deps = strs;
        text = mkOption { type = types.lines; };
        supportsDryActivation = opt types.bool false;
      };
    }
  );

  unitOptions = {
    enable = opt types.bool true;
    description = opt types.str "";
    documentation = strs;
    wantedBy = strs;
    requiredBy = strs;
    before = strs;
    after = strs;
    requires = strs;
    wants = strs;
    conflicts = strs;
    aliases = strs;
    restartTriggers = opt (types.listOf types.unspecified) [ ];
    unitConfig = attrs;
    serviceConfig = attrs;
    script = opt types.lines "";
  };

  fakePackage = {
    type = "derivation";
    name = "impermctl-stub";
    outPath = "/nix/store/00000000000000000000000000000000-impermctl-stub";
    # As packaging/nix/package.nix's passthru.
    minimumRustVersion = "1.89";
    rustcVersion = "1.91.1";
  };
in
{
  options = {
    assertions = opt (types.listOf types.unspecified) [ ];
    warnings = strs;

    environment.etc = opt (types.attrsOf (
      types.submodule {
        options = {
          text = opt (types.nullOr types.lines) null;
          source = opt (types.nullOr types.str) null;
        };
      }
    )) { };
    environment.systemPackages = opt (types.listOf types.package) [ ];

    system.activationScripts = opt (types.attrsOf snippet) { };

    systemd.packages = opt (types.listOf types.package) [ ];
    systemd.package = opt types.package {
      type = "derivation";
      name = "systemd-stub";
      outPath = "/nix/store/11111111111111111111111111111111-systemd-stub";
    };
    systemd.services = opt (types.attrsOf (types.submodule { options = unitOptions; })) { };
    systemd.paths = opt (types.attrsOf (types.submodule { options = unitOptions // { pathConfig = attrs; }; })) { };
    systemd.targets = opt (types.attrsOf (types.submodule { options = unitOptions; })) { };
    systemd.tmpfiles.rules = strs;
    boot.postBootCommands = opt types.lines "";
    systemd.sysusers.enable = opt types.bool false;
    services.userborn.enable = opt types.bool false;
    services.dbus.packages = opt (types.listOf types.package) [ ];

    users.users = opt (types.attrsOf (
      types.submodule (
        { name, config, ... }:
        {
          options = {
            home = opt types.str "/var/empty";
            group = opt types.str "";
            uid = opt (types.nullOr types.int) null;
            isNormalUser = opt types.bool false;
          };
          config = lib.mkIf config.isNormalUser {
            home = lib.mkDefault "/home/${name}";
            group = lib.mkDefault "users";
          };
        }
      )
    )) { };
    users.groups = opt (types.attrsOf (types.submodule { options.gid = opt (types.nullOr types.int) null; })) { };

    fileSystems = opt (types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = {
            mountPoint = opt types.str name;
            device = opt (types.nullOr types.str) null;
            fsType = opt types.str "auto";
            neededForBoot = opt types.bool false;
          };
        }
      )
    )) { };

    boot.isContainer = opt types.bool false;
    boot.initrd.postMountCommands = opt types.lines "";
    boot.initrd.systemd = {
      enable = opt types.bool false;
      suppressedUnits = strs;
      mounts = opt (types.listOf (types.submodule {
        options = unitOptions // {
          what = opt types.str "";
          where = opt types.str "";
          type = opt types.str "";
          options = opt types.str "";
        };
      })) [ ];
      services = opt (types.attrsOf (types.submodule { options = unitOptions; })) { };
    };
  };

  config = {
    _module.args.pkgs = {
      impermctl = fakePackage;
    };

    # As nixpkgs' users-groups.nix and activation-script.nix define them.
    system.activationScripts = {
      specialfs = "# mount /proc, /run, …";
      users =
        if config.systemd.sysusers.enable || config.services.userborn.enable then
          ""
        else
          {
            supportsDryActivation = true;
            text = "# update-users-groups.pl";
          };
      groups = {
        deps = [ "users" ];
        text = "";
      };
      etc = {
        deps = [
          "users"
          "groups"
          "specialfs"
        ];
        text = "# link /etc";
      };
    };

    # As nixpkgs' sysusers.nix and userborn.nix add them (the rest of their
    # ordering comes from systemd's unit files, see ./units.nix).
    systemd.services.systemd-sysusers = lib.mkIf config.systemd.sysusers.enable {
      requiredBy = [ "sysinit-reactivation.target" ];
      before = [ "sysinit-reactivation.target" ];
    };
    systemd.services.userborn = lib.mkIf config.services.userborn.enable {
      wantedBy = [ "sysinit.target" ];
      requiredBy = [ "sysinit-reactivation.target" ];
      after = [
        "systemd-remount-fs.service"
        "systemd-tmpfiles-setup-dev-early.service"
      ];
      before = [
        "systemd-tmpfiles-setup-dev.service"
        "sysinit.target"
        "shutdown.target"
        "sysinit-reactivation.target"
      ];
      conflicts = [ "shutdown.target" ];
      aliases = [ "systemd-sysusers.service" ];
      unitConfig.DefaultDependencies = false;
    };

    users.users.root = {
      home = "/root";
      group = "root";
      uid = 0;
    };
    users.groups.root.gid = 0;
    users.groups.users.gid = 100;
  };
}
