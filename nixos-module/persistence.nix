# `environment.persistence`: nix-community/impermanence's interface, served
# by impermctl. Declares the schema (./options.nix), impermanence's
# assertions and warning, the early binds an initrd needs for
# `pathsNeededForBoot`, the machine-id commit workaround, and the activation
# snippet names other configurations depend on. The mounting itself is done
# by `impermctl boot` (./impermctl.nix), which reads the rendered config.
{
  config,
  lib,
  options,
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
  # Home Manager users' `home.persistence` (./home-manager.nix), when the
  # Home Manager NixOS module is imported.
  hasHomeManager = options ? home-manager && options.home-manager ? sharedModules;
  hmLocations = lib.optionals hasHomeManager (
    filter (l: l.enable) (
      concatMap (u: attrValues (u.home.persistence or { })) (attrValues (config.home-manager.users or { }))
    )
  );
  sources = concatMap (l: [ l ] ++ attrValues l.users) locations ++ hmLocations;
  directories = concatMap (s: s.directories) sources;
  files = concatMap (s: s.files) sources;
  enabled = locations != [ ] || hmLocations != [ ];

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

  # impermanence's assertion for paths declared twice, plus one line per path.
  declaredTwice = what: paths: {
    assertion = duplicates paths == [ ];
    message = ''
      environment.persistence:
          The following ${what} were specified two or more
          times:
            ${concatStringsSep "\n      " (duplicates paths)}
      ${concatMapStrings (p: "(impermctl: ${p} is declared twice)\n") (duplicates paths)}'';
  };

  # Upstream's meaning is kept where it surprises (trial s5, finding 11),
  # with a warning: a relative system entry is taken from `/`; an absolute
  # `users.<name>` entry is still relative to the home (/home/alice/x →
  # /home/alice/home/alice/x); a `users.<name>` that users.users does not
  # declare gets /home/<name>, and boot fails its entries unless the user
  # exists at run time.
  surprises =
    let
      nameOf = e: e.directory or e.file;
      under = h: p: lib.hasPrefix (lib.removeSuffix "/" h + "/") p;
      at = l: "environment.persistence.\"${toString l.persistentStoragePath}\"";
      entryWarning =
        l: e:
        let
          n = nameOf e;
          abs = concatPaths [ n ];
          p = e.dirPath or e.filePath;
        in
        if e.home == null && !lib.hasPrefix "/" n then
          [ "${at l}: `${n}` is relative; it is taken as ${p} (as impermanence does). Write it as ${p}." ]
        else if e.home != null && e.home != "/" && lib.hasPrefix "/" n && under e.home abs then
          [
            "${at l}: `${n}` in users.*.directories/files is relative to the home ${e.home} (as in impermanence), so it persists ${p}. Write `${lib.removePrefix (lib.removeSuffix "/" e.home + "/") abs}` to persist ${abs}."
          ]
        else
          [ ];
      locationWarnings =
        l:
        concatMap (entryWarning l) (
          l.directories ++ l.files ++ concatMap (u: u.directories ++ u.files) (attrValues l.users)
        )
        ++ map (
          u:
          "${at l}.users.${u}: users.users.${u} is not declared, so its home is taken as /home/${u} and its entries are owned by ${u}; boot fails them unless that user exists when it runs. Declare users.users.${u} (or fix the name)."
        ) (filter (u: !(usersCfg ? ${u})) (attrNames l.users));
    in
    concatMap locationWarnings locations;

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

  machineIdEntry = lib.findFirst (f: f.filePath == "/etc/machine-id") null files;
  machineIdSource = concatPaths [ "/sysroot" (machineIdEntry.persistentStoragePath or "/") "/etc/machine-id" ];

  # Definitions left over from impermanence's classic implementation
  # (sops-nix/agenix guides: fileSystems."/etc/ssh".neededForBoot = true):
  # a fileSystems entry without a device on a persisted directory.
  deviceless = filter (
    fs: (fs.device or null) == null && elem fs.mountPoint dirPaths && (fs.fsType or "auto") == "auto"
  ) (attrValues fileSystems);

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

  config = mkMerge [
    # Serve `home.persistence` to every Home Manager user (upstream's drop-in
    # does the same through sharedModules).
    (lib.optionalAttrs hasHomeManager {
      home-manager.sharedModules = [ ./home-manager.nix ];
    })
    (mkIf enabled (mkMerge [
    {
      # This module declares the paths and impermctl mounts them.
      services.impermctl.mount = mkDefault true;

      # Names other configurations add `deps` on (e.g. secrets tools that
      # need persisted keys): empty, ordering-only snippets after the one
      # that does their work (when activation has one, see ./ordering.nix).
      # Upstream's createPersistentStorageDirs also waited for users and
      # groups; here it must not, or `agenixInstall.deps = [ "persist-files" ]`
      # (agenix runs before `users`) would be a cycle.
      system.activationScripts = {
        createPersistentStorageDirs = {
          deps = lib.optional impermctl.activationSnippet "impermctl-boot";
          text = "";
        };
        persist-files = {
          deps = [ "createPersistentStorageDirs" ];
          text = "";
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
    # a persisted real ID (impermanence I#229, PR #242): never from the
    # initrd (stage 2: ./ordering.nix).
    (mkIf (elem "/etc/machine-id" filePaths) {
      boot.initrd.systemd.suppressedUnits = [ "systemd-machine-id-commit.service" ];
    })

    # systemd initrd without an activation snippet (sysusers/userborn): PID 1
    # of stage 2 reads /etc/machine-id before any unit runs, so bind it here,
    # seeded with "uninitialized" (first boot) when persistence has none.
    (mkIf (systemdInitrd && !impermctl.activationSnippet && machineIdEntry != null) {
      boot.initrd.systemd.services.impermctl-initrd-machine-id = {
        description = "Seed the persistent /etc/machine-id on the first boot";
        wantedBy = [ "initrd.target" ];
        after = [ "sysroot.mount" ];
        before = [ "initrd-nixos-activation.service" ];
        unitConfig.DefaultDependencies = false;
        unitConfig.RequiresMountsFor = [ (concatPaths [ "/sysroot" machineIdEntry.persistentStoragePath ]) ];
        serviceConfig.Type = "oneshot";
        # A job script (NixOS puts it and its shell into the initrd).
        script = ''
          f=${escapeShellArg machineIdSource}
          if [ ! -e "$f" ]; then
            mkdir -p "''${f%/*}"
            echo uninitialized > "$f"
          fi
        '';
      };
      boot.initrd.systemd.mounts = [
        {
          what = machineIdSource;
          where = "/sysroot/etc/machine-id";
          type = "none";
          options = "bind";
          wantedBy = [ "initrd.target" ];
          before = [ "initrd-nixos-activation.service" ];
          requires = [ "impermctl-initrd-machine-id.service" ];
          after = [ "impermctl-initrd-machine-id.service" ];
          unitConfig.DefaultDependencies = false;
        }
      ];
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
            assertion = deviceless == [ ];
            message = concatMapStrings (fs: ''
              fileSystems."${fs.mountPoint}" has no device: it only makes sense with
              impermanence's old fileSystems-based implementation (the
              neededForBoot = true recipe of sops-nix and agenix guides). With
              impermctl, ${fs.mountPoint} is bound by `impermctl boot` before the
              secrets tools' snippets and units run${
                if isContainer then " (and a container has no stage 1 at all)" else ""
              }. Remove the fileSystems."${fs.mountPoint}" definition.
            '') deviceless;
          }
          (declaredTwice "files" filePaths)
          (declaredTwice "directories" dirPaths)
        ];

      warnings =
        surprises
        ++ lib.optional
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
  ]))
  ];
}
