{
  description = "impermctl: make an ephemeral-root NixOS system safe to live on";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      package = pkgs: pkgs.callPackage ./packaging/nix/package.nix { };
    in
    {
      packages = forAllSystems (pkgs: {
        impermctl = package pkgs;
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.impermctl;
      });

      overlays.default = final: _prev: { impermctl = package final; };

      # `default` (alias `impermanence`): environment.persistence served by
      # impermctl, a drop-in for nix-community/impermanence.
      # `auditOnly`: services.impermctl alone, next to upstream impermanence
      # (it verifies, watches and diffs; impermanence mounts).
      # Both take the package from `pkgs.impermctl` (the overlay) or build it.
      nixosModules = {
        default = ./nixos-module;
        impermanence = ./nixos-module;
        auditOnly = ./nixos-module/impermctl.nix;
      };

      checks = forAllSystems (
        pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
          cases = import ./tests/nix/cases.nix { libPath = nixpkgs + "/lib"; };
          # A real NixOS evaluation and build: the seed configuration in a
          # container (the vpsFree shape: no initrd).
          seedContainer = lib.nixosSystem {
            inherit system;
            modules = [
              ./tests/nix/seed/configuration.nix
              {
                boot.isContainer = true;
                system.stateVersion = lib.trivial.release;
              }
            ];
          };
        in
        {
          package = self.packages.${system}.impermctl;
          nixos-module-eval =
            if lib.hasInfix "FAIL" cases.report then
              throw "impermctl NixOS module tests failed:\n${cases.report}"
            else
              pkgs.writeText "impermctl-nixos-module-eval" cases.report;
          nixos-seed-container = seedContainer.config.system.build.toplevel;
        }
      );
    };
}
