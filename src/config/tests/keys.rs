//! Every key: unknown ones reported with the other errors at once, every
//! known one accepted.

/// Every error of `text`, in order, as (line, field, start of message).
fn all_errors(text: &str) -> Vec<(usize, String, String)> {
    let e = super::err(text);
    std::iter::once(&e)
        .chain(e.also.iter())
        .map(|e| (e.line, e.field.clone(), e.message.clone()))
        .collect()
}

#[test]
fn every_unknown_key_is_reported_with_the_other_errors() {
    // Issue 15's fresh-user trial: only `watch.ignor` used to come out.
    let text = "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"var/log\"]\n[watch]\nignor = [\"/tmp\"]\nwarn_every = \"ten minuets\"\n";
    let got = all_errors(text);
    let fields: Vec<(usize, &str)> = got.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
    assert_eq!(
        fields,
        [
            (4, "persistence[0].directories[0].path"),
            (6, "watch.ignor"),
            (7, "watch.warn_every"),
        ],
        "{got:?}"
    );
    assert!(
        super::err(text)
            .to_string()
            .contains("did you mean `ignore`?")
    );
    // hideMounts with a relative path, unknown keys in inline tables,
    // entry tables, `parent` and the top level: all of them, in file order.
    let text = "version = 1\nverison = 1\n[[persistence]]\npath = \"/persistent\"\nhideMounts = true\ndirectories = [\"/var/lib/x\", \"etc/foo\", { path = \"/var/y\", mod = \"0700\" }]\n[[persistence.files]]\npath = \"/etc/a\"\nmethd = \"copy\"\nparent = { usr = \"root\" }\n[layout]\nonFailure = \"warn\"\n";
    let got = all_errors(text);
    let fields: Vec<(usize, &str)> = got.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
    assert_eq!(
        fields,
        [
            (2, "verison"),
            (5, "persistence[0].hideMounts"),
            (6, "persistence[0].directories[1].path"),
            (6, "persistence[0].directories[2].mod"),
            (9, "persistence[0].files[0].methd"),
            (10, "persistence[0].files[0].parent.usr"),
            (12, "layout.onFailure"),
        ],
        "{got:?}"
    );
    assert!(
        got.iter()
            .filter(|(_, _, m)| m.starts_with("unknown key"))
            .count()
            == 6
    );
}

#[test]
fn every_known_key_is_accepted() {
    super::ok(
        "version = 1\n[layout]\nephemeral_root = \"auto\"\npersistent_must_differ = true\non_failure = \"warn\"\nskip_checks = []\n\
         [[persistence]]\npath = \"/persistent\"\nhide_mounts = true\nallow_trash = false\n\
         directories = [{ path = \"/var/lib/a\", user = \"root\", group = \"root\", mode = \"0755\", hide_mount = true, allow_trash = true, parent = { user = \"root\", group = \"root\", mode = \"0755\" } }]\n\
         files = [{ path = \"/etc/a\", method = \"copy\", parent = { user = \"root\", group = \"root\", mode = \"0755\" } }]\n\
         [watch]\nignore = [\"/tmp\"]\nwarn_every = \"10m\"\nmax_warnings_per_minute = 5\nbackend = \"inotify\"\n",
    );
}
