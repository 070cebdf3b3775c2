//! File names are data: unprivileged users choose them, root reads them.
//!
//! One rendering for people ([`human`]: every human output and journal
//! `MESSAGE=`), one for machines ([`json`]: byte-exact in JSON). A name may
//! hold any byte but `/` and NUL: newlines that forge log lines, carriage
//! returns and ESC/OSC sequences that rewrite a terminal, invalid UTF-8.
//!
//! Human text: printable UTF-8 is kept; `\n`, `\t`, `\r` and `\\` are
//! written as those escapes, every other control character (C0, DEL, C1),
//! bidirectional override and invalid byte as `\xNN` (`\u{NNNN}` above
//! 0xff). The result is one line of printable text.
//!
//! JSON: a path field is always a string (control characters escaped by
//! JSON itself); when its bytes are not valid UTF-8 the string has U+FFFD
//! in their place and a companion `<field>_hex` field holds the exact bytes
//! in hex, so no name is altered or lost.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serializer;

/// Characters that reorder the text around them on a terminal (Unicode
/// bidirectional controls): shown escaped so a name cannot disguise itself.
fn bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Raw bytes (a path, a name, a process name) as one line of printable text.
pub fn human(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() && (c as u32) <= 0xff => {
                    s.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() || bidi(c) => s.push_str(&format!("\\u{{{:04x}}}", c as u32)),
                c => s.push(c),
            }
        }
        for x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    s
}

/// Composed text (a message that quotes names, a suggestion) made safe for
/// a terminal or a journal line: control characters and bidirectional
/// controls escaped as in [`human`], everything else (backslashes too)
/// kept. A last line of defence: names in it should already be [`show`]n.
pub fn printable(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() || bidi(c)) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| match c {
            c if c.is_control() || bidi(c) => human(c.to_string().as_bytes()),
            c => c.to_string(),
        })
        .collect()
}

/// A path as one line of printable text (see [`human`]).
pub fn show(p: &Path) -> String {
    human(p.as_os_str().as_bytes())
}

/// A string from elsewhere (a process name, a unit) as printable text.
pub fn show_str(s: &str) -> String {
    human(s.as_bytes())
}

/// A path's bytes in hex when they are not valid UTF-8 (the `*_hex`
/// companion of a JSON path field), else `None`.
pub fn hex(p: &Path) -> Option<String> {
    let b = p.as_os_str().as_bytes();
    (std::str::from_utf8(b).is_err()).then(|| b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The path a JSON document describes: the exact bytes of `hex` when
/// present and well-formed, else `text`.
pub fn from_json(text: &Path, hex: Option<&str>) -> PathBuf {
    let bytes = hex.filter(|h| h.len() % 2 == 0).and_then(|h| {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
    });
    match bytes {
        Some(b) => PathBuf::from(OsStr::from_bytes(&b)),
        None => text.to_path_buf(),
    }
}

/// A logical path held as bytes, as a `Path`.
pub fn path_of(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Serde `serialize_with` for a JSON path field: the path as text (invalid
/// UTF-8 replaced by U+FFFD); pair it with a `*_hex` field from [`hex`].
pub fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names an attacker would choose, and what people see of them.
    const HOSTILE: &[(&[u8], &str)] = &[
        (b"/home/a/x\ny", "/home/a/x\\ny"),
        (b"/home/a/x\ry", "/home/a/x\\ry"),
        (b"/a/\x1b[2K\x1b[1A0 groups", "/a/\\x1b[2K\\x1b[1A0 groups"),
        (b"/a/\x1b]0;owned\x07", "/a/\\x1b]0;owned\\x07"),
        (b"/a/\xff\xfe", "/a/\\xff\\xfe"),
        (b"/a/\xc2\x9b31m", "/a/\\x9b31m"),
        ("/a/\u{202e}gpj.exe".as_bytes(), "/a/\\u{202e}gpj.exe"),
        (b"/a/back\\slash", "/a/back\\\\slash"),
        (b"/a/tab\there", "/a/tab\\there"),
        (b"/a/\x7f", "/a/\\x7f"),
        ("/a/caf\u{e9}".as_bytes(), "/a/caf\u{e9}"),
    ];

    #[test]
    fn hostile_names_become_one_printable_line() {
        for (raw, want) in HOSTILE {
            let got = human(raw);
            assert_eq!(&got, want, "{raw:?}");
            assert!(!got.chars().any(|c| c.is_control() || bidi(c)), "{got:?}");
        }
        let long = [b'x'; 255];
        assert_eq!(human(&long).len(), 255);
    }

    #[test]
    fn printable_escapes_controls_only() {
        assert_eq!(printable("a\\b \"c\""), "a\\b \"c\"");
        assert_eq!(printable("x\ny\x1b[2J\u{202e}"), "x\\ny\\x1b[2J\\u{202e}");
    }

    #[test]
    fn escaping_is_injective_on_bytes() {
        // Two different names never look the same.
        let names: Vec<&[u8]> = vec![b"a\\x41", b"a\x41", b"a\\n", b"a\n", b"a\xff", b"a\\xff"];
        let shown: std::collections::HashSet<String> = names.iter().map(|n| human(n)).collect();
        assert_eq!(shown.len(), names.len(), "{shown:?}");
    }

    #[test]
    fn json_text_and_hex_give_back_the_exact_bytes() {
        for (raw, _) in HOSTILE {
            let p = PathBuf::from(OsStr::from_bytes(raw));
            let text = serde_json::to_string(&p.to_string_lossy()).unwrap();
            assert!(!text.contains('\n') && !text.contains('\x1b'), "{text}");
            let h = hex(&p);
            assert_eq!(h.is_some(), std::str::from_utf8(raw).is_err());
            let shown: String = serde_json::from_str(&text).unwrap();
            assert_eq!(from_json(Path::new(&shown), h.as_deref()), p);
        }
        assert_eq!(hex(Path::new(OsStr::from_bytes(b"/\xff"))).unwrap(), "2fff");
        assert_eq!(from_json(Path::new("/x"), Some("zz")), Path::new("/x"));
    }
}
