//! Given/when/then tests for creating authentications: kinds, refusals, warnings.

use super::certificate::tests::{EC_CERT, EC_KEY, OTHER_EC_KEY};
use super::testkit::*;
use super::*;
use crate::domain::access::{Action, DenyReason};
use crate::domain::directory::OrgRole;
use crate::domain::ids::{ServiceId, StepId, WorkflowId};
use crate::domain::naming::NameError;
use crate::domain::scenario::Outcome;
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, ServiceRef};
use crate::time::Timestamp;
use std::collections::BTreeMap;

const ED_CERT: &str = include_str!("testdata/ed25519_cert.pem");
const ED_KEY: &str = include_str!("testdata/ed25519_key.pem");

#[test]
fn token_auth_is_created_with_secret_token() {
    let ws = World::new().f.shared;
    when_creating(World::new(), "airtable", &[("token", "tok-1")], &[])
        .then_expect_events(vec![AuthenticationEvent::Created {
            authentication: id(),
            name: "My auth".into(),
            workspace: ws,
            service: prebuilt("airtable"),
            service_version: "v0".into(),
            kind: AuthKind::Token,
            fields: BTreeMap::from([(name("token"), FieldValue::Secret(SecretText::new("tok-1")))]),
            scopes: vec![],
            extra_permissions: vec![],
            environment: None,
            origin: ChangeOrigin::Dashboard,
            expires_at: None,
        }])
        .then_expect_warnings(vec![]);
}

#[test]
fn workflow_origin_and_environment_are_recorded() {
    let origin = ChangeOrigin::WorkflowStep {
        workflow: WorkflowId::parse("wf-7").expect("ok"),
        step: StepId::parse("step-2").expect("ok"),
    };
    let command = changed(
        create(World::new().f.shared, "airtable", &[("token", "t")], &[]),
        |c| {
            c.origin = origin.clone();
            c.environment = Some("sandbox".parse().expect("ok"));
        },
    );
    let events = created(World::new(), command);
    let AuthenticationEvent::Created {
        origin: got,
        environment,
        ..
    } = &events[0]
    else {
        panic!("expected Created")
    };
    assert_eq!(got, &origin);
    assert_eq!(environment.as_ref().map(|e| e.as_str()), Some("sandbox"));
}

#[test]
fn basic_auth_keeps_username_plain_and_password_secret() {
    let events = created_in_shared(
        "jira",
        &[
            ("username", " ada "),
            ("password", "pw"),
            ("site", "acme.atlassian.net"),
        ],
        &[],
    );
    let AuthenticationEvent::Created { fields, .. } = &events[0] else {
        panic!("expected Created")
    };
    assert_eq!(fields[&name("username")], FieldValue::Plain("ada".into()));
    assert_eq!(
        fields[&name("password")],
        FieldValue::Secret(SecretText::new("pw"))
    );
}

