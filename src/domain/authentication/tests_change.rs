//! Given/when/then tests for changing authentications and for sealing events.

use super::certificate::tests::{EC_CERT, EC_KEY};
use super::testkit::*;
use super::*;
use crate::domain::access::{Action, DenyReason};
use crate::domain::directory::OrgRole;
use crate::domain::naming::NameError;
use crate::domain::secret::SecretText;
use std::collections::BTreeMap;

#[test]
fn rename_rules() {
    let shared = World::new().f.shared;
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Rename {
            name: " New ".into(),
        })
        .then_expect_events(vec![AuthenticationEvent::Renamed {
            from: "My auth".into(),
            to: "New".into(),
        }]);
    // Case-only change of its own name is allowed; the own name is not a duplicate.
    S::given_in(World::new().with_names(shared, &["My auth"]), token_auth())
        .when(AuthenticationCommand::Rename {
            name: "MY AUTH".into(),
        })
        .then_expect_events(vec![AuthenticationEvent::Renamed {
            from: "My auth".into(),
            to: "MY AUTH".into(),
        }]);
    S::given_in(
        World::new().with_names(shared, &["My auth", "Other"]),
        token_auth(),
    )
    .when(AuthenticationCommand::Rename {
        name: "other".into(),
    })
    .then_expect_error(
        NameError::Duplicate {
            name: "other".into(),
        }
        .into(),
    );
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Rename {
            name: "My auth".into(),
        })
        .then_expect_error(AuthenticationError::NameUnchanged);
    let viewer = World::new().f.ws_viewer;
    S::given_in(World::new().as_(viewer), token_auth())
        .when(AuthenticationCommand::Rename { name: "x".into() })
        .then_expect_error(viewer_denied(Action::Edit));
    S::given_in(World::new(), vec![])
        .when(AuthenticationCommand::Rename { name: "x".into() })
        .then_expect_error(AuthenticationError::NotFound);
}

#[test]
fn move_needs_access_on_both_sides() {
    let f = World::new().f;
    let personal = f.personal(f.ws_editor);
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Move { to: personal })
        .then_expect_events(vec![AuthenticationEvent::Moved {
            from: f.shared,
            to: personal,
        }]);
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Move {
            to: f.org_workspace,
        })
        .then_expect_error(AuthenticationError::AccessDenied {
            action: Action::MoveTo,
            workspace: f.org_workspace,
            reason: DenyReason::OrgRoleTooLow {
                role: OrgRole::Member,
                action: Action::MoveTo,
            },
        });
    S::given_in(World::new().as_(f.ws_viewer), token_auth())
        .when(AuthenticationCommand::Move {
            to: f.personal(f.ws_viewer),
        })
        .then_expect_error(viewer_denied(Action::MoveFrom));
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Move { to: f.shared })
        .then_expect_error(AuthenticationError::SameWorkspace(f.shared));
    S::given_in(
        World::new().with_names(personal, &["my AUTH"]),
        token_auth(),
    )
    .when(AuthenticationCommand::Move { to: personal })
    .then_expect_error(
        NameError::Duplicate {
            name: "My auth".into(),
        }
        .into(),
    );
}

#[test]
fn moving_generic_auth_into_org_workspace_warns() {
    let f = World::new().f;
    let events = created(
        World::new(),
        create(f.shared, "webhook", &[("csrf_token", "c")], &[]),
    );
    S::given_in(World::new().as_(f.admin), events)
        .when(AuthenticationCommand::Move {
            to: f.org_workspace,
        })
        .then_expect_warnings(vec![Warning::GenericAuthVisibleToOrganization {
            workspace: f.org_workspace,
        }]);
}

#[test]
fn reauthenticate_overrides_supplied_and_keeps_omitted() {
    let outcome = S::given_in(World::new(), slack_auth())
        .when(reauth(vec![("access_token", set("xoxb-2"))]))
        .then_expect_events(vec![AuthenticationEvent::Reauthenticated {
            fields: BTreeMap::from([
                (
                    name("access_token"),
                    FieldOutcome::Overridden(FieldValue::Secret(SecretText::new("xoxb-2"))),
                ),
                (name("refresh_token"), FieldOutcome::Kept),
            ]),
            expires_at: None,
            origin: ChangeOrigin::Api,
        }]);
    let state = outcome.then_state();
    let auth = state.current.expect("exists");
    assert_eq!(state.version, 2);
    assert_eq!(auth.fields[&name("access_token")].changed_at_version(), 2);
    assert_eq!(auth.fields[&name("refresh_token")].changed_at_version(), 1);
}

