//! (Stub: see the boot/persist work.)
