//! Stage one: the config file exactly as written. Every field is optional
//! (defaults come later), unknown keys are skipped here (`unknown` reports
//! them all, with their spans), and every value that
//! validation may complain about keeps its span for line:column.

use serde::Deserialize;
use toml::Spanned;

use super::{EphemeralRoot, FileMethod, OnFailure};

/// The whole file.
#[derive(Debug, Deserialize)]
pub(super) struct RawConfig {
    pub version: Option<Spanned<i64>>,
    pub layout: Option<RawLayout>,
    pub persistence: Option<Vec<Spanned<RawRoot>>>,
    pub watch: Option<RawWatch>,
}

/// `[layout]`.
#[derive(Debug, Deserialize)]
pub(super) struct RawLayout {
    pub ephemeral_root: Option<EphemeralRoot>,
    pub persistent_must_differ: Option<bool>,
    pub on_failure: Option<OnFailure>,
    pub skip_checks: Option<Vec<String>>,
}

/// One `[[persistence]]` block.
#[derive(Debug, Deserialize)]
pub(super) struct RawRoot {
    pub path: Option<Spanned<String>>,
    pub hide_mounts: Option<bool>,
    pub allow_trash: Option<bool>,
    pub directories: Option<Vec<Spanned<Shorthand<RawDirectory>>>>,
    pub files: Option<Vec<Spanned<Shorthand<RawFile>>>>,
}

/// An entry as a table or, as impermanence's Nix options allow, a bare
/// path string: `directories = [ "/etc/nixos", "/var/log" ]`.
#[derive(Debug)]
pub(super) enum Shorthand<T> {
    /// `"/var/log"`.
    Path(String),
    /// `{ path = "/var/log", … }` or `[[persistence.directories]]`.
    Table(T),
}

impl<T: WithPath> Shorthand<T> {
    /// The table, with a bare path turned into one whose `path` carries
    /// `span` (the string's own span).
    pub fn into_table(self, span: std::ops::Range<usize>) -> T {
        match self {
            Shorthand::Path(p) => T::with_path(Spanned::new(span, p)),
            Shorthand::Table(t) => t,
        }
    }
}

/// An entry table that can be made from its path alone.
pub(super) trait WithPath {
    /// The entry with only `path` set.
    fn with_path(path: Spanned<String>) -> Self;
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shorthand<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Shorthand<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a path such as \"/var/log\" or a table such as { path = \"/var/log\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Shorthand::Path(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Shorthand::Table)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One `[[persistence.directories]]` entry.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawDirectory {
    pub path: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub hide_mount: Option<bool>,
    pub allow_trash: Option<bool>,
    pub parent: Option<RawPerms>,
    pub home: Option<Spanned<String>>,
}

impl WithPath for RawDirectory {
    fn with_path(path: Spanned<String>) -> Self {
        RawDirectory {
            path: Some(path),
            ..RawDirectory::default()
        }
    }
}

/// One `[[persistence.files]]` entry.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawFile {
    pub path: Option<Spanned<String>>,
    pub method: Option<FileMethod>,
    pub parent: Option<RawPerms>,
    pub home: Option<Spanned<String>>,
}

impl WithPath for RawFile {
    fn with_path(path: Spanned<String>) -> Self {
        RawFile {
            path: Some(path),
            ..RawFile::default()
        }
    }
}

/// `parent = { user, group, mode }`.
#[derive(Debug, Deserialize)]
pub(super) struct RawPerms {
    pub user: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
}

/// `[watch]`.
#[derive(Debug, Deserialize)]
pub(super) struct RawWatch {
    pub ignore: Option<Vec<Spanned<String>>>,
    pub warn_every: Option<Spanned<RawDuration>>,
    pub max_warnings_per_minute: Option<Spanned<i64>>,
}

/// A duration as written: `"10m"` or an integer number of seconds.
#[derive(Debug)]
pub(super) enum RawDuration {
    Seconds(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"10m\" or an integer number of seconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}
