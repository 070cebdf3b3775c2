# Stand-in for agenix's NixOS module (ryantm/agenix modules/age.nix): the
# option it is detected by and its activation snippets, with its names,
# deps and its `users.deps`, as age.nix defines them when age.secrets != {}.
{ config, lib, ... }:
{
  options.age.secrets = lib.mkOption {
    type = lib.types.attrsOf lib.types.unspecified;
    default = { };
  };
  config = lib.mkIf (config.age.secrets != { }) {
    system.activationScripts = {
      agenixNewGeneration = {
        text = "# agenix: new generation in /run/agenix.d";
        deps = [ "specialfs" ];
      };
      agenixInstall = {
        text = "# agenix: decrypt with /etc/ssh/ssh_host_ed25519_key";
        deps = [
          "agenixNewGeneration"
          "specialfs"
        ];
      };
      users.deps = [ "agenixInstall" ];
      agenixChown = {
        text = "# agenix: chown";
        deps = [
          "users"
          "groups"
        ];
      };
      agenix = {
        text = "";
        deps = [ "agenixChown" ];
      };
    };
  };
}
