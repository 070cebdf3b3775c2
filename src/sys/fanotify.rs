//! (Stub.)
