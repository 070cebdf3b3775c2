//! Fuzz the config parser: any text either validates or gives a located error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = impermctl::config::parse(text, std::path::Path::new("fuzz.toml"));
    }
});
