# The impermctl package: the binary built from the committed Cargo.lock,
# its systemd units (ExecStart pointing into $out), the D-Bus policy, the
# journal catalog, the man pages and shell completions.
#
#   pkgs.callPackage ./packaging/nix/package.nix { }
{
  lib,
  stdenv,
  rustPlatform,
  installShellFiles,
}:
let
  root = ../..;
  manifest = lib.importTOML (root + "/Cargo.toml");
  # Only what the build reads: a change to the docs, the tests' fixtures or
  # the Nix files does not rebuild the binary.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/Cargo.toml")
      (root + "/Cargo.lock")
      (root + "/src")
      (root + "/systemd")
      # Cargo reads the manifest's [[test]] targets even when not running them.
      (root + "/tests/integration")
      # The seed config the --lib tests include.
      (root + "/tests/fixtures/seed.toml")
    ];
  };
  # Rendering man pages and completions runs the built binary.
  canRun = stdenv.buildPlatform.canExecute stdenv.hostPlatform;
in
rustPlatform.buildRustPackage {
  pname = manifest.package.name;
  inherit (manifest.package) version;
  inherit src;

  cargoLock.lockFile = root + "/Cargo.lock";

  nativeBuildInputs = [ installShellFiles ];

  # The integration tests need root, mount namespaces and a real systemd;
  # the sandbox has none of them. The unit tests are pure.
  cargoTestFlags = [ "--lib" ];

  postInstall = ''
    shopt -s nullglob
    for unit in systemd/*.service systemd/*.socket systemd/*.timer systemd/*.target; do
      install -Dm644 "$unit" "$out/lib/systemd/system/$(basename "$unit")"
    done
    # Drop-ins for other units (e.g. systemd-machine-id-commit.service.d).
    for dropin in systemd/*.d; do
      install -Dm644 -t "$out/lib/systemd/system/$(basename "$dropin")" "$dropin"/*.conf
    done
    for unit in "$out"/lib/systemd/system/*.* "$out"/lib/systemd/system/*.d/*.conf; do
      [ -f "$unit" ] && substituteInPlace "$unit" --replace-quiet /usr/bin/impermctl "$out/bin/impermctl"
    done
    install -Dm644 systemd/io.github.Impermctl1.conf "$out/share/dbus-1/system.d/io.github.Impermctl1.conf"
    install -Dm644 systemd/impermctl.catalog "$out/lib/systemd/catalog/impermctl.catalog"
  ''
  + lib.optionalString canRun ''
    "$out/bin/impermctl" generate man man
    installManPage man/*
    "$out/bin/impermctl" generate completions completions
    installShellCompletion --cmd impermctl \
      --bash completions/impermctl.bash \
      --zsh completions/_impermctl \
      --fish completions/impermctl.fish
  '';

  meta = {
    inherit (manifest.package) description;
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "impermctl";
    platforms = lib.platforms.linux;
  };
}
