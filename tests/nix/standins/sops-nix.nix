# Stand-in for sops-nix's NixOS module (Mic92/sops-nix modules/sops): the
# options impermctl reads and the snippets/units it defines, with their
# names, deps and conditions (default.nix, secrets-for-users/default.nix).
{ config, lib, ... }:
let
  cfg = config.sops;
  forUsers = lib.filterAttrs (_: v: v.neededForUsers or false) cfg.secrets;
  regular = lib.filterAttrs (_: v: !(v.neededForUsers or false)) cfg.secrets;
  sysusersOrUserborn = config.systemd.sysusers.enable || config.services.userborn.enable;
  useSystemdActivation = cfg.useSystemdActivation || sysusersOrUserborn;
in
{
  options.sops = {
    secrets = lib.mkOption {
      type = lib.types.attrsOf lib.types.unspecified;
      default = { };
    };
    useSystemdActivation = lib.mkOption {
      type = lib.types.bool;
      default = false;
    };
    age.generateKey = lib.mkOption {
      type = lib.types.bool;
      default = false;
    };
  };
  config = lib.mkIf (cfg.secrets != { }) {
    systemd.services.sops-install-secrets = lib.mkIf (regular != { } && useSystemdActivation) {
      wantedBy = [ "sysinit.target" ];
      after = [ "systemd-sysusers.service" ];
      unitConfig.DefaultDependencies = "no";
      serviceConfig.Type = "oneshot";
    };
    systemd.services.sops-install-secrets-for-users = lib.mkIf (forUsers != { } && sysusersOrUserborn) {
      wantedBy = [ "systemd-sysusers.service" ];
      before = [ "systemd-sysusers.service" ];
      unitConfig.DefaultDependencies = "no";
      serviceConfig.Type = "oneshot";
    };
    system.activationScripts = {
      setupSecrets = lib.mkIf (regular != { } && !useSystemdActivation) {
        text = "# sops-install-secrets";
        deps = [
          "specialfs"
          "users"
          "groups"
        ] ++ lib.optional cfg.age.generateKey "generate-age-key";
      };
      generate-age-key = lib.mkIf cfg.age.generateKey {
        text = "# age-keygen -o /var/lib/sops-nix/key.txt";
        deps = [ ];
      };
      setupSecretsForUsers = lib.mkIf (forUsers != { } && !sysusersOrUserborn) {
        text = "# sops-install-secrets -ignore-passwd";
        deps = [ "specialfs" ] ++ lib.optional cfg.age.generateKey "generate-age-key";
      };
      users = lib.mkIf (forUsers != { } && !sysusersOrUserborn) { deps = [ "setupSecretsForUsers" ]; };
    };
  };
}
