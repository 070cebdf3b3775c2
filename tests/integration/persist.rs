//! `impermctl persist` on live vpsFree-like layouts: data moved with its
//! metadata and bound back, writers refused, dry runs, refusals, reruns
//! after every kind of interruption, and SIGKILL at random points.

use crate::require_root;
use crate::util::{Layout, assert_code, in_vps, stderr, stdout};

/// The test config and a small tree with metadata to preserve.
const SETUP: &str = r#"
cat > "$CFG" <<'EOF'
version = 1
[[persistence]]
path = "/persistent"
EOF
F="$R/var/lib/foo"
mkdir -p "$F/sub" "$F/empty"
printf 'data\n' > "$F/sub/file"
chown 1234:5678 "$F/sub/file"; chmod 640 "$F/sub/file"
setfattr -n user.x -v y "$F/sub/file"
ln "$F/sub/file" "$F/hardlink"
ln -s ../hardlink "$F/sub/link"
touch -h -d @1500000000.123456789 "$F/sub/file" "$F/sub/link"
chmod 2770 "$F/sub"
touch -d @1400000000.5 "$F/sub"
mounts() { findmnt -rn -o TARGET | sort; }
"#;

pub fn run(layout: &Layout, body: &str) -> std::process::Output {
    in_vps(layout, &format!("{SETUP}\n{body}"))
}

#[test]
fn persist_moves_the_data_and_binds_it_back() {
    require_root!();
    moves_and_binds(&Layout::default());
}

#[test]
fn persist_moves_the_data_and_binds_it_back_in_an_unprivileged_container() {
    require_root!();
    moves_and_binds(&Layout {
        userns: true,
        ..Layout::default()
    });
}

fn moves_and_binds(layout: &Layout) {
    let o = run(
        layout,
        r#"
imp persist /var/lib/foo
P="$R/persistent/var/lib/foo"
echo "meta=$(stat -c '%u:%g %a %h %.9Y' "$P/sub/file")"
echo "dir=$(stat -c '%a %.9Y' "$P/sub")"
echo "link=$(readlink "$P/sub/link") $(stat -c '%.9Y' "$P/sub/link")"
echo "xattr=$(getfattr --only-values -n user.x "$P/sub/file")"
echo "source=$(findmnt -n -o SOURCE --mountpoint "$F")"
[ "$(stat -c %d "$F")" = "$(stat -c %d "$R/persistent")" ] && echo "same-dev=yes"
echo new > "$F/written-after"
[ -f "$P/written-after" ] && echo "writes-land-in-persistent=yes"
grep -q '"/var/lib/foo"' "$R/run/impermctl/persisted.json" && echo "recorded=yes"
echo "status-before: $(imp status 2>&1 | grep -A1 '^  dir  /var/lib/foo ')"
echo "status-json: $(imp status --json 2>/dev/null | python3 -c 'import json,sys; print([(r["path"], r["declared"]) for r in json.load(sys.stdin)["persisted"]])')"
rc=0; imp persist /var/lib/foo/sub 2>"$R/err" || rc=$?; echo "nested-rc=$rc $(cat "$R/err")"
echo "--- rerun"
imp persist /var/lib/foo
imp persist --json /var/lib/foo
printf '[[persistence.directories]]\npath = "/var/lib/foo"\n' >> "$CFG"
rc=0; imp persist /var/lib/foo 2>"$R/err" || rc=$?; echo "declared-rc=$rc $(cat "$R/err")"
echo "status-after: $(imp status 2>&1 | grep -c 'not in the config yet')"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    for want in [
        "persisted /var/lib/foo: copied",
        "  # into directories = [ … ]:\n    \"/var/lib/foo\"\n",
        "[[persistence.directories]]\n  path = \"/var/lib/foo\"",
        "meta=1234:5678 640 2 1500000000.123456789",
        "dir=2770 1400000000.500000000",
        "link=../hardlink 1500000000.123456789",
        "xattr=y",
        "source=tank/ct/101[/var/lib/foo]",
        "same-dev=yes",
        "writes-land-in-persistent=yes",
        "recorded=yes",
        "status-before:   dir  /var/lib/foo                 bound from /persistent/var/lib/foo; not in the config yet: lost at the next boot unless added:\n       \"/var/lib/foo\"  # into environment.persistence.\"/persistent\".directories = [ … ]",
        "status-json: [('/var/lib/foo', False)]",
        "status-after: 0",
        "/var/lib/foo: already persisted",
        "nested-rc=2",
        "declared-rc=2 impermctl: refusing to persist /var/lib/foo: /var/lib/foo is already persisted: declared in",
        "is already persisted: it is inside /var/lib/foo",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        );
    }
    let json = &out[out.find("{\n").unwrap()..out.find("declared-rc").unwrap()];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["kind"], "Persist");
    assert_eq!(v["paths"][0]["action"], "done");
    assert_eq!(v["paths"][0]["source"], "/persistent/var/lib/foo");
    assert!(
        v["paths"][0]["nix"]
            .as_str()
            .unwrap()
            .contains("directories")
    );
}

