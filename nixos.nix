# Drop-in for nix-community/impermanence: a copy of this repository at
# /etc/nixos/impermanence serves `imports = [ ./impermanence/nixos.nix ];`.
import ./nixos-module/default.nix
