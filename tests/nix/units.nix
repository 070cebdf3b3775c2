# The unit graph the ordering tests look at: the units an evaluated
# configuration defines (systemd.services/paths/targets), the unit file
# impermctl's package ships (parsed from ../../systemd), and the ordering
# systemd's own unit files give the units that matter (systemd v257:
# units/systemd-sysusers.service, systemd-journal-flush.service,
# systemd-tmpfiles-setup.service, systemd-machine-id-commit.service,
# systemd-remount-fs.service, systemd-journald.service, sysinit.target,
# local-fs.target). Edges are "a starts before b".
{ lib }:
let
  inherit (lib)
    attrNames
    concatMap
    filter
    hasPrefix
    mapAttrs'
    nameValuePair
    splitString
    unique
    ;

  upstream = {
    "systemd-remount-fs.service".before = [ "local-fs-pre.target" "local-fs.target" ];
    "local-fs-pre.target".before = [ "local-fs.target" ];
    "local-fs.target".before = [ "sysinit.target" ];
    "systemd-journald.service".before = [ "sysinit.target" ];
    "systemd-sysusers.service" = {
      after = [ "systemd-remount-fs.service" ];
      before = [ "sysinit.target" "systemd-update-done.service" ];
    };
    "systemd-journal-flush.service" = {
      after = [ "systemd-journald.service" "systemd-remount-fs.service" ];
      before = [ "systemd-tmpfiles-setup.service" ];
    };
    "systemd-tmpfiles-setup.service" = {
      after = [ "local-fs.target" "systemd-journal-flush.service" "systemd-sysusers.service" ];
      before = [ "sysinit.target" ];
    };
    "systemd-machine-id-commit.service" = {
      after = [ "local-fs.target" ];
      before = [ "sysinit.target" ];
    };
    "sysinit.target".before = [ "basic.target" ];
    "basic.target".before = [ "multi-user.target" ];
  };

  # `Key=a b` lines of a unit file, as { Key = [ "a" "b" ]; } (repeated
  # keys accumulate, as systemd's list settings do).
  parseUnit =
    text:
    let
      lines = filter (l: l != "" && !(hasPrefix "#" l) && !(hasPrefix "[" l)) (splitString "\n" text);
      kv =
        l:
        let
          m = builtins.match "([A-Za-z]+)=(.*)" l;
        in
        if m == null then
          [ ]
        else
          [
            {
              key = builtins.elemAt m 0;
              values = filter (v: v != "") (splitString " " (builtins.elemAt m 1));
            }
          ];
      pairs = concatMap kv lines;
    in
    lib.foldl' (acc: p: acc // { ${p.key} = (acc.${p.key} or [ ]) ++ p.values; }) { } pairs;

  packaged = {
    "impermctl-boot.service" =
      let
        u = parseUnit (builtins.readFile ../../systemd/impermctl-boot.service);
      in
      {
        before = u.Before or [ ];
        after = u.After or [ ];
        requiresMountsFor = u.RequiresMountsFor or [ ];
      };
  };

  # Units a configuration defines, keyed by their full names.
  defined =
    c:
    mapAttrs' (n: v: nameValuePair "${n}.service" v) (lib.filterAttrs (_: v: v.enable) c.systemd.services)
    // mapAttrs' (n: v: nameValuePair "${n}.path" v) (c.systemd.paths or { })
    // mapAttrs' (n: v: nameValuePair "${n}.target" v) (c.systemd.targets or { });

  # Every "a before b" edge: upstream files, the package's files, and the
  # configuration's definitions (which NixOS renders as drop-ins on top).
  edges =
    c:
    let
      sources = [
        upstream
        packaged
        (defined c)
      ];
      of =
        units:
        concatMap (
          n:
          map (b: {
            from = n;
            to = b;
          }) (units.${n}.before or [ ])
          ++ map (a: {
            from = a;
            to = n;
          }) (units.${n}.after or [ ])
        ) (attrNames units);
    in
    unique (concatMap of sources);

  graph =
    c:
    let
      es = edges c;
      nodes = unique (concatMap (e: [ e.from e.to ]) es);
      next = n: map (e: e.to) (filter (e: e.from == n) es);
      # Everything reachable from n (n itself only through a cycle).
      reach =
        n:
        let
          go =
            seen: todo:
            if todo == [ ] then
              seen
            else
              let
                h = builtins.head todo;
                t = builtins.tail todo;
                fresh = filter (x: !(builtins.elem x seen)) (next h);
              in
              go (seen ++ fresh) (t ++ fresh);
        in
        go [ ] [ n ];
      reachable = lib.genAttrs nodes reach;
    in
    {
      inherit nodes reachable;
      before = a: b: builtins.elem b (reachable.${a} or [ ]);
      cycles = filter (n: builtins.elem n reachable.${n}) nodes;
    };
in
{
  inherit
    upstream
    parseUnit
    packaged
    defined
    graph
    ;
  hasUnit = c: n: (defined c) ? ${n} || upstream ? ${n} || packaged ? ${n};
}
