//! Small value parsers of the config: file modes (octal or symbolic, as
//! `mkdir --mode` reads them) and systemd.time durations (`"10 minutes"`, `"1h 30m"`).

use std::time::Duration;

/// Resolve a mode as `mkdir --mode` does: octal (`0750`, `750`, `1777`) or
/// symbolic clauses (`u=rwx,g=rx,o=`) applied to `a=rwx` (0777). `None` when
/// it is neither.
pub fn parse_mode(mode: &str) -> Option<u32> {
    // Empty: all digits, and not a number.
    if mode.bytes().all(|b| b.is_ascii_digit()) {
        let m = u32::from_str_radix(mode, 8).ok();
        return m.filter(|m| mode.len() <= 5 && *m <= 0o7777);
    }
    mode.split(',').try_fold(0o777, apply_clause)
}

/// The bits each "who" letter of a clause selects.
const WHO: &[(char, u32)] = &[('u', 0o4700), ('g', 0o2070), ('o', 0o1007), ('a', 0o7777)];

/// The bits each permission letter sets (a directory is being created: `X`
/// acts like `x`).
const PERMS: &[(char, u32)] = &[
    ('r', 0o444),
    ('w', 0o222),
    ('x', 0o111),
    ('X', 0o111),
    ('s', 0o6000),
    ('t', 0o1000),
];

/// The union of the bits of `letters` in `table`; `None` for an unknown letter.
fn bits(letters: &str, table: &[(char, u32)]) -> Option<u32> {
    letters.chars().try_fold(0, |acc, c| {
        let (_, b) = table.iter().find(|(l, _)| *l == c)?;
        Some(acc | b)
    })
}

/// One `[ugoa]*[-+=][rwxXst]*` clause (several operators may follow, as in
/// `u+r-w`). See chmod(1), "SYMBOLIC MODES".
fn apply_clause(mut m: u32, clause: &str) -> Option<u32> {
    const OPS: [char; 3] = ['-', '+', '='];
    let (who, rest) = clause.split_at(clause.find(OPS)?);
    // Without a "who", chmod masks the bits with the umask; the mode is
    // applied at boot under an unknown umask, so treat it as `a`.
    let who_mask = match bits(who, WHO)? {
        0 => 0o7777,
        m => m,
    };
    // `rest` starts with an operator: each is followed by its letters.
    for (op, perms) in rest.matches(OPS).zip(rest.split(OPS).skip(1)) {
        let bits = bits(perms, PERMS)? & who_mask;
        m = match op {
            "+" => m | bits,
            "-" => m & !bits,
            _ => (m & !who_mask) | bits,
        };
    }
    Some(m)
}

/// Parse a duration as systemd.time(7) writes it: `"30s"`, `"10min"`,
/// `"10 minutes"`, `"1h 30m"`, `"2 weeks"`, or a bare number of seconds
/// (`"90"`). Units and their spellings are humantime's, which match
/// systemd's (`month` = 30.44 days, `year` = 365.25 days). `None` when
/// malformed or zero.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().filter(|n| *n > 0).map(Duration::from_secs);
    }
    // humantime (>= 2.2) allows a space between a number and its unit, as systemd does.
    humantime::parse_duration(s).ok().filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let table: &[(&str, Option<u32>)] = &[
            ("0750", Some(0o750)),
            ("750", Some(0o750)),
            ("0755", Some(0o755)),
            ("1777", Some(0o1777)),
            ("01777", Some(0o1777)),
            ("0", Some(0)),
            ("7777", Some(0o7777)),
            ("17777", None),
            ("000750", None),
            ("0999", None),
            ("", None),
            ("rwxr-x---", None),
            ("u=rwx,g=rx,o=", Some(0o750)),
            ("go-w", Some(0o755)),
            ("a=rx,u+w", Some(0o755)),
            ("u=rwx,go=", Some(0o700)),
            ("o-rwx", Some(0o770)),
            ("+t", Some(0o1777)),
            ("g+s", Some(0o2777)),
            ("u=rwx,g=rwxs,o=", Some(0o2770)),
            ("=rx", Some(0o555)),
            ("u+r-w", Some(0o577)),
            ("z=rwx", None),
            ("u=rwq", None),
            ("u", None),
            ("u=rwx,", None),
            ("0x1ff", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_mode(input), *want, "{input:?}");
        }
    }

    #[test]
    fn durations() {
        let table: &[(&str, Option<u64>)] = &[
            ("30s", Some(30)),
            ("10m", Some(600)),
            ("1h", Some(3600)),
            ("1h30m", Some(5400)),
            ("1h 30m", Some(5400)),
            ("2d", Some(172_800)),
            ("10min", Some(600)),
            ("10 minutes", Some(600)),
            ("1 hour 30 min", Some(5400)),
            ("1h30min", Some(5400)),
            ("5w", Some(5 * 7 * 86_400)),
            ("2 weeks", Some(14 * 86_400)),
            ("90", Some(90)),
            ("1 sec", Some(1)),
            ("0s", None),
            ("0", None),
            ("", None),
            ("ten minutes", None),
            ("10 fortnights", None),
            ("-5m", None),
        ];
        for (input, want) in table {
            assert_eq!(
                parse_duration(input),
                want.map(Duration::from_secs),
                "{input:?}"
            );
        }
    }
}
