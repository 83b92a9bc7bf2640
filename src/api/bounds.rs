//! The limits on request input, in one place.
//!
//! Every text field of a request is checked here, or by an engine parser with a rule at
//! least as strict (ids: 1–128 bytes of letters, digits and `. _ : @ -`; permissions),
//! before the value is stored, logged or quoted in a refusal. A refusal names the field and
//! the rule (`status::invalid_field`), and quotes the value, if at all, through
//! `status::echo`.

use tonic::Status;

use super::status::{invalid_field, required};
use crate::engine;

// Ids: `engine::MAX_ID_LEN` (128) bytes of letters, digits and `. _ : @ -`, checked by the
// engine's parsers (`convert::id`) before anything else reads them. The caller's name comes
// from the callers file (`auth`), never from the request.

/// Longest name, display name, e-mail or description: the engine's text rule, which also
/// refuses control characters (newlines included: these texts are one line in every view).
pub(crate) const MAX_TEXT_BYTES: usize = engine::MAX_TEXT;
/// Longest permission or pattern: `feature.operation`, each part 1–64 bytes.
pub(crate) const MAX_PERMISSION_BYTES: usize = 64 + 1 + 64;
/// Longest object type name (1–64 of a-z 0-9 _, the engine's rule).
pub(crate) const MAX_OBJECT_TYPE_BYTES: usize = 64;
/// Longest etag a client may send back; ours are 16 hex digits.
pub(crate) const MAX_ETAG_BYTES: usize = 64;
/// Longest list filter (a case-insensitive substring).
pub(crate) const MAX_FILTER_BYTES: usize = 256;
/// Longest request id (a client's retry key).
pub(crate) const MAX_REQUEST_ID_BYTES: usize = 128;
/// Longest page token; the longest we hand out (three ids and a permission, hex-encoded)
/// is under 800 bytes.
pub(crate) const MAX_PAGE_TOKEN_BYTES: usize = 1024;

/// A required free text (name, display name, e-mail, description): not empty, at most
/// [`MAX_TEXT_BYTES`], no control characters.
pub(crate) fn required_text<'a>(field: &str, text: &'a str) -> Result<&'a str, Status> {
    if text.is_empty() {
        return Err(required(field));
    }
    self::text(field, text)
}

/// A free text that may be empty (a description): at most [`MAX_TEXT_BYTES`], no control
/// characters.
pub(crate) fn text<'a>(field: &str, text: &'a str) -> Result<&'a str, Status> {
    line(field, text, MAX_TEXT_BYTES)
}

/// A one-line text of at most `max` bytes without control characters.
fn line<'a>(field: &str, text: &'a str, max: usize) -> Result<&'a str, Status> {
    if text.len() > max || text.chars().any(char::is_control) {
        return Err(invalid_field(
            field,
            format!(
                "must be at most {max} bytes without control characters, got {} bytes",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// A list filter (empty: none).
pub(crate) fn filter<'a>(field: &str, text: &'a str) -> Result<&'a str, Status> {
    line(field, text, MAX_FILTER_BYTES)
}

/// An etag sent back by a client (empty: none): at most [`MAX_ETAG_BYTES`] of printable
/// ASCII. A longer one can never match, so it is refused before it is quoted anywhere.
pub(crate) fn etag<'a>(field: &str, text: &'a str) -> Result<&'a str, Status> {
    if text.len() > MAX_ETAG_BYTES || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_field(
            field,
            format!(
                "must be an etag this API returned: at most {MAX_ETAG_BYTES} bytes of printable ASCII"
            ),
        ));
    }
    Ok(text)
}

/// Most paths an update mask may hold (a resource has at most four updatable fields).
pub(crate) const MAX_MASK_PATHS: usize = 16;
/// Longest update mask path.
pub(crate) const MAX_MASK_PATH_BYTES: usize = 64;

/// An update mask: at most [`MAX_MASK_PATHS`] paths of at most [`MAX_MASK_PATH_BYTES`]
/// without control characters (the paths themselves are checked against the resource's
/// fields by `management::mask_paths`, which quotes an unknown one).
pub(crate) fn mask(
    mask: Option<&prost_types::FieldMask>,
) -> Result<Option<&prost_types::FieldMask>, Status> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.len() > MAX_MASK_PATHS {
        return Err(invalid_field(
            "update_mask",
            format!(
                "must hold at most {MAX_MASK_PATHS} paths, got {}",
                paths.len()
            ),
        ));
    }
    for path in paths {
        line("update_mask", path, MAX_MASK_PATH_BYTES)?;
    }
    Ok(mask)
}

