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
  rustc ? rustPlatform.rust.rustc or null,
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
  # Cargo.toml's rust-version (clippy's MSRV lints check it) against the
  # rustc this nixpkgs builds with; the NixOS module turns a mismatch into
  # an assertion that says which Rust and NixOS release are needed.
  minimumRustVersion = manifest.package.rust-version;
  rustcVersion = if rustc == null then null else rustc.version or null;
  rustTooOld = rustcVersion != null && lib.versionOlder rustcVersion minimumRustVersion;
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
    # The NixOS module renders what depends on the configuration: the
    # persistence roots (RequiresMountsFor) and, only when /etc/machine-id is
    # persisted, the systemd-machine-id-commit drop-in (the drop-in
    # directories under systemd/ are for the Debian package).
    sed -i '/^RequiresMountsFor=/d' "$out/lib/systemd/system/impermctl-boot.service"
    for unit in "$out"/lib/systemd/system/*.*; do
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

  passthru = { inherit minimumRustVersion rustcVersion; };

  meta = {
    broken = rustTooOld;
    inherit (manifest.package) description;
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "impermctl";
    platforms = lib.platforms.linux;
  };
}