#[test]
fn reauthenticate_clearing_rules() {
    let state = S::given_in(World::new(), slack_auth())
        .when(reauth(vec![("refresh_token", FieldChange::Clear)]))
        .then_expect_events(vec![AuthenticationEvent::Reauthenticated {
            fields: BTreeMap::from([
                (name("access_token"), FieldOutcome::Kept),
                (name("refresh_token"), FieldOutcome::Cleared),
            ]),
            expires_at: None,
            origin: ChangeOrigin::Api,
        }])
        .then_state();
    assert!(!state
        .current
        .expect("exists")
        .fields
        .contains_key(&name("refresh_token")));
    S::given_in(World::new(), slack_auth())
        .when(reauth(vec![("access_token", FieldChange::Clear)]))
        .then_expect_error(
            FieldError::CannotClearRequired {
                field: name("access_token"),
            }
            .into(),
        );
    S::given_in(World::new(), slack_auth())
        .when(reauth(vec![("bogus", set("x"))]))
        .then_expect_error(
            FieldError::Unknown {
                field: name("bogus"),
            }
            .into(),
        );
    S::given_in(World::new(), slack_auth())
        .when(reauth(vec![]))
        .then_expect_error(AuthenticationError::NothingToChange);
    S::given_in(World::new(), slack_auth())
        .when(reauth(vec![("access_token", set("a b"))]))
        .then_expect_error(
            FieldError::Invalid {
                field: name("access_token"),
                reason: "must not contain whitespace",
            }
            .into(),
        );
}

#[test]
fn reauthenticate_oauth2_expiry_and_certificate_pair() {
    let state = S::given_in(World::new(), slack_auth())
        .when(reauth(vec![("expires_at", set("2031-01-01T00:00:00Z"))]))
        .then_state();
    assert_eq!(
        state.current.expect("exists").expires_at,
        crate::time::Timestamp::parse("2031-01-01T00:00:00Z")
    );
    let shared = World::new().f.shared;
    let cert = created(
        World::new(),
        create(
            shared,
            "mtls-api",
            &[("certificate", EC_CERT), ("private_key", EC_KEY)],
            &[],
        ),
    );
    S::given_in(World::new(), cert.clone())
        .when(reauth(vec![("certificate", set(EC_CERT))]))
        .then_expect_error(FieldError::CertificatePairRequired.into());
    S::given_in(World::new(), cert.clone())
        .when(reauth(vec![("private_key", FieldChange::Clear)]))
        .then_expect_error(
            FieldError::CannotClearRequired {
                field: name("private_key"),
            }
            .into(),
        );
    S::given_in(World::new(), cert)
        .when(reauth(vec![
            ("certificate", set(EC_CERT)),
            ("private_key", set(EC_KEY)),
        ]))
        .then_expect_warnings(vec![]);
}

#[test]
fn change_scopes_rules() {
    // OAuth2 scopes are what the provider granted: they change only through re-consent.
    S::given_in(World::new(), slack_auth())
        .when(AuthenticationCommand::ChangeScopes {
            scopes: vec!["chat:write".into()],
            extra_permissions: vec!["admin.read".into()],
        })
        .then_expect_error(AuthenticationError::ReconsentRequired);
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::ChangeScopes {
            scopes: vec!["x".into()],
            extra_permissions: vec![],
        })
        .then_expect_error(
            ScopeError::NotSupported {
                kind: crate::domain::services::AuthKind::Token,
            }
            .into(),
        );
}

/// A grant of nothing at all.
fn empty_grant() -> AuthenticationCommand {
    AuthenticationCommand::RecordGrant {
        requested_scopes: vec![],
        granted_scopes: vec![],
        extra_permissions: vec![],
    }
}

#[test]
fn a_recorded_grant_sets_the_granted_scopes_and_warns_about_missing_required_ones() {
    let state = S::given_in(World::new(), slack_auth())
        .when(AuthenticationCommand::RecordGrant {
            requested_scopes: vec!["channels:read".into(), "chat:write".into()],
            granted_scopes: vec!["chat:write".into()],
            extra_permissions: vec!["admin.read".into()],
        })
        .then_expect_events(vec![AuthenticationEvent::GrantRecorded {
            requested_scopes: vec!["channels:read".into(), "chat:write".into()],
            granted_scopes: vec!["chat:write".into()],
            extra_permissions: vec!["admin.read".into()],
            missing_required: vec!["channels:read".into()],
        }])
        .then_expect_warnings(vec![Warning::MissingRequiredScopes {
            missing: vec!["channels:read".into()],
        }])
        .then_state();
    let auth = state.current.expect("exists");
    assert_eq!(auth.scopes, vec!["chat:write".to_owned()]);
    assert!(!auth.needs_reauthorization);
    S::given_in(World::new(), token_auth())
        .when(empty_grant())
        .then_expect_error(AuthenticationError::NotOAuth2);
    let f = World::new().f;
    S::given_in(World::new().as_(f.ws_viewer), slack_auth())
        .when(empty_grant())
        .then_expect_error(viewer_denied(Action::Edit));
}

