# Pure helpers of the impermctl NixOS module: path arithmetic, the
# normalisation of `environment.persistence` (ours or upstream impermanence's)
# into plain entries, and the TOML renderer for /etc/impermctl/config.toml.
#
# Needs only nixpkgs' `lib` (no `pkgs`), so the evaluation tests can run
# with the standalone nixpkgs.lib.
{ lib }:
let
  inherit (lib)
    attrNames
    attrValues
    concatMap
    concatMapStringsSep
    concatStringsSep
    filter
    foldl'
    hasPrefix
    head
    length
    optionalString
    replaceStrings
    sort
    take
    unique
    ;

  # ---------------------------------------------------------------- paths

  # [ "/home/alice/" "/.ssh" ] -> [ "home" "alice" ".ssh" ]
  splitPath = paths: filter (s: builtins.isString s && s != "") (concatMap (builtins.split "/") paths);

  # [ "/home/alice/" ".ssh" ] -> "/home/alice/.ssh" (absolute iff the first is)
  concatPaths =
    paths:
    let
      prefix = optionalString (paths != [ ] && hasPrefix "/" (toString (head paths))) "/";
    in
    prefix + concatStringsSep "/" (splitPath (map toString paths));

  # "/a/b/c" -> [ "/a" "/a/b" ] (top-down, without "/" and without the path)
  parentsOf =
    path:
    let
      parts = splitPath [ path ];
      prefix = optionalString (hasPrefix "/" path) "/";
      n = length parts;
    in
    if n < 2 then [ ] else map (i: prefix + concatStringsSep "/" (take i parts)) (lib.range 1 (n - 1));

  # Every element that occurs more than once, each reported once, in order.
  duplicates =
    list:
    let
      step =
        state: item:
        if builtins.elem item state.seen then
          state // { dups = state.dups ++ lib.optional (!(builtins.elem item state.dups)) item; }
        else
          state // { seen = state.seen ++ [ item ]; };
    in
    (foldl' step {
      seen = [ ];
      dups = [ ];
    } list).dups;

  # nixpkgs' `utils.pathsNeededForBoot` (nixos/lib/utils.nix): the paths
  # stage 1 mounts before switching root. Kept here so the module needs no
  # `utils` argument (the evaluation tests have none).
  pathsNeededForBoot = [
    "/"
    "/nix"
    "/nix/store"
    "/var"
    "/var/log"
    "/var/lib"
    "/var/lib/nixos"
    "/etc"
    "/usr"
  ];

  # ------------------------------------------------------------------ TOML

  # Control characters U+0001..U+001F and U+007F, built through fromJSON
  # because Nix has no other way to write them.
  hex = [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "a" "b" "c" "d" "e" "f" ];
  controlCodes =
    filter (c: c != "0000") (concatMap (hi: map (lo: "00${hi}${lo}") hex) [ "0" "1" ]) ++ [ "007f" ];
  named = {
    "0008" = "\\b";
    "0009" = "\\t";
    "000a" = "\\n";
    "000c" = "\\f";
    "000d" = "\\r";
  };
  controlChars = map (c: builtins.fromJSON "\"\\u${c}\"") controlCodes;
  controlEscapes = map (c: named.${c} or "\\u${lib.toUpper c}") controlCodes;

  # A TOML basic string: backslash, quote and every control character
  # escaped (TOML 1.0 §String). One left-to-right pass, so nothing is
  # escaped twice.
  tomlString =
    s: "\"" + replaceStrings ([ "\\" "\"" ] ++ controlChars) ([ "\\\\" "\\\"" ] ++ controlEscapes) s + "\"";

  tomlValue =
    v:
    if builtins.isBool v then
      (if v then "true" else "false")
    else if builtins.isInt v then
      toString v
    else if builtins.isString v || builtins.isPath v then
      tomlString (toString v)
    else if builtins.isList v then
      "[" + concatMapStringsSep ", " tomlValue v + "]"
    else if builtins.isAttrs v then
      # Inline table; keys are the module's own fixed, bare names, in the
      # order `_keys` gives (else alphabetical).
      let
        keys = v._keys or (attrNames v);
      in
      "{ " + concatMapStringsSep ", " (k: "${k} = ${tomlValue v.${k}}") keys + " }"
    else
      throw "impermctl: cannot render ${builtins.typeOf v} as TOML";

  # `key = value` lines in the order given by `keys`.
  # Keys whose value is null are left out.
  tomlPairs =
    keys: attrs:
    concatMapStringsSep "" (k: "${k} = ${tomlValue attrs.${k}}\n") (
      filter (k: (attrs.${k} or null) != null) keys
    );

  # The whole config file. `settings` = { layout, roots, watch } as built by
  # `settingsOf`; the key order is fixed so the output is stable.
  renderConfig =
    settings:
    let
      perms = p: {
        _keys = [ "user" "group" "mode" ];
        inherit (p) user group mode;
      };
      dir =
        d:
        "\n[[persistence.directories]]\n"
        + tomlPairs [ "path" "user" "group" "mode" "hide_mount" "allow_trash" "parent" "home" ] (
          d // { parent = perms d.parent; }
        );
      file =
        f: "\n[[persistence.files]]\n" + tomlPairs [ "path" "method" "parent" "home" ] (f // { parent = perms f.parent; });
      root =
        r:
        "\n[[persistence]]\n"
        + tomlPairs [ "path" "hide_mounts" "allow_trash" ] r
        + concatMapStringsSep "" dir r.directories
        + concatMapStringsSep "" file r.files;
    in
    ''
      # Generated by the impermctl NixOS module from environment.persistence
      # and services.impermctl. Do not edit: changes are lost on the next switch.
      version = 1

      [layout]
    ''
    + tomlPairs [ "ephemeral_root" "persistent_must_differ" "on_failure" ] settings.layout
    + concatMapStringsSep "" root settings.roots
    + "\n[watch]\n"
    + tomlPairs [ "ignore" "warn_every" "max_warnings_per_minute" "backend" ] settings.watch;

  # -------------------------------------------------- environment.persistence

  # Normalise `environment.persistence` (this module's or upstream
  # impermanence's: the entries carry the same attribute names) into
  # persistence roots with plain entries. `users` is `config.users.users`,
  # `homeManagerUsers` is `config.home-manager.users` (or {}).
  rootsOf =
    {
      persistence,
      users ? { },
      homeManagerUsers ? { },
    }:
    let
      locations = filter (l: l.enable or true) (map (n: persistence.${n}) (attrNames persistence));
      userLocations = l: map (u: l.users.${u}) (attrNames (l.users or { }));
      hmLocations = filter (l: l.enable or true) (
        concatMap (u: attrValues (homeManagerUsers.${u}.home.persistence or { })) (attrNames homeManagerUsers)
      );
      sources = concatMap (l: [ l ] ++ userLocations l) locations ++ hmLocations;

      # Home Manager leaves `group` null: the user's primary group.
      groupOf =
        user: group:
        if group != null then
          group
        else
          let
            g = users.${user}.group or "";
          in
          if g == "" then "users" else g;
      permsOf = user: p: {
        user = p.user or user;
        group = groupOf (p.user or user) (p.group or null);
        mode = p.mode or "0755";
      };

      dirEntry = d: {
        root = concatPaths [ d.persistentStoragePath ];
        path = d.dirPath;
        user = d.user;
        group = groupOf d.user d.group;
        inherit (d) mode;
        hide_mount = d.hideMount or false;
        allow_trash = d.allowTrash or false;
        parent = permsOf d.user (d.defaultPerms or { });
        home = d.home or null;
      };
      fileEntry = f: {
        root = concatPaths [ f.persistentStoragePath ];
        path = f.filePath;
        method = f.method or "auto";
        parent = permsOf (f.parentDirectory.user or "root") (f.parentDirectory or { });
        home = f.home or null;
      };

      directories = map dirEntry (concatMap (s: s.directories or [ ]) sources);
      files = map fileEntry (concatMap (s: s.files or [ ]) sources);

      rootPaths = sort (a: b: a < b) (unique (map (e: e.root) (directories ++ files)));
      locationFor = p: filter (l: concatPaths [ l.persistentStoragePath ] == p) locations;
      strip = e: removeAttrs e [ "root" ];
      mkRoot =
        p:
        let
          owners = locationFor p;
          first = if owners == [ ] then { } else head owners;
        in
        {
          path = p;
          hide_mounts = first.hideMounts or false;
          allow_trash = first.allowTrash or false;
          directories = map strip (filter (e: e.root == p) directories);
          files = map strip (filter (e: e.root == p) files);
        };
    in
    map mkRoot rootPaths;

  # ------------------------------------------------ the binary's config rules

  # The prefixes the binary refuses for entries (src/config/mod.rs
  # FORBIDDEN_PREFIXES): never on the ephemeral root.
  forbiddenPrefixes = [ "/nix" "/proc" "/sys" "/dev" "/run" ];
  # Roots: the same, except /nix (issue 11: "/nix/persist" is a real
  # persistent location on tmpfs-root machines).
  forbiddenRootPrefixes = [ "/proc" "/sys" "/dev" "/run" ];
  under = prefix: p: p == prefix || hasPrefix (prefix + "/") p;
  firstUnder = prefixes: p: lib.findFirst (f: under f p) null prefixes;
  hasDotDot = p: builtins.elem ".." (splitPath [ p ]);

  # The problems `impermctl verify --config` would report for the rendered
  # `roots` (as built by `rootsOf`), in the binary's words (src/config/
  # validate.rs, fields.rs), so that the module refuses at evaluation what
  # the binary would refuse at boot. Each is { message; fix; }.
  configProblems =
    roots:
    let
      rootPaths = map (r: r.path) roots;
      rootProblems =
        r:
        let
          p = r.path;
          bad = firstUnder forbiddenRootPrefixes p;
        in
        if p == "/" then
          [
            {
              message = "a persistence root cannot be `/` (that is the ephemeral root)";
              fix = "write the mount point of the persistent dataset, e.g. /persistent";
            }
          ]
        else if hasDotDot p then
          [ (dotDot p) ]
        else if bad != null then
          [
            {
              message = "${p} is under ${bad}, a virtual filesystem that is never persistent storage";
              fix = "write the mount point of the persistent dataset (or a directory on it), e.g. /persistent or /nix/persist";
            }
          ]
        else
          [ ];
      dotDot = p: {
        message = "`${p}` contains `..`";
        fix = "write the path without `..`";
      };
      entryProblems =
        e:
        let
          p = e.path;
          bad = firstUnder forbiddenPrefixes p;
          inside = filter (r: under r p) rootPaths;
          contains = filter (r: under p r && r != p) rootPaths;
        in
        if p == "/" then
          [
            {
              message = "`/` itself cannot be persisted";
              fix = "list the directories under / that hold state, e.g. /var/lib/foo";
            }
          ]
        else if hasDotDot p then
          [ (dotDot p) ]
        else if bad != null then
          [
            {
              message = "${p} is under ${bad}, which is never on the ephemeral root";
              fix = "remove this entry: /nix, /proc, /sys, /dev and /run are managed elsewhere";
            }
          ]
        else if inside != [ ] then
          [
            {
              message = "${p} is inside the persistence root ${head inside}";
              fix = "write the path as seen on /, not inside the persistence root";
            }
          ]
        else if contains != [ ] then
          [
            {
              message = "${p} contains the persistence root ${head contains}; binding it would hide ${head contains}";
              fix = "persist the directories under it instead, or move the persistence root elsewhere";
            }
          ]
        else
          [ ];
      entries = concatMap (r: r.directories ++ r.files) roots;
      # Normalised as the binary does (`.` dropped; `//` and trailing `/`
      # are already gone): `/var/./lib/q` and `/var/lib/q` are one path.
      dups = duplicates (map (e: normalPath e.path) entries);
      dupProblems = map (p: {
        message = "${p} is declared twice (after normalising the paths: `.` components, `//`, a trailing `/`)";
        fix = "keep only one declaration of ${p}";
      }) dups;
    in
    concatMap rootProblems roots
    ++ concatMap entryProblems entries
    ++ concatMap valueProblems entries
    ++ dupProblems;

  # "/var/./lib/q" -> "/var/lib/q"
  normalPath = p: "/" + concatStringsSep "/" (filter (c: c != ".") (splitPath [ p ]));

  # The binary's mode grammar (src/config/mode.rs, as `mkdir --mode`):
  # octal up to 5 digits and at most 07777, or comma-separated symbolic
  # clauses `[ugoa]*([-+=][rwxXst]*)+`.
  validMode =
    m:
    if builtins.match "[0-9]+" m != null then
      builtins.stringLength m <= 5 && builtins.match "0*[0-7]{1,4}" m != null
    else
      m != "" && lib.all (c: builtins.match "[ugoa]*([-+=][rwxXst]*)+" c != null) (lib.splitString "," m);

  # Rust's `char::is_control` (what the binary checks): C0, DEL and C1.
  c1Chars = map (c: builtins.fromJSON "\"\\u00${c}\"") (
    concatMap (hi: map (lo: "${hi}${lo}") hex) [ "8" "9" ]
  );
  hasControl = s: lib.any (c: lib.hasInfix c s) (controlChars ++ c1Chars);
  # A string as the binary shows it (src/names.rs `human`): `\n`, `\t`,
  # `\r`, a backslash doubled, other control characters `\xNN`.
  showEscaped =
    let
      codes = controlCodes ++ map (c: "00${c}") (concatMap (hi: map (lo: "${hi}${lo}") hex) [ "8" "9" ]);
      esc =
        c:
        {
          "0009" = "\\t";
          "000a" = "\\n";
          "000d" = "\\r";
        }
        .${c} or "\\x${builtins.substring 2 2 c}";
    in
    replaceStrings ([ "\\" ] ++ controlChars ++ c1Chars) ([ "\\\\" ] ++ map esc codes);
  # An owner the binary reads (src/config/fields.rs `owner`): not empty, no
  # whitespace, `:`, `/` or control character.
  validOwner = o: o != "" && builtins.match ".*[[:space:]:/].*" o == null && !hasControl o;

  # The value rules of one rendered entry: its path's characters and name
  # lengths, its modes and owners (its own and its parents').
  valueProblems =
    e:
    let
      p = e.path;
      long = filter (c: builtins.stringLength c > 255) (splitPath [ p ]);
      perms = lib.optional (e ? mode) { where = ""; inherit (e) user group mode; } ++ [
        ({ where = "parent "; } // e.parent)
      ];
      permProblems =
        q:
        lib.optional (!validMode q.mode) {
          message = "${p}: ${q.where}mode `${q.mode}` is not a mode";
          fix = "write an octal mode (\"0750\") or a symbolic one (\"u=rwx,g=rx,o=\")";
        }
        ++ concatMap (
          k:
          lib.optional (!validOwner q.${k}) {
            message = "${p}: ${q.where}${k} `${q.${k}}` is not a user or group name (empty, or with a space, `:`, `/` or a control character)";
            fix = "write the ${k}'s name or numeric id, e.g. \"root\"";
          }
        ) [ "user" "group" ];
    in
    lib.optional (hasControl p) {
      message = "`${showEscaped p}` contains a control character (shown escaped)";
      fix = "remove the control character (a newline, a tab…) from the path";
    }
    ++ map (c: {
      message = "${p}: the path component `${builtins.substring 0 40 c}…` is ${toString (builtins.stringLength c)} bytes long; Linux allows at most 255 bytes per name";
      fix = "shorten that name to 255 bytes or fewer";
    }) long
    ++ concatMap permProblems perms;
in
{
  inherit
    splitPath
    concatPaths
    parentsOf
    duplicates
    pathsNeededForBoot
    tomlString
    tomlValue
    renderConfig
    rootsOf
    configProblems
    normalPath
    validMode
    forbiddenPrefixes
    ;
}
