//! Stage one: the config file exactly as written. Every field is optional
//! (defaults come later), unknown keys are skipped here (`unknown` reports
//! them all, with their spans), and every value that
//! validation may complain about keeps its span for line:column.
//!
//! A value of the wrong type or an unknown enum value does not stop the
//! parse: [`read`] collects each one with its span (the field reads as
//! absent) so that one run reports every error of the file.

use std::cell::RefCell;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{Backend, EphemeralRoot, FileMethod, OnFailure};

/// A value that did not deserialize: its span and serde's message.
pub(super) type ValueError = (Range<usize>, String);

thread_local! {
    /// The value errors of the parse running on this thread ([`read`]):
    /// serde gives a `Deserialize` impl no context to report into.
    static CAUGHT: RefCell<Vec<ValueError>> = const { RefCell::new(Vec::new()) };
}

/// Parse `text` into the raw config: a syntax error stops it (`Err`), every
/// value error is returned beside the config, in no particular order.
pub(super) fn read(text: &str) -> Result<(RawConfig, Vec<ValueError>), toml::de::Error> {
    CAUGHT.take(); // what an earlier parse on this thread left, if it panicked
    toml::from_str(text).map(|raw| (raw, CAUGHT.take()))
}

/// `T`, or the message of why the value is not a `T` (never fails itself).
struct Caught<T>(Result<T, String>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Caught<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // toml deserializes each value from its own parsed node: a failed
        // value leaves the table it is in readable.
        Ok(Caught(T::deserialize(d).map_err(|e| {
            let m = e.to_string();
            m.lines().next().unwrap_or_default().to_owned()
        })))
    }
}

/// A value that reads as absent when it is bad (its error kept, with its
/// span, for [`read`]): a field, or a list item whose neighbours keep their
/// positions. `Lax<Spanned<T>>` keeps the value's span.
#[derive(Debug)]
pub(super) struct Lax<T>(pub Option<T>);

impl<T> Default for Lax<T> {
    fn default() -> Self {
        Lax(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lax<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Spanned::<Caught<T>>::deserialize(d)?;
        let (span, v) = (v.span(), v.into_inner().0);
        let v = v.map_err(|m| CAUGHT.with_borrow_mut(|c| c.push((span, m))));
        Ok(Lax(v.ok()))
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawConfig {
    pub version: Lax<Spanned<i64>>,
    pub layout: Lax<RawLayout>,
    pub persistence: Lax<Vec<Spanned<RawRoot>>>,
    pub watch: Lax<RawWatch>,
}

/// `[layout]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawLayout {
    pub ephemeral_root: Lax<EphemeralRoot>,
    pub persistent_must_differ: Lax<bool>,
    pub on_failure: Lax<OnFailure>,
    pub skip_checks: Lax<Vec<String>>,
}

/// One `[[persistence]]` block.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRoot {
    pub path: Lax<Spanned<String>>,
    pub hide_mounts: Lax<bool>,
    pub allow_trash: Lax<bool>,
    pub directories: EntryList<RawDirectory>,
    pub files: EntryList<RawFile>,
}

/// A list of entries: each a table or a bare path, bad ones read as absent.
pub(super) type EntryList<T> = Lax<Vec<Lax<Spanned<Shorthand<T>>>>>;

/// An entry as a table or, as impermanence's Nix options allow, a bare
/// path string: `directories = [ "/etc/nixos", "/var/log" ]`.
#[derive(Debug)]
pub(super) enum Shorthand<T> {
    /// `"/var/log"`.
    Path(String),
    /// `{ path = "/var/log", … }` or `[[persistence.directories]]`.
    Table(T),
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
#[serde(default)]
pub(super) struct RawDirectory {
    pub path: Lax<Spanned<String>>,
    pub user: Lax<Spanned<String>>,
    pub group: Lax<Spanned<String>>,
    pub mode: Lax<Spanned<String>>,
    pub hide_mount: Lax<bool>,
    pub allow_trash: Lax<bool>,
    pub parent: Lax<RawPerms>,
    pub home: Lax<Spanned<String>>,
}

/// One `[[persistence.files]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawFile {
    pub path: Lax<Spanned<String>>,
    pub method: Lax<FileMethod>,
    pub parent: Lax<RawPerms>,
    pub home: Lax<Spanned<String>>,
}

/// `parent = { user, group, mode }`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawPerms {
    pub user: Lax<Spanned<String>>,
    pub group: Lax<Spanned<String>>,
    pub mode: Lax<Spanned<String>>,
}

/// `[watch]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWatch {
    pub ignore: Lax<Vec<Spanned<String>>>,
    pub warn_every: Lax<Spanned<RawDuration>>,
    pub max_warnings_per_minute: Lax<Spanned<i64>>,
    pub backend: Lax<Backend>,
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
