# Home Manager's `home.persistence.<path>`: upstream impermanence v2's HM
# interface (same schema as `environment.persistence.<path>.users.<name>`:
# entries relative to home.homeDirectory, owned by home.username, group left
# null for the NixOS side to resolve). It mounts nothing itself: ./persistence.nix
# adds this module through `home-manager.sharedModules` and merges every
# enabled `home-manager.users.<name>.home.persistence` into the entries
# `impermctl boot` binds (lib.nix `rootsOf`).
{ config, lib, ... }:
let
  inherit (lib) attrValues concatMap filter hasInfix mkOption types;
  home = config.home.homeDirectory;
  location = import ./options.nix {
    inherit lib;
    users = { };
    homeManager = {
      inherit home;
      user = config.home.username;
    };
  };
  locations = filter (l: l.enable) (attrValues config.home.persistence);
  entries = concatMap (l: l.directories ++ l.files) locations;
in
{
  options.home.persistence = mkOption {
    type = types.attrsOf location;
    default = { };
    example = lib.literalExpression ''{ "/persistent".directories = [ ".ssh" "Documents" ]; }'';
    description = ''
      Persistent storage locations for this user (nix-community/impermanence's
      Home Manager interface, served by impermctl): `directories` and `files`
      relative to the home directory, bound by `impermctl boot` with the
      system's entries.
    '';
  };

  config.assertions =
    map (l: {
      assertion = !(hasInfix home (toString l.persistentStoragePath));
      message = ''
        home.persistence."${l.persistentStoragePath}": persistentStoragePath must be the
            storage root (e.g. "/persistent"), not a path that contains the home directory
            ${home}: entries are placed under <root>${home} already.
      '';
    }) locations
    ++ concatMap (e: e.assertions) entries;
}