#[test]
fn a_refused_refresh_marks_the_authentication_until_a_new_grant() {
    let mut events = slack_auth();
    let reason = "invalid_grant: refresh token revoked".to_owned();
    let state = S::given_in(World::new(), events.clone())
        .when(AuthenticationCommand::RequireReauthorization {
            reason: reason.clone(),
        })
        .then_expect_events(vec![AuthenticationEvent::ReauthorizationRequired {
            reason: reason.clone(),
        }])
        .then_state();
    assert!(state.current.expect("exists").needs_reauthorization);
    events.push(AuthenticationEvent::ReauthorizationRequired { reason });
    S::given_in(World::new(), events.clone())
        .when(AuthenticationCommand::RequireReauthorization {
            reason: "again".into(),
        })
        .then_expect_error(AuthenticationError::AlreadyNeedsReauthorization);
    let state = S::given_in(World::new(), events)
        .when(AuthenticationCommand::RecordGrant {
            requested_scopes: vec!["channels:read".into(), "chat:write".into()],
            granted_scopes: vec!["channels:read".into(), "chat:write".into()],
            extra_permissions: vec![],
        })
        .then_state();
    assert!(!state.current.expect("exists").needs_reauthorization);
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::RequireReauthorization { reason: "x".into() })
        .then_expect_error(AuthenticationError::NotOAuth2);
}

fn deleted() -> Vec<Event> {
    let mut events = token_auth();
    events.push(AuthenticationEvent::Deleted);
    events
}

/// Restore the content of `to_version`: "My auth" with this token.
fn restore(to_version: u64, token: &str) -> AuthenticationCommand {
    AuthenticationCommand::Restore {
        to_version,
        snapshot: RestoreSnapshot {
            name: "My auth".into(),
            fields: fields(&[("token", token)]),
            scopes: vec![],
            extra_permissions: vec![],
        },
    }
}

#[test]
fn delete_restore_purge_lifecycle() {
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Delete)
        .then_expect_events(vec![AuthenticationEvent::Deleted]);
    S::given_in(World::new(), deleted())
        .when(AuthenticationCommand::Rename { name: "x".into() })
        .then_expect_error(AuthenticationError::Deleted);
    S::given_in(World::new(), deleted())
        .when(AuthenticationCommand::Delete)
        .then_expect_error(AuthenticationError::Deleted);
    let state = S::given_in(World::new(), deleted())
        .when(restore(1, "tok-1"))
        .then_expect_events(vec![AuthenticationEvent::Restored {
            restored_from_version: 1,
            name: "My auth".into(),
            fields: BTreeMap::from([(name("token"), FieldValue::Secret(SecretText::new("tok-1")))]),
            scopes: vec![],
            extra_permissions: vec![],
            expires_at: None,
        }])
        .then_state();
    assert_eq!(state.current.expect("exists").lifecycle, Lifecycle::Active);
    S::given_in(World::new(), deleted())
        .when(restore(2, "t"))
        .then_expect_error(AuthenticationError::RestoreVersionOutOfRange {
            requested: 2,
            current: 2,
        });
    S::given_in(World::new(), deleted())
        .when(restore(1, ""))
        .then_expect_error(
            FieldError::Blank {
                field: name("token"),
            }
            .into(),
        );
    S::given_in(World::new(), deleted())
        .when(AuthenticationCommand::Purge)
        .then_expect_events(vec![AuthenticationEvent::Purged]);
}

#[test]
fn an_active_authentication_is_not_purged() {
    // Given an active authentication, when its owner purges it, then nothing happens: it must
    // be deleted first (docs/operations.md), so one request never shreds one in use.
    S::given_in(World::new(), token_auth())
        .when(AuthenticationCommand::Purge)
        .then_expect_error(AuthenticationError::PurgeActive);
    // Access is decided first: a viewer learns nothing about the lifecycle.
    let f = World::new().f;
    S::given_in(World::new().as_(f.ws_viewer), token_auth())
        .when(AuthenticationCommand::Purge)
        .then_expect_error(viewer_denied(Action::Purge));
}