#[test]
fn persist_moves_a_single_file() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
printf '0.0 0 0.0\n0\nUTC\n' > "$R/etc/adjtime"; chmod 600 "$R/etc/adjtime"
imp persist --dry-run /etc/adjtime
imp persist --dry-run --json /etc/adjtime | tr -d ' \n'; echo
[ ! -e "$R/persistent/etc" ] && echo "dry-run-untouched=yes"
imp persist /etc/adjtime
findmnt -n --mountpoint "$R/etc/adjtime" >/dev/null && echo "file-bound=yes"
echo "persistent=$(stat -c %a "$R/persistent/etc/adjtime") $(stat -c %a "$R/persistent/etc")"
echo "+1" >> "$R/etc/adjtime"; grep -q '+1' "$R/persistent/etc/adjtime" && echo "through=yes"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    for want in [
        "would copy /etc/adjtime (1 entry, 16 B)",
        r#""kind":"Persist","dry_run":true,"paths":[{"path":"/etc/adjtime","type":"file""#,
        r#""action":"copy""#,
        "dry-run-untouched=yes",
        "file-bound=yes",
        "persistent=600 755",
        "through=yes",
        "  # into files = [ … ]:\n    \"/etc/adjtime\"\n",
        "[[persistence.files]]",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        );
    }
}

#[test]
fn persist_refuses_while_a_process_writes_there_and_force_proceeds() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
( exec 3>>"$F/sub/log"; exec sleep 60 ) &
W=$!
for i in $(seq 50); do [ -e "/proc/$W/fd/3" ] && break; sleep 0.05; done
echo "writer=$W"
before="$(mounts; ls -A "$R/persistent")"
rc=0; imp persist /var/lib/foo 2>"$R/err" || rc=$?
echo "refused-rc=$rc"; cat "$R/err"
rc=0; imp persist --dry-run --force /var/lib/foo || rc=$?
echo "dry-rc=$rc"
[ "$before" = "$(mounts; ls -A "$R/persistent")" ] && echo "unchanged=yes"
imp persist --force /var/lib/foo
findmnt -n --mountpoint "$F" >/dev/null && echo "mounted=yes"
kill $W
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    let pid = out.lines().find_map(|l| l.strip_prefix("writer=")).unwrap();
    for want in [
        "refused-rc=2".to_string(),
        format!("pid {pid} (sleep) has"),
        "sub/log open for writing".into(),
        "--force".into(),
        "dry-rc=0".into(),
        "would copy /var/lib/foo".into(),
        "unchanged=yes".into(),
        "warning (--force): pid".into(),
        "mounted=yes".into(),
    ] {
        assert!(
            out.contains(&want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        );
    }
}

#[test]
fn persist_refuses_what_it_must_not_touch_and_changes_nothing() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
mkdir -p "$R/var/lib/real" "$R/run/x"; ln -s real "$R/var/lib/linked"
before="$(mounts; ls -A "$R/persistent")"
for p in /nix/store /run/x /persistent/var /var/lib/missing /var/lib/linked/x relative /; do
  rc=0; imp persist "$p" 2>>"$R/err" || rc=$?; echo "$p rc=$rc"
