//! Parsing mountinfo lines (proc(5)): fields, octal escapes, errors that
//! name the line.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::Mount;

/// A malformed mountinfo line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// The mounts of mountinfo bytes, in order (blank lines skipped).
pub(super) fn lines(text: &[u8]) -> Result<Vec<Mount>, ParseError> {
    let mut mounts = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        mounts.push(parse_line(line).map_err(|message| ParseError {
            line: i + 1,
            message,
        })?);
    }
    Ok(mounts)
}

fn parse_line(line: &[u8]) -> Result<Mount, String> {
    let fields: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .collect();
    let sep = fields
        .iter()
        .position(|f| *f == b"-")
        .ok_or("no ' - ' separator before the filesystem type")?;
    if sep < 6 {
        return Err(format!("{sep} fields before ' - ', expected at least 6"));
    }
    if fields.len() < sep + 3 {
        return Err("expected filesystem type, source and super options after ' - '".into());
    }
    // One allocation per field (a table of thousands of binds is read a
    // few times per `boot`).
    let text = |f: &[u8]| {
        String::from_utf8(unescape(f))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    };
    let s = std::str::from_utf8(fields[2]).map_err(|_| "device is not text")?;
    let (a, b) = (s.split_once(':')).ok_or_else(|| format!("device {s:?} is not MAJOR:MINOR"))?;
    let major = num(a.as_bytes(), "device major")?;
    let minor = num(b.as_bytes(), "device minor")?;
    let list = |f: &[u8]| -> Vec<String> {
        text(f)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(Mount {
        id: num(fields[0], "mount ID")?,
        parent: num(fields[1], "parent ID")?,
        major,
        minor,
        root: path(fields[3]),
        mount_point: path(fields[4]),
        options: list(fields[5]),
        optional: fields[6..sep].iter().map(|f| text(f)).collect(),
        fstype: text(fields[sep + 1]),
        source: text(fields[sep + 2]),
        super_options: fields.get(sep + 3).map(|f| list(f)).unwrap_or_default(),
    })
}

/// A number field, or an error naming `what`.
fn num<T: std::str::FromStr>(f: &[u8], what: &str) -> Result<T, String> {
    (std::str::from_utf8(f).ok().and_then(|s| s.parse().ok()))
        .ok_or_else(|| format!("{what} {:?} is not a number", String::from_utf8_lossy(f)))
}

fn path(field: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

/// Undo the kernel's octal escapes (`\NNN`, three octal digits, value ≤ 0o377).
pub fn unescape(field: &[u8]) -> Vec<u8> {
    if !field.contains(&b'\\') {
        return field.to_vec();
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 3 < field.len() {
            let d = &field[i + 1..i + 4];
            if d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                if v <= 0o377 {
                    out.push(v as u8);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::mountinfo::MountTable;

    const LINE: &str = "36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue";

    #[test]
    fn parses_the_proc5_example_with_optional_fields_and_escapes() {
        let t = MountTable::parse(LINE).unwrap();
        let m = &t.mounts()[0];
        assert_eq!((m.id, m.parent, m.major, m.minor), (36, 35, 98, 0));
        assert_eq!(m.root, Path::new("/mnt1"));
        assert_eq!(m.mount_point, Path::new("/mnt/parent dir"));
        assert_eq!(m.optional, vec!["master:1", "shared:7"]);
        assert_eq!(m.fstype, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_options, vec!["rw", "errors=continue"]);
        assert!(!m.is_read_only());
    }

    #[test]
    fn unescapes_every_kernel_escape_and_keeps_oversized_ones() {
        assert_eq!(unescape(br"a\040b\011c\012d\134e"), b"a b\tc\nd\\e");
        assert_eq!(unescape(br"\777"), br"\777");
        assert_eq!(unescape(br"x\04"), br"x\04");
        assert_eq!(unescape(br"\"), br"\");
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = MountTable::parse("1 0 0:1 / / rw - tmpfs a rw\n1 0 0:1 / / rw tmpfs a rw\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("separator"), "{e}");
        let e = MountTable::parse("x 0 0:1 / / rw - tmpfs a rw").unwrap_err();
        assert!(e.message.contains("mount ID"), "{e}");
        let e = MountTable::parse("1 0 01 / / rw - tmpfs a rw").unwrap_err();
        assert!(e.message.contains("MAJOR:MINOR"), "{e}");
        assert!(MountTable::parse("1 0 0:1 / / rw -").is_err());
    }

    #[test]
    fn non_utf8_mount_points_survive() {
        let t = MountTable::parse_bytes(b"1 0 0:1 / /a\xffb rw - tmpfs a rw").unwrap();
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(t.mounts()[0].mount_point.as_os_str().as_bytes(), b"/a\xffb");
    }
}
