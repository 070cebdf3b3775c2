//! Numbers, sizes, plurals and times for people: one function for each, so
//! every command prints `41 MiB`, `2,314 files` and
//! `Sun 2026-11-29 22:43:26 CET` the same way (the form systemd's tools use).

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Bytes in IEC units as `du -h --si` would not: `512 B`, `3.2 KiB`,
/// `41 MiB` (one decimal below 10 of a unit, none above).
pub fn size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    // 9.96 KiB rounds to "10.0": print it as "10 KiB".
    if u == 0 || v >= 9.95 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `2,314`: digits grouped by three with a comma.
pub fn thousands(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(String::from_iter).collect();
    groups.join(",")
}

/// `1 file`, `2,314 files`: the count with `one` or `many`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `1 file`, `2 files`: [`count`] for nouns whose plural adds an `s`.
pub fn counted(n: u64, noun: &str) -> String {
    count(n, noun, &format!("{noun}s"))
}

/// Should output to `stream` be coloured? `--color` decides (anstream's
/// global choice); under `auto`, colour only on a terminal and never with
/// `NO_COLOR` set or `TERM=dumb` (`CLICOLOR=0` turns it off, `CLICOLOR_FORCE`
/// on).
pub fn colour(stream: &impl anstream::stream::RawStream) -> bool {
    anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
}

/// A Unix time (seconds) in the local time zone, as systemd's tools print
/// it: `Sun 2026-11-29 22:43:26 CET`. The zone comes from `TZ` or
/// `/etc/localtime` (UTC when neither says).
pub fn local_time(secs: i64) -> String {
    local_time_in(secs, &TimeZone::system())
}

/// [`local_time`] in a given zone (for tests).
pub fn local_time_in(secs: i64, tz: &TimeZone) -> String {
    match Timestamp::from_second(secs) {
        Ok(t) => t
            .to_zoned(tz.clone())
            .strftime("%a %Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => format!("@{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_one_format() {
        let table: &[(u64, &str)] = &[
            (0, "0 B"),
            (512, "512 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (3300, "3.2 KiB"),
            (10_200, "10 KiB"),
            (20 << 20, "20 MiB"),
            (41 * 1024 * 1024 + 5, "41 MiB"),
            (3 << 30, "3.0 GiB"),
        ];
        for (n, want) in table {
            assert_eq!(size(*n), *want, "{n}");
        }
    }

    #[test]
    fn thousands_and_plurals() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2314), "2,314");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(counted(1, "entry"), "1 entry");
        assert_eq!(count(1, "entry", "entries"), "1 entry");
        assert_eq!(count(0, "entry", "entries"), "0 entries");
        assert_eq!(counted(2314, "file"), "2,314 files");
    }

    #[test]
    fn times_are_local_with_the_zone() {
        let prague =
            TimeZone::get("Europe/Prague").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)));
        let s = local_time_in(1_795_988_606, &prague);
        assert!(s.starts_with("Sun 2026-11-29 22:43:26 "), "{s}");
        assert_eq!(
            local_time_in(0, &TimeZone::UTC),
            "Thu 1970-01-01 00:00:00 UTC"
        );
    }
}