done
rc=0; imp persist /var/lib/foo /nix 2>>"$R/err" || rc=$?; echo "mixed rc=$rc"
rc=0; imp persist /var/lib/foo /var/lib/foo/sub 2>>"$R/err" || rc=$?; echo "nested rc=$rc"
[ "$before" = "$(mounts; ls -A "$R/persistent")" ] && echo "unchanged=yes"
cat "$R/err"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    for p in [
        "/nix/store",
        "/run/x",
        "/persistent/var",
        "/var/lib/missing",
        "/var/lib/linked/x",
        "relative",
        "/",
    ] {
        assert!(out.contains(&format!("{p} rc=2")), "{p}:\n{out}");
    }
    for want in [
        "mixed rc=2",
        "nested rc=2",
        "/var/lib/foo/sub is also given as /var/lib/foo",
        "unchanged=yes",
        "is under /nix",
        "overlaps the persistence root",
        "does not exist",
        "symlink",
        "nothing was changed",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn persist_refuses_when_the_persistent_dataset_is_not_mounted() {
    require_root!();
    let o = run(
        &Layout {
            persistent_mounted: false,
            ..Layout::default()
        },
        r#"
rc=0; imp persist /var/lib/foo || rc=$?; echo "rc=$rc"
[ -z "$(ls -A "$R/persistent")" ] && echo "untouched=yes"
"#,
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        out.contains("rc=2") && out.contains("untouched=yes"),
        "{out}\n{err}"
    );
    assert!(
        err.contains("persistent-root-mounted") && err.contains("fix:"),
        "{err}"
    );
}

#[test]
fn persist_resumes_after_every_kind_of_interruption() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
P="$R/persistent/var/lib/foo"
# A stale temporary from a run killed mid-copy.
mkdir -p "$R/persistent/var/lib/.foo.impermctl-tmp/half"
imp persist /var/lib/foo
[ ! -e "$R/persistent/var/lib/.foo.impermctl-tmp" ] && echo "stale-removed=yes"
# Killed after the rename, before the bind: the finished copy is bound.
umount "$F"
imp persist /var/lib/foo
findmnt -n --mountpoint "$F" >/dev/null && echo "rebound=yes"
# The live data changed since the copy: refuse, explain, change nothing.
umount "$F"
echo more >> "$F/sub/file"
rc=0; imp persist /var/lib/foo 2>"$R/err" || rc=$?; echo "changed-rc=$rc"; cat "$R/err"
findmnt -n --mountpoint "$F" >/dev/null || echo "not-bound=yes"
grep -q more "$F/sub/file" && echo "live-intact=yes"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    for want in [
        "removed a partial copy",
        "stale-removed=yes",
        "bind-mounted the finished copy",
        "rebound=yes",
        "changed-rc=2",
        "differs from the live data",
        "not-bound=yes",
        "live-intact=yes",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        );
    }
}

#[test]
fn persist_refuses_a_symlink_planted_in_the_persistent_tree() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
mkdir -p "$R/elsewhere"; ln -s ../elsewhere "$R/persistent/var"
rc=0; imp persist /var/lib/foo 2>"$R/err" || rc=$?; echo "rc=$rc"; cat "$R/err"
[ -z "$(ls -A "$R/elsewhere")" ] && echo "nothing-written-through-it=yes"
findmnt -n --mountpoint "$F" >/dev/null || echo "not-bound=yes"
"#,
    );
    let out = stdout(&o);
    for want in [
        "rc=2",
        "has a symlink in it",
        "nothing-written-through-it=yes",
        "not-bound=yes",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        );
    }
}

/// Session 4's trial: `persist A B` printed two Nix lines for one
/// attribute set, which Nix rejects ("attribute already defined"); one
/// snippet lists both, as `diff --suggest` prints it: the items to add to
/// the block's lists (trial s10 F16).
#[test]
fn persisting_several_paths_prints_one_nix_snippet() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
mkdir -p "$R/srv/a" "$R/srv/b"; echo x > "$R/srv/a/f"; echo y > "$R/srv/b/g"
echo y > "$R/etc/adjtime"
imp persist --dry-run /srv/a /srv/b /etc/adjtime
imp persist /srv/a /srv/b /etc/adjtime
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(out.matches("environment.persistence.").count(), 2, "{out}");
    let snippet = r#"
  # into directories = [ … ]:
    "/srv/a"
    "/srv/b"
  # into files = [ … ]:
    "/etc/adjtime"