#[test]
fn create_refusals_name_field_and_reason() {
    let w = || World::new();
    let ws = World::new().f.shared;
    let cases: Vec<(World, AuthenticationCommand, AuthenticationError)> = vec![
        (
            w(),
            create(ws, "airtable", &[], &[]),
            FieldError::Missing {
                field: name("token"),
            }
            .into(),
        ),
        (
            w(),
            create(ws, "airtable", &[("token", "t"), ("nope", "x")], &[]),
            FieldError::Unknown {
                field: name("nope"),
            }
            .into(),
        ),
        (
            w(),
            create(ws, "airtable", &[("token", "  ")], &[]),
            FieldError::Blank {
                field: name("token"),
            }
            .into(),
        ),
        (
            w(),
            create(ws, "airtable", &[("token", "a b")], &[]),
            FieldError::Invalid {
                field: name("token"),
                reason: "must not contain whitespace",
            }
            .into(),
        ),
        (
            w(),
            create(
                ws,
                "jira",
                &[
                    ("username", "a:b"),
                    ("password", "p"),
                    ("site", "acme.atlassian.net"),
                ],
                &[],
            ),
            FieldError::Invalid {
                field: name("username"),
                reason: "must not contain ':' (HTTP Basic separator)",
            }
            .into(),
        ),
        (
            w(),
            create(
                ws,
                "salesforce",
                &[
                    ("access_token", "a"),
                    ("domain", "https://acme.my.salesforce.com"),
                ],
                &["api", "refresh_token"],
            ),
            FieldError::Invalid {
                field: name("domain"),
                reason: "must be a host name such as example.com (no scheme, port or path)",
            }
            .into(),
        ),
        (
            w(),
            create(ws, "nonexistent", &[], &[]),
            AuthenticationError::UnknownService(prebuilt("nonexistent")),
        ),
        (
            w().with_names(ws, &["MY AUTH"]),
            create(ws, "airtable", &[("token", "t")], &[]),
            NameError::Duplicate {
                name: "My auth".into(),
            }
            .into(),
        ),
        (
            w(),
            changed(create(ws, "airtable", &[("token", "t")], &[]), |c| {
                c.name = " ".into()
            }),
            NameError::Empty.into(),
        ),
        (
            w(),
            create(ws, "airtable", &[("token", "t")], &["read"]),
            ScopeError::NotSupported {
                kind: AuthKind::Token,
            }
            .into(),
        ),
        (
            w(),
            create(ws, "slack", &[("access_token", "a")], &["admin"]),
            ScopeError::Unknown {
                scope: "admin".into(),
            }
            .into(),
        ),
    ];
    for (world, command, expected) in cases {
        S::given_in(world, vec![])
            .when(command)
            .then_expect_error(expected);
    }
}

#[test]
fn unknown_custom_service_is_refused() {
    let custom = ServiceRef::Custom(ServiceId::from_uuid(uuid::Uuid::nil()));
    let command = changed(
        create(World::new().f.shared, "airtable", &[("token", "t")], &[]),
        |c| c.service = custom.clone(),
    );
    S::given_in(World::new(), vec![])
        .when(command)
        .then_expect_error(AuthenticationError::UnknownService(custom));
}

#[test]
fn extra_permissions_are_checked() {
    let command = create(
        World::new().f.shared,
        "slack",
        &[("access_token", "a")],
        &["chat:write"],
    );
    let command = changed(command, |c| {
        c.extra_permissions = vec!["admin.read".into(), " ".into()]
    });
    S::given_in(World::new(), vec![])
        .when(command)
        .then_expect_error(
            ScopeError::BadExtraPermission {
                index: 1,
                reason: "must not be blank",
            }
            .into(),
        );
}

#[test]
fn create_requires_edit_access() {
    let w = World::new().as_(World::new().f.member);
    let org_ws = w.f.org_workspace;
    S::given_in(w, vec![])
        .when(create(org_ws, "airtable", &[("token", "t")], &[]))
        .then_expect_error(AuthenticationError::AccessDenied {
            action: Action::Edit,
            workspace: org_ws,
            reason: DenyReason::OrgRoleTooLow {
                role: OrgRole::Member,
                action: Action::Edit,
            },
        });
}

#[test]
fn creating_twice_is_refused() {
    let ws = World::new().f.shared;
    S::given_in(World::new(), token_auth())
        .when(create(ws, "airtable", &[("token", "t")], &[]))
        .then_expect_error(AuthenticationError::AlreadyExists(id()));
}

#[test]
fn oauth1_is_accepted_with_discouraged_warning() {
    when_creating(
        World::new(),
        "trello",
        &[
            ("consumer_key", "ck"),
            ("consumer_secret", "cs"),
            ("token", "t"),
            ("token_secret", "ts"),
        ],
        &[],
    )
    .then_expect_warnings(vec![Warning::OAuth1Discouraged]);
}

