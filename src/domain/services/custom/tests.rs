//! Given/when/then tests of the custom service aggregate and of where a service may be used.

use super::*;
use crate::domain::directory::fixtures::{fixture, Fixture};
use crate::domain::ids::FieldName;
use crate::domain::scenario::{Aggregate, Scenario};
use crate::domain::services::fixtures::internal_api as spec;
use crate::domain::services::{AuthKind, FieldFormat, FieldSpec};
use std::convert::Infallible;

impl Aggregate for Option<CustomService> {
    type Command = CustomServiceCommand;
    type Event = CustomServiceEvent;
    type Error = CustomServiceError;
    type Warning = Infallible;
    type World = Directory;
    fn apply_event(&mut self, event: &CustomServiceEvent) {
        apply_custom_service(self, event);
    }
    fn handle(
        &self,
        world: &Directory,
        command: CustomServiceCommand,
    ) -> Result<(Vec<CustomServiceEvent>, Vec<Infallible>), CustomServiceError> {
        decide_custom_service(self.as_ref(), world, command, UrlRule::HttpsOnly)
            .map(|e| (e, Vec::new()))
    }
}

type S = Scenario<Option<CustomService>>;

fn define(f: &Fixture, ws: WorkspaceId, mode: DefineMode, actor: UserId) -> CustomServiceCommand {
    let _ = f;
    CustomServiceCommand::Define {
        service: ServiceId::from_uuid(uuid::Uuid::nil()),
        workspace: ws,
        spec: spec(),
        mode,
        actor,
    }
}

fn defined(ws: WorkspaceId, actor: UserId) -> CustomServiceEvent {
    CustomServiceEvent::CustomServiceDefined {
        service: ServiceId::from_uuid(uuid::Uuid::nil()),
        workspace: ws,
        spec: spec(),
        defined_by: actor,
    }
}

/// An organization member's refusal to create (or manage) services in its workspace.
fn member_may_not_create_services(f: &Fixture) -> CustomServiceError {
    CustomServiceError::AccessDenied {
        workspace: f.org_workspace,
        reason: DenyReason::OrgRoleTooLow {
            role: crate::domain::directory::OrgRole::Member,
            action: Action::CreateService,
        },
    }
}

#[test]
fn service_only_is_allowed_wherever_caller_may_create_services() {
    let f = fixture();
    for (ws, actor) in [
        (f.shared, f.ws_editor),
        (f.org_workspace, f.admin),
        (f.personal(f.member), f.member),
    ] {
        S::given_in(f.directory.clone(), vec![])
            .when(define(&f, ws, DefineMode::ServiceOnly, actor))
            .then_expect_events(vec![defined(ws, actor)]);
    }
}

#[test]
fn service_only_refused_without_create_service_access() {
    let f = fixture();
    S::given_in(f.directory.clone(), vec![])
        .when(define(
            &f,
            f.org_workspace,
            DefineMode::ServiceOnly,
            f.member,
        ))
        .then_expect_error(member_may_not_create_services(&f));
}

#[test]
fn service_and_auth_together_only_in_own_personal_workspace() {
    let f = fixture();
    let own = f.personal(f.owner);
    S::given_in(f.directory.clone(), vec![])
        .when(define(&f, own, DefineMode::WithAuthentication, f.owner))
        .then_expect_events(vec![defined(own, f.owner)]);
    for ws in [f.shared, f.org_workspace] {
        S::given_in(f.directory.clone(), vec![])
            .when(define(&f, ws, DefineMode::WithAuthentication, f.owner))
            .then_expect_error(CustomServiceError::TogetherOnlyInPersonal { workspace: ws });
    }
}

