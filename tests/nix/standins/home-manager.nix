# Stand-in for Home Manager's NixOS module (nix-community/home-manager
# nixos/common.nix): `home-manager.sharedModules` and `home-manager.users`,
# each user a submodule of the shared modules plus HM's own options
# (home.username, home.homeDirectory from users.users, assertions, which the
# NixOS module lifts into the system's as "<user> profile: …").
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  hmBase =
    { name, ... }:
    {
      options = {
        home.username = mkOption { type = types.str; };
        home.homeDirectory = mkOption { type = types.str; };
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
      };
      config = {
        home.username = config.users.users.${name}.name or name;
        home.homeDirectory = config.users.users.${name}.home or "/home/${name}";
      };
    };
in
{
  options.home-manager = {
    sharedModules = mkOption {
      type = types.listOf types.raw;
      default = [ ];
    };
    users = mkOption {
      type = types.attrsOf (
        types.submoduleWith {
          modules = [ hmBase ] ++ config.home-manager.sharedModules;
          shorthandOnlyDefinesConfig = true;
        }
      );
      default = { };
    };
  };
  config.assertions = lib.concatLists (
    lib.mapAttrsToList (
      user: hm:
      map (a: {
        inherit (a) assertion;
        message = "${user} profile: ${a.message}";
      }) hm.assertions
    ) config.home-manager.users
  );
}
