//! A `/persistent` too small for what is to be copied (trial-s10 F7, a
//! dataset's quota): `persist` and `boot` refuse before copying anything,
//! naming the sizes; what fits is still copied; and afterwards `status`
//! and `diff` name that cause instead of advising `impermctl boot`, which
//! would fail the same way.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

#[test]
fn a_copy_that_does_not_fit_is_refused_up_front_and_named_afterwards() {
    require_root!();
    // 8 MiB of /persistent; /var/lib/big holds 12 MiB, /var/lib/small 1 MiB.
    let body = r#"
mount -o remount,size=8m "$R/persistent"
imp boot >/dev/null 2>&1
mkdir -p "$R/var/lib/big" "$R/var/lib/small"
head -c 12582912 /dev/urandom > "$R/var/lib/big/data"; echo meta > "$R/var/lib/big/meta"
head -c 1048576 /dev/urandom > "$R/var/lib/small/data"
before=$(sum "$R/var/lib/big")
echo BEGIN persist; imp persist /var/lib/big 2>&1 || echo "rc=$?"; echo END persist
echo "intact=$([ "$(sum "$R/var/lib/big")" = "$before" ] && echo yes || echo no)"
echo "bound=$(mountpoint -q "$R/var/lib/big" && echo yes || echo no)"
echo "left=$(ls -A "$R/persistent/var/lib" | tr '\n' ' ')"
rc=0; imp persist /var/lib/small >/dev/null 2>&1 || rc=$?; echo "small=$rc"
printf '[[persistence.directories]]\npath = "/var/lib/big"\n' >> "$CFG"
echo BEGIN boot; imp boot 2>&1 || echo "rc=$?"; echo END boot
echo "intact2=$([ "$(sum "$R/var/lib/big")" = "$before" ] && echo yes || echo no)"
echo "left2=$(ls -A "$R/persistent/var/lib" | tr '\n' ' ')"
echo BEGIN status; imp status 2>&1 || true; echo END status
echo BEGIN diff; imp diff 2>&1 || true; echo END diff
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let persist = block(&o, "persist");
    assert!(
        persist.contains("refusing to persist /var/lib/big: not enough free space for a copy of /var/lib/big: it needs about 13 MiB (12 MiB of data in 3 entries, with a margin)")
            && persist.contains("MiB free; nothing was copied")
            && persist.contains("then run `impermctl persist`")
            && persist.ends_with("rc=2"),
        "{persist}\n{}",
        dump(&o)
    );
    assert!(!persist.contains("No space left"), "{persist}");
    assert_eq!(val(&o, "intact"), "yes");
    assert_eq!(val(&o, "bound"), "no");
    // Nothing started: no temporary copy, only what fits.
    assert_eq!(val(&o, "small"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "left").trim(), "nixos", "{}", dump(&o));
    let boot = block(&o, "boot");
    assert!(
        boot.contains("cannot seed /persistent/var/lib/big from /var/lib/big (nothing was mounted; the data is still at /var/lib/big): not enough free space")
            && boot.contains("then run `impermctl boot`")
            && boot.ends_with("rc=1"),
        "{boot}"
    );
    assert_eq!(val(&o, "intact2"), "yes");
    assert_eq!(val(&o, "left2").trim(), "nixos small");
    // The cause, where the advice used to be "run `impermctl boot`".
    let status = block(&o, "status");
    let line = (status.lines())
        .find(|l| l.contains(" /var/lib/big "))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        line.contains("NOT PERSISTED: on the ephemeral root (the last `impermctl boot` failed on it: cannot seed")
            && line.contains("not enough free space"),
        "{line}"
    );
    let diff = block(&o, "diff");
    assert!(
        diff.contains(
            "(the last `impermctl boot` failed on it: cannot seed /persistent/var/lib/big"
        ) && !diff.contains("(run `impermctl boot`"),
        "{diff}"
    );
}
