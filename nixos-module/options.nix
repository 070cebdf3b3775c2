# The option schema of `environment.persistence.<name>`, compatible with
# nix-community/impermanence (v2): the same option names, types, defaults,
# coercions (a string is `{ directory = …; }` / `{ file = …; }`), internal
# attributes (`dirPath`, `filePath`, `defaultPerms`, `home`) and the same
# errors for removed options.
#
# Returns the submodule type of one persistence location.
# `users` is `config.users.users`; it is only read for `users.<name>`
# entries (their home and primary group), and nothing `users.users` depends
# on is derived from here (impermanence I#179).
# `homeManager` = { user; home; } makes it the type of Home Manager's
# `home.persistence.<path>` (upstream v2's HM interface): the location's own
# entries are relative to `home`, owned by `user`, group null (the NixOS
# side resolves it to the user's primary group), and it has no `users`.
{
  lib,
  users,
  homeManager ? null,
}:
let
  inherit (lib) mkOption mkRemovedOptionModule types;
  inherit (types)
    attrsOf
    bool
    coercedTo
    enum
    listOf
    nullOr
    path
    str
    submodule
    unspecified
    ;
  helpers = import ./lib.nix { inherit lib; };

  removed =
    location: option: why:
    mkRemovedOptionModule [ option ] ''
      ▹ persistence."${location}":
          ${why}
    '';

  internalAssertions = mkOption {
    type = listOf unspecified;
    internal = true;
    default = [ ];
  };

  # Options every directory and file entry has. `ctx` describes where the
  # entry is declared (see `locationType` below).
  commonOptions = ctx: {
    persistentStoragePath = mkOption {
      type = path;
      default = ctx.loc.persistentStoragePath;
      defaultText = "environment.persistence.‹name›.persistentStoragePath";
      description = "The persistent storage where this entry's real data lives.";
    };
    home = mkOption {
      type = nullOr path;
      default = ctx.home;
      internal = true;
      description = "The home directory the entry is relative to (`users.<name>` entries).";
    };
    enableDebugging = mkOption {
      type = bool;
      default = ctx.loc.enableDebugging;
      defaultText = "environment.persistence.‹name›.enableDebugging";
      internal = true;
      description = "Verbose output from `impermctl boot`.";
    };
    assertions = internalAssertions;
  };

  permsOptions = ctx: {
    user = mkOption {
      type = str;
      default = ctx.defaultPerms.user;
      description = "Owner of the directory if it has to be created (only then).";
    };
    group = mkOption {
      type = nullOr str;
      default = ctx.defaultPerms.group;
      description = "Group of the directory if it has to be created (only then).";
    };
    mode = mkOption {
      type = str;
      default = ctx.defaultPerms.mode;
      example = "0700";
      description = ''
        Mode of the directory if it has to be created (only then): octal
        (`0750`) or symbolic (`u=rwx,g=rx,o=`), as `mkdir --mode` takes it.
      '';
    };
  };

  base = home: if home != null then home else "/";

  directoryType =
    ctx:
    submodule (
      { config, ... }:
      {
        imports = [
          (removed ctx.name "method" ''
            As real bind mounts are now used instead of bindfs, changing the directory linking
                method is deprecated.'')
        ];
        options = commonOptions ctx // {
          directory = mkOption {
            type = str;
            description = "The directory: absolute, or relative to the home for `users.<name>`.";
          };
          hideMount = mkOption {
            type = bool;
            default = ctx.loc.hideMounts;
            defaultText = "environment.persistence.‹name›.hideMounts";
            example = true;
            description = "Mark the bind mount `x-gvfs-hide` (hidden from file managers).";
          };
          allowTrash = mkOption {
            type = bool;
            default = ctx.loc.allowTrash;
            defaultText = "environment.persistence.‹name›.allowTrash";
            example = true;
            description = "Mark the bind mount `x-gvfs-trash` (GIO may trash files in it).";
          };
          user = (permsOptions ctx).user // {
            default = ctx.user;
          };
          group = (permsOptions ctx).group // {
            default = ctx.group;
          };
          mode = (permsOptions ctx).mode // {
            default = "0755";
          };
          defaultPerms = mkOption {
            type = submodule { options = permsOptions ctx; };
            default = { };
            internal = true;
            description = "Owner and mode of missing parent directories.";
          };
          dirPath = mkOption {
            type = path;
            internal = true;
            description = "The absolute path of the directory (read by community scripts).";
          };
        };
        config.dirPath = helpers.concatPaths [
          (base config.home)
          config.directory
        ];
      }
    );

  fileType =
    ctx:
    submodule (
      { config, ... }:
      {
        options = commonOptions ctx // {
          file = mkOption {
            type = str;
            description = "The file: absolute, or relative to the home for `users.<name>`.";
          };
          parentDirectory = mkOption {
            type = submodule {
              options = permsOptions ctx // {
                directory = mkOption {
                  type = str;
                  internal = true;
                };
                dirPath = mkOption {
                  type = path;
                  internal = true;
                };
                persistentStoragePath = mkOption {
                  type = path;
                  internal = true;
                };
                home = mkOption {
                  type = nullOr path;
                  internal = true;
                };
              };
            };
            default = { };
            example = {
              mode = "u=rwx,g=,o=";
            };
            description = "Owner and mode of the file's parent directories if they have to be created.";
          };
          method = mkOption {
            type = enum [
              "auto"
              "symlink"
              "copy"
            ];
            default = "auto";
            description = ''
              `auto`: bind-mount the persistent file when it exists, else
              symlink to it (`/etc/machine-id`: seed `uninitialized` and bind).
              `symlink`: always a symlink.
              `copy`: copied in at boot, saved back when it changes and at
              shutdown (for files replaced by rename: /etc/shadow, SSH host keys).
            '';
          };
          filePath = mkOption {
            type = path;
            internal = true;
            description = "The absolute path of the file (read by community scripts).";
          };
        };
        config = {
          filePath = helpers.concatPaths [
            (base config.home)
            config.file
          ];
          parentDirectory = {
            directory = dirOf config.file;
            dirPath = helpers.concatPaths [
              (base config.home)
              (dirOf config.file)
            ];
            inherit (config) persistentStoragePath home;
          };
        };
      }
    );

  entryLists = ctx: {
    directories = mkOption {
      type = listOf (coercedTo str (d: { directory = d; }) (directoryType ctx));
      default = [ ];
      example = [
        "/var/log"
        "/var/lib/nixos"
        {
          directory = "/var/lib/colord";
          user = "colord";
          group = "colord";
          mode = "u=rwx,g=rx,o=";
        }
      ];
      description = "Directories to bind-mount from persistent storage.";
    };
    files = mkOption {
      type = listOf (coercedTo str (f: { file = f; }) (fileType ctx));
      default = [ ];
      example = [
        "/etc/machine-id"
        {
          file = "/etc/nix/id_rsa";
          parentDirectory.mode = "u=rwx,g=,o=";
        }
      ];
      description = "Files to bind-mount (or symlink) from persistent storage.";
    };
    assertions = internalAssertions;
  };

  # The entries of `users.<user>`: relative to the user's home, owned by the
  # user and their primary group; a missing home is created with the user,
  # the group and mode 0700, missing directories inside it with mode 0755.
  userType =
    location: loc:
    submodule (
      { name, ... }:
      let
        u = users.${name} or { };
        group = if (u.group or "") == "" then "users" else u.group;
        ctx = {
          inherit loc group;
          name = location;
          user = name;
          home = u.home or "/home/${name}";
          # As impermanence: parents inside the home 0755; the home itself is
          # created 0700 by impermctl (the rendered `home` key).
          defaultPerms = {
            user = name;
            inherit group;
            mode = "0755";
          };
        };
      in
      {
        imports = [ (removed location "home" "The home directory is now automatically deduced, rendering this option useless.") ];
        options = entryLists ctx;
      }
    );

  locationType = submodule (
    { name, config, ... }:
    let
      owner =
        if homeManager == null then
          {
            home = null;
            user = "root";
            group = "root";
          }
        else
          {
            inherit (homeManager) home user;
            group = null;
          };
      ctx = {
        inherit name;
        loc = config;
        inherit (owner) home user group;
        defaultPerms = {
          inherit (owner) user group;
          mode = "0755";
        };
      };
    in
    {
      imports = [
        (removed name "allowOther" "As real bind mounts are now used instead of bindfs, `allowOther' is no longer needed.")
        (removed name "removePrefixDirectory" ''
          The use of prefix directories is deprecated and the functionality has been removed.
              If you depend on this functionality, use the `home-manager-v1' branch.'')
        (removed name "defaultDirectoryMethod" ''
          As real bind mounts are now used instead of bindfs, changing the default directory linking
              method is deprecated.'')
      ];
      options = entryLists ctx // {
        enable = mkOption {
          type = bool;
          default = true;
          description = "Whether to use this persistent storage location.";
        };
        persistentStoragePath = mkOption {
          type = path;
          default = name;
          defaultText = "‹name›";
          description = "Where the real files and directories are stored.";
        };
        hideMounts = mkOption {
          type = bool;
          default = false;
          example = true;
          description = "Default of `hideMount` for this location's directories (`x-gvfs-hide`).";
        };
        allowTrash = mkOption {
          type = bool;
          default = false;
          example = true;
          description = "Default of `allowTrash` for this location's directories (`x-gvfs-trash`).";
        };
        enableDebugging = mkOption {
          type = bool;
          default = false;
          internal = true;
          description = "Run `impermctl boot` verbosely. Only needed when asked to.";
        };
        enableWarnings = mkOption {
          type = bool;
          default = true;
          description = "Enable non-critical warnings (today: /var/lib/nixos not persisted).";
        };
        users = lib.mkOption {
          visible = homeManager == null;
          type = attrsOf (userType name config);
          default = { };
          example = {
            alice.directories = [
              "Documents"
              {
                directory = ".ssh";
                mode = "0700";
              }
            ];
            alice.files = [ ".screenrc" ];
          };
          description = ''
            Per user: files and directories relative to the user's home,
            owned by the user and their primary group.
          '';
        };
      };
    }
  );
in
locationType
