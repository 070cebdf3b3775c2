# Evaluation tests of impermctl's NixOS module with nixpkgs' `lib` only.
# `nix eval --raw -f cases.nix report --arg libPath …` prints one line per
# case: "ok NAME" or "FAIL NAME: what". `seedToml` is the config the seed
# renders (run.sh hands it to the real binary); `pastedToml` the one a
# configuration file `--arg pasted /path/configuration.nix` renders.
{
  libPath,
  pasted ? null,
}:
let
  lib = import libPath;
  inherit (lib) concatMapStrings filter optional;
  helpers = import ../../nixos-module/lib.nix { inherit lib; };

  eval = modules: (lib.evalModules { modules = [ ./stubs.nix ] ++ modules; }).config;
  full = ../../nixos-module;
  auditOnly = ../../nixos-module/impermctl.nix;
  seed = ./seed/configuration.nix;

  failedAssertions = c: map (a: a.message) (filter (a: !a.assertion) c.assertions);
  rendered = c: c.environment.etc."impermctl/config.toml".text or null;
  has = sub: s: lib.hasInfix sub s;
  anyHas = sub: list: lib.any (has sub) list;

  # The order NixOS runs activation snippets in (activation-script.nix).
  activationOrder =
    c:
    let
      entry = n: v: (if builtins.isString v then lib.noDepEntry v else v) // { text = n; };
      set = lib.mapAttrs entry c.system.activationScripts;
    in
    lib.textClosureList set (builtins.attrNames set);
  # Does snippet `a` (transitively) declare a dependency on `b`? Ordering
  # must come from deps, not from the alphabetical walk textClosureList does.
  dependsOn =
    c: a: b:
    let
      deps = n: let v = c.system.activationScripts.${n} or ""; in if builtins.isString v then [ ] else v.deps;
      go = seen: n: lib.any (d: d == b || (!(builtins.elem d seen) && go (seen ++ [ d ]) d)) (deps n);
    in
    go [ a ] a;
  before =
    order: a: b:
    let
      idx = x: lib.lists.findFirstIndex (y: y == x) null order;
    in
    idx a != null && idx b != null && idx a < idx b;

  expect = cond: msg: optional (!cond) msg;
  expectEq =
    actual: wanted: what:
    optional (actual != wanted) "${what}: got ${builtins.toJSON actual}, want ${builtins.toJSON wanted}";

  fx = import ./fixtures.nix {
    inherit
      lib
      libPath
      eval
      full
      auditOnly
      seed
      rendered
      ;
  };
  inherit (fx)
    seedCfg
    users
    usersToml
    userDir
    duplicatesCfg
    removedCfg
    disabledCfg
    upstreamStandIn
    auditCfg
    multiCfg
    initrdCfg
    containerCfg
    neededCfg
    sysusersCfg
    warningCfg
    recursionCfg
    mountOffCfg
    flake
    stubFinal
    flakeSeedCfg
    packageAttrs
    tricky
    ;
  removedMessages = failedAssertions removedCfg;

  cases = {
    seed-renders-expected-toml = expectEq (rendered seedCfg) (builtins.readFile ./expected/seed.toml) "rendered seed";
    seed-has-no-failed-assertions-or-warnings =
      expectEq (failedAssertions seedCfg) [ ] "failed assertions" ++ expectEq seedCfg.warnings [ ] "warnings";
    seed-activation-order =
      let
        o = activationOrder seedCfg;
      in
      expect (before o "specialfs" "impermctl-boot") "specialfs before impermctl-boot: ${toString o}"
      ++ expect (before o "impermctl-boot" "users") "impermctl-boot before users: ${toString o}"
      ++ expect (before o "impermctl-boot" "createPersistentStorageDirs") "impermctl-boot before createPersistentStorageDirs"
      ++ expect (before o "createPersistentStorageDirs" "persist-files") "createPersistentStorageDirs before persist-files"
      ++ expect (before o "impermctl-boot" "etc") "impermctl-boot before etc"
      ++ expect (dependsOn seedCfg "users" "impermctl-boot") "users depends on impermctl-boot"
      ++ expect (dependsOn seedCfg "etc" "impermctl-boot") "etc depends on impermctl-boot"
      ++ expect (dependsOn seedCfg "persist-files" "impermctl-boot") "persist-files depends on impermctl-boot"
      ++ expect (dependsOn seedCfg "impermctl-boot" "specialfs") "impermctl-boot depends on specialfs"
      ++ expect (!(dependsOn seedCfg "impermctl-boot" "users")) "no cycle";
    seed-activation-runs-boot-with-rendered-config =
      let
        t = seedCfg.system.activationScripts.impermctl-boot.text;
      in
      expect (has "/nix/store/00000000000000000000000000000000-impermctl-stub/bin/impermctl boot --defer-unknown-owners --config /nix/store/" t) t
      ++ expect (has "-impermctl-config.toml" t) t;
    seed-installs-units-dbus-catalog =
      expectEq seedCfg.systemd.services.impermctl-boot.wantedBy [ "local-fs.target" ] "boot wantedBy"
      ++ expectEq seedCfg.systemd.services.impermctl-watch.wantedBy [ "multi-user.target" ] "watch wantedBy"
      ++ expectEq (map (p: p.name) seedCfg.systemd.packages) [ "impermctl-stub" ] "systemd.packages"
      ++ expectEq (map (p: p.name) seedCfg.services.dbus.packages) [ "impermctl-stub" ] "dbus packages"
      ++ expectEq (map (p: p.name) seedCfg.environment.systemPackages) [ "impermctl-stub" ] "systemPackages"
      ++ expect (seedCfg.systemd.services ? impermctl-catalog) "catalog database update"
      ++ expect (!(seedCfg.systemd.services ? impermctl-audit)) "no audit unit when mounting";
    seed-machine-id-commit-first-boot-only =
      expectEq seedCfg.systemd.services.systemd-machine-id-commit.unitConfig { ConditionFirstBoot = true; } "commit unit"
      ++ expectEq seedCfg.systemd.services.systemd-machine-id-commit.after [ "impermctl-boot.service" ] "after the bind"
      ++ expectEq seedCfg.boot.initrd.systemd.suppressedUnits [ "systemd-machine-id-commit.service" ] "suppressed";
    seed-scripted-initrd-binds-needed-for-boot =
      let
        t = seedCfg.boot.initrd.postMountCommands;
      in
      expect (has "mountFS /mnt-root/persistent/var/log /var/log bind none" t) t
      ++ expect (has "mountFS /mnt-root/persistent/var/lib/nixos /var/lib/nixos bind none" t) t
      ++ expect (!(has "/etc/nixos" t)) "only pathsNeededForBoot: ${t}";
    systemd-initrd-binds-under-sysroot =
      expectEq (map (m: [
        m.what
        m.where
        m.options
      ]) initrdCfg.boot.initrd.systemd.mounts)
        [
          [
            "/sysroot/persistent/var/log"
            "/sysroot/var/log"
            "bind,x-gvfs-hide"
          ]
          [
            "/sysroot/persistent/var/lib/nixos"
            "/sysroot/var/lib/nixos"
            "bind,x-gvfs-hide"
          ]
        ]
        "initrd mounts"
      ++ expectEq (lib.head initrdCfg.boot.initrd.systemd.mounts).before [ "initrd-nixos-activation.service" ] "before"
      ++ expect (has "/sysroot/persistent/var/lib/nixos"
        initrdCfg.boot.initrd.systemd.services.impermctl-initrd-sources.serviceConfig.ExecStart
      ) "sources created"
      ++ expectEq initrdCfg.boot.initrd.postMountCommands "" "no scripted commands";
    container-has-no-initrd-binds-and-no-needed-for-boot-assertion =
      expectEq containerCfg.boot.initrd.postMountCommands "" "postMountCommands"
      ++ expectEq (failedAssertions containerCfg) [ ] "failed assertions";
    persistent-storage-must-be-needed-for-boot =
      let
        m = failedAssertions neededCfg;
      in
      expect (anyHas "All filesystems used for persistent storage must" m) (toString m)
      ++ expect (anyHas "/persistent" m) (toString m);
    users-entries-expand-to-home-with-owner =
      expectEq (userDir "/home/alice/.ssh") {
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
      } "alice .ssh"
      ++ expectEq (userDir "/srv/bob/docs/private").user "bob" "bob owner"
      ++ expectEq (userDir "/srv/bob/docs/private").group "staff" "bob group"
      ++ expectEq (userDir "/srv/bob/docs/private").mode "0700" "bob mode"
      ++ expectEq (lib.head usersToml.persistence).files [
        {
          path = "/srv/bob/.screenrc";
          method = "auto";
          parent = {
            user = "bob";
            group = "staff";
            mode = "0755";
          };
          home = "/srv/bob";
        }
      ] "bob file"
      ++ expectEq (map (d: d.dirPath) (lib.head (builtins.attrValues users.environment.persistence)).users.alice.directories) [
        "/home/alice/.ssh"
      ] "dirPath"
      ++ expectEq (map (f: f.filePath) (lib.head (builtins.attrValues users.environment.persistence)).users.bob.files) [
        "/srv/bob/.screenrc"
      ] "filePath"
      ++ expectEq (failedAssertions users) [ ] "failed assertions";
    duplicates-fail-like-impermanence =
      let
        m = failedAssertions duplicatesCfg;
      in
      expect (anyHas "The following directories were specified two or more\n    times:\n      /var/log\n      /home/alice/.ssh" m) (
        builtins.toJSON m
      )
      ++ expect (anyHas "The following files were specified two or more\n    times:\n      /etc/machine-id" m) (
        builtins.toJSON m
      );
    removed-options-fail =
      lib.concatMap
        (
          o:
          expect (anyHas "The option definition `${o}' in" removedMessages) "no error for ${o}: ${builtins.toJSON removedMessages}"
        )
        [
          "allowOther"
          "removePrefixDirectory"
          "defaultDirectoryMethod"
          "method"
          "home"
        ]
      ++ expect (anyHas "`allowOther' is no longer needed" removedMessages) "allowOther text"
      ++ expect (anyHas "▹ persistence.\"/persistent\":" removedMessages) "location named";
    disabled-location-renders-nothing =
      expectEq (rendered disabledCfg) null "config.toml"
      ++ expect (!(disabledCfg.system.activationScripts ? impermctl-boot)) "no boot snippet"
      ++ expect (!(disabledCfg.system.activationScripts ? persist-files)) "no persist-files"
      ++ expectEq disabledCfg.environment.systemPackages [ ] "systemPackages"
      ++ expectEq disabledCfg.systemd.services { } "units";
    audit-only-renders-config-and-mounts-nothing =
      expectEq (rendered auditCfg) (builtins.readFile ./expected/seed.toml) "rendered from upstream's entries"
      ++ expect (!(auditCfg.system.activationScripts ? impermctl-boot)) "no boot snippet"
      ++ expectEq auditCfg.system.activationScripts.users.deps [ ] "users deps untouched"
      ++ expectEq auditCfg.systemd.services.impermctl-boot.enable false "boot unit masked"
      ++ expect (has "impermctl verify --config /etc/impermctl/config.toml"
        auditCfg.systemd.services.impermctl-audit.serviceConfig.ExecStart
      ) "audit unit runs verify"
      ++ expectEq auditCfg.services.impermctl.mount false "mount";
    mount-off-with-own-persistence-is-refused =
      expect (anyHas "services.impermctl.mount" (failedAssertions mountOffCfg)) "assertion";
    per-entry-storage-path-and-layout-render = expectEq (rendered multiCfg) (builtins.readFile ./expected/multi.toml) "rendered";
    # Trial-s10 F9: the watcher's backend is an option (a drop-in under /etc
    # is generated on NixOS and wiped with the root on vpsFree), rendered
    # as `[watch] backend`, which restarts the service; an unknown value is
    # an evaluation error.
    watch-backend-option-renders =
      let
        withBackend = b: eval [
          seed
          { services.impermctl.watch.backend = b; }
        ];
        c = withBackend "inotify";
        bad = builtins.tryEval (rendered (withBackend "inotfy"));
      in
      expectEq (builtins.fromTOML (rendered c)).watch.backend "inotify" "rendered"
      ++ expectEq (builtins.fromTOML (rendered seedCfg)).watch.backend "auto" "default"
      ++ expect (c.systemd.services.impermctl-watch.restartTriggers != seedCfg.systemd.services.impermctl-watch.restartTriggers) "restarts the watcher"
      ++ expect (!bad.success) "an unknown backend is refused at evaluation";
    sysusers-leaves-users-snippet-alone =
      expectEq sysusersCfg.system.activationScripts.users "" "users snippet"
      ++ expect (!(sysusersCfg.system.activationScripts ? impermctl-boot)) "no boot snippet: the unit does it";
    var-lib-nixos-warning =
      expect (anyHas "Neither /var/lib/nixos nor any of its parents" warningCfg.warnings) "warning"
      ++ expect (anyHas "carol" warningCfg.warnings) "names carol";
    # Trial s5, finding 11: upstream's meaning kept, said in a warning.
    surprising-upstream-meanings-warn =
      let
        c = eval [
          full
          {
            users.users.alice.isNormalUser = true;
            environment.persistence."/persistent" = {
              directories = [
                "var/log"
                "/var/lib/nixos"
              ];
              users.alice.directories = [
                "/home/alice/x"
                ".ssh"
                "/"
              ];
              users.nobodyhere.files = [ ".profile" ];
            };
          }
        ];
        paths = (builtins.fromTOML (rendered c)).persistence;
        dirs = map (d: d.path) (lib.concatMap (r: r.directories or [ ]) paths);
      in
      expect (anyHas "`var/log` is relative; it is taken as /var/log" c.warnings) "relative system path"
      ++ expect (anyHas "so it persists /home/alice/home/alice/x. Write `x`" c.warnings) "doubled home"
      ++ expect (anyHas "users.users.nobodyhere is not declared" c.warnings) "unknown user"
      ++ expect (!(anyHas ".ssh" c.warnings)) "no warning for a relative user entry"
      ++ expect (!(anyHas "`/`" c.warnings)) "no warning for the whole home"
      ++ expect (lib.elem "/var/log" dirs && lib.elem "/home/alice/home/alice/x" dirs) "upstream's paths rendered"
      ++ expectEq (failedAssertions c) [ ] "accepted, as upstream does";
    toml-strings-round-trip = lib.concatMap (
      s:
      let
        back = (builtins.fromTOML "x = ${helpers.tomlString s}").x;
      in
      expectEq back s "round trip"
    ) tricky;
    toml-escapes-control-characters =
      expectEq (helpers.tomlString "a\"b\\c\nd\te") "\"a\\\"b\\\\c\\nd\\te\"" "escapes"
      ++ expectEq (helpers.tomlString (builtins.fromJSON "\"\\u0001\\u007f\"")) "\"\\u0001\\u007F\"" "control";
    rendered-seed-is-valid-toml =
      expectEq (builtins.fromTOML (rendered seedCfg)).persistence [
        {
          path = "/persistent";
          hide_mounts = true;
          allow_trash = false;
          directories = map (p: {
            path = p;
            user = "root";
            group = "root";
            mode = "0755";
            hide_mount = true;
            allow_trash = false;
            parent = {
              user = "root";
              group = "root";
              mode = "0755";
            };
          }) [ "/etc/nixos" "/var/log" "/var/lib/nixos" ];
          files = [
            {
              path = "/etc/machine-id";
              method = "auto";
              parent = {
                user = "root";
                group = "root";
                mode = "0755";
              };
            }
          ];
        }
      ] "parsed";
    flake-outputs =
      expectEq flake.packages.x86_64-linux.default.name "impermctl-from-package.nix" "packages.default"
      ++ expectEq (flake.overlays.default stubFinal { }).impermctl.name "impermctl-from-package.nix" "overlay"
      ++ expectEq flake.nixosModules.impermanence flake.nixosModules.default "impermanence alias"
      ++ expectEq (rendered flakeSeedCfg) (builtins.readFile ./expected/seed.toml) "nixosModules.default"
      ++ expect (
        (eval [
          flake.nixosModules.auditOnly
          upstreamStandIn
        ]).systemd.services ? impermctl-audit
      ) "nixosModules.auditOnly";
    package-installs-units-policy-catalog-man-completions =
      let
        t = packageAttrs.postInstall;
        cargo = lib.importTOML ../../Cargo.toml;
      in
      expectEq packageAttrs.pname "impermctl" "pname"
      ++ expectEq packageAttrs.version cargo.package.version "version"
      ++ expectEq packageAttrs.cargoLock.lockFile ../../Cargo.lock "lock file"
      ++ expectEq packageAttrs.meta.mainProgram "impermctl" "mainProgram"
      ++ expectEq packageAttrs.passthru.minimumRustVersion cargo.package.rust-version "rust-version"
      ++ expect (has "impermctl needs Rust ${cargo.package.rust-version}, the\n`rust-version` in `Cargo.toml`" (builtins.readFile ../../README.md)) "README states Cargo.toml's rust-version"
      ++ expectEq packageAttrs.passthru.rustcVersion "1.91.1" "rustc"
      ++ expectEq packageAttrs.meta.broken false "not broken with rustc 1.91.1"
      ++ expect (!(lib.hasInfix "for dropin in" t)) "no packaged machine-id-commit drop-in"
      ++ lib.concatMap (sub: expect (has sub t) "postInstall lacks ${sub}") [
        "--replace-quiet /usr/bin/impermctl \"$out/bin/impermctl\""
        "systemd/io.github.Impermctl1.conf \"$out/share/dbus-1/system.d/io.github.Impermctl1.conf\""
        "systemd/impermctl.catalog \"$out/lib/systemd/catalog/impermctl.catalog\""
        "\"$out/lib/systemd/system/$(basename \"$unit\")\""
        "sed -i '/^RequiresMountsFor=/d' \"$out/lib/systemd/system/impermctl-boot.service\""
        "\"$out/bin/impermctl\" generate man man"
        "\"$out/bin/impermctl\" generate completions completions"
        "--zsh completions/_impermctl"
      ];
    users-derived-from-file-systems-do-not-recurse =
      expect (has "path = \"/home/alice/.ssh\"" (rendered recursionCfg)) "rendered"
      ++ expectEq (failedAssertions recursionCfg) [ ] "failed assertions";
    path-helpers =
      expectEq (helpers.parentsOf "/home/alice/.ssh") [ "/home" "/home/alice" ] "parentsOf"
      ++ expectEq (helpers.concatPaths [ "/persistent/" "/var//log/" ]) "/persistent/var/log" "concatPaths"
      ++ expectEq (helpers.duplicates [ "a" "b" "a" "a" "c" "b" ]) [ "a" "b" ] "duplicates";
  };

  ordering = import ./ordering-cases.nix {
    inherit
      lib
      eval
      full
      failedAssertions
      rendered
      activationOrder
      dependsOn
      before
      expect
      expectEq
      ;
  };

  line = name: failures: if failures == [ ] then "ok ${name}\n" else "FAIL ${name}: ${lib.concatStringsSep "; " failures}\n";
