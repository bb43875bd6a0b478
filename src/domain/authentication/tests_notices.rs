//! Given/when/then tests for lifecycle notices: certificate thresholds (30/7/1 days, expired)
//! once per `not_after`, and one refresh failure per failure streak.

use super::certificate::tests::{EC_CERT, EC_KEY};
use super::testkit::*;
use super::*;
use crate::domain::secret::SecretText;
use crate::time::Timestamp;
use std::collections::BTreeMap;

const DAY: i64 = 86_400 * 1_000_000;

/// A client certificate authentication of the EC test pair, and its `not_after`.
fn certificate_auth() -> (Vec<Event>, Timestamp) {
    let pairs = [("certificate", EC_CERT), ("private_key", EC_KEY)];
    let events = created_in_shared("mtls-api", &pairs, &[]);
    let not_after = check_certificate(EC_CERT, EC_KEY)
        .expect("the pair matches")
        .not_after;
    (events, not_after)
}

/// A world whose clock is `days` days (may be fractional, negative: past) before `not_after`.
fn days_before(not_after: Timestamp, days: f64) -> World {
    let mut world = World::new();
    // Whole microseconds are exact enough for thresholds measured in days.
    world.now = Timestamp(not_after.0 - (days * DAY as f64) as i64);
    world
}

fn expiring(not_after: Timestamp, days_before: u8) -> Event {
    AuthenticationEvent::CertificateExpiring {
        not_after,
        days_before,
    }
}

#[test]
fn the_most_urgent_threshold_reached_is_noticed_once() {
    let (events, not_after) = certificate_auth();
    // Far from its end: nothing is due.
    S::given_in(days_before(not_after, 45.0), events.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_error(AuthenticationError::NoCertificateNoticeDue);
    // First seen with 5 days left: the 7-day notice only, not the 30-day one.
    S::given_in(days_before(not_after, 5.0), events.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_events(vec![expiring(not_after, 7)]);
    // Exactly 30 days before is within 30 days.
    S::given_in(days_before(not_after, 30.0), events.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_events(vec![expiring(not_after, 30)]);
    let mut noticed = events;
    noticed.push(expiring(not_after, 7));
    // Sent: a second sweep at the same threshold adds nothing.
    S::given_in(days_before(not_after, 4.0), noticed.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_error(AuthenticationError::NoCertificateNoticeDue);
    // Later: the 1-day notice, then expired.
    S::given_in(days_before(not_after, 0.5), noticed.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_events(vec![expiring(not_after, 1)]);
    noticed.push(expiring(not_after, 1));
    S::given_in(days_before(not_after, -0.1), noticed.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_events(vec![AuthenticationEvent::CertificateExpired { not_after }]);
    noticed.push(AuthenticationEvent::CertificateExpired { not_after });
    S::given_in(days_before(not_after, -40.0), noticed)
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_error(AuthenticationError::NoCertificateNoticeDue);
}

#[test]
fn a_new_certificate_starts_its_notices_afresh() {
    let (mut events, not_after) = certificate_auth();
    events.push(AuthenticationEvent::CertificateExpired { not_after });
    // A re-authentication with a certificate that ends later (another `not_after`).
    let renewed = Timestamp(not_after.0 + 20 * DAY);
    events.push(AuthenticationEvent::Reauthenticated {
        fields: BTreeMap::new(),
        expires_at: Some(renewed),
        origin: ChangeOrigin::Api,
    });
    S::given_in(days_before(renewed, 25.0), events.clone())
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_events(vec![expiring(renewed, 30)]);
    // The same `not_after` again (the same certificate re-entered) keeps what was sent.
    let (mut same, not_after) = certificate_auth();
    same.push(expiring(not_after, 7));
    same.push(AuthenticationEvent::Reauthenticated {
        fields: BTreeMap::new(),
        expires_at: Some(not_after),
        origin: ChangeOrigin::Api,
    });
    S::given_in(days_before(not_after, 3.0), same)
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_error(AuthenticationError::NoCertificateNoticeDue);
}

#[test]
fn only_live_certificate_authentications_get_notices() {
    let (mut events, not_after) = certificate_auth();
    events.push(AuthenticationEvent::Deleted);
    S::given_in(days_before(not_after, 5.0), events)
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_error(AuthenticationError::Deleted);
    // An OAuth2 grant's `expires_at` is its access token's, not a certificate's.
    let mut slack = slack_auth();
    let expires = Timestamp::parse("2025-01-02T00:00:00Z").expect("valid");
    slack.push(AuthenticationEvent::Reauthenticated {
        fields: BTreeMap::new(),
        expires_at: Some(expires),
        origin: ChangeOrigin::System,
    });
    S::given_in(World::new(), slack)
        .when(AuthenticationCommand::RecordCertificateNotice)
        .then_expect_error(AuthenticationError::NoCertificateNoticeDue);
    // The rule itself, as the sweep asks it before any command.
    let (events, not_after) = certificate_auth();
    let state = State::from_events(&events);
    let auth = state.current.expect("created");
    assert_eq!(
        certificate_notice_due(&auth, Timestamp(not_after.0 - 2 * DAY)),
        Some(CertificateNotice::Expiring {
            not_after,
            days_before: 7
        })
    );
    assert_eq!(
        certificate_notice_due(&auth, Timestamp(not_after.0 - 31 * DAY)),
        None
    );
}

fn refresh_failure(reason: &str) -> AuthenticationCommand {
    AuthenticationCommand::RecordRefreshFailure {
        reason: reason.into(),
    }
}

fn refresh_failed(reason: &str) -> Event {
    AuthenticationEvent::RefreshFailed {
        reason: reason.into(),
    }
}

/// A refresh the provider answered: new access token.
fn refreshed() -> Event {
    AuthenticationEvent::Reauthenticated {
        fields: BTreeMap::from([(
            name("access_token"),
            FieldOutcome::Overridden(FieldValue::Secret(SecretText::new("xoxb-2"))),
        )]),
        expires_at: None,
        origin: ChangeOrigin::System,
    }
}

#[test]
fn one_refresh_failure_is_recorded_per_failure_streak() {
    let reason = "provider.test: the token endpoint could not be used (timed out)";
    let state = S::given_in(World::new(), slack_auth())
        .when(refresh_failure(reason))
        .then_expect_events(vec![refresh_failed(reason)])
        .then_state();
    assert!(state.current.expect("exists").refresh_failing);
    // Retries of the same streak add nothing.
    let mut events = slack_auth();
    events.push(refresh_failed(reason));
    S::given_in(World::new(), events.clone())
        .when(refresh_failure("again"))
        .then_expect_error(AuthenticationError::RefreshFailureAlreadyRecorded);
    // A recorded refresh ends the streak: the next failure is recorded again.
    let mut after_refresh = events.clone();
    after_refresh.push(refreshed());
    S::given_in(World::new(), after_refresh)
        .when(refresh_failure("later"))
        .then_expect_events(vec![refresh_failed("later")]);
    // So does a new grant.
    let mut after_grant = events;
    after_grant.push(AuthenticationEvent::GrantRecorded {
        requested_scopes: vec!["channels:read".into(), "chat:write".into()],
        granted_scopes: vec!["channels:read".into(), "chat:write".into()],
        extra_permissions: vec![],
        missing_required: vec![],
    });
    S::given_in(World::new(), after_grant)
        .when(refresh_failure("after grant"))
        .then_expect_events(vec![refresh_failed("after grant")]);
    // Only OAuth2 grants are refreshed.
    S::given_in(World::new(), token_auth())
        .when(refresh_failure(reason))
        .then_expect_error(AuthenticationError::NotOAuth2);
}
