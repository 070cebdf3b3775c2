# `environment.persistence`: nix-community/impermanence's interface, served
# by impermctl. Declares the schema (./options.nix), impermanence's
# assertions and warning, the early binds an initrd needs for
# `pathsNeededForBoot`, the machine-id commit workaround, and the activation
# snippet names other configurations depend on. The mounting itself is done
# by `impermctl boot` (./impermctl.nix), which reads the rendered config.
{
  config,
  lib,
  ...
}:
let
  inherit (lib)
    any
    attrNames
    attrValues
    catAttrs
    concatMap
    concatMapStrings
    concatStringsSep
    elem
    escapeShellArg
    filter
    filterAttrs
    flatten
    intersectLists
    mkAfter
    mkDefault
    mkIf
    mkMerge
    mkOption
    optionalString
    types
    unique
    ;
  helpers = import ./lib.nix { inherit lib; };
  inherit (helpers) concatPaths parentsOf duplicates pathsNeededForBoot;

  cfg = config.environment.persistence;
  usersCfg = config.users.users;

  locations = filter (l: l.enable) (attrValues cfg);
  sources = concatMap (l: [ l ] ++ attrValues l.users) locations;
  directories = concatMap (s: s.directories) sources;
  files = concatMap (s: s.files) sources;
  enabled = locations != [ ];

  dirPaths = catAttrs "dirPath" directories;
  filePaths = catAttrs "filePath" files;

  fileSystems = config.fileSystems or { };
  # A path that is a fileSystems mount point must be neededForBoot; a path
  # that is not one passes (impermanence's rule).
  neededForBoot = fs: if fileSystems ? ${fs} then fileSystems.${fs}.neededForBoot or false else true;

  offendersMessage = what: offenders: ''
    environment.persistence:
        All filesystems used for ${what} storage must
        have the option "neededForBoot" set to true.

        Please fix the following filesystems:
          ${concatStringsSep "\n      " offenders}
  '';

  # Directories stage 1 must already have bound: mounted before activation,
  # so the users snippet reads the persisted /var/lib/nixos uid map.
  earlyDirs = filter (d: elem d.dirPath pathsNeededForBoot) directories;
  gvfsOptions =
    d:
    concatStringsSep "," (
      [ "bind" ] ++ lib.optional d.hideMount "x-gvfs-hide" ++ lib.optional d.allowTrash "x-gvfs-trash"
    );
  initrdSource = d: concatPaths [ "/sysroot" d.persistentStoragePath d.dirPath ];
  initrdDirsUnit = "impermctl-initrd-sources.service";

  systemdInitrd = config.boot.initrd.systemd.enable or false;
  isContainer = config.boot.isContainer or false;
  impermctl = config.services.impermctl;

  usersWithoutUid = attrNames (filterAttrs (_: u: (u.uid or null) == null) usersCfg);
  groupsWithoutGid = attrNames (filterAttrs (_: g: (g.gid or null) == null) (config.users.groups or { }));
  varLibNixosPersistent =
    let
      varDirs = parentsOf "/var/lib/nixos" ++ [ "/var/lib/nixos" ];
      mounted = catAttrs "mountPoint" (attrValues fileSystems);
    in
    intersectLists varDirs dirPaths != [ ] || intersectLists varDirs mounted != [ ];