"#;
    assert_eq!(out.matches(snippet).count(), 2, "{out}");
}

/// Trial s5 leftover, as for `boot`: `/persistent/var/lib/foo` made by hand
/// (`mkdir`) or an empty dataset mounted there (no rename can replace it)
/// is filled from the live data, not refused; also when `persist` is
/// killed at random points (a rerun removes the partial copy or finishes
/// the moves). Nothing of the live data changes, nothing is left over.
#[test]
fn persist_fills_an_empty_persistent_directory_and_mount_point() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
P="$R/persistent/var/lib/foo"
for i in $(seq 1 150); do head -c $((i * 397)) /dev/urandom > "$F/f$i"; done
want=$(cd "$F" && find . -printf '%M %u %g %y %p %l\n' | sort; cd "$F" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
sum() { (cd "$1" && find . -printf '%M %u %g %y %p %l\n' | sort; cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
bad=0; phases=""
for how in mkdir mount; do
  for i in $(seq 1 25); do
    while mountpoint -q "$F"; do umount "$F"; done
    while mountpoint -q "$P"; do umount "$P"; done
    rm -rf "$R/persistent/var" "$R/run/impermctl"; mkdir -p "$P"
    [ $how = mount ] && mount -t tmpfs -o mode=0700 tank/ct/101/foo "$P"
    if [ $i -lt 25 ]; then
      "$IMPERMCTL" --root "$R" --config "$CFG" persist /var/lib/foo >/dev/null 2>&1 & pid=$!
      sleep "0.$(printf '%03d' $((RANDOM % 40)))"; kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
      if mountpoint -q "$F"; then phases="$phases bound"; elif [ -e "$P/.impermctl-fill" ]; then phases="$phases filling"
      elif [ -n "$(ls -A "$P")" ]; then phases="$phases copying"; else phases="$phases before"; fi
      mountpoint -q "$F" || [ "$(sum "$F")" = "$want" ] || { echo "$how $i: live changed"; bad=$((bad + 1)); }
    fi
    imp persist /var/lib/foo >/dev/null 2>"$R/err" || { echo "$how $i: $(cat "$R/err")"; bad=$((bad + 1)); }
    [ "$(sum "$P")" = "$want" ] || { echo "$how $i: persistent differs"; bad=$((bad + 1)); }
    [ "$(sum "$F")" = "$want" ] && mountpoint -q "$F" || { echo "$how $i: not bound"; bad=$((bad + 1)); }
  done
done
echo "bad=$bad"
echo "phases=$(tr ' ' '\n' <<<"$phases" | sort | uniq -c | tr -s ' \n' ' ')"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("bad=0\n"), "{out}\n{}", stderr(&o));
    eprintln!("{}", out.lines().last().unwrap_or_default());
}

/// CI flake (trial s10): the random kills above once landed between the
/// removal of `.impermctl-fill` and the directory getting the copy's
/// times; the rerun refused ("the copy an interrupted run left … differs
/// from the live data (… mtime …)") and asked the user to clean up. Here
/// `persist` into an empty mount point is killed before each change it
/// makes, in turn (every kill point, not random ones): the live data stays
/// intact, and the rerun binds a copy equal to it in every bit of metadata
/// (times of every directory, the top one included, and xattrs), with
/// nothing of the fill left in or beside it.
#[test]
fn persist_killed_before_each_change_of_a_fill_loses_nothing_and_a_rerun_completes() {
    require_root!();
    crate::require_tool!("strace");
    let o = run(
        &Layout::default(),
        &format!(
            r#"{kp}
P="$R/persistent/var/lib/foo"
man() {{ (cd "$1" && {{ find . ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'; find . -type d -printf '%p %m %U %G %T@\n'
  find . -type f -print0 | xargs -0 sha256sum; getfattr -R -d -h . 2>/dev/null; }} | LC_ALL=C sort); }}
want=$(man "$F")
fresh() {{
  while mountpoint -q "$F"; do umount "$F"; done
  while mountpoint -q "$P"; do umount "$P"; done
  rm -rf "$R/persistent/var" "$R/run/impermctl"; mkdir -p "$P"
  mount -t tmpfs -o mode=0700 tank/ct/101/foo "$P"
}}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" persist /var/lib/foo)
bad=0; n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" persist /var/lib/foo || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  mountpoint -q "$F" || [ "$(man "$F")" = "$want" ] || {{ echo "$pt: the live data changed"; bad=$((bad + 1)); }}
  imp persist /var/lib/foo >/dev/null 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  [ "$(man "$P")" = "$want" ] || {{ echo "$pt: the copy differs: $(diff <(man "$P") <(echo "$want") | head -4 | tr '\n' ' ')"; bad=$((bad + 1)); }}
  mountpoint -q "$F" && [ "$(stat -c %d:%i "$F")" = "$(stat -c %d:%i "$P")" ] || {{ echo "$pt: not bound"; bad=$((bad + 1)); }}
  if left=$({{ ls -A "$P"; ls -A "$R/persistent/var/lib"; }} | grep impermctl); then echo "$pt: left $left"; bad=$((bad + 1)); fi
done
echo "points=$n"
echo "bad=$bad"
"#,
            kp = crate::util::KILL_POINTS
        ),
    );
    let out = stdout(&o);
    assert_code(&o, 0);
    assert!(out.contains("bad=0\n"), "{out}\n{}", stderr(&o));
    let n: usize = (out.lines())
        .find_map(|l| l.strip_prefix("points="))
        .map_or(0, |n| n.parse().unwrap());
    // The fill alone makes over 30 changes (its tree, the moves, the metadata).
    assert!(
        n >= 30,
        "too few kill points ({n}): strace saw nothing?\n{out}"
    );
    eprintln!("{n} kill points");
}

/// Trial s8 #14: `persist /tmp` (in `watch.ignore`: scratch space) was
/// copied and bound without a word. It is still done (some keep /tmp on
/// disk for big builds), with a note; a path outside `watch.ignore` gets
/// none.
#[test]
fn persisting_scratch_space_says_so() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"mkdir -p "$R/tmp/job"; echo x > "$R/tmp/job/f"
echo BEGIN-TMP; imp persist /tmp/job; echo BEGIN-FOO; imp persist /var/lib/foo"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    let (tmp, foo) = out.split_once("BEGIN-FOO").unwrap();
    let note = "note: /tmp/job is in watch.ignore (/tmp): scratch space";
    assert!(
        tmp.contains(note) && tmp.contains("persisted as asked"),
        "{out}\n{}",
        stderr(&o)
    );
    assert!(
        tmp.contains("# into directories = [ … ]:\n    \"/tmp/job\"\n"),
        "{tmp}"
    );
    assert!(!foo.contains("watch.ignore"), "{foo}");
}