/// Most values of one enum a list may be narrowed to (an enum has fewer).
pub(crate) const MAX_SELECTED_VALUES: usize = 16;

/// Most items of one bulk call: the engine's longest batch.
pub(crate) const MAX_BULK_ITEMS: usize = engine::MAX_BATCH;

/// Whether a bulk call's item list holds 1 to [`MAX_BULK_ITEMS`] items.
pub(crate) fn bulk_items(field: &str, count: usize) -> Result<(), Status> {
    if count == 0 || count > MAX_BULK_ITEMS {
        return Err(super::status::bulk_items(field, count, MAX_BULK_ITEMS));
    }
    Ok(())
}

/// Whether a list of enum values to select by is short enough to be one.
pub(crate) fn at_most_items(field: &str, count: usize) -> Result<(), Status> {
    if count > MAX_SELECTED_VALUES {
        return Err(invalid_field(
            field,
            format!("must hold at most {MAX_SELECTED_VALUES} values, got {count}"),
        ));
    }
    Ok(())
}

/// Whether `text` fits a limit of `max` bytes; the refusal names the field and the limit.
pub(crate) fn at_most(field: &str, text: &str, max: usize) -> Result<(), Status> {
    if text.len() > max {
        return Err(invalid_field(
            field,
            format!("must be at most {max} bytes, got {}", text.len()),
        ));
    }
    Ok(())
}

/// A request id: empty (none), or 1 to [`MAX_REQUEST_ID_BYTES`] bytes without spaces or
/// control characters.
pub(crate) fn request_id(text: &str) -> Result<Option<String>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_REQUEST_ID_BYTES
        || text.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid_field(
            "request_id",
            format!(
                "must be 1 to {MAX_REQUEST_ID_BYTES} bytes without spaces or control characters"
            ),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A customer's tag or data centre, or one a group condition tests: 1 to
/// [`engine::partner::MAX_ATTRIBUTE_LEN`] bytes without control characters (the
/// engine's rule, checked here so that a refusal names the request's field).
pub(crate) fn attribute<'a>(field: &str, text: &'a str) -> Result<&'a str, Status> {
    if text.is_empty() {
        return Err(required(field));
    }
    line(field, text, engine::partner::MAX_ATTRIBUTE_LEN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn texts_are_bounded_and_one_line() {
        assert_eq!(required_text("name", "Zoë 🦀").unwrap(), "Zoë 🦀");
        assert_eq!(text("description", "").unwrap(), "");
        let err = required_text("name", "").unwrap_err();
        assert_eq!(err.message(), "name: is required");
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        let err = required_text("name", &long).unwrap_err();
        assert_eq!(
            err.message(),
            "name: must be at most 256 bytes without control characters, got 257 bytes"
        );
        assert!(text("description", "two\nlines").is_err());
        assert!(filter("filter", "a\0b").is_err());
        assert!(filter("filter", &"f".repeat(MAX_FILTER_BYTES)).is_ok());
    }

    #[test]
    fn etags_masks_and_tokens_are_short() {
        assert_eq!(
            etag("etag", "0123456789abcdef").unwrap(),
            "0123456789abcdef"
        );
        assert!(etag("etag", "").is_ok());
        assert!(etag("etag", &"e".repeat(MAX_ETAG_BYTES + 1)).is_err());
        assert!(etag("etag", "é").is_err());
        let many = prost_types::FieldMask {
            paths: vec!["name".to_owned(); MAX_MASK_PATHS + 1],
        };
        assert!(mask(Some(&many)).is_err());
        let long = prost_types::FieldMask {
            paths: vec!["n".repeat(MAX_MASK_PATH_BYTES + 1)],
        };
        assert!(mask(Some(&long)).is_err());
        assert!(mask(None).is_ok());
        let err = at_most("page_token", &"p".repeat(2000), MAX_PAGE_TOKEN_BYTES).unwrap_err();
        assert_eq!(
            err.message(),
            "page_token: must be at most 1024 bytes, got 2000"
        );
    }
}
