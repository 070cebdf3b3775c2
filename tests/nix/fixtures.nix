# The configurations the evaluation tests of ./cases.nix look at, each
# evaluated against ./stubs.nix, plus a few stand-ins (upstream
# impermanence's entries, a stub nixpkgs for flake.nix and package.nix).
{
  lib,
  libPath,
  eval,
  full,
  auditOnly,
  seed,
  rendered,
}:
rec {
  seedCfg = eval [ seed ];

  users = eval [
    full
    {
      users.users.alice.isNormalUser = true;
      users.users.bob = {
        home = "/srv/bob";
        group = "staff";
        uid = 1001;
      };
      environment.persistence."/persistent" = {
        directories = [ "/var/lib/nixos" ];
        users.alice.directories = [ ".ssh" ];
        users.bob.files = [ ".screenrc" ];
        users.bob.directories = [
          {
            directory = "docs/private";
            mode = "0700";
          }
        ];
      };
    }
  ];
  usersToml = builtins.fromTOML (rendered users);
  userDir = p: lib.findFirst (d: d.path == p) null (lib.head usersToml.persistence).directories;

  duplicatesCfg = eval [
    full
    {
      users.users.alice.isNormalUser = true;
      environment.persistence."/persistent" = {
        directories = [
          "/var/log"
          {
            directory = "/var/log";
            mode = "0700";
          }
          "/home/alice/.ssh"
        ];
        users.alice.directories = [ ".ssh" ];
        files = [ "/etc/machine-id" ];
      };
      environment.persistence."/other".files = [ "/etc/machine-id" ];
    }
  ];

  removedCfg = eval [
    full
    {
      users.users.alice.isNormalUser = true;
      environment.persistence."/persistent" = {
        allowOther = true;
        removePrefixDirectory = true;
        defaultDirectoryMethod = "bindfs";
        directories = [
          {
            directory = "/srv";
            method = "bindfs";
          }
        ];
        users.alice.home = "/home/alice";
      };
    }
  ];
  disabledCfg = eval [
    full
    {
      environment.persistence."/persistent" = {
        enable = false;
        directories = [ "/var/log" ];
      };
    }
  ];

  # Upstream impermanence stand-in: declares environment.persistence itself
  # and produces entries with its attribute names.
  upstreamStandIn = {
    options.environment.persistence = lib.mkOption { type = lib.types.attrsOf lib.types.unspecified; };
    config.environment.persistence."/persistent" =
      let
        dir = p: {
          directory = p;
          dirPath = p;
          persistentStoragePath = "/persistent";
          user = "root";
          group = "root";
          mode = "0755";
          hideMount = true;
          allowTrash = false;
          defaultPerms = {
            user = "root";
            group = "root";
            mode = "0755";
          };
        };
      in
      {
        enable = true;
        persistentStoragePath = "/persistent";
        hideMounts = true;
        allowTrash = false;
        enableDebugging = false;
        directories = map dir [
          "/etc/nixos"
          "/var/log"
          "/var/lib/nixos"
        ];
        files = [
          {
            file = "/etc/machine-id";
            filePath = "/etc/machine-id";
            persistentStoragePath = "/persistent";
            method = "auto";
            parentDirectory = {
              user = "root";
              group = "root";
              mode = "0755";
            };
          }
        ];
        users = { };
      };
  };
  auditCfg = eval [
    auditOnly
    upstreamStandIn
  ];

  multiCfg = eval [
    full
    {
      services.impermctl.layout.onFailure = "warn";
      services.impermctl.layout.ephemeralRoot = "zfs";
      services.impermctl.watch.ignore = [ "/var/cache" ];
      services.impermctl.watch.backend = "inotify";
      environment.persistence."/persistent" = {
        hideMounts = true;
        allowTrash = true;
        directories = [
          "/var/lib/nixos"
          {
            directory = "/var/lib/postgresql";
            persistentStoragePath = "/data";
            user = "postgres";
            group = "postgres";
            mode = "u=rwx,g=rx,o=";
            hideMount = false;
          }
        ];
        files = [
          {
            file = "/etc/ssh/ssh_host_ed25519_key";
            method = "symlink";
            parentDirectory.mode = "0700";
          }
        ];
      };
    }
  ];

  initrdCfg = eval [
    seed
    { boot.initrd.systemd.enable = true; }
  ];
  containerCfg = eval [
    seed
    {
      boot.isContainer = true;
      fileSystems."/persistent".device = "tank/ct/1";
    }
  ];
  neededCfg = eval [
    seed
    { fileSystems."/persistent".device = "/dev/vdb"; }
  ];
  sysusersCfg = eval [
    seed
    { systemd.sysusers.enable = true; }
  ];
  warningCfg = eval [
    full
    {
      users.users.carol.isNormalUser = true;
      environment.persistence."/persistent".directories = [ "/etc/nixos" ];
    }
  ];
  # impermanence I#179: a home derived from fileSystems (or anything else
  # the module sets) must not recurse; the module sets no fileSystems.
  recursionCfg = eval [
    full
    (
      { config, ... }:
      {
        fileSystems."/home" = {
          device = "tank/home";
          neededForBoot = true;
        };
        users.users.alice = {
          isNormalUser = true;
          home = "${config.fileSystems."/home".mountPoint}/alice";
          group = if config.environment.persistence ? "/persistent" then "users" else "nogroup";
        };
        environment.persistence."/persistent" = {
          directories = [ "/var/lib/nixos" ];
          users.alice.directories = [ ".ssh" ];
        };
      }
    )
  ];
  mountOffCfg = eval [
    seed
    { services.impermctl.mount = false; }
  ];

  # flake.nix wired with a stand-in nixpkgs (real lib, stub packages).
  flake =
    let
      stubPkgs = {
        stdenv.hostPlatform.system = "x86_64-linux";
        callPackage = fn: args: {
          type = "derivation";
          name = "impermctl-from-${baseNameOf (toString fn)}";
          outPath = "/nix/store/11111111111111111111111111111111-impermctl";
        };
      };
      outputs = (import ../../flake.nix).outputs {
        self = outputs;
        nixpkgs = {
          inherit lib;
          outPath = toString libPath + "/..";
          legacyPackages.x86_64-linux = stubPkgs;
          legacyPackages.aarch64-linux = stubPkgs;
        };
      };
    in
    outputs;
  stubFinal = {
    callPackage = fn: args: {
      type = "derivation";
      name = "impermctl-from-${baseNameOf (toString fn)}";
      outPath = "/nix/store/22222222222222222222222222222222-impermctl";
    };
  };
  flakeSeedCfg = eval [
    flake.nixosModules.default
    (builtins.removeAttrs (import seed) [ "imports" ])
  ];

  # packaging/nix/package.nix called with stand-ins: the attributes handed
  # to buildRustPackage (src is not forced: it needs the whole tree).
  packageAttrs = import ../../packaging/nix/package.nix {
    inherit lib;
    stdenv = {
      buildPlatform.canExecute = _: true;
      hostPlatform = { };
    };
    rustPlatform.buildRustPackage = attrs: attrs;
    rustc.version = "1.91.1";
    installShellFiles = "installShellFiles";
  };

  tricky = [
    "plain"
    "quote \" and backslash \\ and \\\""
    "tab\tnewline\ncr\r"
    (builtins.fromJSON "\"ctl \\u0001 \\u001f del \\u007f\"")
    "unicode é ✓"
    "'single' and \"\"\" triple"
  ];

}
