//! `impermctl diff`. (Stub: see the diff work.)