#[test]
fn redefinition_and_invalid_specs_are_refused() {
    let f = fixture();
    let own = f.personal(f.owner);
    S::given_in(f.directory.clone(), vec![defined(own, f.owner)])
        .when(define(&f, own, DefineMode::ServiceOnly, f.owner))
        .then_expect_error(CustomServiceError::AlreadyDefined(ServiceId::from_uuid(
            uuid::Uuid::nil(),
        )));
    let mut bad = spec();
    bad.oauth = Some(crate::domain::services::OAuthEndpoints {
        authorize_url: "https://x/a".into(),
        token_url: "https://x/t".into(),
        request_token_url: None,
    });
    S::given_in(f.directory.clone(), vec![])
        .when(CustomServiceCommand::Define {
            service: ServiceId::new(),
            workspace: own,
            spec: bad,
            mode: DefineMode::ServiceOnly,
            actor: f.owner,
        })
        .then_expect_error(CustomServiceError::Spec(
            ServiceSpecError::OAuthEndpointsNotAllowed {
                kind: AuthKind::Generic,
            },
        ));
    let mut reserved = spec();
    reserved.fields[0].name = FieldName::parse("access_token").expect("ok");
    assert_eq!(
        reserved.validate(),
        Err(ServiceSpecError::GenericReservedField {
            field: FieldName::parse("access_token").expect("ok")
        })
    );
    let mut empty = spec();
    empty.fields.clear();
    assert_eq!(
        empty.validate(),
        Err(ServiceSpecError::GenericWithoutFields)
    );
}

fn id() -> ServiceId {
    ServiceId::from_uuid(uuid::Uuid::nil())
}

fn changed(actor: UserId) -> (ServiceSpec, CustomServiceEvent) {
    let mut new = spec();
    new.name = "Internal API v2".into();
    new.fields.push(FieldSpec {
        name: FieldName::parse("region").expect("ok"),
        secret: false,
        required: false,
        format: FieldFormat::Text,
        description: "region".into(),
    });
    let event = CustomServiceEvent::CustomServiceChanged {
        service: id(),
        spec: new.clone(),
        changed_by: actor,
    };
    (new, event)
}

#[test]
fn change_replaces_the_definition_and_bumps_the_version() {
    let f = fixture();
    let (new, event) = changed(f.ws_editor);
    let outcome = S::given_in(f.directory.clone(), vec![defined(f.shared, f.owner)])
        .when(CustomServiceCommand::Change {
            spec: new.clone(),
            actor: f.ws_editor,
        })
        .then_expect_events(vec![event]);
    let state = outcome.then_state().expect("defined");
    assert_eq!(state.version, 2);
    assert_eq!(state.spec, new);
    assert!(!state.retired);
}

#[test]
fn change_needs_the_right_to_create_services_and_hides_what_the_caller_cannot_see() {
    let f = fixture();
    let (new, _) = changed(f.ws_viewer);
    // A viewer sees the service but may not change it.
    S::given_in(f.directory.clone(), vec![defined(f.shared, f.owner)])
        .when(CustomServiceCommand::Change {
            spec: new.clone(),
            actor: f.ws_viewer,
        })
        .then_expect_error(CustomServiceError::AccessDenied {
            workspace: f.shared,
            reason: DenyReason::WorkspaceRoleTooLow {
                role: crate::domain::directory::WorkspaceRole::Viewer,
                action: Action::CreateService,
            },
        });
    // Someone who may not see it, and a service that does not exist, answer alike.
    S::given_in(f.directory.clone(), vec![defined(f.shared, f.owner)])
        .when(CustomServiceCommand::Change {
            spec: new.clone(),
            actor: f.member,
        })
        .then_expect_error(CustomServiceError::NotFound);
    S::given_in(f.directory.clone(), vec![])
        .when(CustomServiceCommand::Change {
            spec: new,
            actor: f.owner,
        })
        .then_expect_error(CustomServiceError::NotFound);
}

#[test]
fn change_refuses_an_unchanged_spec_another_kind_an_invalid_spec_and_a_retired_service() {
    let f = fixture();
    let own = f.personal(f.owner);
    let given = || S::given_in(f.directory.clone(), vec![defined(own, f.owner)]);
    given()
        .when(CustomServiceCommand::Change {
            spec: spec(),
            actor: f.owner,
        })
        .then_expect_error(CustomServiceError::SpecUnchanged);
    let mut token = spec();
    token.auth_kind = AuthKind::Token;
    token.fields.clear();
    given()
        .when(CustomServiceCommand::Change {
            spec: token,
            actor: f.owner,
        })
        .then_expect_error(CustomServiceError::KindChanged {
            from: AuthKind::Generic,
            to: AuthKind::Token,
        });
    let mut empty = spec();
    empty.fields.clear();
    given()
        .when(CustomServiceCommand::Change {
            spec: empty,
            actor: f.owner,
        })
        .then_expect_error(CustomServiceError::Spec(
            ServiceSpecError::GenericWithoutFields,
        ));
    let (new, _) = changed(f.owner);
    S::given_in(
        f.directory.clone(),
        vec![defined(own, f.owner), retired(f.owner)],
    )
    .when(CustomServiceCommand::Change {
        spec: new,
        actor: f.owner,
    })
    .then_expect_error(CustomServiceError::Retired);
}

