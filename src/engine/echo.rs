//! Client text quoted in a message, bounded and made safe to print.
//!
//! Refusals name the value they refuse, which helps a client find its mistake, but a
//! message is also a gRPC header (`grpc-message`), a log field and an audit record: an
//! echoed megabyte made clients fail with `RESOURCE_EXHAUSTED` instead of reading the
//! refusal, and a control character or a right-to-left mark could forge or reorder what a
//! reader of the log sees. The engine quotes client text through [`echo`] (it cannot use
//! the API's helpers), and the API uses the same function.

use std::fmt::Write as _;

/// Most characters of one client value a message shows (escapes count as what they print).
pub const ECHO_CHARS: usize = 200;

/// `text` as a message may show it: at most [`ECHO_CHARS`] characters, cut on a character
/// boundary with `… (N bytes)` appended when cut; control characters and the invisible
/// characters that change the direction of text printed as `\u{…}` escapes.
pub fn echo(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(ECHO_CHARS) + 16);
    let mut shown = 0;
    for c in text.chars() {
        let width = if must_escape(c) {
            c.escape_default().len()
        } else {
            1
        };
        if shown + width > ECHO_CHARS {
            let _ = write!(out, "… ({} bytes)", text.len());
            return out;
        }
        shown += width;
        if must_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters, and the Unicode marks and overrides that change the direction of
/// what follows them (a reader would see text in another order than it was sent).
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_printable_text_is_shown_as_it_is() {
        assert_eq!(echo("bob@example.com"), "bob@example.com");
        assert_eq!(echo("Zoë 🦀 e\u{301}"), "Zoë 🦀 e\u{301}");
        assert_eq!(echo(""), "");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_its_length() {
        let text = "é".repeat(1000);
        let shown = echo(&text);
        assert!(shown.starts_with(&"é".repeat(ECHO_CHARS)));
        assert!(shown.ends_with("… (2000 bytes)"), "{shown}");
        assert_eq!(
            shown.chars().count(),
            ECHO_CHARS + "… (2000 bytes)".chars().count()
        );
        // Exactly the limit is not cut.
        assert_eq!(echo(&"x".repeat(ECHO_CHARS)), "x".repeat(ECHO_CHARS));
    }

    #[test]
    fn control_and_direction_characters_are_escaped_and_count_as_printed() {
        assert_eq!(echo("a\0b\nc"), "a\\u{0}b\\nc");
        assert_eq!(echo("x\u{202e}y\u{200f}"), "x\\u{202e}y\\u{200f}");
        let shown = echo(&"\0".repeat(1000));
        // Each NUL prints as 5 characters: 40 fit in 200, and no more.
        assert_eq!(shown, format!("{}… (1000 bytes)", "\\u{0}".repeat(40)));
        assert!(shown.ends_with("… (1000 bytes)"), "{shown}");
        assert!(shown.len() < 2 * ECHO_CHARS);
    }
}
