//! The watcher daemon. (Stub: see the watch work.)
