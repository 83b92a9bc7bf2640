//! Durations as the settings and the client's flags spell them.
//!
//! The syntax is the `humantime` crate's (`250ms`, `10s`, `2m`, `1h`, `7d`, `2w`, and
//! combinations such as `1h 30m`); a bare whole number is seconds, as it has always been.

use std::{ops::RangeInclusive, time::Duration};

use super::{ConfigError, Source};

/// Parses a duration: `humantime`'s spelling or a bare whole number of seconds, ignoring
/// surrounding spaces. The error is humantime's, saying what it did not understand.
pub fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    let text = text.trim();
    if let Some(seconds) = Some(text)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok())
    {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
}

/// The duration setting `key`, which must lie in `range`; `like` shows the reader examples
/// and the bounds (e.g. ``like `1s` or `30s`, from 100ms to 1h``) in the message of a
/// value that does not parse or falls outside.
pub(super) fn duration_setting(
    take: &impl Fn(&'static str) -> (String, Source),
    invalid: &impl Fn(&'static str, (String, Source), String) -> ConfigError,
    key: &'static str,
    range: RangeInclusive<Duration>,
    like: &str,
) -> Result<Duration, ConfigError> {
    let value = take(key);
    match parse_duration(&value.0) {
        Ok(duration) if range.contains(&duration) => Ok(duration),
        Ok(_) => Err(invalid(key, value, format!("expected a duration {like}"))),
        Err(err) => Err(invalid(
            key,
            value,
            format!("expected a duration {like} ({err})"),
        )),
    }
}
