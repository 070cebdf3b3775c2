# Evaluation tests of where impermctl's work runs (issue 16 items 2–6):
# for the three user-management modes (perl `users` snippet,
# systemd.sysusers, userborn) × three boot kinds (container without an
# initrd, systemd initrd, scripted initrd), the activation closure computed
# the way NixOS computes it and the unit graph (./units.nix); secrets tools
# and Home Manager through stand-ins named like theirs (./standins); the
# smaller items (catalog, RequiresMountsFor, machine-id commit, /etc/ssh
# leftovers, layout from fileSystems."/", Rust version, baseline).
#
# Returns { name = [ failure messages ]; } like cases.nix's `cases`.
{
  lib,
  eval,
  full,
  failedAssertions,
  rendered,
  activationOrder,
  dependsOn,
  before,
  expect,
  expectEq,
}:
let
  inherit (lib)
    attrNames
    concatMap
    filter
    ;
  # Store paths in the strings compared (the rendered config) carry context.
  hasInfix = a: b: lib.hasInfix (builtins.unsafeDiscardStringContext a) (builtins.unsafeDiscardStringContext b);
  units = import ./units.nix { inherit lib; };

  seedPersistence = {
    environment.persistence."/persistent" = {
      hideMounts = true;
      directories = [
        "/etc/nixos"
        "/var/log"
        "/var/lib/nixos"
      ];
      files = [ "/etc/machine-id" ];
    };
  };
  persistentDisk = {
    fileSystems."/persistent" = {
      device = "rpool/persistent";
      fsType = "zfs";
      neededForBoot = true;
    };
  };
  modes = {
    perl = { };
    sysusers = {
      systemd.sysusers.enable = true;
    };
    userborn = {
      services.userborn.enable = true;
    };
  };
  boots = {
    container = {
      boot.isContainer = true;
    };
    systemd-initrd = {
      boot.initrd.systemd.enable = true;
      imports = [ persistentDisk ];
    };
    scripted-initrd = persistentDisk;
  };
  configure = mode: boot: extra: eval ([ full seedPersistence modes.${mode} boots.${boot} ] ++ extra);

  # nixpkgs' planned warning: non-empty snippets outside its own list.
  allowedSnippets = [ "binsh" "etc" "groups" "hashes" "modprobe" "specialfs" "udevd" "users" "usrbinenv" ];
  textOf = v: if builtins.isString v then v else v.text;
  flaggedSnippets =
    c:
    filter (n: !(builtins.elem n allowedSnippets) && textOf c.system.activationScripts.${n} != "") (
      attrNames c.system.activationScripts
    );
  snippetCycles = c: filter (n: dependsOn c n n) (attrNames c.system.activationScripts);

  bootCmd = c: c.services.impermctl.bootCommand;
  earlyCmd = c: c.services.impermctl.earlyBootCommand;
  defer = "--defer-unknown-owners";
  g = units.graph;
  unitBefore = c: a: b: (g c).before a b;

  # Everything one (mode, boot) combination must satisfy.
  matrixCase =
    mode: boot:
    let
      c = configure mode boot [ ];
      o = activationOrder c;
      snippets = c.system.activationScripts;
      gr = g c;
      userUnit = if mode == "sysusers" then "systemd-sysusers.service" else "userborn.service";
      machineIdMounts = filter (m: m.where == "/sysroot/etc/machine-id") c.boot.initrd.systemd.mounts;
    in
    expectEq (failedAssertions c) [ ] "failed assertions"
    ++ expectEq (snippetCycles c) [ ] "activation snippets in a cycle"
    ++ expectEq (gr.cycles) [ ] "units in an ordering cycle"
    ++ expectEq (textOf snippets.createPersistentStorageDirs) "" "createPersistentStorageDirs text"
    ++ expectEq (textOf snippets.persist-files) "" "persist-files text"
    ++ expect (before o "createPersistentStorageDirs" "persist-files") "compat snippets in order"
    ++ expect (!(snippets ? impermctl-boot-owners)) "no second snippet"
    # The unit does the work in every mode, before what reads persisted state.
    ++ concatMap (u: expect (unitBefore c "impermctl-boot.service" u) "impermctl-boot.service before ${u}") [
      "local-fs.target"
      "systemd-journal-flush.service"
      "systemd-tmpfiles-setup.service"
      "systemd-machine-id-commit.service"
      "sysinit.target"
    ]
    ++ expect (unitBefore c "systemd-remount-fs.service" "impermctl-boot.service") "after the root is writable"
    ++ expect (unitBefore c "impermctl-owners.service" "sysinit.target") "owners pass before sysinit.target"
    ++ expect (unitBefore c "impermctl-boot.service" "impermctl-owners.service") "boot before owners"
    ++ expect (unitBefore c "impermctl-owners.service" "impermctl-baseline.service") "baseline after owners"
    ++ expect (unitBefore c "sysinit.target" "impermctl-baseline.service") "baseline after sysinit"
    ++ concatMap (
      u:
      expect (builtins.elem "sysinit-reactivation.target" c.systemd.services.${u}.requiredBy) "${u} restarted on switch"
      ++ expect (unitBefore c "${u}.service" "sysinit-reactivation.target") "${u} before sysinit-reactivation.target"
    ) [ "impermctl-boot" "impermctl-owners" ]
    ++ expectEq c.systemd.services.impermctl-boot.unitConfig.RequiresMountsFor [ "/persistent" ] "RequiresMountsFor"
    # Passes before users/groups exist defer unknown owners; the owners pass does not.
    ++ expect (hasInfix " boot ${defer} --config " (earlyCmd c)) "early command carries ${defer}"
    ++ expectEq c.systemd.services.impermctl-boot.serviceConfig.ExecStart [ "" (earlyCmd c) ] "impermctl-boot.service defers unknown owners"
    ++ expectEq c.systemd.services.impermctl-owners.serviceConfig.ExecStart (bootCmd c) "owners pass runs plain impermctl boot"
    ++ expect (!(hasInfix defer (bootCmd c))) "owners pass without ${defer}"
    ++ expect (hasInfix " boot --config " (bootCmd c)) "owners pass command shape"
    # impermctl-sync.service (systemd/impermctl-sync.service, issue 12).
    ++ expectEq c.systemd.services.impermctl-sync.wantedBy [ "sysinit.target" ] "sync wanted by sysinit.target"
    ++ expect (unitBefore c "impermctl-boot.service" "impermctl-sync.service") "sync after impermctl-boot.service"
    ++ expect (unitBefore c "impermctl-sync.service" "sysinit.target") "sync before sysinit.target"
    ++ expect (builtins.elem "shutdown.target" c.systemd.services.impermctl-sync.before) "sync before shutdown.target"
    ++ expect (builtins.elem "shutdown.target" c.systemd.services.impermctl-sync.conflicts) "sync stopped at shutdown"
    ++ expectEq c.systemd.services.impermctl-sync.unitConfig.DefaultDependencies false "sync DefaultDependencies=no"
    ++ expectEq c.systemd.services.impermctl-sync.serviceConfig.ExecStart [
      ""
      "${c.services.impermctl.package}/bin/impermctl sync --follow --config ${c.services.impermctl.configFile}"
    ] "sync runs the package's binary on the rendered file"
    ++ (
      if mode == "perl" then
        expectEq (flaggedSnippets c) [ "impermctl-boot" ] "flagged snippets (perl users snippet: impermctl-boot stays)"
        ++ expect (hasInfix (earlyCmd c) (textOf snippets.impermctl-boot)) "snippet runs impermctl boot --defer-unknown-owners"
        ++ expect (before o "specialfs" "impermctl-boot") "specialfs before impermctl-boot"
        ++ expect (before o "impermctl-boot" "users") "impermctl-boot before users: ${toString o}"
        ++ expect (dependsOn c "users" "impermctl-boot") "users depends on impermctl-boot"
        ++ expect (dependsOn c "etc" "impermctl-boot") "etc depends on impermctl-boot"
        ++ expect (dependsOn c "persist-files" "impermctl-boot") "persist-files depends on impermctl-boot"
        ++ expectEq c.boot.postBootCommands "" "postBootCommands"
        ++ expectEq machineIdMounts [ ] "initrd machine-id bind"
      else
        expectEq (flaggedSnippets c) [ ] "flagged snippets"
        ++ expect (!(snippets ? impermctl-boot)) "no impermctl-boot snippet"
        ++ expectEq snippets.users "" "users snippet left empty"
        ++ expect (unitBefore c "impermctl-boot.service" userUnit) "impermctl-boot.service before ${userUnit}"
        ++ expect (unitBefore c userUnit "impermctl-owners.service") "${userUnit} before impermctl-owners.service"
        ++ (
          if boot == "systemd-initrd" then
            expectEq c.boot.postBootCommands "" "postBootCommands (no stage-2-init)"
            ++ expectEq (map (m: [ m.what m.options ]) machineIdMounts) [
              [
                "/sysroot/persistent/etc/machine-id"
                "bind"
              ]
            ] "initrd machine-id bind"
            ++ expect (builtins.elem "initrd-nixos-activation.service" (lib.head machineIdMounts).before) "before activation"
            ++ expect (hasInfix "uninitialized" c.boot.initrd.systemd.services.impermctl-initrd-machine-id.script) "seeded"
          else
            expect (hasInfix (earlyCmd c) c.boot.postBootCommands) "postBootCommands binds /etc/machine-id before PID 1 (deferring owners)"
            ++ expectEq machineIdMounts [ ] "initrd machine-id bind"
        )
    );

  matrix = lib.listToAttrs (
    concatMap (
      mode:
      map (boot: lib.nameValuePair "ordering-${mode}-${boot}" (matrixCase mode boot)) (attrNames boots)
    ) (attrNames modes)
  );

  # Issue 12.4: an entry owned by a user the same switch creates. The first
  # pass cannot resolve the owner (the entry fails alone or is deferred);
  # impermctl-owners.service binds it once users exist, at boot and on the
  # switch (sysinit-reactivation.target restarts it after the user units;
  # with the perl snippet, every unit restart comes after activation).
  newUserCase =
    mode:
    let
      c = configure mode "container" [
        {
          users.users.dave = {
            isNormalUser = mode == "perl" || mode == "userborn";
            home = "/home/dave";
            group = "users";
          };
          environment.persistence."/persistent".users.dave.directories = [ ".ssh" ];
        }
      ];
      owners = c.systemd.services.impermctl-owners;
      gr = g c;
    in
    expect (hasInfix "path = \"/home/dave/.ssh\"" (rendered c)) "rendered"
    ++ expectEq owners.serviceConfig.ExecStart (bootCmd c) "owners pass runs impermctl boot on the rendered file"
    ++ expectEq owners.restartTriggers [ c.services.impermctl.configFile ] "rerun when the config changes (a new entry)"
    # The passes before users exist skip dave's entry quietly.
    ++ (
      if mode == "perl" then
        expect (hasInfix (earlyCmd c) (textOf c.system.activationScripts.impermctl-boot)) "snippet defers unknown owners"
      else
        expectEq c.systemd.services.impermctl-boot.serviceConfig.ExecStart [ "" (earlyCmd c) ] "early unit defers unknown owners"
    )
    ++ lib.optionals (mode != "perl") (
      expect (gr.before (if mode == "sysusers" then "systemd-sysusers.service" else "userborn.service") "impermctl-owners.service") "after the users unit"
    );
  newUserCases = lib.mapAttrs' (m: _: lib.nameValuePair "new-user-entry-after-users-exist-${m}" (newUserCase m)) modes;

  # ---------------------------------------------------------------- secrets
  agenix = [
    ./standins/agenix.nix
    { age.secrets.wifi = { }; }
  ];
  # agenix (as read, modules/age.nix at 019784c) has snippets only and sets
  # `users.deps`, which nixpkgs' `users = ""` under sysusers/userborn
  # rejects: it runs with the perl `users` snippet, in containers and with
  # either initrd.
  agenixCase =
    boot: extra:
    let
      c = configure "perl" boot (agenix ++ extra);
      o = activationOrder c;
    in
    expectEq (failedAssertions c) [ ] "failed assertions"
    ++ expectEq (snippetCycles c) [ ] "activation snippets in a cycle"
    ++ expect c.services.impermctl.activationSnippet "agenix in activation keeps the snippet"
    ++ expect (before o "impermctl-boot" "agenixInstall") "impermctl-boot before agenixInstall: ${toString o}"
    ++ expect (dependsOn c "agenixInstall" "impermctl-boot") "agenixInstall depends on impermctl-boot"
    ++ expect (before o "agenixInstall" "agenixChown") "agenix's own order kept";

  sops = generateKey: secrets: [
    ./standins/sops-nix.nix
    {
      sops.secrets = secrets;
      sops.age.generateKey = generateKey;
    }
  ];
  sopsSecrets = {
    db = { };
    root-password.neededForUsers = true;
  };

  secretsCases = {
    agenix-after-binds-container = agenixCase "container" [ ];
    agenix-after-binds-systemd-initrd = agenixCase "systemd-initrd" [ ];
    agenix-after-binds-scripted-initrd = agenixCase "scripted-initrd" [ ];
    agenix-persist-files-workaround-has-no-cycle =
      let
        c = configure "perl" "container" (agenix ++ [ { system.activationScripts.agenixInstall.deps = [ "persist-files" ]; } ]);
        o = activationOrder c;
      in
      agenixCase "container" [ { system.activationScripts.agenixInstall.deps = [ "persist-files" ]; } ]
      ++ expect (before o "persist-files" "agenixInstall") "persist-files before agenixInstall"
      ++ expect (before o "agenixInstall" "users") "agenixInstall before users";
    sops-snippets-after-binds =
      let
        c = configure "perl" "container" (sops true sopsSecrets);
        o = activationOrder c;
      in
      expectEq (failedAssertions c) [ ] "failed assertions"
      ++ expectEq (snippetCycles c) [ ] "cycles"
      ++ concatMap (s: expect (before o "impermctl-boot" s) "impermctl-boot before ${s}: ${toString o}") [
        "generate-age-key"
        "setupSecretsForUsers"
        "setupSecrets"
      ]
      ++ expect (before o "setupSecretsForUsers" "users") "sops' own order kept";
    sops-units-after-binds-sysusers =
      let
        c = configure "sysusers" "container" (sops false sopsSecrets);
        gr = g c;
        # age.generateKey keeps a sops-nix snippet (it writes the key file,
        # which may be persisted): then impermctl's snippet stays before it.
        k = configure "sysusers" "container" (sops true sopsSecrets);
      in
      expectEq (failedAssertions c) [ ] "failed assertions"
      ++ expectEq gr.cycles [ ] "unit cycles"
      ++ expect (!c.services.impermctl.activationSnippet) "sops-nix runs as units here: no snippet"
      ++ expectEq (flaggedSnippets c) [ ] "nothing flagged"
      ++ expect k.services.impermctl.activationSnippet "generate-age-key keeps the snippet"
      ++ expect (before (activationOrder k) "impermctl-boot" "generate-age-key") "impermctl-boot before generate-age-key"
      ++ expect (gr.before "impermctl-boot.service" "sops-install-secrets-for-users.service") "boot before sops for users"
      ++ expect (gr.before "sops-install-secrets-for-users.service" "systemd-sysusers.service") "sops' own order kept"
      ++ expect (gr.before "impermctl-boot.service" "sops-install-secrets.service") "boot before sops";
    sops-units-after-binds-userborn =
      let
        c = configure "userborn" "systemd-initrd" (sops false (builtins.removeAttrs sopsSecrets [ "root-password" ]));
        gr = g c;
      in
      expectEq (failedAssertions c) [ ] "failed assertions"
      ++ expectEq gr.cycles [ ] "unit cycles"
      ++ expect (gr.before "impermctl-boot.service" "sops-install-secrets.service") "boot before sops";
    no-secrets-tools-no-stray-units =
      let
        c = configure "sysusers" "container" [ ];
      in
      expect (!(c.systemd.services ? sops-install-secrets)) "no sops unit invented"
      ++ expect (!(c.system.activationScripts ? agenixInstall)) "no agenix snippet invented";
  };

  # ------------------------------------------------------------ Home Manager
  hm = extra: eval ([
    full
    ./standins/home-manager.nix
    { boot.isContainer = true; }
    { users.users.alice.isNormalUser = true; }
  ] ++ extra);
  hmToml = c: builtins.fromTOML (rendered c);
  hmCases = {
    home-manager-persistence-merges-into-system-entries =
      let
        c = hm [
          seedPersistence
          {
            home-manager.users.alice.home.persistence."/persistent" = {
              directories = [
                ".ssh"
                {
                  directory = ".local/share/keyrings";
                  mode = "0700";
                }
              ];
              files = [ ".bash_history" ];
            };
          }
        ];
        root = lib.head (hmToml c).persistence;
        dir = p: lib.findFirst (d: d.path == p) null root.directories;
      in
      expectEq (failedAssertions c) [ ] "failed assertions"
      ++ expectEq (map (d: d.path) root.directories) [
        "/etc/nixos"
        "/var/log"
        "/var/lib/nixos"
        "/home/alice/.ssh"
        "/home/alice/.local/share/keyrings"
      ] "one root block with the system's and alice's entries"
      ++ expectEq (dir "/home/alice/.ssh") {
        path = "/home/alice/.ssh";
        user = "alice";
        group = "users";
        mode = "0755";
        hide_mount = false;
        allow_trash = false;
        parent = {
          user = "alice";
          group = "users";
          mode = "0755";
        };
        home = "/home/alice";
      } ".ssh"
      ++ expectEq (dir "/home/alice/.local/share/keyrings").mode "0700" "mode"
      ++ expectEq (map (f: f.path) root.files) [ "/etc/machine-id" "/home/alice/.bash_history" ] "files";
    home-manager-only-enables-impermctl =
      let
        c = hm [ { home-manager.users.alice.home.persistence."/persistent".directories = [ ".ssh" ]; } ];
      in
      expect c.services.impermctl.enable "enabled"
      ++ expect c.services.impermctl.mount "mounting"
      ++ expect (hasInfix "path = \"/home/alice/.ssh\"" (rendered c)) "rendered";
    home-manager-duplicate-of-system-entry-fails =
      let
        c = hm [
          {
            environment.persistence."/persistent".users.alice.directories = [ ".ssh" ];
            home-manager.users.alice.home.persistence."/persistent".directories = [ ".ssh" ];
          }
        ];
      in
      expect (lib.any (hasInfix "/home/alice/.ssh is declared twice") (failedAssertions c)) (toString (failedAssertions c));
    home-manager-storage-path-with-home-fails =
      let
        c = hm [ { home-manager.users.alice.home.persistence."/persistent/home/alice".directories = [ ".ssh" ]; } ];
      in
      expect (lib.any (hasInfix "alice profile: home.persistence.\"/persistent/home/alice\"") (failedAssertions c)) (
        toString (failedAssertions c)
      );
  };

  # ---------------------------------------------------------------- smaller
  smallCases = {
    catalog-where-journalctl-reads-it =
      let
        c = configure "perl" "container" [ ];
        s = c.systemd.services.impermctl-catalog;
      in
      expectEq c.systemd.tmpfiles.rules [
        "L+ /usr/local/lib/systemd/catalog/impermctl.catalog - - - - /nix/store/00000000000000000000000000000000-impermctl-stub/lib/systemd/catalog/impermctl.catalog"
      ] "tmpfiles link"
      ++ expect (!(c.environment.etc ? "systemd/catalog/impermctl.catalog")) "nothing in /etc/systemd/catalog"
      ++ expect (builtins.elem "systemd-tmpfiles-setup.service" s.after) "update after the link exists"
      ++ expect (hasInfix "-systemd-stub/bin/journalctl --update-catalog" s.serviceConfig.ExecStart) s.serviceConfig.ExecStart;
    requires-mounts-for-every-root =
      let
        c = configure "perl" "container" [ { environment.persistence."/data".directories = [ "/srv" ]; } ];
      in
      expectEq c.systemd.services.impermctl-boot.unitConfig.RequiresMountsFor [ "/data" "/persistent" ] "roots"
      ++ expectEq units.packaged."impermctl-boot.service".requiresMountsFor [ "/persistent" ] "the shipped unit's line (the Nix package deletes it)";
    machine-id-commit-only-when-persisted =
      let
        without = eval [
          full
          { boot.isContainer = true; }
          { environment.persistence."/persistent".directories = [ "/var/log" ]; }
        ];
        with' = configure "perl" "container" [ ];
      in
      expect (!(without.systemd.services ? systemd-machine-id-commit)) "no drop-in without /etc/machine-id"
      ++ expectEq without.boot.initrd.systemd.suppressedUnits [ ] "no initrd suppression"
      ++ expectEq with'.systemd.services.systemd-machine-id-commit.unitConfig { ConditionFirstBoot = true; } "first boot"
      ++ expect (unitBefore with' "impermctl-boot.service" "systemd-machine-id-commit.service") "after the bind";
    etc-ssh-needed-for-boot-leftover-is-refused =
      let
        mk =
          boot:
          configure "perl" boot [
            {
              environment.persistence."/persistent".directories = [ "/etc/ssh" ];
              fileSystems."/etc/ssh".neededForBoot = true;
            }
          ];
        m = failedAssertions (mk "container");
      in
      expect (lib.any (hasInfix "fileSystems.\"/etc/ssh\" has no device") m) (toString m)
      ++ expect (lib.any (hasInfix "a container has no stage 1") m) "container advice"
      ++ expect (lib.any (hasInfix "Remove the fileSystems.\"/etc/ssh\" definition") (failedAssertions (mk "systemd-initrd"))) "VM too";
    layout-from-root-file-system = lib.concatMap (
      fs:
      let
        c = eval [
          full
          seedPersistence
          persistentDisk
          {
            fileSystems."/" = {
              device = "none";
              fsType = fs;
            };
          }
        ];
      in
      expectEq (builtins.fromTOML (rendered c)).layout.ephemeral_root (if fs == "ext4" then "auto" else fs) "fsType ${fs}"
    ) [ "tmpfs" "btrfs" "zfs" "ext4" ]
    ++ expectEq (builtins.fromTOML (rendered (configure "perl" "container" [ ]))).layout.ephemeral_root "auto" "container";
    rust-too-old-fails-clearly =
      let
        c = configure "perl" "container" [
          {
            services.impermctl.package = {
              type = "derivation";
              name = "impermctl-old-rust";
              outPath = "/nix/store/22222222222222222222222222222222-impermctl-old-rust";
              minimumRustVersion = "1.89";
              rustcVersion = "1.86.0";
            };
          }
        ];
      in
      expect (lib.any (hasInfix "impermctl needs Rust 1.89 or newer") (failedAssertions c)) (toString (failedAssertions c))
      ++ expect (lib.any (hasInfix "rustc 1.86.0") (failedAssertions c)) "names the rustc";
    baseline-after-activation-at-boot-and-on-switch =
      let
        check =
          c:
          expect (hasInfix "/bin/impermctl baseline --since \"$since\" --until current-system" c.systemd.services.impermctl-baseline.script) "runs impermctl baseline"
          ++ expect (hasInfix "switch-to-conf*" c.systemd.services.impermctl-baseline.script) "since the switch began"
          ++ expectEq c.systemd.paths.impermctl-baseline.pathConfig {
            PathChanged = "/run/current-system";
            Unit = "impermctl-baseline.service";
          } "path unit"
          ++ expect (builtins.elem "multi-user.target" c.systemd.services.impermctl-baseline.wantedBy) "at boot"
          ++ expect (builtins.elem "multi-user.target" c.systemd.paths.impermctl-baseline.wantedBy) "path unit started";
      in
      check (configure "sysusers" "container" [ ])
      ++ check (configure "perl" "systemd-initrd" [ ])
      ++ expect (!((configure "perl" "container" [ ]).system.activationScripts ? impermctl-baseline)) "no snippet for it";
  };
  # Audit only: nothing of impermctl's mounting or saving runs.
  auditSyncCase =
    let
      c = configure "perl" "container" [ { services.impermctl.mount = false; } ];
    in
    expect (!c.systemd.services.impermctl-sync.enable) "sync disabled in audit mode"
    ++ expect (!c.systemd.services.impermctl-boot.enable) "boot disabled in audit mode";
in
{
  cases = matrix // newUserCases // secretsCases // hmCases // smallCases // { sync-off-in-audit-mode = auditSyncCase; };
  # The stage-2 units of each user-management mode (plus sops-nix's under
  # sysusers), for run.sh's check with the real systemd-analyze verify.
  unitSets = builtins.toJSON (
    lib.mapAttrs
      (
        _: c:
        lib.mapAttrs (_: u: {
          inherit (u)
            before
            after
            wants
            requires
            conflicts
            wantedBy
            requiredBy
            ;
          unitConfig = lib.filterAttrs (
            k: _: builtins.elem k [ "DefaultDependencies" "RequiresMountsFor" "ConditionFirstBoot" ]
          ) u.unitConfig;
        }) (lib.filterAttrs (_: u: u.enable) c.systemd.services)
      )
      {
        perl = configure "perl" "container" [ ];
        sysusers = configure "sysusers" "container" (sops false sopsSecrets);
        userborn = configure "userborn" "systemd-initrd" [ ];
      }
  );
}
