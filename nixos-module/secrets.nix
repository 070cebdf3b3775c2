# Secrets tools that decrypt with keys impermctl binds (the SSH host keys in
# a persisted /etc/ssh, sops-nix's age key file): their activation snippets
# and units run after impermctl's binds.
#
# Names and conditions as the tools define them:
# - agenix (ryantm/agenix modules/age.nix, when age.secrets != {}):
#   snippets agenixNewGeneration, agenixInstall (decrypts; `users` depends
#   on it), agenixChown, agenix.
# - sops-nix (Mic92/sops-nix modules/sops): snippets setupSecrets (regular
#   secrets, unless systemd activation), setupSecretsForUsers (neededForUsers
#   secrets, unless sysusers/userborn), generate-age-key (age.generateKey);
#   units sops-install-secrets.service (systemd activation: useSystemdActivation,
#   sysusers or userborn) and sops-install-secrets-for-users.service (before
#   systemd-sysusers.service).
#
# impermanence's workaround `agenixInstall.deps = [ "persist-files" ]` keeps
# working: persist-files and createPersistentStorageDirs depend on nothing
# but impermctl-boot here, so it adds no cycle.
#
# Returns { inActivation; ordering = snippet: <module config>; }.
{
  config,
  lib,
  options,
}:
let
  inherit (lib) filterAttrs mkDefault mkIf optionalAttrs;
  cfg = config.services.impermctl;

  sysusersOrUserborn = (config.systemd.sysusers.enable or false) || (config.services.userborn.enable or false);

  agenix = options ? age && options.age ? secrets && config.age.secrets != { };

  sops = options ? sops && options.sops ? secrets && config.sops.secrets != { };
  sopsSecrets = if sops then config.sops.secrets else { };
  sopsForUsers = filterAttrs (_: s: s.neededForUsers or false) sopsSecrets;
  sopsRegular = filterAttrs (_: s: !(s.neededForUsers or false)) sopsSecrets;
  sopsSystemd = sops && ((config.sops.useSystemdActivation or false) || sysusersOrUserborn);

  snippets = {
    agenixInstall = agenix;
    setupSecrets = sopsRegular != { } && !sopsSystemd;
    setupSecretsForUsers = sopsForUsers != { } && !sysusersOrUserborn;
    generate-age-key = sops && (config.sops.age.generateKey or false);
  };
  units = {
    sops-install-secrets = sopsRegular != { } && sopsSystemd;
    sops-install-secrets-for-users = sopsForUsers != { } && sysusersOrUserborn;
  };
  active = lib.attrNames (filterAttrs (_: on: on) snippets);
in
{
  inActivation = active != [ ];

  ordering =
    snippet:
    mkIf (cfg.enable && cfg.mount) {
      # After impermctl-boot (the tools define the text; `text` here only
      # keeps a stray name harmless should a condition drift).
      system.activationScripts = mkIf snippet (
        lib.genAttrs active (_: {
          deps = [ "impermctl-boot" ];
          text = mkDefault "";
        })
      );
      systemd.services = lib.mapAttrs (
        _: on:
        mkIf on {
          after = [ "impermctl-boot.service" ];
          wants = [ "impermctl-boot.service" ];
        }
      ) units;
    };
}