in
{
  report = concatMapStrings (n: line n (cases // ordering.cases).${n}) (
    builtins.attrNames (cases // ordering.cases)
  );
  inherit (ordering) unitSets;
  seedToml = rendered seedCfg;
  # The tmpfiles rule that links the journal catalog (run.sh checks with
  # the real journalctl that its directory is read).
  catalogRule = lib.head seedCfg.systemd.tmpfiles.rules;
  # The baseline unit's script and the binary it calls (run.sh runs it).
  baselineScript = seedCfg.systemd.services.impermctl-baseline.script;
  baselineBin = "${seedCfg.services.impermctl.package}/bin/impermctl";
  # tests/nix/corpus.nix, for run.sh's module/binary agreement check:
  # { name = { toml; assertions; warnings; pending; }; }.
  corpus = builtins.toJSON (
    lib.mapAttrs (_: c: {
      inherit (c) pending;
      toml = rendered c.config;
      assertions = failedAssertions c.config;
    }) (import ./corpus.nix { inherit lib eval full; })
  );
  multiToml = rendered multiCfg;
  # run.sh: the seed with a `diff --suggest` pasted in, as it says.
  pastedToml =
    let
      c = eval [ pasted ];
    in
    if failedAssertions c == [ ] then rendered c else throw (lib.concatStringsSep "; " (failedAssertions c));
}