#[test]
fn purged_authentications_refuse_everything() {
    let mut events = deleted();
    events.push(AuthenticationEvent::Purged);
    let shared = World::new().f.shared;
    let commands = vec![
        AuthenticationCommand::Rename { name: "x".into() },
        AuthenticationCommand::Move { to: shared },
        reauth(vec![("token", set("t"))]),
        AuthenticationCommand::Delete,
        restore(1, "t"),
        AuthenticationCommand::Purge,
        create(shared, "airtable", &[("token", "t")], &[]),
    ];
    for command in commands {
        S::given_in(World::new(), events.clone())
            .when(command)
            .then_expect_error(AuthenticationError::Purged);
    }
    let state = State::from_events(&events);
    assert!(state.current.expect("exists").fields.is_empty());
}

#[test]
fn purge_and_restore_need_their_access_levels() {
    let f = World::new().f;
    S::given_in(World::new().as_(f.ws_viewer), deleted())
        .when(AuthenticationCommand::Purge)
        .then_expect_error(viewer_denied(Action::Purge));
    S::given_in(World::new().as_(f.member), deleted())
        .when(restore(1, "t"))
        .then_expect_error(AuthenticationError::AccessDenied {
            action: Action::Restore,
            workspace: f.shared,
            reason: DenyReason::NotWorkspaceMember {
                workspace: f.shared,
            },
        });
}

/// Stand-in for the application's sealed type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Sealed(String);

#[test]
fn map_secrets_seals_every_secret_with_its_field_name_and_bincode_round_trips() {
    let mut events = slack_auth();
    events.extend(
        S::given_in(World::new(), slack_auth())
            .when(reauth(vec![("access_token", set("xoxb-2"))]))
            .events()
            .to_vec(),
    );
    let mut seen = Vec::new();
    let sealed: Vec<AuthenticationEvent<Sealed>> = events
        .into_iter()
        .map(|e| {
            e.map_secrets(|field, _secret: SecretText| {
                seen.push(field.to_string());
                Ok::<_, std::convert::Infallible>(Sealed(format!("sealed:{field}")))
            })
            .expect("infallible")
        })
        .collect();
    assert_eq!(seen, ["access_token", "refresh_token", "access_token"]);
    let config = bincode::config::standard();
    for event in &sealed {
        let bytes = bincode::serde::encode_to_vec(event, config).expect("encode");
        let (back, _): (AuthenticationEvent<Sealed>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).expect("decode");
        assert_eq!(&back, event);
        assert_eq!(event.schema_version(), 1);
        assert!(AUTHENTICATION_EVENT_TYPES.contains(&event.event_type()));
        let raw = String::from_utf8_lossy(&bytes);
        assert!(!raw.contains("xoxb"));
    }
    let state = AuthenticationState::from_events(&sealed);
    let auth = state.current.expect("exists");
    assert!(auth.fields[&name("access_token")].is_secret());
    let failing = slack_auth()
        .remove(0)
        .map_secrets(|_, _| Err::<Sealed, _>("no key"));
    assert_eq!(failing, Err("no key"));
}

#[test]
fn restoring_a_deleted_authentication_whose_name_was_taken_meanwhile_is_refused() {
    let f = World::new().f;
    S::given_in(World::new().with_names(f.shared, &["MY AUTH"]), deleted())
        .when(restore(1, "tok-1"))
        .then_expect_error(AuthenticationError::Name(NameError::Duplicate {
            name: "My auth".into(),
        }));
}

#[test]
fn a_verification_record_changes_nothing_but_the_version() {
    let events = token_auth();
    let before = State::from_events(&events);
    let mut after = before.clone();
    after.apply(&AuthenticationEvent::VerificationRecorded {
        outcome: VerificationOutcome::Verified {
            host: "api.airtable.com".into(),
            status: 200,
        },
        saved_unverified: false,
    });
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.current, before.current);
    let event: AuthenticationEvent<SecretText> = AuthenticationEvent::VerificationRecorded {
        outcome: VerificationOutcome::NotVerifiable {
            reason: "turned off by the operator".into(),
        },
        saved_unverified: false,
    };
    assert_eq!(event.event_type(), "authentication.verification_recorded");
    // It holds no secret: mapping secrets never calls the function.
    let mapped = event
        .map_secrets(|_, _| Err::<(), _>("no secret expected"))
        .expect("no secret to map");
    assert_eq!(mapped.event_type(), "authentication.verification_recorded");
}
