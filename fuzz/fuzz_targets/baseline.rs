//! Fuzz the baseline decoder: any bytes either decode or give an error,
//! and lookups in what decodes stay in bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = impermctl::baseline::Baseline::decode(data.to_vec()) {
        for (p, _) in b.iter().take(64) {
            let _ = b.get(&p);
        }
    }
});
