//! The one time type of every layer: unix microseconds, stable under bincode and JSON.
//!
//! The ledger stamps events with it, the domain reasons with it (expiry, as-of) and the API
//! shows it; one type keeps a recorded time and a domain time from being confused or converted
//! by hand.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time as microseconds since the unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    /// RFC 3339 text for people (JSON), microseconds for storage (bincode): the stored bytes
    /// stay an integer while the API shows a readable time.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let text = DateTime::<Utc>::from_timestamp_micros(self.0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_else(|| self.0.to_string());
            serializer.serialize_str(&text)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            DateTime::parse_from_rfc3339(&text)
                .map(|t| Timestamp(t.timestamp_micros()))
                .map_err(|e| serde::de::Error::custom(format!("not an RFC 3339 time: {e}")))
        } else {
            i64::deserialize(deserializer).map(Timestamp)
        }
    }
}

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// As a chrono timestamp (the earliest one chrono knows if out of its range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Microseconds per second.
    pub const MICROS_PER_SECOND: i64 = 1_000_000;

    /// From whole seconds since the epoch (saturating).
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(Self::MICROS_PER_SECOND))
    }
    /// Whole seconds since the epoch (rounded towards negative infinity).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_SECOND)
    }
    /// Parses RFC 3339 text (e.g. `2030-01-01T00:00:00Z`) or integer unix seconds.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<i64>() {
            return Some(Self::from_unix_seconds(seconds));
        }
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|dt| Self(dt.timestamp_micros()))
    }
    /// This time plus a number of whole days (saturating).
    pub fn plus_days(self, days: i64) -> Self {
        Self(
            self.0
                .saturating_add(days.saturating_mul(86_400 * Self::MICROS_PER_SECOND)),
        )
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t.timestamp_micros())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match chrono::DateTime::from_timestamp_micros(self.0) {
            Some(dt) => write!(
                f,
                "{}",
                dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            None => write!(f, "{}us", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_seconds() {
        assert_eq!(Timestamp::parse("10"), Some(Timestamp(10_000_000)));
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:01Z"),
            Some(Timestamp(1_000_000))
        );
        assert_eq!(Timestamp::parse("soon"), None);
        assert_eq!(Timestamp(1_000_000).to_string(), "1970-01-01T00:00:01Z");
        assert_eq!(Timestamp(0).plus_days(1).unix_seconds(), 86_400);
    }

    #[test]
    fn a_time_is_rfc3339_in_json_and_an_integer_in_storage() {
        let at = Timestamp(1_764_158_400_123_456);
        let json = serde_json::to_string(&at).expect("json");
        assert_eq!(json, "\"2025-11-26T12:00:00.123456Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).expect("parse"), at);
        let stored = crate::ledger::codec::encode(&at).expect("encode");
        assert_eq!(
            crate::ledger::codec::decode::<Timestamp>(&stored).expect("decode"),
            at
        );
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
