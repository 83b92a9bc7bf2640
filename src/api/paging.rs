//! Page sizes and page tokens for every `List`/`Lookup` call.
//!
//! A token is opaque to clients: a version tag and the sort key of the last entry
//! returned, hex-encoded. The next page continues strictly after that key, so an entry
//! that exists throughout a paged listing is returned exactly once.

use std::fmt::Write as _;

use tonic::Status;

/// Page size used when the request says 0.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size a request may ask for.
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

const TOKEN_PREFIX: &str = "p1.";

/// Validates `page_size` (0 means the default).
pub(crate) fn page_size(requested: i32) -> Result<usize, Status> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) if size <= MAX_PAGE_SIZE => Ok(size),
        _ => Err(super::status::invalid_field(
            "page_size",
            format!("must be between 0 and {MAX_PAGE_SIZE}, got {requested}"),
        )),
    }
}

/// Validates a request's `page_size` and `page_token`: the size, and the key to continue
/// after (`None` for the first page).
pub(crate) fn request(page_size: i32, page_token: &str) -> Result<(usize, Option<String>), Status> {
    super::bounds::at_most(
        "page_token",
        page_token,
        super::bounds::MAX_PAGE_TOKEN_BYTES,
    )?;
    Ok((self::page_size(page_size)?, decode_token(page_token)?))
}

/// Encodes the sort key of the last entry of a page.
pub(crate) fn encode_token(key: &str) -> String {
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + key.len() * 2);
    token.push_str(TOKEN_PREFIX);
    for byte in key.as_bytes() {
        let _ = write!(token, "{byte:02x}");
    }
    token
}

/// Decodes a page token; `None` for the first page.
pub(crate) fn decode_token(token: &str) -> Result<Option<String>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || super::status::invalid_field("page_token", "not a token returned by this API");
    let hex = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    if hex.len() % 2 != 0 {
        return Err(invalid());
    }
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| invalid())?;
            u8::from_str_radix(text, 16).map_err(|_| invalid())
        })
        .collect::<Result<Vec<u8>, Status>>()?;
    String::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

/// Joins key parts with NUL, which no id or permission contains, so that comparing joined
/// keys orders them like the tuples they come from.
pub(crate) fn key(parts: &[&str]) -> String {
    parts.join("\u{0}")
}

/// The page of `items` (sorted by `key_of`) after `after`, and the token for the next one.
pub(crate) fn page<T>(
    items: Vec<T>,
    size: usize,
    after: Option<&str>,
    key_of: impl Fn(&T) -> String,
) -> (Vec<T>, String) {
    let mut rest = items
        .into_iter()
        .filter(|item| after.is_none_or(|after| key_of(item).as_str() > after));
    let page: Vec<T> = rest.by_ref().take(size).collect();
    let next = match (rest.next(), page.last()) {
        (Some(_), Some(last)) => encode_token(&key_of(last)),
        _ => String::new(),
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_round_trip_any_key() {
        for key in ["", "a", "svc/obj-1\u{0}perm.read", "ü"] {
            assert_eq!(
                decode_token(&encode_token(key)).unwrap().as_deref(),
                Some(key)
            );
        }
    }

    #[test]
    fn foreign_tokens_are_refused_naming_the_field() {
        for token in ["x", "p1.zz", "p1.a", "p1.ff"] {
            let err = decode_token(token).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument);
            assert!(err.message().starts_with("page_token:"));
        }
    }

    #[test]
    fn page_size_defaults_and_bounds() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5).unwrap(), 5);
        assert!(page_size(-1).is_err());
        assert!(page_size(1001).is_err());
    }
}
