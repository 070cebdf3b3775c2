# impermctl's NixOS module: `environment.persistence` (impermanence's
# interface, ./persistence.nix) served by `services.impermctl`
# (./impermctl.nix). For use next to upstream impermanence import only
# ./impermctl.nix (flake output `nixosModules.auditOnly`).
{
  imports = [
    ./persistence.nix
    ./impermctl.nix
  ];
}