/// F12 (trial): hard links inside the path stay links in the copy (also
/// across directories); a file also linked from outside the path cannot:
/// `persist` says so (both paths, what the user gets), also in `--dry-run`
/// and `--json`, and neither side loses its content. Before, nothing was
/// said.
#[test]
fn persist_keeps_links_inside_and_names_the_links_it_separates() {
    require_root!();
    let o = run(
        &Layout::default(),
        r#"
mkdir -p "$R/var/lib/other" "$F/d1" "$F/d2"
echo out > "$F/shared"; ln "$F/shared" "$R/var/lib/other/shared"
echo deep > "$F/d1/a"; ln "$F/d1/a" "$F/d2/b"
echo BEGIN dry; imp persist --dry-run /var/lib/foo; echo END dry
imp persist --dry-run --json /var/lib/foo | python3 -c 'import json,sys; print("json=" + json.dumps(json.load(sys.stdin)["paths"][0]["separated"]))'
echo BEGIN out; imp persist /var/lib/foo; echo END out
P="$R/persistent/var/lib/foo"
echo "inside=$([ "$(stat -c %i "$P/d1/a")" = "$(stat -c %i "$P/d2/b")" ] && echo linked) $(stat -c %h "$P/d1/a" "$P/hardlink" | tr '\n' ' ')"
echo "copy=$(cat "$F/shared") $(stat -c %h "$P/shared")"
echo "other=$(cat "$R/var/lib/other/shared")"
echo more >> "$R/var/lib/other/shared"
echo "apart=$(cat "$F/shared")|$(tr '\n' ' ' < "$R/var/lib/other/shared")"
UNDER="$(mktemp -d)"; mount --bind "$R" "$UNDER"
echo "hidden=$(tr '\n' ' ' < "$UNDER/var/lib/foo/shared")"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    let warning = "/var/lib/foo/shared is hard-linked to /var/lib/other/shared, outside /var/lib/foo: persisting /var/lib/foo cannot keep that link, so from the bind on they are two separate files: /var/lib/foo/shared is the copy in /persistent/var/lib/foo/shared, /var/lib/other/shared keeps the original on the ephemeral root";
    for block in ["dry", "out"] {
        let b = crate::boot::block(&o, block);
        assert!(b.contains(warning), "{block}: missing the warning in\n{b}");
        assert_eq!(b.matches("hard-linked").count(), 1, "{b}");
    }
    for want in [
        r#"json=[{"path": "/var/lib/foo/shared", "others": ["/var/lib/other/shared"], "unfound": 0}]"#,
        "inside=linked 2 2",
        "copy=out 1",
        "other=out",
        "apart=out|out more ",
        "hidden=out more ",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        );
    }
}

