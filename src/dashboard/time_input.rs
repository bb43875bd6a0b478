//! The date-time inputs of the look-back pages. A browser's `datetime-local` input sends
//! `2026-12-03T11:53` (or with seconds), with no zone: the pages label it UTC. Anything else is
//! what the API takes (RFC 3339, Unix seconds), parsed by the API's own parser, so a bad date
//! gets the API's words and names the same field.

use chrono::NaiveDateTime;

use crate::http::dto::parse_time;
use crate::http::error::ApiError;
use crate::time::Timestamp;

/// The time a form's input `field` holds.
pub(super) fn parse_time_input(field: &str, raw: &str) -> Result<Timestamp, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ApiError::malformed(field, "enter a date and time"));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|local| Timestamp::from(local.and_utc()))
        .map_or_else(|| parse_time(field, raw), Ok)
}

/// The value of a `datetime-local` input showing `at` (UTC, to the second).
pub(super) fn input_value(at: Timestamp) -> String {
    at.to_datetime().format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_values_are_utc_and_api_forms_still_parse() {
        let noon = Timestamp::parse("2026-12-03T12:00:00Z").expect("a time");
        // (input, expected)
        let table = [
            ("2026-12-03T12:00", Some(noon)),
            ("2026-12-03T12:00:00", Some(noon)),
            (" 2026-12-03T12:00:00Z ", Some(noon)),
            ("2026-12-03T13:00:00+01:00", Some(noon)),
            ("1796299200", Some(noon)),
            ("", None),
            ("yesterday", None),
            ("2026-13-03T12:00", None),
        ];
        for (input, expected) in table {
            let parsed = parse_time_input("as_of", input);
            assert_eq!(parsed.as_ref().ok().copied(), expected, "{input:?}");
            if let Err(problem) = parsed {
                assert_eq!(problem.field.as_deref(), Some("as_of"), "{input:?}");
            }
        }
        assert_eq!(input_value(noon), "2026-12-03T12:00:00");
    }
}
