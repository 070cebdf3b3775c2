# The seed configuration of DESIGN.md, verbatim; ./impermanence is a
# symlink to the repository root, as a copy at /etc/nixos/impermanence.
{ imports = [ ./impermanence/nixos.nix ];
  environment.persistence."/persistent" = {
    hideMounts = true;
    directories = [ "/etc/nixos" "/var/log" "/var/lib/nixos" ];
    files = [ "/etc/machine-id" ];
  };
}
