# The corpus of the "module and binary agree" property (issues 11.2, 16.1):
# each configuration is evaluated, and tests/nix/run.sh passes its rendered
# config.toml through `impermctl verify --config`. Either the binary accepts
# the file and the module has no failed assertion, or the binary refuses it
# and the module's failed assertions carry the binary's explanation.
#
# `pending` names the binary-side change a case waits for: until it lands,
# run.sh reports the disagreement as "pending" instead of failing (the
# case stays in the corpus, and passes once the validator accepts it).
{ lib, eval, full }:
let
  # Containers: no neededForBoot assertions, so only the config rules speak.
  container = {
    boot.isContainer = true;
  };
  case = pending: modules: {
    inherit pending;
    config = eval ([
      full
      container
    ] ++ modules);
  };
  # The seed imports the module itself (./impermanence/nixos.nix).
  seedCase = {
    pending = null;
    config = eval [
      ./seed/configuration.nix
      container
    ];
  };
  ok = case null;
  persist = attrs: { environment.persistence."/persistent" = attrs; };
  alice = {
    users.users.alice.isNormalUser = true;
  };
in
{
  seed = seedCase;
  seed-with-users = ok [
    alice
    {
      users.users.bob = {
        home = "/srv/bob";
        group = "staff";
      };
      users.groups.staff = { };
    }
    (persist {
      hideMounts = true;
      directories = [ "/var/lib/nixos" ];
      users.alice.directories = [
        ".ssh"
        {
          directory = ".local/share/keyrings";
          mode = "0700";
        }
      ];
      users.alice.files = [ ".bash_history" ];
      users.bob.files = [ ".screenrc" ];
      # A user that users.users does not declare: home /home/carol.
      users.carol.directories = [ "Documents" ];
      users.root.directories = [ ".cache/nix" ];
    })
  ];
  multi-root-modes-methods = ok [
    (persist {
      directories = [
        {
          directory = "/var/lib/postgresql";
          user = "postgres";
          group = "postgres";
          mode = "u=rwx,g=rx,o=";
        }
      ];
      files = [
        {
          file = "/etc/nix/id_rsa";
          method = "symlink";
          parentDirectory.mode = "u=rwx,g=,o=";
        }
      ];
    })
    { environment.persistence."/data".directories = [ "/srv/www" ]; }
  ];
  # method = "copy" (issue 12): files replaced by rename, saved back by
  # impermctl-sync.service.
  copy-method-files = ok [
    alice
    (persist {
      files = [
        {
          file = "/etc/shadow";
          method = "copy";
        }
        "/etc/machine-id"
      ];
      users.alice.files = [
        {
          file = ".bash_history";
          method = "copy";
        }
      ];
    })
  ];
  files-with-spaces-and-quotes = ok [
    (persist {
      files = [
        "/root/.config/My Tool/settings.json"
        "/etc/\"quoted\" name"
      ];
    })
  ];
  files-under-directories = ok [
    alice
    (persist {
      directories = [ "/var/lib/app" ];
      files = [ "/var/lib/app/app.conf" ];
      users.alice.directories = [ ".config" ];
      users.alice.files = [ ".config/tool/settings" ];
    })
  ];
  relative-system-paths-are-normalised = ok [
    (persist {
      directories = [
        "var/lib/foo"
        "/var//lib/bar/"
      ];
    })
  ];

  layout-btrfs-rollback = {
    pending = null;
    config = eval [
      full
      {
        fileSystems."/" = {
          device = "/dev/vda2";
          fsType = "btrfs";
        };
        fileSystems."/persistent" = {
          device = "/dev/vda2";
          fsType = "btrfs";
          neededForBoot = true;
        };
      }
      (persist { directories = [ "/var/log" ]; })
    ];
  };
  home-manager-users = ok [
    ./standins/home-manager.nix
    alice
    (persist { directories = [ "/var/lib/nixos" ]; })
    {
      home-manager.users.alice.home.persistence."/persistent" = {
        directories = [ ".ssh" ];
        files = [ ".bash_history" ];
      };
    }
  ];

  # The inputs of issue 11 the validator accepts (since its validator change).
  root-under-nix = ok [
    { environment.persistence."/nix/persist".directories = [ "/var/lib/nixos" "/etc/nixos" ]; }
  ];
  nested-roots = ok [
    alice
    { environment.persistence."/persist".directories = [ "/var/log" ]; }
    { environment.persistence."/persist/home".users.alice.directories = [ ".ssh" ]; }
  ];
  entry-storage-path-inside-another-root = ok [
    (persist {
      directories = [
        "/var/log"
        {
          directory = "/srv";
          persistentStoragePath = "/persistent/srv-data";
        }
      ];
    })
  ];
  user-whose-home-is-slash = ok [
    { users.users.svc.home = "/"; }
    (persist { users.svc.directories = [ "srv/data" ]; })
  ];
  user-whose-home-is-var-empty = ok [
    { users.users.nobody2.home = "/var/empty"; }
    (persist { users.nobody2.files = [ ".cache/state" ]; })
  ];
  whole-home-of-a-user = ok [
    alice
    (persist { users.alice.directories = [ "/" ]; })
  ];

  # Really invalid: the module refuses with the binary's explanation.
  entry-under-proc = ok [ (persist { directories = [ "/proc/sys/kernel" ]; }) ];
  entry-under-nix = ok [ (persist { directories = [ "/nix/var/nix/profiles" ]; }) ];
  entry-under-run = ok [ (persist { files = [ "/run/agenix.key" ]; }) ];
  root-is-slash = ok [ { environment.persistence."/".directories = [ "/var/log" ]; } ];
  root-under-run = ok [ { environment.persistence."/run/persist".directories = [ "/var/log" ]; } ];
  system-entry-is-slash = ok [ (persist { directories = [ "/" ]; }) ];
  entry-inside-root = ok [ (persist { directories = [ "/persistent/var/log" ]; }) ];
  entry-contains-root = ok [
    { environment.persistence."/data/persist".directories = [ "/data" ]; }
  ];
  entry-with-dot-dot = ok [ (persist { directories = [ "/var/lib/../log" ]; }) ];
  duplicate-directory = ok [
    (persist {
      directories = [
        "/var/log"
        "/var/log/"
      ];
    })
  ];
  duplicate-file-across-roots = ok [
    (persist { files = [ "/etc/machine-id" ]; })
    { environment.persistence."/other".files = [ "/etc/machine-id" ]; }
  ];

  # Trial s5, finding 1: entries the binary refuses; the module must refuse
  # them at evaluation (before: rendered, then `boot` refused them).
  mode-not-octal = ok [
    (persist {
      directories = [
        {
          directory = "/var/lib/x";
          mode = "999";
        }
      ];
    })
  ];
  mode-symbolic-with-a-bare-clause = ok [
    (persist {
      directories = [
        {
          directory = "/var/lib/x";
          mode = "u=rwx,g=rx,o=,x";
        }
      ];
    })
  ];
  parent-mode-not-a-mode = ok [
    (persist {
      files = [
        {
          file = "/etc/app/key";
          parentDirectory.mode = "rwxr-x---";
        }
      ];
    })
  ];
  modes-the-binary-accepts = ok [
    (persist {
      directories = [
        {
          directory = "/var/lib/a";
          mode = "0700";
        }
        {
          directory = "/var/lib/b";
          mode = "1777";
        }
        {
          directory = "/var/lib/c";
          mode = "a+rX,u+w-s";
        }
        {
          directory = "/var/lib/d";
          mode = "=rx";
        }
        {
          directory = "/var/lib/e";
          mode = "00750";
        }
      ];
    })
  ];
  path-with-a-newline = ok [ (persist { directories = [ "/var/lib/nl\nx" ]; }) ];
  path-with-a-tab = ok [ (persist { files = [ "/etc/a\tb" ]; }) ];
  path-with-a-c1-control = ok [ (persist { files = [ "/etc/a${builtins.fromJSON "\"\\u0085\""}b" ]; }) ];
  path-with-a-c0-control-and-backslash = ok [
    (persist { directories = [ "/srv/a\\b${builtins.fromJSON "\"\\u0001\""}c" ]; })
  ];
  path-with-non-ascii-letters = ok [ (persist { directories = [ "/srv/naïve/日本" ]; }) ];
  name-over-255-bytes = ok [
    (persist { directories = [ "/var/lib/${lib.concatStrings (lib.replicate 300 "n")}" ]; })
  ];
  name-of-255-bytes = ok [
    (persist { directories = [ "/var/lib/${lib.concatStrings (lib.replicate 255 "n")}" ]; })
  ];
  empty-user = ok [
    (persist {
      directories = [
        {
          directory = "/var/lib/z";
          user = "";
        }
      ];
    })
  ];
  empty-parent-group = ok [
    (persist {
      files = [
        {
          file = "/etc/app/key";
          parentDirectory.group = "";
        }
      ];
    })
  ];
  duplicate-after-dot = ok [
    (persist {
      directories = [
        "/var/./lib/q"
        "/var/lib/q"
      ];
    })
  ];
  duplicate-after-dot-across-kinds = ok [
    (persist {
      directories = [ "/etc/./app" ];
      files = [ "/etc/app/" ];
    })
  ];
  # Trial s5, finding 11: upstream's meaning kept (with a warning, cases.nix).
  user-entry-written-absolute = ok [
    alice
    (persist { users.alice.directories = [ "/home/alice/x" ]; })
  ];
}