fn retired(actor: UserId) -> CustomServiceEvent {
    CustomServiceEvent::CustomServiceRetired {
        service: id(),
        retired_by: actor,
    }
}

#[test]
fn retire_marks_the_service_retired_once() {
    let f = fixture();
    let outcome = S::given_in(f.directory.clone(), vec![defined(f.org_workspace, f.admin)])
        .when(CustomServiceCommand::Retire { actor: f.owner })
        .then_expect_events(vec![retired(f.owner)]);
    let state = outcome.then_state().expect("defined");
    assert!(state.retired);
    assert_eq!(state.version, 2);
    S::given_in(
        f.directory.clone(),
        vec![defined(f.org_workspace, f.admin), retired(f.owner)],
    )
    .when(CustomServiceCommand::Retire { actor: f.admin })
    .then_expect_error(CustomServiceError::AlreadyRetired);
}

#[test]
fn retire_needs_the_right_to_create_services_and_hides_what_the_caller_cannot_see() {
    let f = fixture();
    // An organization member sees the organization's service but may not retire it.
    S::given_in(f.directory.clone(), vec![defined(f.org_workspace, f.admin)])
        .when(CustomServiceCommand::Retire { actor: f.member })
        .then_expect_error(member_may_not_create_services(&f));
    S::given_in(
        f.directory.clone(),
        vec![defined(f.personal(f.member), f.member)],
    )
    .when(CustomServiceCommand::Retire { actor: f.owner })
    .then_expect_error(CustomServiceError::NotFound);
    S::given_in(f.directory.clone(), vec![])
        .when(CustomServiceCommand::Retire { actor: f.owner })
        .then_expect_error(CustomServiceError::NotFound);
}

fn oauth2_defined(ws: WorkspaceId, actor: UserId) -> CustomServiceEvent {
    let mut spec = spec();
    spec.auth_kind = AuthKind::OAuth2;
    spec.fields.clear();
    spec.oauth = Some(crate::domain::services::OAuthEndpoints {
        authorize_url: "https://crm.example/authorize".into(),
        token_url: "https://crm.example/token".into(),
        request_token_url: None,
    });
    CustomServiceEvent::CustomServiceDefined {
        service: ServiceId::from_uuid(uuid::Uuid::nil()),
        workspace: ws,
        spec,
        defined_by: actor,
    }
}

fn registration(secret: bool) -> ClientRegistration<OpaqueSealed> {
    ClientRegistration {
        client_id: "crm-app".into(),
        client_secret: secret.then(|| OpaqueSealed {
            binding: uuid::Uuid::nil(),
            bytes: vec![1, 2, 3],
        }),
        auth_method: crate::domain::services::ClientAuthMethod::ClientSecretPost,
        authorize_params: Default::default(),
        issuer: None,
    }
}

#[test]
fn an_oauth2_service_editor_registers_its_client() {
    let f = fixture();
    S::given_in(
        f.directory.clone(),
        vec![oauth2_defined(f.org_workspace, f.admin)],
    )
    .when(CustomServiceCommand::RegisterOAuthClient {
        registration: registration(true),
        actor: f.admin,
    })
    .then_expect_events(vec![CustomServiceEvent::OAuthClientRegistered {
        service: ServiceId::from_uuid(uuid::Uuid::nil()),
        registration: registration(true),
        registered_by: f.admin,
    }]);
}