/// `persist` killed before each change it makes, in turn, among them
/// between the bind and writing its record (`persisted.json`): a rerun
/// completes, and the path is recorded (`status` lists it as moved with
/// `impermctl persist`), whether the kill came before or after the bind.
#[test]
fn persist_killed_between_the_bind_and_its_record_is_recorded_by_the_rerun() {
    require_root!();
    crate::require_tool!("strace");
    let o = run(
        &Layout::default(),
        &format!(
            r#"{kp}
P="$R/persistent/var/lib/foo"; J="$R/run/impermctl/persisted.json"
man() {{ (cd "$1" && {{ find . ! -type d -printf '%p %y %m %U %G %s %n %l\n'; find . -type f -print0 | xargs -0 sha256sum; }} | LC_ALL=C sort); }}
want=$(man "$F")
fresh() {{
  while mountpoint -q "$F"; do umount "$F"; done
  rm -rf "$R/persistent/var" "$R/run/impermctl"
}}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" persist /var/lib/foo)
bad=0; n=0; after_bind=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" persist /var/lib/foo || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  if mountpoint -q "$F" && ! grep -q '"/var/lib/foo"' "$J" 2>/dev/null; then after_bind=$((after_bind + 1)); fi
  [ "$(man "$F")" = "$want" ] || {{ echo "$pt: the live view changed"; bad=$((bad + 1)); }}
  imp persist /var/lib/foo >/dev/null 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  mountpoint -q "$F" && [ "$(man "$P")" = "$want" ] || {{ echo "$pt: not bound whole"; bad=$((bad + 1)); }}
  grep -q '"/var/lib/foo"' "$J" 2>/dev/null || {{ echo "$pt: not recorded"; bad=$((bad + 1)); }}
  {{ imp status 2>/dev/null || true; }} | grep -A3 'impermctl persist' | grep -q /var/lib/foo || {{ echo "$pt: status does not list it"; bad=$((bad + 1)); }}
done
echo "points=$n"
echo "after_bind=$after_bind"
echo "bad=$bad"
"#,
            kp = crate::util::KILL_POINTS
        ),
    );
    let out = stdout(&o);
    assert_code(&o, 0);
    assert!(out.contains("bad=0\n"), "{out}\n{}", stderr(&o));
    // At least one kill landed with the bind made and no record written.
    assert!(!out.contains("after_bind=0\n"), "{out}\n{}", stderr(&o));
}