in
{
  options.environment.persistence = mkOption {
    type = types.attrsOf (import ./options.nix {
      inherit lib;
      users = usersCfg;
    });
    default = { };
    example = lib.literalExpression ''
      {
        "/persistent" = {
          hideMounts = true;
          directories = [ "/etc/nixos" "/var/log" "/var/lib/nixos" ];
          files = [ "/etc/machine-id" ];
          users.alice.directories = [ { directory = ".ssh"; mode = "0700"; } ];
        };
      }
    '';
    description = ''
      Persistent storage locations (nix-community/impermanence's interface).
      Each attribute name is the path of a persistent storage location; its
      directories are bind-mounted and its files bound or symlinked into the
      ephemeral root by `impermctl boot`, early in activation. See
      nixos-module/README.md.
    '';
  };

  config = mkIf enabled (mkMerge [
    {
      # This module declares the paths and impermctl mounts them.
      services.impermctl.mount = mkDefault true;

      # Names other configurations add `deps` on (e.g. secrets tools that
      # need persisted keys): kept as no-ops ordered after the snippet that
      # now does their work.
      system.activationScripts = {
        createPersistentStorageDirs = {
          deps = [
            "impermctl-boot"
            "impermctl-boot-owners"
            "users"
            "groups"
          ];
          text = "# impermanence compatibility: impermctl-boot created the persistent directories";
        };
        persist-files = {
          deps = [ "createPersistentStorageDirs" ];
          text = "# impermanence compatibility: impermctl-boot bound or linked the persisted files";
        };
      };
    }

    # Stage 1, systemd initrd: bind pathsNeededForBoot entries under /sysroot
    # before activation runs there; stage 2 adopts the mounts and
    # `impermctl boot` finds them in place. Sources are created (root:root
    # 0755) first, because a mount unit cannot create its source.
    (mkIf (systemdInitrd && earlyDirs != [ ]) {
      boot.initrd.systemd.services.impermctl-initrd-sources = {
        description = "Create persistent sources of early bind mounts";
        wantedBy = [ "initrd.target" ];
        after = [ "sysroot.mount" ];
        before = [ "initrd-nixos-activation.service" ];
        unitConfig.DefaultDependencies = false;
        unitConfig.RequiresMountsFor = unique (map (d: concatPaths [ "/sysroot" d.persistentStoragePath ]) earlyDirs);
        serviceConfig.Type = "oneshot";
        serviceConfig.ExecStart = "/bin/mkdir -p -m 0755 ${concatStringsSep " " (map (d: escapeShellArg (initrdSource d)) earlyDirs)}";
      };
      boot.initrd.systemd.mounts = map (d: {
        what = initrdSource d;
        where = concatPaths [ "/sysroot" d.dirPath ];
        type = "none";
        options = gvfsOptions d;
        wantedBy = [ "initrd.target" ];
        before = [ "initrd-nixos-activation.service" ];
        requires = [ initrdDirsUnit ];
        after = [ initrdDirsUnit ];
        unitConfig.DefaultDependencies = false;
      }) earlyDirs;
    })

    # Stage 1, scripted initrd: the same binds with stage 1's mountFS (it
    # takes no userspace options, so no x-gvfs-hide here, as in impermanence).
    (mkIf (!systemdInitrd && !isContainer && earlyDirs != [ ]) {
      boot.initrd.postMountCommands = mkAfter (
        concatMapStrings (
          d:
          let
            source = concatPaths [ "/mnt-root" d.persistentStoragePath d.dirPath ];
          in
          ''
            mkdir -p ${escapeShellArg source}
            mountFS ${escapeShellArg source} ${escapeShellArg d.dirPath} bind none
          ''
        ) earlyDirs
      );
    })

    # systemd-machine-id-commit unmounts a bound /etc/machine-id and fails on
    # a persisted real ID (impermanence I#229, PR #242): commit only on the
    # first boot, through the bind, and never from the initrd.
    (mkIf (elem "/etc/machine-id" filePaths) {
      boot.initrd.systemd.suppressedUnits = [ "systemd-machine-id-commit.service" ];
      systemd.services.systemd-machine-id-commit.unitConfig.ConditionFirstBoot = true;
    })

    {
      assertions =
        flatten (catAttrs "assertions" (sources ++ directories ++ files))
        ++ [
          {
            assertion = impermctl.enable && impermctl.mount;
            message = ''
              environment.persistence is declared by impermctl's module, which mounts
              through `impermctl boot`, but services.impermctl.${
                if impermctl.enable then "mount" else "enable"
              } is false: nothing would be persisted. Remove that setting, or import
              upstream impermanence with impermctl's `auditOnly` module instead.
            '';
          }
          {
            assertion = isContainer || lib.all neededForBoot (unique (catAttrs "persistentStoragePath" (files ++ directories)));
            message = offendersMessage "persistent" (
              filter (p: !neededForBoot p) (unique (catAttrs "persistentStoragePath" (files ++ directories)))
            );
          }
          {
            assertion = isContainer || lib.all neededForBoot (unique (concatMap parentsOf (filePaths ++ dirPaths)));
            message = offendersMessage "ephemeral" (
              filter (p: !neededForBoot p) (unique (concatMap parentsOf (filePaths ++ dirPaths)))
            );
          }
          {
            assertion = duplicates filePaths == [ ];
            message = ''
              environment.persistence:
                  The following files were specified two or more
                  times:
                    ${concatStringsSep "\n      " (duplicates filePaths)}
              ${concatMapStrings (p: "(impermctl: ${p} is declared twice)\n") (duplicates filePaths)}'';
          }
          {
            assertion = duplicates dirPaths == [ ];
            message = ''
              environment.persistence:
                  The following directories were specified two or more
                  times:
                    ${concatStringsSep "\n      " (duplicates dirPaths)}
              ${concatMapStrings (p: "(impermctl: ${p} is declared twice)\n") (duplicates dirPaths)}'';
          }
        ];

      warnings =
        lib.optional
          (
            any (l: l.enableWarnings) locations
            && !varLibNixosPersistent
            && (usersWithoutUid != [ ] || groupsWithoutGid != [ ])
          )
          ''
            environment.persistence:
                Neither /var/lib/nixos nor any of its parents are
                persisted. This means all users/groups without
                specified uids/gids will have them reassigned on
                reboot.
                ${optionalString (usersWithoutUid != [ ]) ''
                  The following users are missing a uid:
                        ${concatStringsSep "\n      " usersWithoutUid}
                ''}
                ${optionalString (groupsWithoutGid != [ ]) ''
                  The following groups are missing a gid:
                        ${concatStringsSep "\n      " groupsWithoutGid}
                ''}
          '';
    }
  ]);
}