#[test]
fn a_client_registration_needs_an_oauth2_service_an_editor_and_its_rules_kept() {
    let f = fixture();
    S::given_in(f.directory.clone(), vec![defined(f.org_workspace, f.admin)])
        .when(CustomServiceCommand::RegisterOAuthClient {
            registration: registration(true),
            actor: f.admin,
        })
        .then_expect_error(CustomServiceError::NotOAuth2 {
            kind: AuthKind::Generic,
        });
    S::given_in(
        f.directory.clone(),
        vec![oauth2_defined(f.org_workspace, f.admin)],
    )
    .when(CustomServiceCommand::RegisterOAuthClient {
        registration: registration(true),
        actor: f.member,
    })
    .then_expect_error(member_may_not_create_services(&f));
    S::given_in(
        f.directory.clone(),
        vec![oauth2_defined(f.org_workspace, f.admin)],
    )
    .when(CustomServiceCommand::RegisterOAuthClient {
        registration: registration(false),
        actor: f.admin,
    })
    .then_expect_error(CustomServiceError::Registration(RegistrationError {
        field: "client_secret".into(),
        reason: "is required for client_secret_post".into(),
    }));
}

fn service_in(workspace: WorkspaceId, retired: bool) -> CustomService {
    CustomService {
        id: id(),
        workspace,
        spec: spec(),
        defined_by: UserId::new(),
        version: 1,
        retired,
        oauth_client: None,
    }
}

#[test]
fn a_service_is_visible_exactly_where_authentications_of_its_workspace_are() {
    let f = fixture();
    let users = [
        f.owner,
        f.admin,
        f.member,
        f.ws_admin,
        f.ws_editor,
        f.ws_viewer,
        f.outsider,
    ];
    // Who may view authentications there (owner, admin, member, workspace admin, editor,
    // viewer, outsider): a fixed table, not the rule restated.
    let (t, x) = (true, false);
    let expected = [
        (f.shared, [t, t, x, t, t, t, x]),
        (f.org_workspace, [t, t, t, t, t, t, x]),
        (f.personal(f.member), [x, x, t, x, x, x, x]),
    ];
    for (ws, visible) in expected {
        let service = service_in(ws, false);
        for (user, visible) in users.into_iter().zip(visible) {
            assert_eq!(
                service.visible_to(&f.directory, user),
                visible,
                "{user:?} in {ws:?}"
            );
            assert_eq!(
                crate::domain::access::decide_access(&f.directory, user, ws, Action::View)
                    .is_allowed(),
                visible,
                "authentications follow the same table"
            );
        }
    }
}

#[test]
fn where_a_service_may_back_an_authentication() {
    let f = fixture();
    let own = f.personal(f.owner);
    let (new, moved) = (ServiceUse::NewAuthentication, ServiceUse::Move);
    let (hidden, unreachable) = (
        Err(ServiceUseError::Hidden),
        Err(ServiceUseError::NotReachable),
    );
    // (defined in, retired, actor, used in, for, answer)
    let cases = [
        // Personal: only in that personal workspace.
        (own, false, f.owner, own, new, Ok(())),
        (own, false, f.owner, f.shared, new, unreachable),
        (own, false, f.owner, f.org_workspace, new, unreachable),
        // Someone else's personal service is hidden: it refuses like an unknown one.
        (own, false, f.ws_editor, f.shared, new, hidden),
        // Shared: only in that shared workspace.
        (f.shared, false, f.ws_editor, f.shared, new, Ok(())),
        (f.shared, false, f.owner, f.org_workspace, new, unreachable),
        (f.shared, false, f.member, f.org_workspace, new, hidden),
        // Organization workspace: in every workspace of the organization, not in personal ones.
        (f.org_workspace, false, f.ws_editor, f.shared, new, Ok(())),
        (
            f.org_workspace,
            false,
            f.admin,
            f.org_workspace,
            new,
            Ok(()),
        ),
        (
            f.org_workspace,
            false,
            f.member,
            f.personal(f.member),
            new,
            unreachable,
        ),
        // Retired: no new authentications, but an existing one may still move where it reaches.
        (
            f.org_workspace,
            true,
            f.ws_editor,
            f.shared,
            new,
            Err(ServiceUseError::Retired),
        ),
        (f.org_workspace, true, f.ws_editor, f.shared, moved, Ok(())),
        (f.org_workspace, true, f.owner, own, moved, unreachable),
    ];
    for (home, retired, actor, ws, purpose, expected) in cases {
        let service = service_in(home, retired);
        assert_eq!(
            check_use(&service, &f.directory, actor, ws, purpose),
            expected,
            "defined in {home:?} (retired: {retired}), used by {actor:?} in {ws:?} for {purpose:?}"
        );
    }
}
