//! Request validation: bytes → one of the requests `authzd::api::fuzz` knows (the first
//! byte picks which) → the conversions and checks its handler runs. Whatever the bytes,
//! the answer is `Ok` or a refusal of the client's request with a message of at most
//! 1 KiB, and never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Longest status message a client may get (`api::status::MAX_MESSAGE_BYTES`).
const MAX_MESSAGE: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    if let Some((code, message)) = authzd::api::fuzz::validate(*kind, bytes) {
        assert!(
            message.len() <= MAX_MESSAGE,
            "{code} with a message of {} bytes",
            message.len()
        );
        assert!(
            !matches!(code, "INTERNAL" | "UNKNOWN" | "DATA_LOSS" | "UNAVAILABLE"),
            "a request was answered as a server fault: {code}: {message}"
        );
    }
});