#[test]
fn generic_auth_in_org_workspace_warns_everyone_can_use_it() {
    let f = World::new().f;
    let w = World::new().as_(f.owner);
    let org_ws = w.f.org_workspace;
    S::given_in(w, vec![])
        .when(create(org_ws, "webhook", &[("csrf_token", "c")], &[]))
        .then_expect_warnings(vec![Warning::GenericAuthVisibleToOrganization {
            workspace: org_ws,
        }]);
    when_creating(World::new(), "webhook", &[("csrf_token", "c")], &[])
        .then_expect_warnings(vec![]);
}

#[test]
fn oauth2_below_required_scopes_warns_naming_missing() {
    when_creating(
        World::new(),
        "slack",
        &[("access_token", "a")],
        &["chat:write"],
    )
    .then_expect_warnings(vec![Warning::MissingRequiredScopes {
        missing: vec!["channels:read".into()],
    }]);
}

#[test]
fn oauth2_expiry_is_recorded() {
    let events = created_in_shared(
        "github",
        &[
            ("access_token", "gho_1"),
            ("expires_at", "2030-01-01T00:00:00Z"),
        ],
        &["read:user"],
    );
    let AuthenticationEvent::Created { expires_at, .. } = &events[0] else {
        panic!("expected Created")
    };
    assert_eq!(*expires_at, Timestamp::parse("2030-01-01T00:00:00Z"));
}

/// When `world`'s actor creates a client certificate authentication from these PEM texts.
fn when_creating_certificate(world: World, certificate: &str, key: &str) -> Outcome<State> {
    let pairs = [("certificate", certificate), ("private_key", key)];
    when_creating(world, "mtls-api", &pairs, &[])
}

#[test]
fn certificate_is_parsed_matched_and_expiry_recorded() {
    let outcome =
        when_creating_certificate(World::new(), EC_CERT, EC_KEY).then_expect_warnings(vec![]);
    let AuthenticationEvent::Created {
        expires_at, fields, ..
    } = &outcome.events()[0]
    else {
        panic!("expected Created")
    };
    let not_after = check_certificate(EC_CERT, EC_KEY).expect("ok").not_after;
    assert_eq!(*expires_at, Some(not_after));
    assert!(matches!(
        fields[&name("private_key")],
        FieldValue::Secret(_)
    ));
    assert!(matches!(fields[&name("certificate")], FieldValue::Plain(_)));
}

#[test]
fn certificate_refusals_and_warnings() {
    when_creating_certificate(World::new(), EC_CERT, OTHER_EC_KEY)
        .then_expect_error(FieldError::Certificate(CertificateError::KeyMismatch).into());
    let not_after = check_certificate(EC_CERT, EC_KEY).expect("ok").not_after;
    let w = World::new().at("2200-01-01T00:00:00Z");
    when_creating_certificate(w, EC_CERT, EC_KEY)
        .then_expect_warnings(vec![Warning::CertificateExpired { not_after }]);
    let mut w = World::new();
    w.now = Timestamp(not_after.0 - 86_400 * 1_000_000);
    when_creating_certificate(w, EC_CERT, EC_KEY)
        .then_expect_warnings(vec![Warning::CertificateExpiresSoon { not_after }]);
    when_creating_certificate(World::new(), ED_CERT, ED_KEY)
        .then_expect_warnings(vec![Warning::CertificateKeyNotVerified]);
    when_creating(World::new(), "mtls-api", &[("certificate", EC_CERT)], &[]).then_expect_error(
        FieldError::Missing {
            field: name("private_key"),
        }
        .into(),
    );
}

#[test]
fn errors_and_debug_output_never_contain_secrets() {
    let w = World::new();
    let ws = w.f.shared;
    let command = create(ws, "airtable", &[("token", "canary 9f2")], &[]);
    assert!(!format!("{command:?}").contains("canary"));
    let err = S::given_in(w, vec![]).when(command);
    let _ = err;
    let e: AuthenticationError = FieldError::Invalid {
        field: name("token"),
        reason: "must not contain whitespace",
    }
    .into();
    assert_eq!(e.to_string(), "fields.token: must not contain whitespace");
    let events = token_auth();
    assert!(!format!("{events:?}").contains("tok-1"));
}
